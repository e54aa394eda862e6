/* The transform step without the plugin glue: materialises every model of a
 * models directory (models.h) into the warehouse, dependencies first, all in
 * ONE transaction (a failure or kill leaves the warehouse as before). Each
 * model is built into "_dagd_new_NAME" and then swapped in for NAME. */
#ifndef DAGD_TRANSFORM_RUN_H
#define DAGD_TRANSFORM_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "models.h"

struct sqlite3;

typedef bool (*dagd_transform_canceled_fn)(void *userdata);
/* Called after each model with its name, rows written, models done / total. */
typedef void (*dagd_transform_progress_fn)(void *userdata, const char *model, int64_t rows,
                                           uint64_t done, uint64_t total);

struct dagd_transform_opts {
    dagd_transform_canceled_fn canceled; /* may be NULL */
    dagd_transform_progress_fn progress; /* may be NULL */
    void *userdata;
};

/* Build all models of `set` in dependency order. 0, -ELOOP (cycle), -ENOENT
 * (a declared dependency is neither a model nor a table), -ECANCELED,
 * -EINVAL (a model's SQL does not compile, or is more than one statement),
 * -EIO (any other SQL error); messages name the model and file. *ret_rows (may be NULL)
 * gets the total of rows written. */
int dagd_transform_models(struct sqlite3 *db, struct dagd_model_set *set,
                          const struct dagd_transform_opts *opts, int64_t *ret_rows,
                          char **reterr_msg);

/* The same on either engine (tasks/common/wh.h): SQLite goes to
 * dagd_transform_models, PostgreSQL to transform_pg.c (one transaction,
 * tables by CREATE TABLE AS, keys added after the swap). */
struct dagd_wh;
int dagd_transform_models_wh(struct dagd_wh *wh, struct dagd_model_set *set,
                             const struct dagd_transform_opts *opts, int64_t *ret_rows,
                             char **reterr_msg);

#endif
