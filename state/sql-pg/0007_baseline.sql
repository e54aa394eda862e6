-- PostgreSQL baseline: the whole schema at version 7, the same tables,
-- columns and indexes as state/sql/0001..0007 leave in SQLite
-- (docs/state.md), so `psql` users run the queries of docs/state.md as
-- sqlite3 users do. A later migration NNNN ships as state/sql/NNNN_*.sql and
-- state/sql-pg/NNNN_*.sql, and both bring their schema to version NNNN.
--
-- Differences, all invisible to dagd:
-- - integers are bigint (SQLite integers are 64-bit);
-- - runs and steps carry an explicit `rowid` (SQLite's implicit one): steps
--   are listed in the order run_create inserted them, queued runs by age;
-- - ids are COLLATE "C", so ordering and the prefix lookup of
--   `dagctl show 3f2a` compare bytes, as in SQLite, and use the index;
-- - the version lives in dagd_schema, not PRAGMA user_version.

CREATE TABLE dagd_schema (
    version     integer NOT NULL,
    application text NOT NULL DEFAULT 'dagd'
);
INSERT INTO dagd_schema (version) VALUES (7);

CREATE TABLE runs (
    rowid         bigserial NOT NULL UNIQUE,
    run_id        text COLLATE "C" PRIMARY KEY NOT NULL,
    pipeline      text NOT NULL,
    status        text NOT NULL
                  CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    trigger       text NOT NULL DEFAULT 'cli',
    params        text NOT NULL DEFAULT '{}',
    parent_run_id text COLLATE "C",
    created_at    bigint NOT NULL,
    started_at    bigint,
    ended_at      bigint,
    error         text,
    partition     text,
    backfill_id   text COLLATE "C",
    priority      bigint NOT NULL DEFAULT 0
);

CREATE INDEX runs_by_created_id ON runs (created_at, run_id);
CREATE INDEX runs_by_pipeline_created_id ON runs (pipeline, created_at, run_id);
CREATE INDEX runs_unfinished ON runs (status) WHERE status IN ('queued', 'running');
CREATE INDEX runs_by_ended ON runs (ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX runs_by_pipeline_partition ON runs (pipeline, partition, created_at)
    WHERE partition IS NOT NULL;
CREATE INDEX runs_by_backfill ON runs (backfill_id, status) WHERE backfill_id IS NOT NULL;

CREATE TABLE steps (
    rowid       bigserial NOT NULL UNIQUE,
    run_id      text COLLATE "C" NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    step        text NOT NULL,
    task        text NOT NULL,
    status      text NOT NULL
                CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped',
                                  'canceled')),
    attempts    bigint NOT NULL DEFAULT 0,
    started_at  bigint,
    ended_at    bigint,
    exit_code   bigint,
    rows_in     bigint,
    rows_out    bigint,
    fingerprint text,
    error       text,
    pipeline    text,
    skip_reason text,
    cpu_usec    bigint,
    max_rss_kb  bigint,
    inputs      text,
    manifest    text,
    pgid        bigint,
    pgid_start  bigint,
    boot_id     text,
    PRIMARY KEY (run_id, step)
);

CREATE INDEX steps_last_success ON steps (pipeline, step, ended_at)
    WHERE status = 'succeeded';

CREATE TABLE events (
    seq     bigserial PRIMARY KEY,
    run_id  text COLLATE "C" NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    step    text,
    ts      bigint NOT NULL,
    level   text NOT NULL,
    kind    text NOT NULL,
    message text NOT NULL
);

CREATE INDEX events_by_run ON events (run_id, seq);

CREATE TABLE ticks (
    id      bigserial PRIMARY KEY,
    name    text NOT NULL,
    kind    text NOT NULL,
    ts      bigint NOT NULL,
    run_id  text COLLATE "C",
    status  text NOT NULL,
    reason  text
);

CREATE INDEX ticks_by_name ON ticks (name, kind, ts);
CREATE INDEX ticks_by_ts ON ticks (ts);

CREATE TABLE sensor_keys (
    sensor  text NOT NULL,
    key     text NOT NULL,
    run_id  text COLLATE "C",
    ts      bigint NOT NULL,
    PRIMARY KEY (sensor, key)
);

CREATE TABLE file_hashes (
    path       text PRIMARY KEY NOT NULL,
    dev        bigint NOT NULL,
    ino        bigint NOT NULL,
    size       bigint NOT NULL,
    mtime_ns   bigint NOT NULL,
    hash       text NOT NULL,
    checked_at bigint NOT NULL
);

CREATE TABLE checks (
    id         bigserial PRIMARY KEY,
    run_id     text COLLATE "C" NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    step       text NOT NULL,
    attempt    bigint NOT NULL,
    name       text NOT NULL,
    severity   text NOT NULL CHECK (severity IN ('error', 'warn')),
    status     text NOT NULL CHECK (status IN ('passed', 'failed', 'warned', 'error')),
    violations bigint NOT NULL DEFAULT 0,
    sample     text,
    detail     text,
    ts         bigint NOT NULL
);

CREATE INDEX checks_by_run ON checks (run_id, id);

CREATE TABLE backfills (
    backfill_id  text COLLATE "C" PRIMARY KEY NOT NULL,
    pipeline     text NOT NULL,
    status       text NOT NULL CHECK (status IN ('running', 'done', 'canceled')),
    range_from   text,
    range_to     text,
    n_partitions bigint NOT NULL,
    created_at   bigint NOT NULL,
    ended_at     bigint
);
