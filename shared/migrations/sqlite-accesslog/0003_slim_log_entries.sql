-- carehub access-log schema 0003: an append writes two b-trees, not four.
--
-- Each append used to insert into four b-trees: the table, UNIQUE (shard,
-- shard_seq), UNIQUE (hash) and log_entries_by_person. The last two are
-- keyed at random across the whole log (a hash; a person), so every append
-- touched a cold leaf of each, and their pages outgrew any page cache as
-- the log grew (at 463k entries, 14k pages of a 90k-page file). Neither is
-- needed:
--   * hash uniqueness is not what makes the log tamper-evident (each hash
--     chains its shard's previous one, which verify-log and the checkpoints
--     check), and nothing looks an entry up by its hash;
--   * a person's access list reads the person's own shard through
--     log_entries_by_shard (within a shard, seq and shard_seq rise
--     together), plus the person's entries of the pre-sharding `legacy`
--     shard through a partial index that holds those alone.
-- SQLite cannot drop a table constraint, so the table is rebuilt: every row
-- is copied as it is (seq, shard, shard_seq, hashes), so the chains and the
-- leaves (log_leaves.entry_seq) still verify. This runs once, at start, in
-- one transaction: on a large log it takes a while (carehub says so first;
-- 463k entries took 5.8 s on the bench machine, and the file keeps the old
-- pages as free pages, which later appends reuse).

CREATE TABLE log_entries_slim (
    seq            INTEGER PRIMARY KEY,
    shard          TEXT    NOT NULL,
    shard_seq      INTEGER NOT NULL,
    insurer_number TEXT,
    insured_number TEXT,
    entry          TEXT    NOT NULL,
    prev_hash      TEXT    NOT NULL,
    hash           TEXT    NOT NULL
) STRICT;

INSERT INTO log_entries_slim (seq, shard, shard_seq, insurer_number, insured_number, entry, prev_hash, hash)
SELECT seq, shard, shard_seq, insurer_number, insured_number, entry, prev_hash, hash
FROM log_entries ORDER BY seq;

-- Drops the old table's triggers and indexes with it (DROP TABLE fires no
-- DELETE trigger).
DROP TABLE log_entries;

ALTER TABLE log_entries_slim RENAME TO log_entries;

-- The fork guard and the shard's head (the appends' ON CONFLICT target).
CREATE UNIQUE INDEX log_entries_by_shard ON log_entries (shard, shard_seq);

CREATE INDEX log_entries_legacy_by_person ON log_entries (insurer_number, insured_number, seq)
    WHERE shard = 'legacy';

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
