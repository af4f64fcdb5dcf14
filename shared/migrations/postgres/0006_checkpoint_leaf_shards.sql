-- carehub schema 0006: each Merkle leaf also names its entry's shard and
-- place in the shard, so that `carehub verify-log` can name the shard and
-- row of an entry removed after a checkpoint covered it (the leaf remains;
-- its entry does not). Written by the checkpoint job with the leaf.
ALTER TABLE log_leaves ADD COLUMN shard TEXT;
ALTER TABLE log_leaves ADD COLUMN shard_seq BIGINT;
