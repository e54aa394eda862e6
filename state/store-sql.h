/* Every SQL statement of the store, in one place (STYLE: SQL lives in .sql
 * files or one header per module). The schema itself is in sql/NNNN_*.sql.
 * Each statement is prepared once, on first use, and reused. Column lists
 * are shared so readers stay in step with the row decoders in store.c. */
#ifndef DAGD_STORE_SQL_H
#define DAGD_STORE_SQL_H

/* Decoded by run_from_row() in this order. */
#define RUN_COLUMNS                                                                                \
    "run_id, pipeline, status, trigger, params, parent_run_id, created_at, started_at, "           \
    "ended_at, error, partition, backfill_id, priority, queue_options, start_seq"
/* Decoded by step_from_row() in this order. */
#define STEP_COLUMNS                                                                               \
    "run_id, step, task, status, attempts, started_at, ended_at, exit_code, rows_in, rows_out, "   \
    "fingerprint, error, skip_reason, cpu_usec, max_rss_kb, inputs, manifest"
/* STEP_COLUMNS of a steps table named s. */
#define STEP_COLUMNS_S                                                                             \
    "s.run_id, s.step, s.task, s.status, s.attempts, s.started_at, s.ended_at, s.exit_code, "      \
    "s.rows_in, s.rows_out, s.fingerprint, s.error, s.skip_reason, s.cpu_usec, s.max_rss_kb, "     \
    "s.inputs, s.manifest"
/* Decoded by backfill_from_row() in this order. */
#define BACKFILL_COLUMNS                                                                           \
    "backfill_id, pipeline, status, range_from, range_to, n_partitions, created_at, ended_at, "    \
    "params, priority"
#define EVENT_COLUMNS "seq, run_id, step, ts, level, kind, message"
#define TICK_COLUMNS "id, name, kind, ts, run_id, status, reason"
/* Decoded by check_from_row() in this order. */
#define CHECK_COLUMNS                                                                              \
    "id, run_id, step, attempt, name, severity, status, violations, sample, detail, ts"

