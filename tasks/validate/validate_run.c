/* The validate step: bronze -> orders, dq_exceptions, dq_summary.
 *
 * Every run recomputes the silver layer from the WHOLE bronze layer (every
 * delivery loaded so far). That makes "the last occurrence in load order
 * wins" and the per-source counts right across deliveries by construction,
 * and a re-run on the same bronze a no-op: orders is upserted and an
 * unchanged row is not even written.
 *
 * The rules are evaluated in C in one pass over raw_orders (a SQL version
 * with temp tables took ~4x longer on 200k rows, mostly in materialising and
 * joining the temp tables): rows are read once and consumed in ORDER_ID
 * order, which is the dedup (sorted in memory up to memory_rows rows, by
 * SQLite's sorter beyond, so memory stays flat), and only the writes go back
 * to SQLite, all inside one transaction. See scan_rows(). */
#include "validate_run.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dq_sqlite.h"
#include "handoff.h"
#include "oidsort.h"
#include "strmap.h"
#include "task_errmsg.h"
#include "validate_sql.h"

#define STAGES 6
#define SCAN_HALVES_MIN_ROWS 20000 /* below, a second connection costs more than it saves */
#define MMAP_BYTES 268435456       /* 256 MiB: bronze of DAGD_VALIDATE_MEMORY_ROWS rows is ~20 MB */
#define STR_(x) #x
#define STR(x) STR_(x)
#define MAX_SOURCES 64
#define FINAL MAX_SOURCES /* counts[FINAL]: the final rows */

/* The rules, in the bit order of dq_exceptions details (validate_sql.h). */
enum rule_scope {
    SCOPE_ANY,    /* every source */
    SCOPE_ID,     /* sources located by CITY_DISTRICT_ID (dataset1) */
    SCOPE_NAME,   /* sources located by city and district names (dataset2) */
    SCOPE_SOURCE, /* per-source counts only: a superseded row is never final */
};

enum {
    R_ORDER_ID_MISSING,
    R_AMOUNT_NOT_POSITIVE,
    R_CURRENCY_UNKNOWN,
    R_CURRENCY_NOT_RMB,
    R_QTY,
    R_BAD_TIME,
    R_OUTSIDE_WINDOW,
    R_UNKNOWN_ID,
    R_UNKNOWN_CITY,
    R_UNKNOWN_DISTRICT,
    R_UNKNOWN_PAIR,
    R_WHITESPACE,
    R_JSON_MISSING,
    R_JSON_EXTRA,
    R_SUPERSEDED,
    _R_MAX,
};

static const struct {
    const char *name;
    enum rule_scope scope;
} rules[_R_MAX] = {
    [R_ORDER_ID_MISSING] = {"order_id_missing", SCOPE_ANY},
    [R_AMOUNT_NOT_POSITIVE] = {"amount_not_positive", SCOPE_ANY},
    [R_CURRENCY_UNKNOWN] = {"currency_unknown", SCOPE_ANY},
    [R_CURRENCY_NOT_RMB] = {"currency_not_rmb", SCOPE_ANY},
    [R_QTY] = {"qty_not_positive_integer", SCOPE_ANY},
    [R_BAD_TIME] = {"bad_order_time", SCOPE_ANY},
    [R_OUTSIDE_WINDOW] = {"order_time_outside_window", SCOPE_ANY},
    [R_UNKNOWN_ID] = {"unknown_city_district_id", SCOPE_ID},
    [R_UNKNOWN_CITY] = {"unknown_city", SCOPE_NAME},
    [R_UNKNOWN_DISTRICT] = {"unknown_district", SCOPE_NAME},
    [R_UNKNOWN_PAIR] = {"unknown_city_district_pair", SCOPE_NAME},
    [R_WHITESPACE] = {"location_whitespace_trimmed", SCOPE_NAME},
    [R_JSON_MISSING] = {"json_missing_key", SCOPE_NAME},
    [R_JSON_EXTRA] = {"json_extra_key", SCOPE_NAME},
    [R_SUPERSEDED] = {"duplicate_order_id_superseded", SCOPE_SOURCE},
};

#define BIT(r) (1u << (r))
#define REJECTING (BIT(R_ORDER_ID_MISSING) | BIT(R_AMOUNT_NOT_POSITIVE) | BIT(R_CURRENCY_UNKNOWN))

/* One bronze row after trimming and parsing. Strings live in the arena. */
struct vrow {
    int64_t pos;      /* file_id << 32 | row_no: the global load order */
    const char *oid;  /* trimmed ORDER_ID, NULL if missing or empty */
    const char *cur;  /* trimmed CURRENCY_CD, NULL if not text */
    const char *city; /* trimmed names (name sources) or the map's (id sources) */
    const char *district;
    int64_t amt;  /* RPTG_AMT in cents, if has_amt */
    int64_t qty;  /* > 0, or 0 if invalid */
    int64_t cdid; /* delivered CITY_DISTRICT_ID, if has_cdid */
    int64_t loc;  /* CITY_DISTRICT_ID of the map row, or -1 */
    int64_t win;  /* pos of the last row of oid: the one that wins */
    size_t oid_len;
    uint32_t flags;  /* BIT(rule) of every hit */
    int32_t t;       /* HHMMSS, or -1 */
    uint16_t source; /* index into pass.sources */
    bool has_amt, has_cdid;
};

struct map_row {
    int64_t id;
    const char *city, *district;
};

/* How a delivered (city, district) pair resolves; memoised per raw pair. */
struct loc_result {
    const char *city, *district; /* trimmed */
    int64_t loc;                 /* map id or -1 */
    uint32_t flags;              /* R_UNKNOWN_CITY/DISTRICT/PAIR, R_WHITESPACE */
};

struct pass {
    struct dagd_arena arena;
    struct dagd_strmap loc_memo; /* raw "city\x1fdistrict" -> index into locs */
    struct loc_result *locs;
    size_t n_locs;
    int32_t *id_index; /* map id -> index into map, if ids are small */
    int64_t id_max;
    struct dagd_strmap interned;                 /* short repeated strings (currency, names) */
    struct dagd_strmap cities, districts, pairs; /* of the map; pairs -> min id */
    struct map_row *map;
    size_t n_map;
    int64_t n_rows;
    const struct dagd_dq_rate *rate;
    sqlite3_stmt *exc; /* the dq_exceptions insert */
    struct vrow *rows; /* in memory: every row */
    size_t cap_rows;
    bool rows_fixed;       /* rows is shared by two scans (scan_halves): never moved */
    struct vrow **dups;    /* the rows of the current ORDER_ID, in load order */
    struct vrow *dup_rows; /* streaming: the copies dups points to */
    size_t n_dups, cap_dups;
    struct vrow *batch; /* copies of the final rows not yet upserted into orders */
    size_t n_batch;
    bool rows_kept;               /* in memory: dups points into p->rows */
    struct dagd_handoff *ho;      /* in memory: batches go to the SQLite thread */
    const struct vrow **exc_rows; /* in memory: rows whose dq_exceptions wait for the end */
    size_t n_exc, cap_exc;
    sqlite3_stmt *upsert;         /* the orders upsert */
    struct dagd_arena oids;       /* streaming: ORDER_IDs of dups and batch; emptied by flushes */
    int64_t n_orders;             /* final rows written so far */
    struct dagd_strmap group_idx; /* binary group key -> index into groups */
    struct group *groups;
    size_t n_groups, cap_groups;
    const char *sources[MAX_SOURCES];
    bool source_by_id[MAX_SOURCES];
    size_t n_sources;
    int64_t counts[MAX_SOURCES + 1][_R_MAX]; /* [FINAL] = final rows */
};

static void pass_done(struct pass *p)
{
    dagd_strmap_done(&p->interned);
    dagd_strmap_done(&p->cities);
    dagd_strmap_done(&p->districts);
    dagd_strmap_done(&p->pairs);
    dagd_strmap_done(&p->loc_memo);
    free(p->locs);
    free(p->id_index);
    free(p->map);
    free(p->rows);
    free(p->dups);
    free(p->dup_rows);
    free(p->exc_rows);
    free(p->batch);
    dagd_arena_done(&p->oids);
    dagd_strmap_done(&p->group_idx);
    free(p->groups);
    dagd_arena_done(&p->arena);
}

