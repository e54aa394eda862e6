-- Schema version 6: data-quality check results (the check task,
-- tasks/check; ABI 1.2 host->check_result): one row per check per step
-- attempt, so a retried step keeps the results of every attempt.

CREATE TABLE checks (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    step       TEXT NOT NULL,
    attempt    INTEGER NOT NULL,
    name       TEXT NOT NULL,
    severity   TEXT NOT NULL CHECK (severity IN ('error', 'warn')),
    status     TEXT NOT NULL CHECK (status IN ('passed', 'failed', 'warned', 'error')),
    violations INTEGER NOT NULL DEFAULT 0,
    sample     TEXT,   -- JSON array of a few violating rows, NULL when none
    detail     TEXT,
    ts         INTEGER NOT NULL
);

CREATE INDEX checks_by_run ON checks (run_id, id);
