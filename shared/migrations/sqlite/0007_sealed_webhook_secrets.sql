-- carehub schema 0007: webhook signing secrets are stored sealed
-- (ChaCha20-Poly1305 under the secret variable webhook_secret_key,
-- carehub_domain::sealed), never in plain form.
--
-- SQL cannot seal: right after this file, in the same transaction, the
-- gateway seals what was stored before (infra/src/sealing.rs): every plain
-- `secret` and `previous_secret` of webhook_subscriptions, and the stored
-- answers of subscription creates and rotations (idempotency_records.body
-- holding a "secret"). The triggers below refuse any plain secret from then on.

CREATE TRIGGER webhook_secrets_are_sealed_insert
BEFORE INSERT ON webhook_subscriptions
WHEN NEW.secret NOT LIKE 'sealed:v1:%'
BEGIN
    SELECT RAISE(ABORT, 'webhook secrets are stored sealed');
END;

CREATE TRIGGER webhook_secrets_are_sealed_update
BEFORE UPDATE OF secret, previous_secret ON webhook_subscriptions
WHEN NEW.secret NOT LIKE 'sealed:v1:%'
    OR (NEW.previous_secret IS NOT NULL AND NEW.previous_secret NOT LIKE 'sealed:v1:%')
BEGIN
    SELECT RAISE(ABORT, 'webhook secrets are stored sealed');
END;
