-- carehub schema 0006: retention (the purge job, carehub_store::retention).
--
-- Idempotency records expire (the `idempotency_retention_secs` variable)
-- and delivered webhook messages are deleted with their attempts after
-- `webhook_retention_secs`: indexes for finding them by age. A delivery
-- attempt stays append-only while its message is pending or failed; only
-- the attempts of a delivered message may go, with it. Nothing else of the
-- append-only history changes.

CREATE INDEX idempotency_records_by_age ON idempotency_records (created_at);
CREATE INDEX webhook_messages_delivered ON webhook_messages (state, delivered_at);

DROP TRIGGER webhook_attempts_are_append_only_delete;

CREATE TRIGGER webhook_attempts_are_kept_until_delivered
BEFORE DELETE ON webhook_attempts
WHEN (SELECT state FROM webhook_messages WHERE seq = OLD.message_seq) IS NOT 'delivered'
BEGIN
    SELECT RAISE(ABORT, 'delivery attempts are append-only until their message is delivered');
END;
