-- Schema version 2: step details (resources, skip reason, inputs), the
-- pipeline name denormalized into steps so the memoization lookup is one
-- indexed query, schedule/sensor ticks, sensor run keys and the file-hash
-- cache.

ALTER TABLE steps ADD COLUMN pipeline TEXT;
ALTER TABLE steps ADD COLUMN skip_reason TEXT;
ALTER TABLE steps ADD COLUMN cpu_usec INTEGER;
ALTER TABLE steps ADD COLUMN max_rss_kb INTEGER;
ALTER TABLE steps ADD COLUMN inputs TEXT;

UPDATE steps SET pipeline = (SELECT r.pipeline FROM runs r WHERE r.run_id = steps.run_id);

-- Memoization: the newest succeeded row of (pipeline, step).
CREATE INDEX steps_last_success ON steps (pipeline, step, ended_at)
    WHERE status = 'succeeded';

-- Crash recovery looks only at unfinished runs.
CREATE INDEX runs_unfinished ON runs (status) WHERE status IN ('queued', 'running');
-- Retention looks at finished runs by end time.
CREATE INDEX runs_by_ended ON runs (ended_at) WHERE ended_at IS NOT NULL;

-- One row per schedule tick or sensor evaluation (DESIGN 3b).
CREATE TABLE ticks (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL,
    kind    TEXT NOT NULL,
    ts      INTEGER NOT NULL,
    run_id  TEXT,
    status  TEXT NOT NULL,
    reason  TEXT
);

CREATE INDEX ticks_by_name ON ticks (name, kind, ts);
CREATE INDEX ticks_by_ts ON ticks (ts);

-- Sensor run keys (path, size, mtime): each file triggers one run, also
-- across restarts.
CREATE TABLE sensor_keys (
    sensor  TEXT NOT NULL,
    key     TEXT NOT NULL,
    run_id  TEXT,
    ts      INTEGER NOT NULL,
    PRIMARY KEY (sensor, key)
) WITHOUT ROWID;

-- Content hashes of input files, valid while (dev, ino, size, mtime_ns) match.
CREATE TABLE file_hashes (
    path       TEXT PRIMARY KEY NOT NULL,
    dev        INTEGER NOT NULL,
    ino        INTEGER NOT NULL,
    size       INTEGER NOT NULL,
    mtime_ns   INTEGER NOT NULL,
    hash       TEXT NOT NULL,
    checked_at INTEGER NOT NULL
) WITHOUT ROWID;
