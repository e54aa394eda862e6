-- Schema version 8 on PostgreSQL: state/sql/0008_run_queue.sql (the durable
-- run queue: queue_options and start_seq of a run; params and priority of a
-- backfill).

ALTER TABLE runs ADD COLUMN queue_options text;
ALTER TABLE runs ADD COLUMN start_seq bigint;
CREATE INDEX runs_by_start_seq ON runs (start_seq);

ALTER TABLE backfills ADD COLUMN params text;
ALTER TABLE backfills ADD COLUMN priority bigint NOT NULL DEFAULT 0;
