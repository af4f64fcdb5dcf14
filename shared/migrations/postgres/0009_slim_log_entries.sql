-- carehub schema 0009 (PostgreSQL): an access-log append writes two
-- b-trees, not four, as the SQLite access log's migration 0003 does.
--
-- UNIQUE (hash) and log_entries_by_person are keyed at random across the
-- whole log (a hash; a person), so every append dirtied a leaf of each
-- that no other recent append had touched (and, after a checkpoint, wrote
-- its full page to the WAL). Neither is needed: the chains and the signed
-- checkpoints make the log tamper-evident, nothing looks an entry up by
-- its hash, and a person's access list reads their shard through
-- UNIQUE (shard, shard_seq) and their pre-sharding entries through the
-- partial index below. Unlike SQLite, PostgreSQL drops a constraint in
-- place: no rows move. (The constraint's name is PostgreSQL's default for
-- 0005's column constraint; no IF EXISTS, so a database that differs
-- fails here rather than keeping the index unnoticed.)

ALTER TABLE log_entries DROP CONSTRAINT log_entries_hash_key;

DROP INDEX log_entries_by_person;

CREATE INDEX log_entries_legacy_by_person ON log_entries (insurer_number, insured_number, seq)
    WHERE shard = 'legacy';
