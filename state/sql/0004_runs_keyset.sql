-- Schema version 4: the run list pages by keyset (created_at, run_id), never
-- by OFFSET (the web UI's runs page, GET /api/runs?before=...): the index
-- entries carry run_id, so a page is one index range whatever the history's
-- size. They replace the v1 indexes on (created_at) and (pipeline,
-- created_at), of which they are supersets (same prefixes).

CREATE INDEX runs_by_created_id ON runs (created_at, run_id);
CREATE INDEX runs_by_pipeline_created_id ON runs (pipeline, created_at, run_id);
DROP INDEX runs_by_created;
DROP INDEX runs_by_pipeline;
