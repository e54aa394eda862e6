/* Column specs of the load task (load_spec.h), read with yajl's tree API. */
#include "load_spec.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

void dagd_load_column_done(struct dagd_load_column *c)
{
    free(c->name);
    free(c->from);
    *c = (struct dagd_load_column){0};
}

static int bound(const struct dagd_load_column *c, yajl_val v, const char *key, int64_t *ret,
                 char *err, size_t errlen)
{
    double d;

    if (!YAJL_IS_NUMBER(v)) {
        (void)snprintf(err, errlen, "column '%s': %s must be a number", c->name, key);
        return -EINVAL;
    }
    if (c->type != DAGD_LOAD_INTEGER && c->type != DAGD_LOAD_MONEY) {
        (void)snprintf(err, errlen, "column '%s': %s is for integer and money columns", c->name,
                       key);
        return -EINVAL;
    }
    d = YAJL_IS_INTEGER(v) ? (double)YAJL_GET_INTEGER(v) : YAJL_GET_DOUBLE(v);
    if (c->type == DAGD_LOAD_MONEY) {
        d = round(d * 100.0);
    } else if (d != floor(d)) {
        (void)snprintf(err, errlen, "column '%s': %s of an integer column must be an integer",
                       c->name, key);
        return -EINVAL;
    }
    if (!(fabs(d) < 9e18)) {
        (void)snprintf(err, errlen, "column '%s': %s out of range", c->name, key);
        return -EINVAL;
    }
    *ret = (int64_t)d;
    return 0;
}

static int set_type(struct dagd_load_column *c, const char *t, char *err, size_t errlen)
{
    int ty = dagd_load_type_from_string(t);

    if (ty < 0) {
        (void)snprintf(err, errlen,
                       "column '%s': unknown type '%s' (text, integer, real, money, date, "
                       "timestamp)",
                       c->name, t ? t : "?");
        return -EINVAL;
    }
    c->type = (enum dagd_load_type)ty;
    return 0;
}

static int parse_map(yajl_val root, struct dagd_load_column *c, char *err, size_t errlen)
{
    yajl_val name = NULL;

    for (size_t i = 0; i < root->u.object.len; i++) {
        if (strcmp(root->u.object.keys[i], "name") == 0) {
            name = root->u.object.values[i];
        }
    }
    if (!name) {
        /* {"quantity": "integer"} */
        if (root->u.object.len != 1 || !YAJL_IS_STRING(root->u.object.values[0])) {
            (void)snprintf(err, errlen,
                           "a column is a name, {NAME: TYPE}, or a map with 'name' (and type, "
                           "from, required, min, max)");
            return -EINVAL;
        }
        c->name = strdup(root->u.object.keys[0]);
        if (!c->name) {
            return -ENOMEM;
        }
        return set_type(c, YAJL_GET_STRING(root->u.object.values[0]), err, errlen);
    }
    if (!YAJL_IS_STRING(name) || !YAJL_GET_STRING(name)[0]) {
        (void)snprintf(err, errlen, "a column's name must be a non-empty string");
        return -EINVAL;
    }
    c->name = strdup(name->u.string);
    if (!c->name) {
        return -ENOMEM;
    }
    /* type first: min and max depend on it */
    for (size_t i = 0; i < root->u.object.len; i++) {
        if (strcmp(root->u.object.keys[i], "type") == 0 &&
            set_type(c, YAJL_GET_STRING(root->u.object.values[i]), err, errlen) < 0) {
            return -EINVAL;
        }
    }
    for (size_t i = 0; i < root->u.object.len; i++) {
        const char *k = root->u.object.keys[i];
        yajl_val v = root->u.object.values[i];
        if (strcmp(k, "name") == 0 || strcmp(k, "type") == 0) {
            continue;
        }
        if (strcmp(k, "from") == 0) {
            if (!YAJL_IS_STRING(v)) {
                (void)snprintf(err, errlen, "column '%s': from must be a string", c->name);
                return -EINVAL;
            }
            c->from = strdup(v->u.string);
            if (!c->from) {
                return -ENOMEM;
            }
        } else if (strcmp(k, "required") == 0) {
            if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v)) {
                (void)snprintf(err, errlen, "column '%s': required must be true or false", c->name);
                return -EINVAL;
            }
            c->required = YAJL_IS_TRUE(v);
        } else if (strcmp(k, "min") == 0) {
            if (bound(c, v, k, &c->min, err, errlen) < 0) {
                return -EINVAL;
            }
            c->has_min = true;
        } else if (strcmp(k, "max") == 0) {
            if (bound(c, v, k, &c->max, err, errlen) < 0) {
                return -EINVAL;
            }
            c->has_max = true;
        } else {
            (void)snprintf(err, errlen,
                           "column '%s': unknown key '%s' (name, type, from, required, min, max)",
                           c->name, k);
            return -EINVAL;
        }
    }
    return 0;
}

int dagd_load_column_parse(const char *item, struct dagd_load_column *ret, char *err, size_t errlen)
{
    struct dagd_load_column c = {0};
    yajl_val root;
    char perr[128];
    int r;

    if (!item || !item[0]) {
        (void)snprintf(err, errlen, "a column's name must be a non-empty string");
        return -EINVAL;
    }
    if (item[0] != '{') {
        c.name = strdup(item);
        c.from = strdup(item);
        if (!c.name || !c.from) {
            dagd_load_column_done(&c);
            return -ENOMEM;
        }
        *ret = c;
        return 0;
    }
    root = yajl_tree_parse(item, perr, sizeof(perr));
    if (!root || !YAJL_IS_OBJECT(root)) {
        (void)snprintf(err, errlen, "a column must be a name or a map");
        yajl_tree_free(root);
        return -EINVAL;
    }
    r = parse_map(root, &c, err, errlen);
    yajl_tree_free(root);
    if (r == 0 && !c.from) {
        c.from = strdup(c.name);
        r = c.from ? 0 : -ENOMEM;
    }
    if (r < 0) {
        if (r == -ENOMEM) {
            (void)snprintf(err, errlen, "out of memory");
        }
        dagd_load_column_done(&c);
        return r;
    }
    *ret = c;
    return 0;
}
