-- Schema version 1: the contract tables of DESIGN 5 (runs, steps, events).
-- Times are INTEGER Unix epoch milliseconds; NULL means "not yet".
-- Migrations are applied in order, each in its own transaction, and set
-- PRAGMA user_version to their number. Never edit a released migration:
-- add a new file.

CREATE TABLE runs (
    run_id        TEXT PRIMARY KEY NOT NULL,
    pipeline      TEXT NOT NULL,
    status        TEXT NOT NULL
                  CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    trigger       TEXT NOT NULL DEFAULT 'cli',
    params        TEXT NOT NULL DEFAULT '{}',
    parent_run_id TEXT,
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    ended_at      INTEGER,
    error         TEXT
);

-- dagctl runs [--pipeline P]: newest first.
CREATE INDEX runs_by_pipeline ON runs (pipeline, created_at);
CREATE INDEX runs_by_created ON runs (created_at);

CREATE TABLE steps (
    run_id      TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    step        TEXT NOT NULL,
    task        TEXT NOT NULL,
    status      TEXT NOT NULL
                CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped',
                                  'canceled')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    started_at  INTEGER,
    ended_at    INTEGER,
    exit_code   INTEGER,
    rows_in     INTEGER,
    rows_out    INTEGER,
    fingerprint TEXT,
    error       TEXT,
    PRIMARY KEY (run_id, step)
);

-- seq only grows (AUTOINCREMENT): `dagctl logs --follow` polls seq > last.
CREATE TABLE events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id  TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    step    TEXT,
    ts      INTEGER NOT NULL,
    level   TEXT NOT NULL,
    kind    TEXT NOT NULL,
    message TEXT NOT NULL
);

CREATE INDEX events_by_run ON events (run_id, seq);
