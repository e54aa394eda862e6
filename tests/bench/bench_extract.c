/* Extract throughput benchmark (DESIGN 9: >= 500k rows/s, xlsx + json into
 * SQLite).
 *
 *   bench_extract [DIR] [--db PATH] [--keep]
 *
 * Loads DIR/dataset1*.xlsx (or DIR/dataset1*.csv with DIR/city_district_map.csv)
 * and DIR/dataset2*.json (default DIR: data/sales of the source tree) into a
 * fresh warehouse (opened as the worker host opens it) with the extract
 * loader, exactly as the task does, and
 * prints per file: rows, seconds, rows/s; then the parse-only floor (readers
 * without SQLite) in the same run, the totals, the ratio to the 500k rows/s
 * target, and the peak RSS. Not a pass/fail test: `meson test --benchmark`
 * or run it by hand. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "csv_reader.h"
#include "json_reader.h"
#include "bronze_loader.h"
#include "warehouse_db.h"
#include "xlsx_reader.h"

static double now_s(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;

    (void)getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static long peak_rss_kb(void)
{
    struct rusage ru;

    (void)getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int count_xlsx_row(void *ud, uint64_t row_no, const struct dagd_xlsx_cell *c, size_t n)
{
    (*(uint64_t *)ud)++;
    return 0;
}

static int count_json(void *ud, const struct dagd_json_record *rec)
{
    (*(uint64_t *)ud)++;
    return 0;
}

/* Parse-only floor: rows/s of the reader alone. */
static uint64_t parse_only(const char *path, int format)
{
    uint64_t rows = 0;

    if (format == DAGD_FORMAT_XLSX) {
        struct dagd_xlsx *x;
        struct dagd_xlsx_handler h = {.row = count_xlsx_row, .userdata = &rows};
        char err[512];
        if (dagd_xlsx_open(path, &x, err, sizeof(err)) < 0) {
            fprintf(stderr, "%s: %s\n", path, err);
            return 0;
        }
        for (size_t i = 0; i < dagd_xlsx_sheet_count(x); i++) {
            (void)dagd_xlsx_read_sheet(x, i, &h, err, sizeof(err));
        }
        dagd_xlsx_free(x);
    } else if (format == DAGD_FORMAT_JSON) {
        static const char *const keys[] = {
            "ORDER_ID",    "ORDER_TIME_PST", "SHIP_TO_DISTRICT_NAME", "SHIP_TO_CITY_CD", "RPTG_AMT",
            "CURRENCY_CD", "ORDER_QTY"};
        struct dagd_json_reader *r = dagd_json_reader_new(keys, 7, count_json, &rows);
        static char buf[1 << 20];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;
        while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0) {
            (void)dagd_json_reader_feed(r, buf, (size_t)n);
        }
        (void)dagd_json_reader_finish(r);
        dagd_json_reader_free(r);
        if (fd >= 0) {
            close(fd);
        }
    }
    return rows;
}

#define MAX_FILES 64

struct job {
    const char *pattern;
    const char *source;
    int format;
};

