-- carehub schema 0003: certification progress and the submission relay.
--
-- Applied once by the gateway (recorded in carehub_migrations); components
-- never create or alter tables. Server timestamps are RFC 3339 UTC text of
-- fixed width ("2025-11-25T06:19:00.123456Z").

-- A certification application (要介護認定申請, DESIGN §6). Its state is the
-- fold of its steps (carehub_domain::progress::replay); `stage`, `open` and
-- `step_count` repeat what the steps say, for listing and for a cheap check
-- that no step slipped in between read and write.
CREATE TABLE certification_applications (
    seq              INTEGER PRIMARY KEY,
    application_id   TEXT    NOT NULL UNIQUE,  -- app_ + 32 hex
    insurer_number   TEXT    NOT NULL,
    insured_number   TEXT    NOT NULL,
    application_type TEXT    NOT NULL CHECK (application_type IN ('new', 'renewal', 'change_of_category')),
    details          TEXT    NOT NULL,  -- canonical JSON: received date, application document, …
    stage            TEXT    NOT NULL CHECK (stage IN ('received', 'survey_scheduled', 'survey_done',
                         'opinion_requested', 'opinion_received', 'primary_judgment',
                         'committee_scheduled', 'decided', 'notified', 'withdrawn')),
    open             INTEGER NOT NULL CHECK (open IN (0, 1)),
    step_count       INTEGER NOT NULL CHECK (step_count >= 0),
    created_by       TEXT    NOT NULL,  -- principal URN
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
) STRICT;

-- A municipality's open applications by stage, newest first.
CREATE INDEX certification_applications_open
    ON certification_applications (insurer_number, open, stage, seq);
-- A person's applications, newest first.
CREATE INDEX certification_applications_by_person
    ON certification_applications (insurer_number, insured_number, seq);

-- Only the derived columns may change, and a closed application stays closed.
CREATE TRIGGER certification_applications_identity_is_fixed
BEFORE UPDATE OF application_id, insurer_number, insured_number, application_type, details,
    created_by, created_at ON certification_applications
BEGIN
    SELECT RAISE(ABORT, 'an application''s identity never changes');
END;

CREATE TRIGGER certification_applications_are_kept
BEFORE DELETE ON certification_applications
BEGIN
    SELECT RAISE(ABORT, 'applications are never deleted');
END;

-- Every step of every application, append-only: the timeline.
CREATE TABLE certification_steps (
    application_seq INTEGER NOT NULL REFERENCES certification_applications (seq),
    step_no         INTEGER NOT NULL CHECK (step_no >= 1),
    step            TEXT    NOT NULL,
    details         TEXT    NOT NULL,  -- canonical JSON of the step's details
    recorded_by     TEXT    NOT NULL,  -- principal URN (the municipality, or a relay sender)
    recorded_at     TEXT    NOT NULL,
    PRIMARY KEY (application_seq, step_no)
) STRICT;

CREATE TRIGGER certification_steps_are_append_only_update
BEFORE UPDATE ON certification_steps
BEGIN
    SELECT RAISE(ABORT, 'certification steps are append-only');
END;

CREATE TRIGGER certification_steps_are_append_only_delete
BEFORE DELETE ON certification_steps
BEGIN
    SELECT RAISE(ABORT, 'certification steps are append-only');
END;

-- A relayed submission (DESIGN §7). Its payload and addressing never
-- change; only the delivery columns move forward. One per sender and
-- idempotency key.
CREATE TABLE relay_submissions (
    seq             INTEGER PRIMARY KEY,
    submission_id   TEXT    NOT NULL UNIQUE,  -- sub_ + 32 hex, derived from sender and key
    sender          TEXT    NOT NULL,  -- principal URN
    idempotency_key TEXT    NOT NULL,
    recipient       TEXT    NOT NULL,  -- the municipality's insurer number (the person's insurer)
    insurer_number  TEXT    NOT NULL,
    insured_number  TEXT    NOT NULL,
    type            TEXT    NOT NULL CHECK (type IN ('care_plan_request', 'physician_opinion')),
    application_id  TEXT,              -- physician_opinion: the application it answers
    document_id     TEXT,              -- physician_opinion: the stored document
    payload         TEXT    NOT NULL,  -- canonical JSON, as submitted
    payload_sha256  TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('accepted', 'delivered', 'acknowledged', 'rejected')),
    receipt_number  TEXT,
    reason          TEXT,
    accepted_at     TEXT    NOT NULL,
    delivered_at    TEXT,
    answered_at     TEXT,
    answered_by     TEXT,
    UNIQUE (sender, idempotency_key),
    CHECK ((state = 'acknowledged') = (receipt_number IS NOT NULL)),
    CHECK ((state = 'rejected') = (reason IS NOT NULL))
) STRICT;

-- The municipality's inbox: unanswered submissions, oldest first.
CREATE INDEX relay_submissions_inbox ON relay_submissions (recipient, state, seq);

CREATE TRIGGER relay_submissions_payload_is_fixed
BEFORE UPDATE OF submission_id, sender, idempotency_key, recipient, insurer_number,
    insured_number, type, application_id, document_id, payload, payload_sha256, accepted_at
    ON relay_submissions
BEGIN
    SELECT RAISE(ABORT, 'a submission''s payload and addressing never change');
END;

-- States only move forward, and an answer is final.
CREATE TRIGGER relay_submissions_state_moves_forward
BEFORE UPDATE OF state ON relay_submissions
WHEN NOT ((OLD.state = 'accepted' AND NEW.state IN ('delivered', 'acknowledged', 'rejected'))
       OR (OLD.state = 'delivered' AND NEW.state IN ('acknowledged', 'rejected')))
BEGIN
    SELECT RAISE(ABORT, 'a submission''s state moves only forward and an answer is final');
END;

CREATE TRIGGER relay_submissions_are_never_lost
BEFORE DELETE ON relay_submissions
BEGIN
    SELECT RAISE(ABORT, 'submissions are never deleted');
END;

-- Each state change of a submission, append-only: its history.
CREATE TABLE relay_events (
    submission_seq INTEGER NOT NULL REFERENCES relay_submissions (seq),
    event_no       INTEGER NOT NULL CHECK (event_no >= 1),
    state          TEXT    NOT NULL,
    by_principal   TEXT    NOT NULL,
    at             TEXT    NOT NULL,
    PRIMARY KEY (submission_seq, event_no)
) STRICT;

CREATE TRIGGER relay_events_are_append_only_update
BEFORE UPDATE ON relay_events
BEGIN
    SELECT RAISE(ABORT, 'relay events are append-only');
END;

CREATE TRIGGER relay_events_are_append_only_delete
BEFORE DELETE ON relay_events
BEGIN
    SELECT RAISE(ABORT, 'relay events are append-only');
END;
