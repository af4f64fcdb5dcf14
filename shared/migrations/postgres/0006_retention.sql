-- carehub schema 0006: retention (see the SQLite twin).

CREATE INDEX idempotency_records_by_age ON idempotency_records (created_at);
CREATE INDEX webhook_messages_delivered ON webhook_messages (state, delivered_at);

DROP TRIGGER webhook_attempts_are_append_only_delete ON webhook_attempts;

CREATE FUNCTION carehub_attempt_kept_until_delivered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT state FROM webhook_messages WHERE seq = OLD.message_seq) IS DISTINCT FROM 'delivered' THEN
        RAISE EXCEPTION 'delivery attempts are append-only until their message is delivered'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN OLD;
END;
$$;

CREATE TRIGGER webhook_attempts_are_kept_until_delivered
BEFORE DELETE ON webhook_attempts
FOR EACH ROW EXECUTE FUNCTION carehub_attempt_kept_until_delivered();