/* The trimmed text of a value (numbers as their text), not copied; false if
 * the value is NULL. */
static bool trimmed_span(sqlite3_value *v, const char **ret_s, size_t *ret_len)
{
    const char *s;
    size_t off;

    if (sqlite3_value_type(v) == SQLITE_NULL || !(s = (const char *)sqlite3_value_text(v))) {
        return false;
    }
    dagd_dq_trim(s, (size_t)sqlite3_value_bytes(v), &off, ret_len);
    *ret_s = s + off;
    return true;
}

/* An interned copy of s[0..len). */
static const char *intern(struct pass *p, const char *s, size_t len)
{
    struct dagd_strmap_entry *e = dagd_strmap_find(&p->interned, s, len);

    if (e) {
        return e->key;
    }
    const char *copy = dagd_arena_strndup(&p->arena, s, len);
    return dagd_strmap_upsert(&p->interned, copy, len, 0, NULL)->key;
}

/* The trimmed text of a column, interned (or copied if !shared), or NULL if
 * the value is NULL. Numbers are taken as their text. *ret_space tells if
 * whitespace was trimmed. */
static const char *trimmed_val(struct pass *p, sqlite3_value *v, bool shared, bool *ret_space)
{
    const char *s;
    size_t off, len, n;

    if (ret_space) {
        *ret_space = false;
    }
    if (sqlite3_value_type(v) == SQLITE_NULL) {
        return NULL;
    }
    s = (const char *)sqlite3_value_text(v);
    if (!s) {
        return NULL;
    }
    n = (size_t)sqlite3_value_bytes(v);
    dagd_dq_trim(s, n, &off, &len);
    if (ret_space) {
        *ret_space = len != n;
    }
    /* Nearly every row says RMB: skip the hash for it. */
    if (shared && len == 3 && memcmp(s + off, "RMB", 3) == 0) {
        return "RMB";
    }
    return shared ? intern(p, s + off, len) : dagd_arena_strndup(&p->arena, s + off, len);
}

/* "city\x1f district" key of the pair map. */
static const char *pair_key(struct pass *p, const char *city, const char *district, size_t *ret_len,
                            char *buf, size_t bufsz)
{
    int n = snprintf(buf, bufsz, "%s\x1f%s", city, district);

    if (n < 0 || (size_t)n >= bufsz) {
        return NULL; /* absurdly long names are simply unknown */
    }
    *ret_len = (size_t)n;
    return buf;
}

static int cmp_map(const void *a, const void *b)
{
    const struct map_row *x = a, *y = b;

    return x->id < y->id ? -1 : x->id > y->id;
}

static int load_map(sqlite3 *db, struct pass *p, char **reterr_msg)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    int rc;

    if (sqlite3_prepare_v2(db, dagd_validate_map_sql, -1, &st, NULL) != SQLITE_OK) {
        dagd__task_set_err(reterr_msg, "reading city_district_map: %s", sqlite3_errmsg(db));
        return -EIO;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct map_row *m;
        if (p->n_map == cap) {
            cap = cap ? cap * 2 : 4096;
            p->map = realloc(p->map, cap * sizeof(*p->map));
            if (!p->map) {
                abort();
            }
        }
        m = &p->map[p->n_map++];
        m->id = sqlite3_column_int64(st, 0);
        m->city = trimmed_val(p, sqlite3_column_value(st, 1), true, NULL);
        m->district = trimmed_val(p, sqlite3_column_value(st, 2), true, NULL);
        if (!m->city || !m->district) {
            p->n_map--; /* NOT NULL in bronze.sql; be safe anyway */
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        dagd__task_set_err(reterr_msg, "reading city_district_map: %s", sqlite3_errmsg(db));
        return -EIO;
    }
    qsort(p->map, p->n_map, sizeof(*p->map), cmp_map);
    /* The ids are 1..N in the deliveries: index them directly when small. */
    if (p->n_map > 0 && p->map[0].id >= 0 &&
        p->map[p->n_map - 1].id < 4 * (int64_t)p->n_map + 1024) {
        p->id_max = p->map[p->n_map - 1].id;
        p->id_index = malloc(((size_t)p->id_max + 1) * sizeof(*p->id_index));
        if (!p->id_index) {
            abort();
        }
        memset(p->id_index, 0xff, ((size_t)p->id_max + 1) * sizeof(*p->id_index));
        for (size_t i = 0; i < p->n_map; i++) {
            p->id_index[p->map[i].id] = (int32_t)i;
        }
    }
    for (size_t i = 0; i < p->n_map; i++) {
        const struct map_row *m = &p->map[i];
        char buf[1024];
        size_t len;
        const char *k;

        (void)dagd_strmap_upsert(&p->cities, m->city, strlen(m->city), 0, NULL);
        (void)dagd_strmap_upsert(&p->districts, m->district, strlen(m->district), 0, NULL);
        k = pair_key(p, m->city, m->district, &len, buf, sizeof(buf));
        if (k) {
            /* ids ascend, so the first insertion keeps the smallest id */
            (void)dagd_strmap_upsert(&p->pairs, dagd_arena_strndup(&p->arena, k, len), len, m->id,
                                     NULL);
        }
    }
    return 0;
}

static const struct map_row *map_by_id(const struct pass *p, int64_t id)
{
    struct map_row key = {.id = id};

    if (p->id_index) {
        return id >= 0 && id <= p->id_max && p->id_index[id] >= 0 ? &p->map[p->id_index[id]] : NULL;
    }
    return bsearch(&key, p->map, p->n_map, sizeof(*p->map), cmp_map);
}

static int source_index_of(struct pass *p, const char *s, char **reterr_msg)
{
    for (size_t i = 0; i < p->n_sources; i++) {
        if (strcmp(p->sources[i], s) == 0) {
            return (int)i;
        }
    }
    if (p->n_sources == MAX_SOURCES) {
        dagd__task_set_err(reterr_msg, "more than %d distinct sources in raw_orders", MAX_SOURCES);
        return -E2BIG;
    }
    p->sources[p->n_sources] = intern(p, s, strlen(s));
    /* dataset1 locates orders by CITY_DISTRICT_ID, every other source by
     * names (dataset2.json). */
    p->source_by_id[p->n_sources] = strcmp(s, "dataset1") == 0;
    return (int)p->n_sources++;
}

static int source_index(struct pass *p, sqlite3_value *v, char **reterr_msg)
{
    const char *s = (const char *)sqlite3_value_text(v);

    return source_index_of(p, s ? s : "", reterr_msg);
}

/* "<tc><city>\x1f<td><district>" of the raw values in buf, its length, or -1
 * if it does not fit. */
static int memo_key(char *buf, size_t size, int tc, sqlite3_value *vc, int td, sqlite3_value *vd)
{
    const char *c = tc == SQLITE_NULL ? NULL : (const char *)sqlite3_value_text(vc);
    const char *d = td == SQLITE_NULL ? NULL : (const char *)sqlite3_value_text(vd);
    size_t lc, ld;

    c = c ? c : "";
    d = d ? d : "";
    lc = strlen(c);
    ld = strlen(d);
    if (lc + ld + 3 >= size) {
        return -1;
    }
    buf[0] = (char)('0' + tc);
    memcpy(buf + 1, c, lc);
    buf[1 + lc] = '\x1f';
    buf[2 + lc] = (char)('0' + td);
    memcpy(buf + 3 + lc, d, ld);
    return (int)(lc + ld + 3);
}

/* The location rules of a name-located row. The result depends only on the
 * raw city and district values, so it is computed once per distinct pair. */
