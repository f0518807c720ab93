-- Circuit breakers shared by the nodes (src/breakers.rs): each origin's last change, written by
-- the node whose requests changed it, read by the others. Times are the database's clock.
CREATE TABLE breakers (
    origin          TEXT    PRIMARY KEY,
    state           TEXT    NOT NULL,
    last_error_code BIGINT,
    open_until_ms   BIGINT  NOT NULL,
    updated_ms      BIGINT  NOT NULL,
    updated_by      TEXT    NOT NULL
);
CREATE INDEX breakers_by_change ON breakers (updated_ms);
