-- Scheduled messages waiting for their time (src/schedule.rs): a node claims a due row, sends
-- the message once and removes the row; a cancel removes it while it is unowned.
CREATE TABLE scheduled_sends (
    sid         TEXT   NOT NULL PRIMARY KEY,
    account_sid TEXT   NOT NULL,
    send_at_ms  BIGINT NOT NULL,
    owner       TEXT
);
-- What is due: only unowned rows are in it.
CREATE INDEX scheduled_sends_due ON scheduled_sends (send_at_ms) WHERE owner IS NULL;
-- What a node holds (released when it dies or restarts).
CREATE INDEX scheduled_sends_by_owner ON scheduled_sends (owner) WHERE owner IS NOT NULL;