static const struct loc_result *resolve_location(struct pass *p, sqlite3_value *vc,
                                                 sqlite3_value *vd)
{
    struct dagd_strmap_entry *e;
    struct loc_result *lr;
    char raw[1024], buf[1024];
    bool ws_city, ws_district;
    int tc = sqlite3_value_type(vc), td = sqlite3_value_type(vd);
    size_t len;
    const char *k;
    int n;

    /* memo key: types and raw text of both values (built by hand: snprintf
     * was 2% of the step's instructions) */
    n = memo_key(raw, sizeof(raw), tc, vc, td, vd);
    if (n > 0 && (size_t)n < sizeof(raw)) {
        e = dagd_strmap_find(&p->loc_memo, raw, (size_t)n);
        if (e) {
            return &p->locs[e->value];
        }
    }
    if ((p->n_locs & (p->n_locs - 1)) == 0) { /* 0, 1, 2, 4, ...: grow geometrically */
        p->locs = realloc(p->locs, (p->n_locs ? 2 * p->n_locs : 1) * sizeof(*p->locs));
        if (!p->locs) {
            abort();
        }
    }
    lr = &p->locs[p->n_locs];
    memset(lr, 0, sizeof(*lr));
    lr->loc = -1;
    lr->city = trimmed_val(p, vc, true, &ws_city);
    lr->district = trimmed_val(p, vd, true, &ws_district);
    if (!lr->city || !dagd_strmap_find(&p->cities, lr->city, strlen(lr->city))) {
        lr->flags |= BIT(R_UNKNOWN_CITY);
    }
    if (!lr->district || !dagd_strmap_find(&p->districts, lr->district, strlen(lr->district))) {
        lr->flags |= BIT(R_UNKNOWN_DISTRICT);
    }
    if (lr->city && lr->district &&
        (k = pair_key(p, lr->city, lr->district, &len, buf, sizeof(buf)))) {
        const struct dagd_strmap_entry *pe = dagd_strmap_find(&p->pairs, k, len);
        if (pe) {
            lr->loc = pe->value;
        }
    }
    if (lr->loc < 0) {
        lr->flags |= BIT(R_UNKNOWN_PAIR);
    }
    /* only text values can carry whitespace */
    if ((ws_city && tc == SQLITE_TEXT) || (ws_district && td == SQLITE_TEXT)) {
        lr->flags |= BIT(R_WHITESPACE);
    }
    if (n > 0 && (size_t)n < sizeof(raw)) {
        (void)dagd_strmap_upsert(&p->loc_memo, dagd_arena_strndup(&p->arena, raw, (size_t)n),
                                 (size_t)n, (int64_t)p->n_locs, NULL);
    }
    return &p->locs[p->n_locs++];
}

/* Parse and check one bronze row (every rule but the dedup). */
static int eval_row(struct pass *p, sqlite3_value **argv, struct vrow *r, char **reterr_msg)
{
    const char *oid;
    size_t len;
    int64_t v;
    int s;

    memset(r, 0, sizeof(*r));
    r->pos = (sqlite3_value_int64(argv[0]) << 32) | (sqlite3_value_int64(argv[1]) & 0xffffffff);
    s = source_index(p, argv[2], reterr_msg);
    if (s < 0) {
        return s;
    }
    r->source = (uint16_t)s;
    if (trimmed_span(argv[3], &oid, &len) && len > 0) {
        r->oid = oid; /* not NUL-terminated: the caller copies it */
        r->oid_len = len;
    } else {
        r->flags |= BIT(R_ORDER_ID_MISSING);
    }
    r->t = dagd_dq_value_time(argv[4]);
    if (r->t < 0) {
        r->t = -1;
        r->flags |= BIT(R_BAD_TIME);
    } else if (!dagd_dq_time_in_window(r->t)) {
        r->flags |= BIT(R_OUTSIDE_WINDOW);
    }
    r->has_amt = dagd_dq_value_cents(argv[8], &r->amt) >= 0;
    if (!r->has_amt || r->amt <= 0) {
        r->flags |= BIT(R_AMOUNT_NOT_POSITIVE);
    }
    r->cur =
        sqlite3_value_type(argv[9]) == SQLITE_TEXT ? trimmed_val(p, argv[9], true, NULL) : NULL;
    if (!r->cur || (strcmp(r->cur, "RMB") != 0 && strcmp(r->cur, "USD") != 0)) {
        r->flags |= BIT(R_CURRENCY_UNKNOWN);
    } else if (strcmp(r->cur, "USD") == 0) {
        r->flags |= BIT(R_CURRENCY_NOT_RMB);
    }
    v = dagd_dq_value_qty(argv[10]);
    r->qty = v > 0 ? v : 0;
    if (v <= 0) {
        r->flags |= BIT(R_QTY);
    }
    r->loc = -1;
    if (p->source_by_id[r->source]) {
        const struct map_row *m = NULL;
        r->has_cdid = dagd_dq_value_id(argv[5], &r->cdid) >= 0;
        if (r->has_cdid) {
            m = map_by_id(p, r->cdid);
        }
        if (m) {
            r->loc = m->id;
            r->city = m->city;
            r->district = m->district;
        } else {
            r->flags |= BIT(R_UNKNOWN_ID);
        }
    } else {
        const struct loc_result *lr = resolve_location(p, argv[6], argv[7]);
        r->city = lr->city;
        r->district = lr->district;
        r->loc = lr->loc;
        r->flags |= lr->flags;
        if (sqlite3_value_int(argv[11])) {
            r->flags |= BIT(R_JSON_MISSING);
        }
        if (sqlite3_value_int(argv[12])) {
            r->flags |= BIT(R_JSON_EXTRA);
        }
    }
    return 0;
}

static int step_done(sqlite3 *db, sqlite3_stmt *st, const char *what, char **reterr_msg)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        dagd__task_set_err(reterr_msg, "%s: %s", what, sqlite3_errmsg(db));
        return rc == SQLITE_INTERRUPT ? -EINTR : -EIO;
    }
    return 0;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s) {
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, i);
    }
}

/* The dq_exceptions rows of one bronze row, one per rule it hit. */
static int write_exception(sqlite3 *db, sqlite3_stmt *st, const struct pass *p,
                           const struct vrow *w, char **reterr_msg)
{
    int r = 0;

    for (int k = 0; k < _R_MAX && r >= 0; k++) {
        if (!(w->flags & BIT(k))) {
            continue;
        }
        bind_text(st, 1, w->oid);
        bind_text(st, 2, p->sources[w->source]);
        bind_text(st, 3, rules[k].name);
        sqlite3_bind_int(st, 4, (int)BIT(k));
        sqlite3_bind_int64(st, 5, w->pos >> 32);
        sqlite3_bind_int64(st, 6, w->pos & 0xffffffff);
        sqlite3_bind_int(st, 7, !(w->flags & BIT(R_SUPERSEDED)));
        bind_text(st, 8, w->city);
        bind_text(st, 9, w->district);
        if (w->has_amt) {
            sqlite3_bind_int64(st, 10, w->amt);
        }
        if (k == R_SUPERSEDED) {
            sqlite3_bind_int64(st, 11, w->win >> 32);
            sqlite3_bind_int64(st, 12, w->win & 0xffffffff);
        }
        r = step_done(db, st, "dq_exceptions", reterr_msg);
    }
    return r;
}

static bool rule_applies(const struct pass *p, size_t source, int k)
{
    if (source == p->n_sources) {
        return rules[k].scope != SCOPE_SOURCE;
    }
    switch (rules[k].scope) {
    case SCOPE_ID:
        return p->source_by_id[source];
    case SCOPE_NAME:
        return !p->source_by_id[source];
    default:
        return true;
    }
}

static int write_summary(sqlite3 *db, struct pass *p, char **reterr_msg)
{
    sqlite3_stmt *st = NULL;
    int r = 0;

    if (sqlite3_prepare_v2(db, dagd_validate_summary_sql, -1, &st, NULL) != SQLITE_OK) {
        dagd__task_set_err(reterr_msg, "dq_summary: %s", sqlite3_errmsg(db));
        return -EIO;
    }
    for (size_t s = 0; s <= p->n_sources && r >= 0; s++) {
        for (int k = 0; k < _R_MAX && r >= 0; k++) {
            if (!rule_applies(p, s, k)) {
                continue;
            }
            bind_text(st, 1, s == p->n_sources ? "final" : p->sources[s]);
            bind_text(st, 2, rules[k].name);
            sqlite3_bind_int64(st, 3, p->counts[s == p->n_sources ? FINAL : s][k]);
            r = step_done(db, st, "dq_summary", reterr_msg);
        }
    }
    sqlite3_finalize(st);
    return r;
}

