-- Schema version 9: `dagctl backfills [--pipeline P]` lists backfills newest
-- first, as one range of an index (all of them, or one pipeline's).

CREATE INDEX backfills_by_created ON backfills (created_at);
CREATE INDEX backfills_by_pipeline_created ON backfills (pipeline, created_at);
