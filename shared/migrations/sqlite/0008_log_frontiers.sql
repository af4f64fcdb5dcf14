-- carehub schema 0008: the Merkle frontier of each checkpoint's tree (see
-- the access-log database's 0002_log_frontiers.sql, where the gateway keeps
-- it; like the other log tables here it is moved there at start and
-- dropped from this file).

CREATE TABLE log_frontiers (
    tree_size INTEGER PRIMARY KEY,
    nodes     TEXT    NOT NULL
) STRICT;
