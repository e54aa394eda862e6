/* Benchmark of the load task's core (tasks/load/load_file.c) against
 * sqlite3's own `.import` of the same file, in the same run.
 *
 *   bench_load [ROWS] [DIR]      (default 5,000,000 rows, a temp dir)
 *
 * Writes a typed CSV (integer id, integer customer, money amount, timestamp,
 * text city with quoted commas, integer quantity), then in child processes
 * (so each peak RSS is its own): loads it with dagd_load_file into a new
 * SQLite file opened as the host opens the warehouse (dagd_warehouse_open),
 * and runs `sqlite3 DB '.import --csv --skip 1 FILE t'` into a table with
 * the same column types, on the same page size, WAL and synchronous=NORMAL. Then the same load at a
 * fifth of the rows, to show that peak RSS does not grow with the file. Prints rows/s, the ratio
 * and peak RSS of each. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "load_file.h"
#include "warehouse_db.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_csv(const char *path, long rows)
{
    static const char *const cities[] = {"Berlin", "\"Paris, FR\"", "Lyon", "\"Zoë \"\"Z\"\"\"",
                                         "Oslo"};
    FILE *f = fopen(path, "w");
    unsigned long long x = 88172645463325252ULL;

    if (!f) {
        return -errno;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    fputs("id,customer_id,amount,ordered_at,city,quantity\n", f);
    for (long i = 1; i <= rows; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        fprintf(f, "%ld,%llu,%llu.%02llu,2023-%02llu-%02llu %02llu:%02llu:%02llu,%s,%llu\n", i,
                x % 100000, x % 5000, (x >> 8) % 100, 1 + (x >> 12) % 12, 1 + (x >> 16) % 28,
                (x >> 20) % 24, (x >> 24) % 60, (x >> 28) % 60, cities[(x >> 32) % 5],
                1 + (x >> 36) % 9);
    }
    return fclose(f) == 0 ? 0 : -errno;
}

static const struct dagd_load_column cols[] = {
    {.name = "id", .from = "id", .type = DAGD_LOAD_INTEGER, .required = true},
    {.name = "customer_id", .from = "customer_id", .type = DAGD_LOAD_INTEGER},
    {.name = "amount_cents", .from = "amount", .type = DAGD_LOAD_MONEY},
    {.name = "ordered_at", .from = "ordered_at", .type = DAGD_LOAD_TIMESTAMP},
    {.name = "city", .from = "city", .type = DAGD_LOAD_TEXT},
    {.name = "quantity", .from = "quantity", .type = DAGD_LOAD_INTEGER},
};

static int run_load(const char *csv, const char *dbpath)
{
    struct dagd_load_spec spec = {.format = DAGD_LOAD_CSV,
                                  .table = "t",
                                  .columns = cols,
                                  .n_columns = 6,
                                  .rejects = "rejects"};
    struct dagd_load *l = NULL;
    struct dagd_load_result res;
    sqlite3 *db = NULL;
    char *msg = NULL;
    char err[512];

    /* opened exactly as the host opens the warehouse for a task */
    if (dagd_warehouse_open(dbpath, 5000, &db, &msg) < 0) {
        fprintf(stderr, "open: %s\n", msg);
        return 1;
    }
    if (dagd_load_new(db, &spec, NULL, &l, err, sizeof(err)) < 0 ||
        dagd_load_file(l, csv, "bench.csv", 0, &res) < 0) {
        fprintf(stderr, "load: %s\n", l ? dagd_load_error(l) : err);
        return 1;
    }
    if (res.written != res.rows || res.rejected != 0) {
        fprintf(stderr, "load: %llu rows, %llu written\n", (unsigned long long)res.rows,
                (unsigned long long)res.written);
        return 1;
    }
    dagd_load_free(l);
    sqlite3_close(db);
    return 0;
}

/* Runs fn in a child (or a command line), returns wall seconds and the
 * child's peak RSS in MB. */
