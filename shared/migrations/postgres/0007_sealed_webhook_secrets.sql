-- carehub schema 0007: webhook signing secrets are stored sealed (see the
-- SQLite twin). The gateway seals the rows stored before right after this
-- file, in the same transaction (infra/src/sealing.rs).

CREATE FUNCTION carehub_refuse_plain_secret() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.secret NOT LIKE 'sealed:v1:%'
        OR (NEW.previous_secret IS NOT NULL AND NEW.previous_secret NOT LIKE 'sealed:v1:%') THEN
        RAISE EXCEPTION 'webhook secrets are stored sealed' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER webhook_secrets_are_sealed
BEFORE INSERT OR UPDATE OF secret, previous_secret ON webhook_subscriptions
FOR EACH ROW EXECUTE FUNCTION carehub_refuse_plain_secret();
