-- Schema version 9 on PostgreSQL: state/sql/0009_backfills_list.sql (the
-- indexes of `dagctl backfills`).

CREATE INDEX backfills_by_created ON backfills (created_at);
CREATE INDEX backfills_by_pipeline_created ON backfills (pipeline, created_at);
