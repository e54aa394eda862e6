/* The load task's config turned into a dagd_load_spec (load_file.h): the
 * `columns` list and the other keys, checked with messages that name the
 * key. Separate from the ABI glue so it is unit-tested without a host. */
#ifndef DAGD_LOAD_LOAD_SPEC_H
#define DAGD_LOAD_LOAD_SPEC_H

#include <stddef.h>

#include "load_file.h"

/* One item of `columns`, as the host hands it out: a plain name ("city":
 * text), a one-key map as JSON ({"quantity":"integer"}), or a map with
 * `name` and any of `type`, `from`, `required`, `min`, `max`
 * ({"name":"price_cents","from":"price","type":"money","required":true,
 * "min":0}). min/max of a money column are amounts (0.5 = 50 cents).
 * Fills *ret (name and from allocated: dagd_load_column_done). Returns 0 or
 * -EINVAL with a message in err. */
int dagd_load_column_parse(const char *item, struct dagd_load_column *ret, char *err,
                           size_t errlen);
void dagd_load_column_done(struct dagd_load_column *c);

#endif /* DAGD_LOAD_LOAD_SPEC_H */
