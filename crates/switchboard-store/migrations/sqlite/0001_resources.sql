-- One table holds every REST resource as a JSON document, with the few columns that lookups,
-- uniqueness, ordering and list filters need. See crates/switchboard-store/src/lib.rs for why.
CREATE TABLE resources (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    sid           TEXT    NOT NULL UNIQUE,
    kind          TEXT    NOT NULL,
    account_sid   TEXT    NOT NULL,
    parent_sid    TEXT,
    unique_key    TEXT    UNIQUE,
    created_ms    BIGINT  NOT NULL,
    phone_number  TEXT,
    from_number   TEXT,
    friendly_name TEXT,
    status        TEXT,
    date_key      BIGINT,
    doc           TEXT    NOT NULL
);
CREATE INDEX resources_by_owner ON resources (kind, account_sid, seq);
CREATE INDEX resources_by_parent ON resources (kind, parent_sid, seq);
