-- The delivery outbox (src/outbox.rs): every status callback and debugger webhook is a row here
-- before it is sent, and some live node sends it, at least once, retrying with backoff.
CREATE TABLE deliveries (
    seq               BIGSERIAL PRIMARY KEY,
    sid               TEXT    NOT NULL UNIQUE,
    account_sid       TEXT    NOT NULL,
    resource_sid      TEXT,
    kind              TEXT    NOT NULL,
    url               TEXT    NOT NULL,
    method            TEXT    NOT NULL,
    params            TEXT    NOT NULL,
    channel           TEXT    NOT NULL,
    idempotency_token TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    attempts          BIGINT  NOT NULL,
    last_error_code   BIGINT,
    last_attempt_ms   BIGINT,
    next_attempt_ms   BIGINT  NOT NULL,
    deadline_ms       BIGINT  NOT NULL,
    owner             TEXT,
    created_ms        BIGINT  NOT NULL
);
-- What is due: only pending rows are in it, so delivered history costs the claim nothing.
CREATE INDEX deliveries_due ON deliveries (next_attempt_ms) WHERE status = 'pending';
-- What a node holds (released when it dies).
CREATE INDEX deliveries_by_owner ON deliveries (owner) WHERE owner IS NOT NULL;
-- An account's deliveries, newest first.
CREATE INDEX deliveries_by_account ON deliveries (account_sid, seq);
