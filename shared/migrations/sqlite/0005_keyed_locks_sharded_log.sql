-- carehub schema 0005: no hub-wide lock. The webhook outbox orders events
-- by (txid, seq) instead of seq alone, and the access log becomes sharded
-- (one hash chain per person, or per caller for reads that name no person)
-- with Merkle leaves and signed checkpoints over all shards.

-- The outbox position (carehub_store::OutboxPosition). SQLite has one
-- writer at a time: every txid is 0 and the safe head is 1, so the order is
-- seq's, as before.
ALTER TABLE webhook_events ADD COLUMN txid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE webhook_subscriptions ADD COLUMN fanout_txid INTEGER NOT NULL DEFAULT 0;
CREATE INDEX webhook_events_by_position ON webhook_events (txid, seq);
CREATE VIEW carehub_outbox_head AS SELECT 1 AS xmin;

-- The sharded access log. `seq` is global (list order and cursor, kept
-- from access_log for the entries copied below); `shard_seq` counts within
-- the shard, and (shard, shard_seq) is unique, so two appenders of one
-- shard can never fork its chain. hash = chain_hash(prev_hash, entry);
-- prev_hash is the previous row's hash in the shard (64 zeros first).
CREATE TABLE log_entries (
    seq            INTEGER PRIMARY KEY,
    shard          TEXT    NOT NULL,  -- carehub_domain::shard_of, or 'legacy'
    shard_seq      INTEGER NOT NULL,  -- 1, 2, … within the shard
    insurer_number TEXT,
    insured_number TEXT,
    entry          TEXT    NOT NULL,  -- canonical JSON of carehub_domain::AccessLogEntry
    prev_hash      TEXT    NOT NULL,
    hash           TEXT    NOT NULL UNIQUE,
    UNIQUE (shard, shard_seq)
) STRICT;

CREATE INDEX log_entries_by_person ON log_entries (insurer_number, insured_number, seq);

-- The pre-upgrade single chain becomes the 'legacy' shard, hashes and order
-- unchanged, so every old entry stays verifiable (and is covered by the
-- first checkpoint). access_log itself is kept as it was, no longer written.
INSERT INTO log_entries (seq, shard, shard_seq, insurer_number, insured_number, entry, prev_hash, hash)
SELECT seq, 'legacy', ROW_NUMBER() OVER (ORDER BY seq), insurer_number, insured_number, entry,
       COALESCE(LAG(hash) OVER (ORDER BY seq),
                '0000000000000000000000000000000000000000000000000000000000000000'),
       hash
FROM access_log;

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

-- The Merkle tree's leaves (RFC 9162): leaf_index 0, 1, … assigned by the
-- checkpoint job to entries in seq order as it finds them committed, so
-- appends never contend on a global counter. The leaf data is the 32 bytes
-- of entry_hash.
CREATE TABLE log_leaves (
    leaf_index INTEGER PRIMARY KEY,
    entry_seq  INTEGER NOT NULL UNIQUE,
    entry_hash TEXT    NOT NULL
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

-- Signed tree heads (carehub_domain::checkpoint).
CREATE TABLE log_checkpoints (
    number    INTEGER PRIMARY KEY,  -- 1, 2, …
    tree_size INTEGER NOT NULL,
    root_hash TEXT    NOT NULL,
    timestamp TEXT    NOT NULL,
    signature TEXT    NOT NULL      -- base64 Ed25519 over TreeHead::signed_text
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
