-- carehub access-log database (SQLite label "accesslog", file
-- .carehub/data/accesslog.db): the sharded access log, its Merkle leaves and
-- signed checkpoints, in a file of their own, so that a read's log append
-- never writes the file the documents live in (other connections keep
-- their cached pages of default.db) and never waits for its write lock.
-- The tables are those of default.db's migrations 0005 and 0006; a hub
-- upgraded from a default.db that holds them moves their rows here at
-- start (infra/src/host/sqlite.rs, move_access_log). PostgreSQL keeps them
-- in its one database.

CREATE TABLE log_entries (
    seq            INTEGER PRIMARY KEY,
    shard          TEXT    NOT NULL,
    shard_seq      INTEGER NOT NULL,
    insurer_number TEXT,
    insured_number TEXT,
    entry          TEXT    NOT NULL,
    prev_hash      TEXT    NOT NULL,
    hash           TEXT    NOT NULL UNIQUE,
    UNIQUE (shard, shard_seq)
) STRICT;

CREATE INDEX log_entries_by_person ON log_entries (insurer_number, insured_number, seq);

CREATE TRIGGER log_entries_are_append_only_update
BEFORE UPDATE ON log_entries
BEGIN
    SELECT RAISE(ABORT, 'the access log is append-only');
END;

CREATE TRIGGER log_entries_are_append_only_delete
BEFORE DELETE ON log_entries
BEGIN
    SELECT RAISE(ABORT, 'the access log is append-only');
END;

CREATE TABLE log_leaves (
    leaf_index INTEGER PRIMARY KEY,
    entry_seq  INTEGER NOT NULL UNIQUE,
    entry_hash TEXT    NOT NULL,
    shard      TEXT,
    shard_seq  INTEGER
) STRICT;

CREATE TRIGGER log_leaves_are_append_only_update
BEFORE UPDATE ON log_leaves
BEGIN
    SELECT RAISE(ABORT, 'the log''s leaves are append-only');
END;

CREATE TRIGGER log_leaves_are_append_only_delete
BEFORE DELETE ON log_leaves
BEGIN
    SELECT RAISE(ABORT, 'the log''s leaves are append-only');
END;

CREATE TABLE log_checkpoints (
    number    INTEGER PRIMARY KEY,
    tree_size INTEGER NOT NULL,
    root_hash TEXT    NOT NULL,
    timestamp TEXT    NOT NULL,
    signature TEXT    NOT NULL
) STRICT;

CREATE TRIGGER log_checkpoints_are_append_only_update
BEFORE UPDATE ON log_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;

CREATE TRIGGER log_checkpoints_are_append_only_delete
BEFORE DELETE ON log_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'checkpoints are append-only');
END;
