-- Schema version 7: partitions and backfills (docs/daemon.md, "Partitions
-- and backfills"). A run may target one partition of its pipeline (the key,
-- e.g. 2024-01-31), may belong to a backfill, and has a priority: the
-- daemon starts queued runs by priority (higher first), then by age.

ALTER TABLE runs ADD COLUMN partition TEXT;
ALTER TABLE runs ADD COLUMN backfill_id TEXT;
ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;

-- dagctl partitions P: the newest run of each partition.
CREATE INDEX runs_by_pipeline_partition ON runs (pipeline, partition, created_at)
    WHERE partition IS NOT NULL;
-- dagctl backfill show ID: counts by status.
CREATE INDEX runs_by_backfill ON runs (backfill_id, status) WHERE backfill_id IS NOT NULL;

CREATE TABLE backfills (
    backfill_id  TEXT PRIMARY KEY NOT NULL,
    pipeline     TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'done', 'canceled')),
    range_from   TEXT,
    range_to     TEXT,
    n_partitions INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    ended_at     INTEGER
);
