-- Node membership: each node renews its lease here; a node whose heartbeat is older than the
-- lease (by the database's clock) is dead, and one survivor claims its unfinished work.
CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL,
    status TEXT NOT NULL,
    active_calls BIGINT NOT NULL,
    taken_over_by TEXT
);