static int exec_sql(sqlite3 *db, const char *what, const char *sql, char **reterr_msg)
{
    char *e = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &e);

    if (rc != SQLITE_OK) {
        dagd__task_set_err(reterr_msg, "%s: %s", what, e ? e : sqlite3_errstr(rc));
        sqlite3_free(e);
        return rc == SQLITE_INTERRUPT ? -EINTR : -EIO;
    }
    return 0;
}

/* The final rows as an eponymous virtual table, so that orders is filled by
 * one INSERT ... SELECT inside SQLite: binding 15 values and stepping a
 * statement per row cost more than the b-tree writes themselves. */
struct final_tab {
    const struct pass *p;
    const struct dagd_dq_rate *rate;
    const struct vrow *rows;
    size_t n;
};

struct final_cursor {
    sqlite3_vtab_cursor base;
    size_t i;
};

static int ft_connect(sqlite3 *db, void *aux, int argc, const char *const *argv, sqlite3_vtab **ret,
                      char **err)
{
    sqlite3_vtab *t;
    int rc = sqlite3_declare_vtab(db, aux); /* the columns: see the modules below */

    if (rc != SQLITE_OK) {
        return rc;
    }
    t = sqlite3_malloc(sizeof(*t));
    if (!t) {
        return SQLITE_NOMEM;
    }
    memset(t, 0, sizeof(*t));
    *ret = t;
    return SQLITE_OK;
}

static int ft_disconnect(sqlite3_vtab *t)
{
    sqlite3_free(t);
    return SQLITE_OK;
}

static int ft_best_index(sqlite3_vtab *t, sqlite3_index_info *info)
{
    info->estimatedCost = 1e6;
    return SQLITE_OK;
}

static int ft_open(sqlite3_vtab *t, sqlite3_vtab_cursor **ret)
{
    struct final_cursor *c = sqlite3_malloc(sizeof(*c));

    if (!c) {
        return SQLITE_NOMEM;
    }
    memset(c, 0, sizeof(*c));
    *ret = &c->base;
    return SQLITE_OK;
}

static int ft_close(sqlite3_vtab_cursor *c)
{
    sqlite3_free(c);
    return SQLITE_OK;
}

static int ft_filter(sqlite3_vtab_cursor *c, int idx, const char *idx_str, int argc,
                     sqlite3_value **argv)
{
    ((struct final_cursor *)c)->i = 0;
    return SQLITE_OK;
}

static int ft_next(sqlite3_vtab_cursor *c)
{
    ((struct final_cursor *)c)->i++;
    return SQLITE_OK;
}

static struct final_tab final_tab; /* what the table shows; set by flush_orders */

static int ft_eof(sqlite3_vtab_cursor *c)
{
    return ((struct final_cursor *)c)->i >= final_tab.n;
}

static void result_text(sqlite3_context *ctx, const char *s)
{
    if (s) {
        sqlite3_result_text(ctx, s, -1, SQLITE_STATIC);
    }
}

/* The orders columns of one final row (see dagd_validate_final_vtab_sql). */
static int ft_column(sqlite3_vtab_cursor *c, sqlite3_context *ctx, int col)
{
    const struct vrow *w = &final_tab.rows[((struct final_cursor *)c)->i];
    const struct pass *p = final_tab.p;
    bool by_id = p->source_by_id[w->source];

    switch (col) {
    case 0:
        if (w->oid) {
            sqlite3_result_text(ctx, w->oid, (int)w->oid_len, SQLITE_STATIC);
        }
        break;
    case 1:
        result_text(ctx, p->sources[w->source]);
        break;
    case 2:
        if (w->t >= 0) {
            sqlite3_result_int(ctx, w->t);
        }
        break;
    case 3:
        if (by_id ? w->has_cdid : w->loc >= 0) {
            sqlite3_result_int64(ctx, by_id ? w->cdid : w->loc);
        }
        break;
    case 4:
        result_text(ctx, w->city);
        break;
    case 5:
        result_text(ctx, w->district);
        break;
    case 6:
        if (w->has_amt) {
            bool usd = w->flags & BIT(R_CURRENCY_NOT_RMB);
            sqlite3_result_int64(ctx,
                                 usd ? dagd_dq_usd_to_rmb_cents(w->amt, final_tab.rate) : w->amt);
        }
        break;
    case 7:
        result_text(ctx, w->cur);
        break;
    case 8:
        if (w->qty > 0) {
            sqlite3_result_int64(ctx, w->qty);
        }
        break;
    case 9:
        result_text(ctx, w->flags & REJECTING ? "rejected" : "included");
        break;
    case 10:
        sqlite3_result_int(ctx, w->loc >= 0);
        break;
    case 11:
        if (w->t >= 0 && dagd_dq_time_in_window(w->t)) {
            sqlite3_result_int(ctx, w->t / 10000);
        }
        break;
    case 12:
        if (w->has_amt) {
            sqlite3_result_int64(ctx, w->amt);
        }
        break;
    case 13:
        sqlite3_result_int64(ctx, w->pos >> 32);
        break;
    case 14:
        sqlite3_result_int64(ctx, w->pos & 0xffffffff);
        break;
    default:
        break;
    }
    return SQLITE_OK;
}

static int ft_rowid(sqlite3_vtab_cursor *c, sqlite3_int64 *ret)
{
    *ret = (sqlite3_int64)((struct final_cursor *)c)->i;
    return SQLITE_OK;
}

static const sqlite3_module final_module = {
    .iVersion = 0,
    .xConnect = ft_connect, /* xCreate NULL: eponymous-only */
    .xBestIndex = ft_best_index,
    .xDisconnect = ft_disconnect,
    .xOpen = ft_open,
    .xClose = ft_close,
    .xFilter = ft_filter,
    .xNext = ft_next,
    .xEof = ft_eof,
    .xColumn = ft_column,
    .xRowid = ft_rowid,
};

/* order_groups: the final orders aggregated by everything the marts need, by
 * hashing in this pass. The transform models read these ~14k rows instead of
 * sorting the 200k rows of orders again (GROUP BY on orders was half of the
 * transform step). Same values as the equivalent GROUP BY over orders. */
struct group {
    int64_t id;       /* orders.city_district_id, if has_id */
    const char *city; /* located groups only */
    int64_t orders, sales;
    int hour; /* -1 = NULL */
    bool has_id, included, known, has_sales;
};

static int cmp_group(const void *a, const void *b)
{
    const struct group *x = a, *y = b;

    if (x->has_id != y->has_id) {
        return x->has_id ? 1 : -1;
    }
    if (x->id != y->id) {
        return x->id < y->id ? -1 : 1;
    }
    if (x->hour != y->hour) {
        return x->hour < y->hour ? -1 : 1;
    }
    if (x->included != y->included) {
        return x->included ? -1 : 1;
    }
    return (int)x->known - (int)y->known;
}

/* Count a final row into its order_groups group. */
static void group_add(struct pass *p, const struct vrow *w)
{
    struct group k = {.hour = -1};
    struct dagd_strmap_entry *e;

    if (p->source_by_id[w->source] ? w->has_cdid : w->loc >= 0) {
        k.has_id = true;
        k.id = p->source_by_id[w->source] ? w->cdid : w->loc;
    }
    if (w->t >= 0 && dagd_dq_time_in_window(w->t)) {
        k.hour = w->t / 10000;
    }
    k.included = !(w->flags & REJECTING);
    k.known = w->loc >= 0;
    /* binary key: has_id, id, hour, included, known */
    char key[12];
    const size_t kl = sizeof(key);
    key[0] = (char)k.has_id;
    memcpy(key + 1, &k.id, sizeof(k.id));
    key[9] = (char)k.hour;
    key[10] = (char)k.included;
    key[11] = (char)k.known;
    e = dagd_strmap_find(&p->group_idx, key, kl);
    if (!e) {
        e = dagd_strmap_upsert(&p->group_idx, dagd_arena_strndup(&p->arena, key, kl), kl,
                               (int64_t)p->n_groups, NULL);
        if (p->n_groups == p->cap_groups) {
            p->cap_groups = p->cap_groups ? 2 * p->cap_groups : 1024;
            p->groups = realloc(p->groups, p->cap_groups * sizeof(*p->groups));
            if (!p->groups) {
                abort();
            }
        }
        k.city = k.known ? w->city : NULL;
        p->groups[p->n_groups++] = k;
    }
    struct group *t = &p->groups[e->value];
    t->orders++;
    if (w->has_amt) {
        bool usd = w->flags & BIT(R_CURRENCY_NOT_RMB);
        t->sales += usd ? dagd_dq_usd_to_rmb_cents(w->amt, p->rate) : w->amt;
        t->has_sales = true;
    }
}