#define STORE_STATEMENTS(X)                                                                        \
    X(BEGIN, "BEGIN IMMEDIATE")                                                                    \
    X(COMMIT, "COMMIT")                                                                            \
    X(ROLLBACK, "ROLLBACK")                                                                        \
    X(SAVEPOINT, "SAVEPOINT dagd_op")                                                              \
    X(RELEASE, "RELEASE dagd_op")                                                                  \
    X(ROLLBACK_TO, "ROLLBACK TO dagd_op")                                                          \
                                                                                                   \
    X(RUN_INSERT, "INSERT INTO runs (" RUN_COLUMNS                                                 \
                  ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, NULL)")  \
    X(RUN_SET_STATUS,                                                                              \
      "UPDATE runs SET status = ?2, error = ?3, "                                                  \
      "started_at = CASE WHEN ?2 = 'running' THEN coalesce(started_at, ?4) ELSE started_at END, "  \
      "ended_at = CASE WHEN ?2 IN ('succeeded', 'failed', 'canceled') THEN ?4 ELSE ended_at END, " \
      "start_seq = CASE WHEN ?2 = 'running' AND start_seq IS NULL "                                \
      "THEN (SELECT coalesce(max(start_seq), 0) + 1 FROM runs) ELSE start_seq END "                \
      "WHERE run_id = ?1")                                                                         \
    X(RUN_GET, "SELECT " RUN_COLUMNS " FROM runs WHERE run_id = ?1")                               \
    /* Prefix match as an index range: run_id >= prefix AND run_id < prefix + U+10FFFF.            \
     * An exact id sorts first. */                                                                 \
    X(RUN_RESOLVE, "SELECT run_id FROM runs WHERE run_id >= ?1 AND run_id < ?1 || char(1114111) "  \
                   "ORDER BY run_id LIMIT 2")                                                      \
    X(RUNS_LIST_ALL, "SELECT " RUN_COLUMNS " FROM runs ORDER BY created_at DESC LIMIT ?1")         \
    X(RUNS_LIST_PIPELINE,                                                                          \
      "SELECT " RUN_COLUMNS " FROM runs WHERE pipeline = ?1 ORDER BY created_at DESC LIMIT ?2")    \
    /* A page of the web UI's run list: keyset (created_at, run_id) < (?1, ?2), one range of       \
     * runs_by_created_id or runs_by_pipeline_created_id; status, trigger and the lower time       \
     * bound ?5 filter inside the range. */                                                        \
    X(RUNS_PAGE_ALL,                                                                               \
      "SELECT " RUN_COLUMNS " FROM runs WHERE (created_at, run_id) < (?1, ?2) "                    \
      "AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR trigger = ?4) AND created_at >= ?5 "     \
      "ORDER BY created_at DESC, run_id DESC LIMIT ?6")                                            \
    X(RUNS_PAGE_PIPELINE,                                                                          \
      "SELECT " RUN_COLUMNS " FROM runs WHERE pipeline = ?7 AND (created_at, run_id) < (?1, ?2) "  \
      "AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR trigger = ?4) AND created_at >= ?5 "     \
      "ORDER BY created_at DESC, run_id DESC LIMIT ?6")                                            \
    /* Metrics (daemon/serve/http_metrics.c), once per daemon: finished runs and the steps of      \
     * finished runs by pipeline and status; later ones are counted as they finish. */             \
    X(RUNS_COUNT_FINISHED,                                                                         \
      "SELECT pipeline, status, count(*) FROM runs WHERE status NOT IN ('queued', 'running') "     \
      "GROUP BY pipeline, status")                                                                 \
    X(STEPS_OF_FINISHED,                                                                           \
      "SELECT pipeline, status, started_at, ended_at FROM steps WHERE run_id NOT IN "              \
      "(SELECT run_id FROM runs WHERE status IN ('queued', 'running'))")                           \
                                                                                                   \
    X(STEP_INSERT_PENDING, "INSERT INTO steps (run_id, pipeline, step, task, status, attempts) "   \
                           "VALUES (?1, ?2, ?3, ?4, 'pending', 0)")                                \
    X(STEP_UPDATE,                                                                                 \
      "UPDATE steps SET task = coalesce(?3, task), status = ?4, attempts = ?5, "                   \
      "started_at = ?6, ended_at = ?7, exit_code = ?8, rows_in = ?9, rows_out = ?10, "             \
      "fingerprint = ?11, error = ?12, skip_reason = ?13, cpu_usec = ?14, max_rss_kb = ?15, "      \
      "inputs = coalesce(?16, inputs), manifest = coalesce(?17, manifest), " /* The attempt's      \
                                                                                process group is   \
                                                                                kept while it      \
                                                                                runs, forgotten    \
                                                                                once it ended. */  \
      "pgid = CASE WHEN ?4 = 'running' THEN pgid END, "                                            \
      "pgid_start = CASE WHEN ?4 = 'running' THEN pgid_start END, "                                \
      "boot_id = CASE WHEN ?4 = 'running' THEN boot_id END "                                       \
      "WHERE run_id = ?1 AND step = ?2")                                                           \
    X(STEP_SET_PROCESS, "UPDATE steps SET pgid = ?3, pgid_start = ?4, boot_id = ?5 "               \
                        "WHERE run_id = ?1 AND step = ?2")                                         \
    X(STEP_INSERT,                                                                                 \
      "INSERT INTO steps (run_id, pipeline, step, task, status, attempts, started_at, ended_at, "  \
      "exit_code, rows_in, rows_out, fingerprint, error, skip_reason, cpu_usec, max_rss_kb, "      \
      "inputs, manifest) VALUES (?1, (SELECT pipeline FROM runs WHERE run_id = ?1), ?2, "          \
      "coalesce(?3, ''), "                                                                         \
      "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)")                           \
    /* STEP_UPDATE, or STEP_INSERT for a step the update would not find, in                        \
     * one statement: a write sent without waiting (store-pg-pipe.c) has no                        \
     * change count to choose by. */                                                               \
    X(STEP_UPSERT,                                                                                 \
      "INSERT INTO steps AS s (run_id, pipeline, step, task, status, attempts, started_at, "       \
      "ended_at, exit_code, rows_in, rows_out, fingerprint, error, skip_reason, cpu_usec, "        \
      "max_rss_kb, inputs, manifest) VALUES (?1, (SELECT pipeline FROM runs WHERE run_id = ?1), "  \
      "?2, coalesce(?3, ''), ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) "     \
      "ON CONFLICT (run_id, step) DO UPDATE SET task = coalesce(?3, s.task), status = ?4, "        \
      "attempts = ?5, started_at = ?6, ended_at = ?7, exit_code = ?8, rows_in = ?9, "              \
      "rows_out = ?10, fingerprint = ?11, error = ?12, skip_reason = ?13, cpu_usec = ?14, "        \
      "max_rss_kb = ?15, inputs = coalesce(?16, s.inputs), manifest = coalesce(?17, s.manifest), " \
      "pgid = CASE WHEN ?4 = 'running' THEN s.pgid END, "                                          \
      "pgid_start = CASE WHEN ?4 = 'running' THEN s.pgid_start END, "                              \
      "boot_id = CASE WHEN ?4 = 'running' THEN s.boot_id END")                                     \
    X(STEPS_LIST, "SELECT " STEP_COLUMNS " FROM steps WHERE run_id = ?1 ORDER BY rowid")           \
    /* One indexed lookup in steps_last_success (pipeline, step, ended_at) WHERE succeeded:        \
     * max() with bare columns takes the row of the newest success straight from the index         \
     * (no sort, whatever the planner statistics say). No match gives one row of NULLs. */         \
    X(STEP_LAST_SUCCESS, "SELECT " STEP_COLUMNS ", max(ended_at) FROM steps WHERE pipeline = ?1 "  \
                         "AND step = ?2 AND status = 'succeeded'")                                 \
    /* Memoization per partition: the runs of one partition (runs_by_pipeline_partition), then     \
     * each run's step by the primary key. */                                                      \
    X(STEP_LAST_SUCCESS_PARTITION,                                                                 \
      "SELECT " STEP_COLUMNS_S                                                                     \
      ", max(s.ended_at) FROM runs r JOIN steps s ON s.run_id = r.run_id "                         \
      "AND s.step = ?2 WHERE r.pipeline = ?1 AND r.partition = ?3 AND s.status = 'succeeded'")     \
                                                                                                   \
    X(EVENT_INSERT, "INSERT INTO events (run_id, step, ts, level, kind, message) "                 \
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                             \
    X(EVENTS_LIST, "SELECT " EVENT_COLUMNS " FROM events WHERE run_id = ?1 AND seq > ?2 "          \
                   "AND (?3 IS NULL OR step = ?3) ORDER BY seq LIMIT ?4")                          \
    /* The newest ?2 events of a run, newest first (store.c turns them round): a reverse           \
     * range of events_by_run. */                                                                  \
    X(EVENTS_TAIL, "SELECT " EVENT_COLUMNS " FROM events WHERE run_id = ?1 "                       \
                   "ORDER BY seq DESC LIMIT ?2")                                                   \
                                                                                                   \
    X(CHECK_INSERT,                                                                                \
      "INSERT INTO checks (run_id, step, attempt, name, severity, status, violations, sample, "    \
      "detail, ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")                              \
    X(CHECKS_LIST, "SELECT " CHECK_COLUMNS " FROM checks WHERE run_id = ?1 ORDER BY id")           \
                                                                                                   \
    /* Crash recovery (runs_unfinished index). */                                                  \
    /* Queued runs of the daemon's queue (a backfill's, or with queue_options) are the durable     \
     * queue: they stay queued for the next daemon. */                                             \
    X(ORPHANS_SELECT, "SELECT run_id FROM runs WHERE status IN ('queued', 'running') "             \
                      "AND (status = 'running' OR coalesce(backfill_id, queue_options) IS NULL)")  \
    /* The durable queue at start: priority, then age (runs_unfinished). */                        \
    X(RUNS_QUEUED_DURABLE,                                                                         \
      "SELECT " RUN_COLUMNS                                                                        \
      " FROM runs WHERE status IN ('queued', 'running') AND status = 'queued' "                    \
      "AND coalesce(backfill_id, queue_options) IS NOT NULL "                                      \
      "ORDER BY priority DESC, created_at, rowid")                                                 \
    /* Backfills (schema 7). */                                                                    \
    X(BACKFILL_INSERT,                                                                             \
      "INSERT INTO backfills (backfill_id, pipeline, status, range_from, range_to, "               \
      "n_partitions, created_at, params, priority) "                                               \
      "VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?7, ?8)")                                        \
    X(BACKFILL_SET_STATUS,                                                                         \
      "UPDATE backfills SET status = ?2, ended_at = ?3 WHERE backfill_id = ?1 "                    \
      "AND status = 'running'")                                                                    \
    X(BACKFILL_GET, "SELECT " BACKFILL_COLUMNS " FROM backfills WHERE backfill_id = ?1")           \
    /* dagctl backfills: newest first (backfills_by_created, backfills_by_pipeline_created). */    \
    X(BACKFILLS_LIST_ALL,                                                                          \
      "SELECT " BACKFILL_COLUMNS " FROM backfills ORDER BY created_at DESC LIMIT ?1")              \
    X(BACKFILLS_LIST_PIPELINE, "SELECT " BACKFILL_COLUMNS " FROM backfills WHERE pipeline = ?1 "   \
                               "ORDER BY created_at DESC LIMIT ?2")                                \
    X(BACKFILL_COUNTS, "SELECT status, count(*) FROM runs WHERE backfill_id = ?1 GROUP BY status") \
    X(BACKFILL_UNSUCCESSFUL, "SELECT partition FROM runs WHERE backfill_id = ?1 "                  \
                             "AND status IN ('failed', 'canceled')")                               \
    /* dagd partitions: the newest run of each partition (runs_by_pipeline_partition). */          \
    X(PARTITIONS_LAST, "SELECT partition, status, max(created_at), ended_at, run_id FROM runs "    \
                       "WHERE pipeline = ?1 AND partition IS NOT NULL GROUP BY partition")         \
    /* CROSS JOIN keeps runs outer: unfinished runs (runs_unfinished), then their steps by key. */ \
    X(ORPHAN_PROCESSES,                                                                            \
      "SELECT s.pgid, s.pgid_start, s.boot_id, s.run_id, s.step FROM runs r "                      \
      "CROSS JOIN steps s ON s.run_id = r.run_id "                                                 \
      "WHERE r.status IN ('queued', 'running') AND s.status = 'running' AND s.pgid IS NOT NULL")   \
    X(ORPHAN_STEP_EVENTS,                                                                          \
      "INSERT INTO events (run_id, step, ts, level, kind, message) "                               \
      "SELECT run_id, step, ?2, 'error', 'step', 'step ' || step || ' failed: ' || ?3 "            \
      "FROM steps WHERE run_id = ?1 AND status = 'running' ORDER BY rowid")                        \
    X(ORPHAN_STEPS, "UPDATE steps SET "                                                            \
                    "error = CASE status WHEN 'running' THEN ?3 ELSE error END, "                  \
                    "status = CASE status WHEN 'running' THEN 'failed' ELSE 'canceled' END, "      \
                    "ended_at = ?2, pgid = NULL, pgid_start = NULL, boot_id = NULL "               \
                    "WHERE run_id = ?1 AND status IN ('running', 'pending')")                      \
    X(ORPHAN_RUN,                                                                                  \
      "UPDATE runs SET status = 'failed', error = ?3, ended_at = ?2 WHERE run_id = ?1")            \
                                                                                                   \
    /* Retention (runs_by_ended index), in bounded batches. */                                     \
    X(PRUNE_SELECT, "SELECT run_id FROM runs WHERE ended_at < ?1 "                                 \
                    "AND status NOT IN ('queued', 'running') ORDER BY ended_at LIMIT ?2")          \
    /* The first ?2 events of run ?1: all of them up to the ?2-th seq (a range of                  \
     * events_by_run, whatever the statistics say). */                                             \
    X(PRUNE_EVENTS,                                                                                \
      "DELETE FROM events WHERE run_id = ?1 AND seq <= coalesce((SELECT seq "                      \
      "FROM events WHERE run_id = ?1 ORDER BY seq LIMIT 1 OFFSET ?2 - 1), 9223372036854775807)")   \
    X(PRUNE_CHECKS, "DELETE FROM checks WHERE run_id = ?1")                                        \
    X(PRUNE_STEPS, "DELETE FROM steps WHERE run_id = ?1")                                          \
    X(PRUNE_RUN, "DELETE FROM runs WHERE run_id = ?1")                                             \
    /* Old ticks, but always keep the newest of each schedule/sensor (catch-up needs it). */       \
    X(PRUNE_TICKS,                                                                                 \
      "DELETE FROM ticks WHERE id IN (SELECT t.id FROM ticks t WHERE t.ts < ?1 AND t.ts < "        \
      "(SELECT max(u.ts) FROM ticks u WHERE u.name = t.name AND u.kind = t.kind) LIMIT ?2)")       \
                                                                                                   \
    X(FILEHASH_GET,                                                                                \
      "SELECT hash FROM file_hashes WHERE path = ?1 AND dev = ?2 AND ino = ?3 AND size = ?4 "      \
      "AND mtime_ns = ?5")                                                                         \
    X(FILEHASH_PUT,                                                                                \
      "INSERT INTO file_hashes (path, dev, ino, size, mtime_ns, hash, checked_at) "                \
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (path) DO UPDATE SET dev = excluded.dev, "  \
      "ino = excluded.ino, size = excluded.size, mtime_ns = excluded.mtime_ns, "                   \
      "hash = excluded.hash, checked_at = excluded.checked_at")                                    \
                                                                                                   \
    X(TICK_INSERT, "INSERT INTO ticks (name, kind, ts, run_id, status, reason) "                   \
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                              \
    X(TICK_LAST, "SELECT " TICK_COLUMNS " FROM ticks WHERE name = ?1 AND kind = ?2 "               \
                 "ORDER BY ts DESC, id DESC LIMIT 1")                                              \
    X(TICKS_LIST_ALL, "SELECT " TICK_COLUMNS " FROM ticks ORDER BY ts DESC, id DESC LIMIT ?1")     \
    X(TICKS_LIST_NAME,                                                                             \
      "SELECT " TICK_COLUMNS " FROM ticks WHERE name = ?1 ORDER BY ts DESC, id DESC LIMIT ?2")     \
    X(SENSOR_KEY_CLAIM,                                                                            \
      "INSERT INTO sensor_keys (sensor, key, run_id, ts) VALUES (?1, ?2, ?3, ?4) "                 \
      "ON CONFLICT (sensor, key) DO NOTHING")

/* dagd_store_memo_ask on PostgreSQL: STEP_LAST_SUCCESS(_PARTITION) for every step name of the
 * array ?2 in one statement, each a backward range of the index; the last column is the name's
 * place in the array (1-based). */
#define SQL_PG_MEMO_LAST_SUCCESS                                                                   \
    "SELECT x.*, q.i FROM unnest(?2::text[]) WITH ORDINALITY AS q(name, i) CROSS JOIN LATERAL "    \
    "(SELECT " STEP_COLUMNS ", ended_at FROM steps WHERE pipeline = ?1 AND step = q.name "         \
    "AND status = 'succeeded' AND ended_at IS NOT NULL ORDER BY ended_at DESC LIMIT 1) x"
#define SQL_PG_MEMO_LAST_SUCCESS_PARTITION                                                         \
    "SELECT x.*, q.i FROM unnest(?2::text[]) WITH ORDINALITY AS q(name, i) CROSS JOIN LATERAL "    \
    "(SELECT " STEP_COLUMNS_S ", s.ended_at FROM runs r JOIN steps s ON s.run_id = r.run_id "      \
    "AND s.step = q.name WHERE r.pipeline = ?1 AND r.partition = ?3 AND s.status = 'succeeded' "   \
    "AND s.ended_at IS NOT NULL ORDER BY s.ended_at DESC LIMIT 1) x"

/* Statements only PostgreSQL runs (SQLite has no array to take them): cached like the others
 * (stmt_get), so a statement sent without waiting can point at its text until it is answered. */
#define STORE_STATEMENTS_PG_ONLY(X)                                                                \
    /* dagd_store_run_create: every pending step of a run in one statement, from the arrays of     \
     * names ?3 and tasks ?4, in their order (STEPS_LIST orders by rowid). SQLite inserts one      \
     * STEP_INSERT_PENDING per step (a function call there, no round trip). */                     \
    X(STEPS_INSERT_PENDING,                                                                        \
      "INSERT INTO steps (run_id, pipeline, step, task, status, attempts) "                        \
      "SELECT ?1, ?2, q.step, q.task, 'pending', 0 FROM unnest(?3::text[], ?4::text[]) "           \
      "WITH ORDINALITY AS q(step, task, i) ORDER BY q.i")

/* PostgreSQL's text of the statements whose SQLite text it does not take
 * (every other one is used as is, with ?N as $N; store-pg.h). The result
 * columns stay the same, so the row decoders serve both backends. */
#define STORE_STATEMENTS_PG(X)                                                                     \
    X(BEGIN, "BEGIN")                                                                              \
    /* chr() for char(); run_id is COLLATE "C" there, so the range is a byte range of the key. */  \
    X(RUN_RESOLVE, "SELECT run_id FROM runs WHERE run_id >= ?1 AND run_id < ?1 || chr(1114111) "   \
                   "ORDER BY run_id LIMIT 2")                                                      \
    /* No bare columns beside max(): the newest success by a backward range of the index. */       \
    X(STEP_LAST_SUCCESS,                                                                           \
      "SELECT " STEP_COLUMNS ", ended_at FROM steps WHERE pipeline = ?1 AND step = ?2 "            \
      "AND status = 'succeeded' AND ended_at IS NOT NULL ORDER BY ended_at DESC LIMIT 1")          \
    X(STEP_LAST_SUCCESS_PARTITION,                                                                 \
      "SELECT " STEP_COLUMNS_S ", s.ended_at FROM runs r JOIN steps s ON s.run_id = r.run_id "     \
      "AND s.step = ?2 WHERE r.pipeline = ?1 AND r.partition = ?3 AND s.status = 'succeeded' "     \
      "AND s.ended_at IS NOT NULL ORDER BY s.ended_at DESC LIMIT 1")                               \
    /* The new seq comes back as the result (SQLite: last_insert_rowid). */                        \
    X(EVENT_INSERT, "INSERT INTO events (run_id, step, ts, level, kind, message) "                 \
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING seq")                               \
    X(PARTITIONS_LAST,                                                                             \
      "SELECT DISTINCT ON (partition) partition, status, created_at, ended_at, run_id FROM runs "  \
      "WHERE pipeline = ?1 AND partition IS NOT NULL ORDER BY partition, created_at DESC")         \
    X(ORPHAN_PROCESSES,                                                                            \
      "SELECT s.pgid, s.pgid_start, s.boot_id, s.run_id, s.step FROM runs r "                      \
      "JOIN steps s ON s.run_id = r.run_id "                                                       \
      "WHERE r.status IN ('queued', 'running') AND s.status = 'running' AND s.pgid IS NOT NULL")

/* What `dagd state import/export` copies between backends (dagd_store_copy):
 * every table of docs/state.md with every column (the same names on both),
 * in an order that satisfies the foreign keys, rows in insertion order. A
 * migration that adds a column adds it here too: test_store checks that the
 * lists match the tables of a new state.db. */
#define STORE_COPY_TABLES(X)                                                                       \
    X("runs", RUN_COLUMNS, "rowid")                                                                \
    X("steps",                                                                                     \
      "run_id, step, task, pipeline, status, attempts, started_at, ended_at, exit_code, rows_in, " \
      "rows_out, fingerprint, error, skip_reason, cpu_usec, max_rss_kb, inputs, manifest, pgid, "  \
      "pgid_start, boot_id",                                                                       \
      "rowid")                                                                                     \
    X("events", EVENT_COLUMNS, "seq")                                                              \
    X("checks", CHECK_COLUMNS, "id")                                                               \
    X("ticks", TICK_COLUMNS, "id")                                                                 \
    X("sensor_keys", "sensor, key, run_id, ts", "sensor, key")                                     \
    X("file_hashes", "path, dev, ino, size, mtime_ns, hash, checked_at", "path")                   \
    X("backfills",                                                                                 \
      "backfill_id, pipeline, status, range_from, range_to, n_partitions, created_at, ended_at, "  \
      "params, priority",                                                                          \
      "created_at, backfill_id")

/* After copying into PostgreSQL: the id sequences continue after the
 * copied ids (COPY does not advance them). */
#define SQL_PG_SEQUENCES_AFTER_COPY                                                                \
    "SELECT setval(pg_get_serial_sequence('events', 'seq'), "                                      \
    "(SELECT coalesce(max(seq), 0) + 1 FROM events), false); "                                     \
    "SELECT setval(pg_get_serial_sequence('checks', 'id'), "                                       \
    "(SELECT coalesce(max(id), 0) + 1 FROM checks), false); "                                      \
    "SELECT setval(pg_get_serial_sequence('ticks', 'id'), "                                        \
    "(SELECT coalesce(max(id), 0) + 1 FROM ticks), false)"

/* Queries run once per open, not cached. */
#define SQL_SCHEMA_OBJECTS "SELECT count(*) FROM sqlite_schema"

#endif
