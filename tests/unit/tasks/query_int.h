/* Test helper of the tasks' unit tests (include after <cmocka.h> and
 * <sqlite3.h>): one integer read back from a warehouse. */
#pragma once

#include <stdint.h>

/* The first column of the first row of `sql` on `db`, or `none` when the
 * query gives no row. A query that does not prepare fails the test. */
static inline int64_t test_query_int(sqlite3 *db, const char *sql, int64_t none)
{
    sqlite3_stmt *st = NULL;
    int64_t v = none;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}