static int measure(const char *csv, const char *dbpath, const char *cmd, double *ret_s,
                   double *ret_cpu, double *ret_mb)
{
    struct rusage ru;
    int status;
    double t0;
    pid_t pid;

    (void)unlink(dbpath);
    t0 = now_s();
    pid = fork();
    if (pid < 0) {
        return -errno;
    }
    if (pid == 0) {
        if (cmd) {
            execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
            _exit(127);
        }
        _exit(run_load(csv, dbpath));
    }
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return -EIO;
    }
    *ret_s = now_s() - t0;
    *ret_cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec / 1e6;
    *ret_mb = (double)ru.ru_maxrss / 1024.0;
    return 0;
}

int main(int argc, char **argv)
{
    long rows = argc > 1 ? atol(argv[1]) : 5000000;
    char tmpl[] = "/tmp/bench_load.XXXXXX";
    const char *dir = argc > 2 ? argv[2] : mkdtemp(tmpl);
    char csv[512], small[512], db[512], db2[512], cmd[2048];
    double t_load, mb_load, t_imp, mb_imp, t_small, mb_small, c_load, c_imp, c_small;

    /* as dagd-worker, the process the load task runs in */
    dagd_warehouse_process_init();
    if (!dir || rows < 5) {
        return 1;
    }
    snprintf(csv, sizeof(csv), "%s/typed_%ld.csv", dir, rows);
    snprintf(small, sizeof(small), "%s/typed_%ld.csv", dir, rows / 5);
    snprintf(db, sizeof(db), "%s/load.db", dir);
    snprintf(db2, sizeof(db2), "%s/import.db", dir);
    if ((access(csv, R_OK) != 0 && write_csv(csv, rows) < 0) ||
        (access(small, R_OK) != 0 && write_csv(small, rows / 5) < 0)) {
        fprintf(stderr, "cannot write the CSV files in %s\n", dir);
        return 1;
    }
    /* warm the page cache for both contenders alike */
    snprintf(cmd, sizeof(cmd), "cat '%s' '%s' > /dev/null", csv, small);
    if (system(cmd) != 0) {
        return 1;
    }
    snprintf(
        cmd, sizeof(cmd),
        "sqlite3 '%s' 'PRAGMA page_size = 65536' 'PRAGMA journal_mode = WAL' "
        "'PRAGMA synchronous = NORMAL' 'CREATE TABLE t (id INTEGER, customer_id INTEGER, "
        "amount REAL, "
        "ordered_at TEXT, city TEXT, quantity INTEGER)' '.import --csv --skip 1 %s t' >/dev/null",
        db2, csv);
    if (measure(csv, db, NULL, &t_load, &c_load, &mb_load) < 0 ||
        measure(csv, db2, cmd, &t_imp, &c_imp, &mb_imp) < 0 ||
        measure(small, db, NULL, &t_small, &c_small, &mb_small) < 0) {
        fprintf(stderr, "a measurement failed\n");
        return 1;
    }
    printf("rows %ld (%s)\n", rows, csv);
    /* CPU time (user + system) is printed too: on a shared machine the wall
     * time also measures the neighbours */
    printf("load            %7.3f s  %9.0f rows/s  CPU %7.3f s (%9.0f rows/CPU-s)  peak RSS %6.1f "
           "MB\n",
           t_load, rows / t_load, c_load, rows / c_load, mb_load);
    printf("sqlite3 .import %7.3f s  %9.0f rows/s  CPU %7.3f s (%9.0f rows/CPU-s)  peak RSS %6.1f "
           "MB\n",
           t_imp, rows / t_imp, c_imp, rows / c_imp, mb_imp);
    printf("load / .import  %.2fx faster (wall), %.2fx less CPU\n", t_imp / t_load, c_imp / c_load);
    printf("load %ld rows   %7.3f s  %9.0f rows/s  CPU %7.3f s  peak RSS %6.1f MB (flat: %+.1f MB "
           "for 5x the rows)\n",
           rows / 5, t_small, (rows / 5) / t_small, c_small, mb_small, mb_load - mb_small);
    return 0;
}
