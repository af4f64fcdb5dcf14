-- carehub schema 0001: documents, their versions, idempotency records.
--
-- Applied once by the gateway (recorded in carehub_migrations); components
-- never create or alter tables. Timestamps are RFC 3339 UTC text of fixed
-- width ("2025-11-25T06:19:00.123456Z"), so they sort as text in time order.

-- One row per logical document: a person's document of one kind, by one
-- author, under the author's key. `seq` is the hub's internal sequence: the
-- list order and the pagination cursor. `current_*` point at the newest
-- version so that a write can tell "same content" without reading history.
CREATE TABLE documents (
    seq             INTEGER PRIMARY KEY,
    document_id     TEXT    NOT NULL UNIQUE,
    insurer_number  TEXT    NOT NULL,
    insured_number  TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    author          TEXT    NOT NULL,  -- principal URN, urn:carehub:<role>:<code>
    document_key    TEXT    NOT NULL,
    current_version INTEGER NOT NULL CHECK (current_version >= 1),
    current_sha256  TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
) STRICT;

-- The person's list, newest first, paged by seq.
CREATE INDEX documents_by_person ON documents (insurer_number, insured_number, seq);

-- Every version ever stored; append-only (see the triggers below). Version
-- N+1 supersedes N.
CREATE TABLE document_versions (
    document_seq   INTEGER NOT NULL REFERENCES documents (seq),
    version        INTEGER NOT NULL CHECK (version >= 1),
    supersedes     INTEGER CHECK ((version = 1 AND supersedes IS NULL) OR supersedes = version - 1),
    content        TEXT    NOT NULL,  -- canonical JSON: sorted keys, no insignificant whitespace
    content_sha256 TEXT    NOT NULL,  -- lower-case hex SHA-256 of content
    stored_at      TEXT    NOT NULL,
    PRIMARY KEY (document_seq, version)
) STRICT;

CREATE TRIGGER document_versions_are_append_only_update
BEFORE UPDATE ON document_versions
BEGIN
    SELECT RAISE(ABORT, 'document versions are append-only');
END;

CREATE TRIGGER document_versions_are_append_only_delete
BEFORE DELETE ON document_versions
BEGIN
    SELECT RAISE(ABORT, 'document versions are append-only');
END;

-- The stored answer to a write sent with an Idempotency-Key, per principal
-- and key. Only successful writes are recorded, in the same transaction as
-- the write.
CREATE TABLE idempotency_records (
    principal       TEXT    NOT NULL,  -- principal URN
    idempotency_key TEXT    NOT NULL,
    fingerprint     TEXT    NOT NULL,  -- of method, path and body bytes
    status          INTEGER NOT NULL,
    location        TEXT,
    body            TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    PRIMARY KEY (principal, idempotency_key)
) STRICT;
