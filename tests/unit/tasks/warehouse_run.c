/* Test helper: run the validate and/or transform steps on a warehouse file
 * without the engine, exactly as the plugins do (same code, linked from
 * validate_core and transform_core).
 *
 *   warehouse-run DB [--validate RATE] [--transform MODELS_DIR] [--sleep-ms N]
 *
 * --sleep-ms makes the progress callback sleep, so a test can kill the
 * process in the middle of a step and check that the warehouse is intact. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models.h"
#include "transform_run.h"
#include "validate_run.h"

static long sleep_ms;

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double t0;

static void nap(void)
{
    if (sleep_ms > 0) {
        struct timespec ts = {sleep_ms / 1000, (sleep_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void v_progress(void *u, uint64_t done, uint64_t total)
{
    fprintf(stderr, "%8.1f ms validate %llu/%llu\n", now_ms() - t0, (unsigned long long)done,
            (unsigned long long)total);
    nap();
}

static void t_progress(void *u, const char *model, int64_t rows, uint64_t done, uint64_t total)
{
    fprintf(stderr, "%8.1f ms transform %s %lld rows (%llu/%llu)\n", now_ms() - t0, model,
            (long long)rows, (unsigned long long)done, (unsigned long long)total);
    nap();
}

int main(int argc, char **argv)
{
    sqlite3 *db = NULL;
    int r = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s DB [--validate RATE] [--transform DIR] [--sleep-ms N]\n",
                argv[0]);
        return 2;
    }
    if (sqlite3_open(argv[1], &db) != SQLITE_OK) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 1;
    }
    (void)sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
    sqlite3_busy_timeout(db, 5000);
    t0 = now_ms();
    for (int i = 2; i < argc && r >= 0; i++) {
        char *err = NULL;
        if (strcmp(argv[i], "--sleep-ms") == 0 && i + 1 < argc) {
            sleep_ms = atol(argv[++i]);
        } else if (strcmp(argv[i], "--validate") == 0 && i + 1 < argc) {
            struct dagd_validate_opts o = {.usd_rate = argv[++i], .progress = v_progress};
            struct dagd_validate_stats st;
            r = dagd_validate_warehouse(db, &o, &st, &err);
            if (r >= 0) {
                printf("validate: %lld rows in, %lld orders, %lld exceptions\n",
                       (long long)st.rows_in, (long long)st.orders, (long long)st.exceptions);
            }
        } else if (strcmp(argv[i], "--transform") == 0 && i + 1 < argc) {
            struct dagd_model_set set = {0};
            struct dagd_transform_opts o = {.progress = t_progress};
            int64_t rows = 0;
            r = dagd_models_load(argv[++i], &set, &err);
            if (r >= 0) {
                r = dagd_transform_models(db, &set, &o, &rows, &err);
            }
            dagd_model_set_done(&set);
            if (r >= 0) {
                printf("transform: %lld rows\n", (long long)rows);
            }
        } else {
            fprintf(stderr, "unknown argument '%s'\n", argv[i]);
            r = -EINVAL;
        }
        if (r < 0) {
            fprintf(stderr, "error: %s (%s)\n", err ? err : "?", strerror(-r));
        }
        free(err);
    }
    sqlite3_close(db);
    return r < 0 ? 1 : 0;
}
