-- carehub schema 0008: the Merkle frontier of each checkpoint's tree
-- (carehub_domain::merkle::Frontier: the roots of its perfect subtrees,
-- hex, comma-separated), so that the next checkpoint hashes only the
-- leaves added since, not the whole log. Derived data: a checkpoint without
-- one is recomputed from its leaves once, and verify-log checks every
-- checkpoint against the leaves themselves.

CREATE TABLE log_frontiers (
    tree_size BIGINT PRIMARY KEY,
    nodes     TEXT   NOT NULL
);