/* dq_order_groups, the same way: the groups of write_groups. */
static struct {
    const struct group *rows;
    size_t n;
} groups_tab;

static int gt_eof(sqlite3_vtab_cursor *c)
{
    return ((struct final_cursor *)c)->i >= groups_tab.n;
}

/* The order_groups columns of one group (dagd_validate_groups_vtab_sql). */
static int gt_column(sqlite3_vtab_cursor *c, sqlite3_context *ctx, int col)
{
    const struct group *g = &groups_tab.rows[((struct final_cursor *)c)->i];

    switch (col) {
    case 0:
        if (g->has_id) {
            sqlite3_result_int64(ctx, g->id);
        }
        break;
    case 1:
        if (g->hour >= 0) {
            sqlite3_result_int(ctx, g->hour);
        }
        break;
    case 2:
        sqlite3_result_text(ctx, g->included ? "included" : "rejected", 8, SQLITE_STATIC);
        break;
    case 3:
        sqlite3_result_int(ctx, g->known);
        break;
    case 4:
        result_text(ctx, g->city);
        break;
    case 5:
        sqlite3_result_int64(ctx, g->orders);
        break;
    case 6:
        if (g->has_sales) {
            sqlite3_result_int64(ctx, g->sales);
        }
        break;
    default:
        break;
    }
    return SQLITE_OK;
}

static const sqlite3_module groups_module = {
    .iVersion = 0,
    .xConnect = ft_connect,
    .xBestIndex = ft_best_index,
    .xDisconnect = ft_disconnect,
    .xOpen = ft_open,
    .xClose = ft_close,
    .xFilter = ft_filter,
    .xNext = ft_next,
    .xEof = gt_eof,
    .xColumn = gt_column,
    .xRowid = ft_rowid,
};

static int write_groups(sqlite3 *db, struct pass *p, char **reterr_msg)
{
    struct group *g = p->groups;
    size_t n = p->n_groups;
    int r = 0;

    qsort(g, n, sizeof(*g), cmp_group);
    r = exec_sql(db, "order_groups", "DELETE FROM main.order_groups", reterr_msg);
    if (r >= 0 &&
        sqlite3_create_module_v2(db, "dq_order_groups", &groups_module,
                                 (void *)dagd_validate_groups_vtab_sql, NULL) != SQLITE_OK) {
        dagd__task_set_err(reterr_msg, "order_groups: %s", sqlite3_errmsg(db));
        r = -EIO;
    }
    if (r >= 0) {
        groups_tab.rows = g;
        groups_tab.n = n;
        r = exec_sql(db, "order_groups", dagd_validate_groups_sql, reterr_msg);
        groups_tab.rows = NULL;
        groups_tab.n = 0;
    }
    return r;
}

/* Drop orders whose ORDER_ID is not in bronze any more. Only needed when the
 * table holds more rows than this run's ORDER_IDs (someone cut bronze). */
static int prune_orders(sqlite3 *db, int64_t n_ids, char **reterr_msg)
{
    sqlite3_stmt *st = NULL;
    int64_t have = -1;

    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM main.orders", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        have = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (have == n_ids) {
        return 0;
    }
    if (sqlite3_exec(db, dagd_validate_keep_sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, dagd_validate_prune_sql, NULL, NULL, NULL) != SQLITE_OK) {
        dagd__task_set_err(reterr_msg, "pruning orders: %s", sqlite3_errmsg(db));
        return -EIO;
    }
    return 0;
}

/* The pass over raw_orders. The rules of a row are evaluated on its own; the
 * dedup needs the rows of an ORDER_ID together: rows are consumed in
 * (trimmed ORDER_ID, file_id, row_no) order, so the last one in load order
 * comes last: it wins, the ones before are superseded. Two ways to that
 * order, same result:
 * - in memory (up to memory_rows rows): one SELECT hands every row to the
 *   SQL function dq_scan_row (its values arrive as an argv: no per-column
 *   API call), which evaluates and keeps it; a radix sort (oidsort.c) sorts
 *   them, and the dedup runs on a second thread (consume_in_memory);
 * - streaming (more rows): SQLite sorts the rows (its sorter spills to temp
 *   files beyond the page cache) and dq_scan_row evaluates and consumes them
 *   as they come; memory does not grow with the rows.
 * orders is written in key order, page by page, a batch at a time. */
#define BATCH_ROWS 8192
#define PREFETCH_ROWS 32 /* how far ahead the in-memory way asks for rows */

struct scan_ctx {
    sqlite3 *db;
    struct pass *p;
    char *err;
    int r;
};

/* dq_oid(order_id): the trimmed ORDER_ID, NULL if missing or empty (the sort
 * key of the pass, and the key of orders). */
static void fn_oid(sqlite3_context *c, int argc, sqlite3_value **argv)
{
    const char *s;
    size_t len;

    if (trimmed_span(argv[0], &s, &len) && len > 0) {
        sqlite3_result_text(c, s, (int)len, SQLITE_TRANSIENT);
    }
}

/* Upsert the batch into orders (it is in key order) and empty it. */
static int flush_orders(sqlite3 *db, struct pass *p, char **reterr_msg)
{
    int r = 0;

    if (p->n_batch > 0) {
        final_tab = (struct final_tab){.p = p, .rate = p->rate, .rows = p->batch, .n = p->n_batch};
        r = step_done(db, p->upsert, "orders", reterr_msg);
        final_tab = (struct final_tab){0};
    }
    p->n_orders += (int64_t)p->n_batch;
    p->n_batch = 0;
    dagd_arena_done(&p->oids); /* streaming: nothing points into it any more */
    return r;
}

/* Count the hits of a row, write its exceptions, and batch it for orders if
 * it is final. */
static int finish_row(struct scan_ctx *sc, const struct vrow *w)
{
    struct pass *p = sc->p;
    bool is_final = !(w->flags & BIT(R_SUPERSEDED));
    int r;

    for (int k = 0; k < _R_MAX; k++) {
        if (w->flags & BIT(k)) {
            p->counts[w->source][k]++;
            if (is_final) {
                p->counts[FINAL][k]++;
            }
        }
    }
    if (w->flags && p->ho) {
        /* not on this thread: the SQLite thread writes them at the end */
        if (p->n_exc == p->cap_exc) {
            p->cap_exc = p->cap_exc ? 2 * p->cap_exc : 1024;
            p->exc_rows = realloc(p->exc_rows, p->cap_exc * sizeof(*p->exc_rows));
            if (!p->exc_rows) {
                abort();
            }
        }
        p->exc_rows[p->n_exc++] = w;
    } else if (w->flags && (r = write_exception(sc->db, p->exc, p, w, &sc->err)) < 0) {
        return r;
    }
    if (!w->oid || !is_final) {
        return 0;
    }
    group_add(p, w);
    /* copied: the virtual table then reads the batch in order (one
     * statement over the scattered rows of p->rows was ~30 ms slower) */
    if (p->ho) {
        memcpy(dagd_handoff_slot(p->ho), w, sizeof(*w));
        return dagd_handoff_commit(p->ho);
    }
    p->batch[p->n_batch++] = *w;
    return p->n_batch == BATCH_ROWS ? flush_orders(sc->db, p, &sc->err) : 0;
}

/* Every row of the current ORDER_ID is in dups: the last one wins. */
static int finish_dups(struct scan_ctx *sc)
{
    struct pass *p = sc->p;
    int r = 0;

    for (size_t i = 0; i < p->n_dups && r >= 0; i++) {
        struct vrow *w = p->dups[i];
        w->win = p->dups[p->n_dups - 1]->pos;
        if (i + 1 < p->n_dups) {
            w->flags |= BIT(R_SUPERSEDED);
        }
        r = finish_row(sc, w);
    }
    p->n_dups = 0;
    return r;
}