int main(int argc, char **argv)
{
    const char *dir = DAGD_SOURCE_ROOT "/data/sales";
    char dbpath[4096] = "";
    bool keep = false;
    sqlite3 *db;
    struct dagd_bronze_loader *l;
    char err[1024];
    char pat[3][4200];
    struct job jobs[3];
    uint64_t total_rows = 0, floor_rows = 0;
    double total_s = 0, floor_s = 0, total_cpu = 0, crit_s = 0;
    struct {
        char *path;
        int format;
    } done[MAX_FILES];
    size_t n_done = 0;
    long load_rss;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
            snprintf(dbpath, sizeof(dbpath), "%s", argv[++i]);
        } else if (strcmp(argv[i], "--keep") == 0) {
            keep = true;
        } else {
            dir = argv[i];
        }
    }
    if (!dbpath[0]) {
        snprintf(dbpath, sizeof(dbpath), "/tmp/bench_extract.%d.db", (int)getpid());
    }
    (void)unlink(dbpath);
    snprintf(pat[0], sizeof(pat[0]), "%s/city_district_map.csv", dir);
    snprintf(pat[1], sizeof(pat[1]), "%s/dataset1*.xlsx", dir);
    snprintf(pat[2], sizeof(pat[2]), "%s/dataset2*.json", dir);
    jobs[0] = (struct job){pat[0], "dataset1", DAGD_FORMAT_CSV};
    jobs[1] = (struct job){pat[1], "dataset1", DAGD_FORMAT_XLSX};
    jobs[2] = (struct job){pat[2], "dataset2", DAGD_FORMAT_JSON};
    {
        /* csv deliveries (gen_sales.py --format csv) instead of a workbook */
        glob_t g;
        char p[4200];
        snprintf(p, sizeof(p), "%s/dataset1*.csv", dir);
        if (glob(p, 0, NULL, &g) == 0 && g.gl_pathc > 0) {
            snprintf(pat[1], sizeof(pat[1]), "%s", p);
            jobs[1].format = DAGD_FORMAT_CSV;
        }
        globfree(&g);
    }

    /* opened as the worker host opens it for the extract step */
    char *open_err = NULL;
    if (dagd_warehouse_open(dbpath, 5000, &db, &open_err) < 0) {
        fprintf(stderr, "cannot open %s: %s\n", dbpath, open_err);
        free(open_err);
        return 1;
    }
    if (getenv("BENCH_SQL")) {
        (void)sqlite3_exec(db, getenv("BENCH_SQL"), NULL, NULL, NULL);
    }

    printf("extract benchmark: %s -> %s (opened as the worker does: WAL, synchronous=NORMAL, "
           "%d-byte pages)\n",
           dir, dbpath, DAGD_WAREHOUSE_PAGE_SIZE);
    /* Pass 1: load every file as the task does (the figures that count). */
    for (size_t j = 0; j < 3; j++) {
        glob_t g;
        if (glob(jobs[j].pattern, 0, NULL, &g) != 0) {
            continue;
        }
        if (dagd_bronze_loader_new(db, jobs[j].source, NULL, &l, err, sizeof(err)) < 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        for (size_t i = 0; i < g.gl_pathc && n_done < MAX_FILES; i++) {
            struct dagd_bronze_loader_file f;
            double t0 = now_s(), c0 = cpu_s(), dt, dc;
            if (dagd_bronze_loader_load_file(l, jobs[j].format, g.gl_pathv[i], &f) < 0) {
                fprintf(stderr, "%s\n", dagd_bronze_loader_error(l));
                return 1;
            }
            dt = now_s() - t0;
            dc = cpu_s() - c0;
            printf("  load %-40s %9llu rows %7.3f s %9.0f rows/s  cpu %6.3f s (read thread %.3f, "
                   "SQLite thread %.3f)  peak RSS %ld KiB\n",
                   g.gl_pathv[i], (unsigned long long)f.rows, dt, dt > 0 ? f.rows / dt : 0, dc,
                   f.read_cpu, f.write_cpu, peak_rss_kb());
            /* the longer of the two threads bounds the wall time on two idle cores */
            crit_s += f.read_cpu > f.write_cpu ? f.read_cpu : f.write_cpu;
            if (f.rows > 0) {
                total_rows += f.rows;
                total_s += dt;
                total_cpu += dc;
                done[n_done].path = strdup(g.gl_pathv[i]);
                done[n_done].format = jobs[j].format;
                n_done++;
            }
        }
        globfree(&g);
        dagd_bronze_loader_free(l);
    }
    load_rss = peak_rss_kb();
    /* Pass 2: the parse-only floor (readers without SQLite), same files. */
    for (size_t i = 0; i < n_done; i++) {
        double t0 = now_s(), ft;
        uint64_t fr = parse_only(done[i].path, done[i].format);
        ft = now_s() - t0;
        printf("  parse only %-34s %9llu rows %7.3f s %9.0f rows/s\n", done[i].path,
               (unsigned long long)fr, ft, ft > 0 ? fr / ft : 0);
        floor_rows += fr;
        floor_s += ft;
        free(done[i].path);
    }
    (void)sqlite3_close(db);
    printf("total: %llu rows in %.3f s = %.0f rows/s; target 500000 rows/s: ratio %.2f\n",
           (unsigned long long)total_rows, total_s, total_s > 0 ? total_rows / total_s : 0,
           total_s > 0 ? total_rows / total_s / 500000.0 : 0);
    printf("cpu: %.3f s = %.2f us/row (all threads); peak RSS while loading: %ld KiB\n", total_cpu,
           total_rows ? total_cpu * 1e6 / total_rows : 0, load_rss);
    printf("critical path (busier thread per file, CPU): %.3f s = %.0f rows/s on two idle cores; "
           "ratio to target %.2f\n",
           crit_s, crit_s > 0 ? total_rows / crit_s : 0,
           crit_s > 0 ? total_rows / crit_s / 500000.0 : 0);
    printf("parse-only floor: %.0f rows/s; load / parse-only = %.2f\n",
           floor_s > 0 ? floor_rows / floor_s : 0,
           floor_s > 0 && total_s > 0 ? (total_rows / total_s) / (floor_rows / floor_s) : 0);
    printf("peak RSS (with the parse-only pass): %ld KiB\n", peak_rss_kb());
    if (!keep) {
        char p[4200];
        (void)unlink(dbpath);
        snprintf(p, sizeof(p), "%s-wal", dbpath);
        (void)unlink(p);
        snprintf(p, sizeof(p), "%s-shm", dbpath);
        (void)unlink(p);
    }
    return 0;
}
