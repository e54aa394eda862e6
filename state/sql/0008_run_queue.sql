-- Schema version 8: one durable run queue for every run (docs/daemon.md,
-- "Runs, queue and limits"). A run that has to wait in the daemon's queue
-- is a `queued` row before its submit is acknowledged; queue_options holds
-- what the daemon needs to start it after a restart (JSON: params given as
-- overrides, force, from, only, max_jobs). start_seq numbers the starts of
-- runs (1, 2, ...): the order in which the queue let them go, which the
-- fairness rules are checked against.

ALTER TABLE runs ADD COLUMN queue_options TEXT;
ALTER TABLE runs ADD COLUMN start_seq INTEGER;
-- max(start_seq) for the next start.
CREATE INDEX runs_by_start_seq ON runs (start_seq);

-- A backfill's --param overrides (JSON object; NULL = none), given to each
-- of its runs, and the priority of its runs.
ALTER TABLE backfills ADD COLUMN params TEXT;
ALTER TABLE backfills ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