/* ORDER_IDs as SQLite's BINARY collation orders them; NULL first. */
static int cmp_oids(const char *a, size_t alen, const char *b, size_t blen)
{
    int c;

    if (!a || !b) {
        return (a != NULL) - (b != NULL);
    }
    c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

/* The next row in (ORDER_ID, load) order. In memory (p->rows_kept) it is
 * a row of p->rows; streaming, it and its oid are copied. */
static int consume_row(struct scan_ctx *sc, struct vrow *w)
{
    struct pass *p = sc->p;
    int c = 1, r;

    if (p->n_dups > 0) {
        const struct vrow *d = p->dups[p->n_dups - 1];
        c = cmp_oids(w->oid, w->oid_len, d->oid, d->oid_len);
        if (c < 0 || (c == 0 && w->pos <= d->pos)) {
            dagd__task_set_err(&sc->err, "raw_orders did not arrive in ORDER_ID order");
            return -EIO;
        }
        if (c > 0 && (r = finish_dups(sc)) < 0) {
            return r;
        }
    }
    if (!w->oid) {
        return finish_row(sc, w); /* a row without ORDER_ID is final */
    }
    if (p->n_dups == p->cap_dups) {
        p->cap_dups = p->cap_dups ? 2 * p->cap_dups : 16;
        p->dups = realloc(p->dups, p->cap_dups * sizeof(*p->dups));
        if (!p->dups) {
            abort();
        }
        if (!p->rows_kept) {
            p->dup_rows = realloc(p->dup_rows, p->cap_dups * sizeof(*p->dup_rows));
            if (!p->dup_rows) {
                abort();
            }
            for (size_t i = 0; i < p->n_dups; i++) {
                p->dups[i] = &p->dup_rows[i];
            }
        }
    }
    if (!p->rows_kept) {
        w->oid = c == 0 ? p->dups[0]->oid : dagd_arena_strndup(&p->oids, w->oid, w->oid_len);
        p->dup_rows[p->n_dups] = *w;
        w = &p->dup_rows[p->n_dups];
    }
    p->dups[p->n_dups++] = w;
    return 0;
}

/* Streaming: the row arrives in order; its text lives until the call returns. */
static void fn_stream_row(sqlite3_context *c, int argc, sqlite3_value **argv)
{
    struct scan_ctx *sc = sqlite3_user_data(c);
    struct vrow w;
    int r = eval_row(sc->p, argv, &w, &sc->err);

    if (r >= 0) {
        sc->p->n_rows++;
        r = consume_row(sc, &w);
    }
    if (r < 0) {
        sc->r = r;
        sqlite3_result_error(c, sc->err ? sc->err : "bad row", -1);
    }
}

/* In memory: keep the evaluated row (its ORDER_ID copied to the arena). */
static void fn_keep_row(sqlite3_context *c, int argc, sqlite3_value **argv)
{
    struct scan_ctx *sc = sqlite3_user_data(c);
    struct pass *p = sc->p;
    struct vrow *w;
    int r;

    if ((size_t)p->n_rows == p->cap_rows && p->rows_fixed) {
        dagd__task_set_err(&sc->err, "raw_orders changed while it was read");
        sc->r = -EIO;
        sqlite3_result_error(c, sc->err, -1);
        return;
    }
    if ((size_t)p->n_rows == p->cap_rows) {
        p->cap_rows = p->cap_rows ? 2 * p->cap_rows : 65536;
        p->rows = realloc(p->rows, p->cap_rows * sizeof(*p->rows));
        if (!p->rows) {
            abort();
        }
    }
    w = &p->rows[p->n_rows];
    r = eval_row(p, argv, w, &sc->err);
    if (r < 0) {
        sc->r = r;
        sqlite3_result_error(c, sc->err ? sc->err : "bad row", -1);
        return;
    }
    if (w->oid) {
        w->oid = dagd_arena_strndup(&p->arena, w->oid, w->oid_len);
    }
    p->n_rows++;
}

/* The full order of two rows of p->rows: (ORDER_ID, load position). */
static int cmp_rows(uint32_t a, uint32_t b, void *userdata)
{
    const struct pass *p = userdata;
    const struct vrow *x = &p->rows[a], *y = &p->rows[b];
    int c = cmp_oids(x->oid, x->oid_len, y->oid, y->oid_len);

    return c ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

/* The in-memory rows in (ORDER_ID, load) order, as indexes into p->rows
 * (malloc'ed, p->n_rows keys). */
static struct dagd_oidsort_key *sort_rows(struct pass *p)
{
    size_t n = (size_t)p->n_rows, skip = SIZE_MAX;
    const char *first = NULL;
    struct dagd_oidsort_key *keys = malloc((n + 1) * sizeof(*keys));
    struct dagd_oidsort_key *tmp = malloc((n + 1) * sizeof(*tmp));

    if (!keys || !tmp) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        const struct vrow *w = &p->rows[i];
        if (w->oid) {
            if (!first) {
                first = w->oid;
                skip = w->oid_len;
            }
            skip = dagd_oidsort_lcp(first, skip, w->oid, w->oid_len);
        }
    }
    for (size_t i = 0; i < n; i++) {
        dagd_oidsort_key_set(&keys[i], p->rows[i].oid, p->rows[i].oid_len, skip, (uint32_t)i);
    }
    dagd_oidsort_sort(keys, tmp, n, cmp_rows, p);
    free(tmp);
    return keys;
}

/* The in-memory rows through consume_row, in (ORDER_ID, load) order. */
static int consume_sorted(struct scan_ctx *sc, const struct dagd_oidsort_key *order)
{
    struct pass *p = sc->p;
    int r = 0;

    for (int64_t i = 0; i < p->n_rows && r >= 0; i++) {
        /* sorted, the rows are visited in random order: ask for them (two
         * cache lines) and their ORDER_ID early; ~25 ms of cache misses at
         * 200k rows otherwise */
        if (i + PREFETCH_ROWS < p->n_rows) {
            const struct vrow *ahead = &p->rows[order[i + PREFETCH_ROWS].idx];
            __builtin_prefetch(ahead);
            __builtin_prefetch((const char *)ahead + 64);
        }
        if (i + PREFETCH_ROWS / 2 < p->n_rows) {
            __builtin_prefetch(p->rows[order[i + PREFETCH_ROWS / 2].idx].oid);
        }
        r = consume_row(sc, &p->rows[order[i].idx]);
    }
    return r >= 0 ? finish_dups(sc) : r;
}

struct producer {
    struct scan_ctx *sc;
    const struct dagd_oidsort_key *order;
};

static void *producer_main(void *userdata)
{
    struct producer *pr = userdata;

    dagd_handoff_finish(pr->sc->p->ho, consume_sorted(pr->sc, pr->order));
    return NULL;
}

/* The in-memory way after the scan: sort, then a second thread runs the
 * dedup and fills batches of orders rows (p->ho) while this one writes the
 * previous batch with SQLite, which is never called from the other thread:
 * dq_exceptions are written at the end. Without a second thread, the same
 * on this one. The caller flushes what is left in p->batch. */
static int consume_in_memory(sqlite3 *db, struct scan_ctx *sc)
{
    struct pass *p = sc->p;
    struct dagd_oidsort_key *order = sort_rows(p);
    struct producer pr = {.sc = sc, .order = order};
    struct dagd_handoff ho;
    char *ferr = NULL;
    pthread_t t;
    void *buf;
    size_t n;
    int r = 0;

    dagd_handoff_init(&ho, sizeof(struct vrow), BATCH_ROWS);
    p->ho = &ho;
    if (pthread_create(&t, NULL, producer_main, &pr) != 0) {
        p->ho = NULL;
        dagd_handoff_done(&ho);
        r = consume_sorted(sc, order);
        free(order);
        return r;
    }
    while ((n = dagd_handoff_take(&ho, &buf)) > 0) {
        if (r >= 0) {
            final_tab = (struct final_tab){.p = p, .rate = p->rate, .rows = buf, .n = n};
            r = step_done(db, p->upsert, "orders", &ferr);
            final_tab = (struct final_tab){0};
            p->n_orders += (int64_t)n;
        }
        if (r < 0) {
            dagd_handoff_stop(&ho); /* the producer ends at its next batch */
        }
        dagd_handoff_release(&ho);
    }
    (void)pthread_join(t, NULL);
    p->ho = NULL;
    if (r < 0) {
        free(sc->err);
        sc->err = ferr; /* what failed first, the write */
        ferr = NULL;
    } else {
        r = ho.r;
    }
    for (size_t i = 0; i < p->n_exc && r >= 0; i++) {
        r = write_exception(db, p->exc, p, p->exc_rows[i], &sc->err);
    }
    free(ferr);
    dagd_handoff_done(&ho);
    free(order);
    return r;
}

/* The integer a one-row query returns, or -1. */
static int64_t query_int64(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t n = -1;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return n;
}

static int progress_cb(void *userdata)
{
    const struct dagd_validate_opts *o = userdata;

    return o->canceled(o->userdata) ? 1 : 0; /* non-zero interrupts the statement */
}

/* The second half of the in-memory scan, on its own connection and thread
 * (scan_halves). */
struct half {
    struct pass q; /* the map shared read-only; its own interning and rows */
    struct scan_ctx sc;
    sqlite3 *db;
    sqlite3_stmt *st;
    int rc;
};

static void *half_main(void *userdata)
{
    struct half *h = userdata;

    h->rc = sqlite3_step(h->st); /* SQLITE_ROW: the count, every row evaluated */
    return NULL;
}

static bool wal_mode(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    bool wal = false;

    if (sqlite3_prepare_v2(db, "PRAGMA main.journal_mode", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const char *m = (const char *)sqlite3_column_text(st, 0);
        wal = m && strcmp(m, "wal") == 0;
    }
    sqlite3_finalize(st);
    return wal;
}

/* Free what the second half's pass owns (its strings move to p's arena). */
static void half_done(struct pass *p, struct half *h)
{
    dagd_arena_move(&p->arena, &h->q.arena);
    dagd_strmap_done(&h->q.interned);
    dagd_strmap_done(&h->q.loc_memo);
    free(h->q.locs);
    free(h->sc.err);
    sqlite3_finalize(h->st);
    (void)sqlite3_close(h->db);
}

/* The in-memory scan in two halves read at once: this thread and
 * connection take the rows before the middle key, a second thread with a
 * second connection (WAL: a reader beside this writer; bronze is not
 * written in this transaction and nobody else can write, so both see the
 * same bronze) the others into the second half of p->rows. SQLite decoding
 * the rows was ~35 of the ~50 ms of a single scan at 200k rows. Returns 1
 * when done (the status of the scan in *ret_rc, sc->r, *ret_e as for one
 * sqlite3_exec), 0 if it cannot be done this way (an in-memory database,
 * few rows, no second connection or thread: nothing was read). */
static int scan_halves(sqlite3 *db, struct pass *p, const struct dagd_validate_opts *o,
                       struct scan_ctx *sc, int64_t n, int *ret_rc, char **ret_e)
{
    const char *path = sqlite3_db_filename(db, "main");
    struct half h = {.q = {.map = p->map,
                           .n_map = p->n_map,
                           .id_index = p->id_index,
                           .id_max = p->id_max,
                           .cities = p->cities,
                           .districts = p->districts,
                           .pairs = p->pairs,
                           .rate = p->rate}};
    sqlite3_stmt *split = NULL, *lower = NULL;
    int64_t half = n / 2, file_id = 0, row_no = 0;
    int rc = SQLITE_ERROR, map[MAX_SOURCES];
    pthread_t t;

    /* WAL only: in a rollback journal the writer may lock readers out */
    if (!path || !*path || n < SCAN_HALVES_MIN_ROWS || !wal_mode(db)) {
        return 0;
    }
    if (sqlite3_prepare_v2(db, dagd_validate_split_sql, -1, &split, NULL) == SQLITE_OK &&
        sqlite3_bind_int64(split, 1, half) == SQLITE_OK && sqlite3_step(split) == SQLITE_ROW) {
        file_id = sqlite3_column_int64(split, 0);
        row_no = sqlite3_column_int64(split, 1);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(split);
    h.sc = (struct scan_ctx){.p = &h.q};
    if (rc != SQLITE_OK || sqlite3_open_v2(path, &h.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                                           NULL) != SQLITE_OK) {
        (void)sqlite3_close(h.db);
        return 0;
    }
    h.sc.db = h.db;
    (void)sqlite3_busy_timeout(h.db, 5000);
    (void)sqlite3_exec(h.db, "PRAGMA mmap_size = " STR(MMAP_BYTES), NULL, NULL, NULL);
    /* no progress handler: canceled() is the host's, asked on this thread
     * only; a cancel interrupts this thread's half, which interrupts the
     * other one */
    if (sqlite3_create_function_v2(h.db, "dq_scan_row", 13, SQLITE_UTF8 | SQLITE_DIRECTONLY, &h.sc,
                                   fn_keep_row, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h.db, dagd_validate_scan_upper_sql, -1, &h.st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, dagd_validate_scan_lower_sql, -1, &lower, NULL) != SQLITE_OK) {
        sqlite3_finalize(lower);
        half_done(p, &h);
        return 0;
    }
    sqlite3_bind_int64(h.st, 1, file_id);
    sqlite3_bind_int64(h.st, 2, row_no);
    sqlite3_bind_int64(lower, 1, file_id);
    sqlite3_bind_int64(lower, 2, row_no);
    /* one array, the halves side by side; neither may move it */
    free(p->rows);
    p->rows = malloc((size_t)n * sizeof(*p->rows));
    if (!p->rows) {
        abort();
    }
    p->cap_rows = (size_t)half;
    p->rows_fixed = h.q.rows_fixed = true;
    h.q.rows = p->rows + half;
    h.q.cap_rows = (size_t)(n - half);
    if (pthread_create(&t, NULL, half_main, &h) != 0) {
        p->cap_rows = (size_t)n;
        p->rows_fixed = false;
        sqlite3_finalize(lower);
        half_done(p, &h);
        return 0;
    }
    rc = sqlite3_step(lower);
    if (rc != SQLITE_ROW) {
        sqlite3_interrupt(h.db); /* no use reading the other half */
    }
    (void)pthread_join(t, NULL);
    rc = rc == SQLITE_ROW ? SQLITE_OK : rc;
    if (rc != SQLITE_OK) {
        *ret_e = sqlite3_mprintf("%s", sqlite3_errmsg(db));
    } else if (h.sc.r < 0) {
        sc->r = h.sc.r;
        free(sc->err);
        sc->err = h.sc.err;
        h.sc.err = NULL;
    } else if (h.rc != SQLITE_ROW) {
        rc = h.rc;
        *ret_e = sqlite3_mprintf("%s", sqlite3_errmsg(h.db));
    } else if (sc->r >= 0 && (p->n_rows != half || h.q.n_rows != n - half)) {
        dagd__task_set_err(&sc->err, "raw_orders changed while it was read");
        sc->r = -EIO;
    }
    /* the second half's sources as this pass numbers them */
    for (size_t i = 0; i < h.q.n_sources && sc->r >= 0 && rc == SQLITE_OK; i++) {
        int r = source_index_of(p, h.q.sources[i], &sc->err);
        if (r < 0) {
            sc->r = r;
        }
        map[i] = r;
    }
    if (sc->r >= 0 && rc == SQLITE_OK) {
        for (int64_t i = 0; i < h.q.n_rows; i++) {
            h.q.rows[i].source = (uint16_t)map[h.q.rows[i].source];
        }
        p->n_rows += h.q.n_rows;
    }
    p->cap_rows = (size_t)n;
    p->rows_fixed = false;
    sqlite3_finalize(lower);
    half_done(p, &h);
    *ret_rc = rc;
    return 1;
}

/* Up to how many bronze rows the in-memory way is taken. */
static int64_t memory_rows_of(const struct dagd_validate_opts *o)
{
    int64_t max_rows = o->memory_rows > 0 ? o->memory_rows : DAGD_VALIDATE_MEMORY_ROWS;

    /* the sort keys of the in-memory way index rows with 32 bits */
    return max_rows < UINT32_MAX ? max_rows : UINT32_MAX;
}

/* orders, dq_exceptions and the counts are written or complete after it. */
static int scan_rows(sqlite3 *db, struct pass *p, const struct dagd_validate_opts *o,
                     char **reterr_msg)
{
    struct scan_ctx sc = {.db = db, .p = p};
    int64_t n = query_int64(db, dagd_validate_count_sql);
    bool stream = o->stream || n > memory_rows_of(o);
    char *e = NULL;
    int rc, r = 0;

    p->rows_kept = !stream;
    p->batch = malloc(BATCH_ROWS * sizeof(*p->batch));
    if (!p->batch) {
        abort();
    }
    if (sqlite3_prepare_v2(db, dagd_validate_exception_sql, -1, &p->exc, NULL) != SQLITE_OK ||
        sqlite3_create_module_v2(db, "dq_final_orders", &final_module,
                                 (void *)dagd_validate_final_vtab_sql, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, dagd_validate_upsert_sql, -1, &p->upsert, NULL) != SQLITE_OK ||
        sqlite3_create_function_v2(db, "dq_scan_row", 13, SQLITE_UTF8 | SQLITE_DIRECTONLY, &sc,
                                   stream ? fn_stream_row : fn_keep_row, NULL, NULL,
                                   NULL) != SQLITE_OK) {
        dagd__task_set_err(reterr_msg, "reading raw_orders: %s", sqlite3_errmsg(db));
        sqlite3_finalize(p->exc);
        sqlite3_finalize(p->upsert);
        p->exc = p->upsert = NULL;
        return -EIO;
    }
    if (stream || !scan_halves(db, p, o, &sc, n, &rc, &e)) {
        rc = sqlite3_exec(db, stream ? dagd_validate_scan_sorted_sql : dagd_validate_scan_sql, NULL,
                          NULL, &e);
    }
    /* unregister: the function points into this stack frame */
    (void)sqlite3_create_function_v2(db, "dq_scan_row", 13, SQLITE_UTF8, NULL, NULL, NULL, NULL,
                                     NULL);
    if (sc.r < 0) {
        r = sc.r;
    } else if (rc == SQLITE_INTERRUPT && o->canceled && o->canceled(o->userdata)) {
        r = -ECANCELED;
    } else if (rc != SQLITE_OK) {
        dagd__task_set_err(reterr_msg, "reading raw_orders: %s", e ? e : sqlite3_errstr(rc));
        r = -EIO;
    } else {
        r = stream ? finish_dups(&sc) : consume_in_memory(db, &sc);
        if (r >= 0) {
            r = flush_orders(db, p, &sc.err);
        }
    }
    if (sc.r < 0 || (r < 0 && r != -ECANCELED && rc == SQLITE_OK)) {
        dagd__task_set_err(reterr_msg, "%s", sc.err ? sc.err : "reading raw_orders failed");
    }
    sqlite3_free(e);
    free(sc.err);
    sqlite3_finalize(p->exc);
    sqlite3_finalize(p->upsert);
    p->exc = p->upsert = NULL;
    return r;
}

static int write_meta(sqlite3 *db, const char *rate, char **reterr_msg)
{
    sqlite3_stmt *st = NULL;
    int r = -EIO;

    if (sqlite3_prepare_v2(db, dagd_validate_meta_sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, rate, -1, SQLITE_STATIC);
        r = step_done(db, st, "warehouse_meta", reterr_msg);
    } else {
        dagd__task_set_err(reterr_msg, "warehouse_meta: %s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return r;
}

static void stage_done(const struct dagd_validate_opts *o, uint64_t n)
{
    if (o->progress) {
        o->progress(o->userdata, n, STAGES);
    }
}

static int run_in_transaction(sqlite3 *db, const struct dagd_validate_opts *o,
                              const struct dagd_dq_rate *rate, struct dagd_validate_stats *stats,
                              char **reterr_msg)
{
    struct pass p = {.rate = rate};
    int r;

    r = exec_sql(db, "schema", dagd_validate_schema_sql, reterr_msg);
    if (r >= 0 && sqlite3_create_function_v2(db, "dq_oid", 1,
                                             SQLITE_UTF8 | SQLITE_DIRECTONLY | SQLITE_DETERMINISTIC,
                                             NULL, fn_oid, NULL, NULL, NULL) != SQLITE_OK) {
        dagd__task_set_err(reterr_msg, "cannot register dq_oid: %s", sqlite3_errmsg(db));
        r = -EIO;
    }
    if (r >= 0) {
        r = load_map(db, &p, reterr_msg);
    }
    if (r >= 0) {
        stage_done(o, 1);
        r = exec_sql(db, "clearing dq tables", dagd_validate_clear_sql, reterr_msg);
    }
    if (r >= 0) {
        r = scan_rows(db, &p, o, reterr_msg);
    }
    if (r >= 0) {
        stage_done(o, 2);
        r = write_summary(db, &p, reterr_msg);
    }
    if (r >= 0) {
        stage_done(o, 3);
        r = prune_orders(db, p.n_orders, reterr_msg);
    }
    if (r >= 0) {
        stage_done(o, 4);
        r = write_groups(db, &p, reterr_msg);
    }
    if (r >= 0) {
        r = write_meta(db, o->usd_rate, reterr_msg);
    }
    if (r >= 0) {
        stage_done(o, 5);
        stats->rows_in = p.n_rows;
        stats->orders = p.n_orders;
        for (size_t s = 0; s < p.n_sources; s++) {
            for (int k = 0; k < _R_MAX; k++) {
                stats->exceptions += p.counts[s][k];
            }
        }
    }
    pass_done(&p);
    return r;
}

int dagd_validate_warehouse(sqlite3 *db, const struct dagd_validate_opts *o,
                            struct dagd_validate_stats *ret_stats, char **reterr_msg)
{
    struct dagd_dq_rate rate;
    struct dagd_validate_stats stats = {0};
    int64_t mmap_was = -1;
    int r;

    if (dagd_dq_rate_parse(o->usd_rate, &rate) < 0) {
        dagd__task_set_err(reterr_msg,
                           "usd_rate '%s' is not a positive decimal number such as 7.10",
                           o->usd_rate ? o->usd_rate : "");
        return -EINVAL;
    }
    r = dagd_dq_sqlite_register(db, &rate);
    if (r < 0) {
        dagd__task_set_err(reterr_msg, "cannot register SQL functions: %s", sqlite3_errmsg(db));
        return r;
    }
    if (query_int64(db, dagd_validate_check_sql) != 3) {
        dagd__task_set_err(reterr_msg,
                           "bronze tables raw_orders, city_district_map, load_files missing "
                           "from the warehouse: run the extract steps first");
        return -ENOENT;
    }
    /* A page cache that holds orders at 200k rows (~15 MB) keeps the upserts
     * off the disk until commit; it also bounds the memory of the sorter that
     * orders big bronze (scan_rows), so it is not bigger. */
    (void)sqlite3_exec(db, "PRAGMA cache_size = -32768", NULL, NULL, NULL);
    /* Bronze read through a memory map is not copied into the page cache:
     * ~20 ms less CPU at 200k rows. Only when the in-memory way is coming:
     * mapped pages count in the RSS, which the streaming way keeps flat. */
    if (!o->stream && query_int64(db, dagd_validate_rows_loaded_sql) <= memory_rows_of(o)) {
        mmap_was = query_int64(db, "PRAGMA mmap_size");
        (void)sqlite3_exec(db, "PRAGMA mmap_size = " STR(MMAP_BYTES), NULL, NULL, NULL);
    }
    if (o->canceled) {
        sqlite3_progress_handler(db, 20000, progress_cb, (void *)o);
    }
    r = exec_sql(db, "begin", "BEGIN IMMEDIATE", reterr_msg);
    if (r >= 0) {
        r = run_in_transaction(db, o, &rate, &stats, reterr_msg);
        if (r >= 0) {
            r = exec_sql(db, "commit", "COMMIT", reterr_msg);
        }
        if (r < 0) {
            (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        }
    }
    if (mmap_was >= 0) {
        char sql[64];
        (void)snprintf(sql, sizeof(sql), "PRAGMA mmap_size = %" PRId64, mmap_was);
        (void)sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    sqlite3_progress_handler(db, 0, NULL, NULL);
    if (r == -EINTR && o->canceled && o->canceled(o->userdata)) {
        r = -ECANCELED;
    } else if (r == -EINTR) {
        r = -EIO;
    }
    if (r >= 0) {
        stage_done(o, STAGES);
        if (ret_stats) {
            *ret_stats = stats;
        }
    }
    return r;
}
