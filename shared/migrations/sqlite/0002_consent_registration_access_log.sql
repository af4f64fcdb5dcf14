-- carehub schema 0002: comprehensive consent, office registration, the
-- access log.
--
-- Applied once by the gateway (recorded in carehub_migrations); components
-- never create or alter tables. Server timestamps are RFC 3339 UTC text of
-- fixed width ("2025-11-25T06:19:00.123456Z"). Client timestamps (a
-- consent's effective time, a registration's start and end) are kept
-- exactly as sent, any offset; the domain crate parses them.

-- The person's consent history (包括同意, DESIGN §4): one row per event,
-- append-only (see the triggers). The latest row (highest seq) decides.
CREATE TABLE consent_events (
    seq            INTEGER PRIMARY KEY,
    insurer_number TEXT    NOT NULL,
    insured_number TEXT    NOT NULL,
    event          TEXT    NOT NULL CHECK (event IN ('given', 'not_obtained', 'withdrawn')),
    body           TEXT    NOT NULL,  -- canonical JSON of carehub_domain::ConsentEvent
    recorded_by    TEXT    NOT NULL,  -- principal URN of the caller that recorded it
    recorded_at    TEXT    NOT NULL
) STRICT;

CREATE INDEX consent_events_by_person ON consent_events (insurer_number, insured_number, seq);

CREATE TRIGGER consent_events_are_append_only_update
BEFORE UPDATE ON consent_events
BEGIN
    SELECT RAISE(ABORT, 'consent events are append-only');
END;

CREATE TRIGGER consent_events_are_append_only_delete
BEFORE DELETE ON consent_events
BEGIN
    SELECT RAISE(ABORT, 'consent events are append-only');
END;

-- An office's registration as a person's responsible office (担当事業所登録,
-- DESIGN §5), as recorded; never changed. Its end by deregistration is a
-- row of office_deregistrations.
CREATE TABLE office_registrations (
    seq                    INTEGER PRIMARY KEY,
    registration_id        TEXT    NOT NULL UNIQUE,  -- reg_ + 32 hex
    office                 TEXT    NOT NULL,  -- principal URN: care-manager, care-service or medical
    insurer_number         TEXT    NOT NULL,
    insured_number         TEXT    NOT NULL,
    verification_method    TEXT    NOT NULL,  -- JSON of carehub_domain::VerificationMethod
    verification_reference TEXT    NOT NULL,
    start_at               TEXT    NOT NULL,
    end_at                 TEXT,
    registered_at          TEXT    NOT NULL
) STRICT;

-- "Is this office registered for this person", on every office read.
CREATE INDEX office_registrations_by_office_person
    ON office_registrations (office, insurer_number, insured_number);
-- The person's responsible offices, newest first.
CREATE INDEX office_registrations_by_person
    ON office_registrations (insurer_number, insured_number, seq);

CREATE TRIGGER office_registrations_are_append_only_update
BEFORE UPDATE ON office_registrations
BEGIN
    SELECT RAISE(ABORT, 'office registrations are append-only; deregister instead');
END;

CREATE TRIGGER office_registrations_are_append_only_delete
BEFORE DELETE ON office_registrations
BEGIN
    SELECT RAISE(ABORT, 'office registrations are append-only; deregister instead');
END;

-- The end of a registration by deregistration: at most one per
-- registration (the primary key), append-only.
CREATE TABLE office_deregistrations (
    registration_seq INTEGER PRIMARY KEY REFERENCES office_registrations (seq),
    deregistered_at  TEXT    NOT NULL,
    deregistered_by  TEXT    NOT NULL,  -- principal URN
    reason           TEXT    NOT NULL
) STRICT;

CREATE TRIGGER office_deregistrations_are_append_only_update
BEFORE UPDATE ON office_deregistrations
BEGIN
    SELECT RAISE(ABORT, 'deregistrations are append-only');
END;

CREATE TRIGGER office_deregistrations_are_append_only_delete
BEFORE DELETE ON office_deregistrations
BEGIN
    SELECT RAISE(ABORT, 'deregistrations are append-only');
END;

-- Every read and every refused read (DESIGN §3 rule 4), in one global hash
-- chain: hash = SHA-256(previous row's hash || 0x1E || entry), starting from
-- 64 zeros (carehub_domain::chain_hash). Rows are appended under BEGIN
-- IMMEDIATE, reading the previous hash inside the same transaction, so that
-- concurrent writers keep the chain linear. `carehub verify-log` checks it.
-- The person columns repeat what the entry says, for the person's listing;
-- they are NULL for a read of a document id that names no document.
CREATE TABLE access_log (
    seq            INTEGER PRIMARY KEY,
    insurer_number TEXT,
    insured_number TEXT,
    entry          TEXT    NOT NULL,  -- canonical JSON of carehub_domain::AccessLogEntry
    hash           TEXT    NOT NULL UNIQUE  -- lower-case hex SHA-256
) STRICT;

CREATE INDEX access_log_by_person ON access_log (insurer_number, insured_number, seq);

CREATE TRIGGER access_log_is_append_only_update
BEFORE UPDATE ON access_log
BEGIN
    SELECT RAISE(ABORT, 'the access log is append-only');
END;

CREATE TRIGGER access_log_is_append_only_delete
BEFORE DELETE ON access_log
BEGIN
    SELECT RAISE(ABORT, 'the access log is append-only');
END;
