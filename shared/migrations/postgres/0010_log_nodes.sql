-- carehub schema 0010 (PostgreSQL), as the SQLite access log's 0004: the hashes of the Merkle tree's perfect
-- subtrees (carehub_domain::merkle::Subtree: the 2^level leaves from
-- idx * 2^level on), so that an inclusion or a consistency proof reads
-- O(log n) of them instead of every leaf of the tree. The checkpoint job
-- keeps each subtree its new leaves complete; a log from before this table
-- has its older subtrees kept from log_node_cursor on, a bounded number a
-- run, and until then a proof hashes what is not kept from the leaves.
-- Derived data, like log_frontiers: a wrong node gives a proof that does
-- not verify against the signed checkpoint, and verify-log checks the
-- checkpoints against the leaves themselves.

CREATE TABLE log_nodes (
    level BIGINT  NOT NULL,
    idx   BIGINT  NOT NULL,
    hash  TEXT    NOT NULL,
    PRIMARY KEY (level, idx)
);

-- Every perfect subtree of the leaves below next_leaf is kept.
CREATE TABLE log_node_cursor (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    next_leaf BIGINT  NOT NULL
);

INSERT INTO log_node_cursor (id, next_leaf) VALUES (1, 0);
