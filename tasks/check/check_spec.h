/* Declarative data-quality checks of the check task: parsing a check's
 * config (a JSON object, the YAML of one `checks` item) and turning it into
 * one SELECT that returns the violating rows.
 *
 *     {table: fact_sales, not_null: [invoice_id, item_id]}
 *     {table: fact_sales, unique: [invoice_id, item_id]}
 *     {table: fact_sales, column: status, accepted_values: [Due, Overdue]}
 *     {table: fact_sales, column: account_id, relationships: {to: accounts, field: account_id}}
 *     {table: fact_sales, row_count: {min: 1, max: 1000000}}
 *     {table: fact_sales, expression: "gross_cents = sale_cents - cost_cents"}
 *     {name: no_future, sql: "SELECT * FROM fact_sales WHERE day > date('now')"}
 *
 * plus `name`, `severity` (error or warn) and `where` (a filter on the
 * table) on any of them. Nothing here knows a table: it is all config.
 * Uses cJSON and sqlite3_mprintf only (no database), tested by
 * tests/unit/tasks/check/test_check.c. */
#ifndef DAGD_CHECK_SPEC_H
#define DAGD_CHECK_SPEC_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

enum dagd_check_kind {
    DAGD_CHECK_NOT_NULL,
    DAGD_CHECK_UNIQUE,
    DAGD_CHECK_ACCEPTED_VALUES,
    DAGD_CHECK_RELATIONSHIPS,
    DAGD_CHECK_ROW_COUNT,
    DAGD_CHECK_EXPRESSION,
    DAGD_CHECK_SQL,
    _DAGD_CHECK_KIND_MAX,
};

/* The config key that selects each kind ("not_null", ...). */
const char *dagd_check_kind_to_string(enum dagd_check_kind k);

struct dagd_check_spec {
    char *name; /* given, or "<kind>_<table>[_<columns>]" */
    bool warn;  /* severity warn: a failure does not fail the step */
    enum dagd_check_kind kind;
    char *sql;    /* SELECT returning the violating rows (sqlite3_malloc'ed) */
    char *sql_pg; /* the same for a PostgreSQL warehouse (sqlite3_malloc'ed) */
    char *detail; /* one line saying what is checked (malloc'ed) */
};

/* Parse check `item` (the JSON of one `checks` entry). `def_table` (may be
 * NULL) is the step's `table` key, used when the item has none; `def_warn`
 * its default severity. 0, or -EINVAL with *reterr_msg set ("check 3
 * (unique_t_id): ..."; index is 1-based). */
int dagd_check_spec_parse(const cJSON *item, unsigned index, const char *def_table, bool def_warn,
                          struct dagd_check_spec *ret, char **reterr_msg);
void dagd_check_spec_done(struct dagd_check_spec *c);

/* Parse every item of the `checks` array of the step's config JSON (keys
 * `checks`, `table`, `severity`). Names must be unique. 0 with *ret (n
 * items), or -EINVAL with *reterr_msg set. */
int dagd_check_specs_parse(const char *config_json, struct dagd_check_spec **ret, size_t *ret_n,
                           char **reterr_msg);
void dagd_check_specs_free(struct dagd_check_spec *v, size_t n);

#endif
