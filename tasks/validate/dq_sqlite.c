/* SQLite bindings of the data-quality rules (see dq_sqlite.h). */
#include "dq_sqlite.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>

static void fn_trim(sqlite3_context *c, int argc, sqlite3_value **argv)
{
    const char *s;
    size_t off, len;

    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        return; /* NULL result */
    }
    s = (const char *)sqlite3_value_text(argv[0]);
    if (!s) {
        sqlite3_result_error_nomem(c);
        return;
    }
    dagd_dq_trim(s, (size_t)sqlite3_value_bytes(argv[0]), &off, &len);
    sqlite3_result_text(c, s + off, (int)len, SQLITE_TRANSIENT);
}

static void fn_has_space(sqlite3_context *c, int argc, sqlite3_value **argv)
{
    if (sqlite3_value_type(argv[0]) != SQLITE_TEXT) {
        sqlite3_result_int(c, 0);
        return;
    }
    const char *s = (const char *)sqlite3_value_text(argv[0]);
    sqlite3_result_int(c, s && dagd_dq_has_outer_space(s, (size_t)sqlite3_value_bytes(argv[0])));
}

int dagd_dq_value_time(sqlite3_value *v)
{
    switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER:
        return dagd_dq_time_from_int(sqlite3_value_int64(v));
    case SQLITE_FLOAT:
        return dagd_dq_time_from_double(sqlite3_value_double(v));
    case SQLITE_TEXT: {
        const char *s = (const char *)sqlite3_value_text(v);
        return s ? dagd_dq_time_from_text(s, (size_t)sqlite3_value_bytes(v)) : -EINVAL;
    }
    default:
        return -EINVAL;
    }
}

int dagd_dq_value_cents(sqlite3_value *v, int64_t *ret_cents)
{
    switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER: {
        int64_t i = sqlite3_value_int64(v);
        if (i <= -10000000000000LL || i >= 10000000000000LL) {
            return -EINVAL;
        }
        *ret_cents = i * 100;
        return 0;
    }
    case SQLITE_FLOAT:
        return dagd_dq_cents_from_double(sqlite3_value_double(v), ret_cents);
    default:
        return -EINVAL; /* NULL, text and blobs are not numbers */
    }
}

int64_t dagd_dq_value_qty(sqlite3_value *v)
{
    switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER:
        return dagd_dq_qty_from_int(sqlite3_value_int64(v));
    case SQLITE_FLOAT:
        return dagd_dq_qty_from_double(sqlite3_value_double(v));
    case SQLITE_TEXT: {
        const char *s = (const char *)sqlite3_value_text(v);
        return s ? dagd_dq_qty_from_text(s, (size_t)sqlite3_value_bytes(v)) : -EINVAL;
    }
    default:
        return -EINVAL;
    }
}

int dagd_dq_value_id(sqlite3_value *v, int64_t *ret_id)
{
    double d;

    switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER:
        *ret_id = sqlite3_value_int64(v);
        return 0;
    case SQLITE_FLOAT:
        d = sqlite3_value_double(v);
        if (d != floor(d) || fabs(d) > 9e15) {
            return -EINVAL;
        }
        *ret_id = (int64_t)d;
        return 0;
    default:
        return -EINVAL;
    }
}

static void fn_time(sqlite3_context *c, int argc, sqlite3_value **argv)
{
    int t = dagd_dq_value_time(argv[0]);

    if (t >= 0) {
        sqlite3_result_int(c, t);
    }
}

static void fn_cents(sqlite3_context *c, int argc, sqlite3_value **argv)
{
    int64_t cents;

    if (dagd_dq_value_cents(argv[0], &cents) >= 0) {
        sqlite3_result_int64(c, cents);
    }
}

static void fn_rmb(sqlite3_context *c, int argc, sqlite3_value **argv)
{
    const struct dagd_dq_rate *rate = sqlite3_user_data(c);
    const char *cur;

    if (sqlite3_value_type(argv[0]) != SQLITE_INTEGER) {
        return;
    }
    cur = (const char *)sqlite3_value_text(argv[1]);
    if (cur && cur[0] == 'U' && cur[1] == 'S' && cur[2] == 'D' && cur[3] == '\0') {
        sqlite3_result_int64(c, dagd_dq_usd_to_rmb_cents(sqlite3_value_int64(argv[0]), rate));
    } else {
        sqlite3_result_int64(c, sqlite3_value_int64(argv[0]));
    }
}

static void fn_qty(sqlite3_context *c, int argc, sqlite3_value **argv)
{
    int64_t q = dagd_dq_value_qty(argv[0]);

    if (q > 0) {
        sqlite3_result_int64(c, q);
    }
}

int dagd_dq_sqlite_register(struct sqlite3 *db, const struct dagd_dq_rate *rate)
{
    static const struct {
        const char *name;
        int argc;
        void (*fn)(sqlite3_context *, int, sqlite3_value **);
    } fns[] = {
        {"dq_trim", 1, fn_trim}, {"dq_has_space", 1, fn_has_space},
        {"dq_time", 1, fn_time}, {"dq_cents", 1, fn_cents},
        {"dq_rmb", 2, fn_rmb},   {"dq_qty", 1, fn_qty},
    };
    const int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
    struct dagd_dq_rate *copy = malloc(sizeof(*copy));

    if (!copy) {
        return -ENOMEM;
    }
    *copy = *rate;
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        bool is_rmb = fns[i].fn == fn_rmb;
        /* The rate copy is owned by dq_rmb's registration and freed by SQLite
         * when the function is replaced or the connection closes. */
        if (sqlite3_create_function_v2(db, fns[i].name, fns[i].argc, flags, is_rmb ? copy : NULL,
                                       fns[i].fn, NULL, NULL, is_rmb ? free : NULL) != SQLITE_OK) {
            if (!is_rmb && i < 4) {
                free(copy); /* dq_rmb not registered yet: still ours */
            }
            return -EIO;
        }
    }
    return 0;
}
