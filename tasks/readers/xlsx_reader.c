/* Streaming .xlsx reader: libzip for the container (zip_entry.c inflates),
 * xml_scan.c for the worksheets and the shared strings, expat for the small
 * parts (relationships, workbook.xml).
 *
 * Layout of a workbook as read here (ECMA-376 part 1, and what Excel,
 * openpyxl and pandas write):
 *   _rels/.rels                 relationship of type .../officeDocument -> the
 *                               workbook part (normally xl/workbook.xml)
 *   xl/workbook.xml             <sheets><sheet name="DATA" r:id="rId1"/>...
 *   xl/_rels/workbook.xml.rels  rId -> worksheet part (absolute "/xl/..." or
 *                               relative to xl/), and the sharedStrings part
 *   xl/sharedStrings.xml        <sst><si><t>text</t></si> or rich text runs
 *                               <si><r><t>a</t></r><r><t>b</t></r></si>;
 *                               phonetic runs <rPh> are not part of the text
 *   xl/worksheets/sheetN.xml    <sheetData><row r="2"><c r="A2" t="s"><v>6</v></c>
 *                               <c r="B2" t="inlineStr"><is><t>x</t></is></c>
 *
 * Performance notes: the scanner reads the inflated chunks where they are
 * (an inflater slot or the caller's memory; it copies only a token cut by a
 * chunk end), so zip data is inflated once and never copied; cell text of a
 * row goes into one reused arena, and cells refer to shared strings in
 * place, so a row costs no allocation once the buffers have grown. On
 * data/sales the scanner made the reader thread 3x cheaper than expat did
 * (tasks/README.md has the figures).
 */
#include "xlsx_reader.h"
#include "xml_scan.h"
#include "zip_dl.h"
#include "zip_entry.h"

#include <errno.h>
#include <expat.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define CHUNK (256u * 1024u)
#define MAX_CELL_TEXT (4u * 1024u * 1024u) /* Excel's own limit is 32767 chars */
#define MAX_ROW_TEXT (64u * 1024u * 1024u)
#define MAX_SHARED_BYTES (UINT32_C(0xFFFFFFF0)) /* offsets are uint32_t */
#define MAX_SHARED_HINT (1u << 22)              /* pre-size at most 4M entries from uniqueCount */
#define MAX_PART_NAME 1024
#define MAX_SHEETS 4096

struct sheet_entry {
    char *name;
    char *rid;
    char *part; /* resolved zip entry name, or NULL when the rel is missing */
};

struct dagd_xlsx {
    zip_t *za;
    char *workbook_part;
    struct sheet_entry *sheets;
    size_t n_sheets;

    /* Shared strings: NUL-terminated strings back to back in one arena;
     * sst_off[i] is where string i starts, sst_off[n] the end. */
    char *sst;
    size_t sst_len, sst_cap;
    uint32_t *sst_off;
    size_t sst_n, sst_off_cap;
};

/* Common head of every parse state: lets handlers report an error and stop. */
struct xml_ctx {
    XML_Parser parser;
    int r;
    char msg[384];
};

static void ctx_fail(struct xml_ctx *c, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Keeps the first error of a parse and stops expat; XML_ParseBuffer then
 * returns an error and feed() reports c->msg instead of expat's text. */
static void ctx_fail(struct xml_ctx *c, int r, const char *fmt, ...)
{
    va_list ap;

    if (c->r != 0) {
        return;
    }
    c->r = r;
    va_start(ap, fmt);
    (void)vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
    va_end(ap);
    (void)XML_StopParser(c->parser, XML_FALSE);
}

static int set_err(char *err, size_t errlen, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int set_err(char *err, size_t errlen, int r, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen > 0) {
        va_start(ap, fmt);
        (void)vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return r;
}

/* Element and attribute names without a namespace prefix ("x:row" -> "row"). */
static inline const char *local_name(const char *name)
{
    const char *colon = strchr(name, ':');
    return colon ? colon + 1 : name;
}

/* Attribute value by local name, or NULL. */
static const char *attr(const char **atts, const char *want)
{
    for (size_t i = 0; atts[i]; i += 2) {
        if (strcmp(local_name(atts[i]), want) == 0) {
            return atts[i + 1];
        }
    }
    return NULL;
}

/* Grows *buf so that `need` more bytes fit after *len. */
/* Makes room for `need` more bytes, doubling; -E2BIG past `limit`. All
 * sizes come from the input, so they are bounded before allocating. */
static int grow(char **buf, size_t *cap, size_t len, size_t need, size_t limit)
{
    size_t want, ncap;
    char *nb;

    if (need > limit || len > limit - need) {
        return -E2BIG;
    }
    want = len + need;
    if (want <= *cap) {
        return 0;
    }
    ncap = *cap ? *cap : 4096;
    while (ncap < want) {
        ncap = ncap > SIZE_MAX / 2 ? want : ncap * 2;
    }
    nb = realloc(*buf, ncap);
    if (!nb) {
        return -ENOMEM;
    }
    *buf = nb;
    *cap = ncap;
    return 0;
}

/* "AB12" in ref[0..len) (not NUL-terminated) -> column 27, row 12. Inline:
 * it runs for every cell. */
static inline int parse_ref_n(const char *ref, size_t len, uint32_t *ret_col, uint64_t *ret_row)
{
    uint32_t col = 0;
    uint64_t row = 0;
    size_t i = 0, letters = 0, digits = 0;

    for (; i < len && ref[i] >= 'A' && ref[i] <= 'Z'; i++) {
        if (++letters > 3) {
            return -EINVAL;
        }
        col = col * 26 + (uint32_t)(ref[i] - 'A' + 1);
    }
    for (; i < len && ref[i] >= '0' && ref[i] <= '9'; i++) {
        if (++digits > 12) {
            return -EINVAL;
        }
        row = row * 10 + (uint64_t)(ref[i] - '0');
    }
    if (letters == 0 || i != len || col > DAGD_XLSX_MAX_COLS) {
        return -EINVAL;
    }
    *ret_col = col - 1;
    if (ret_row) {
        *ret_row = row;
    }
    return 0;
}

int dagd_xlsx_parse_ref(const char *ref, uint32_t *ret_col, uint64_t *ret_row)
{
    return parse_ref_n(ref, strlen(ref), ret_col, ret_row);
}

/* ---------------------------------------------------------------------- */
/* Feeding a part into a parser */

/* Large entries are inflated on a helper thread into a small ring of chunks
 * while the scanner parses the previous ones (inflate + CRC, zip_entry.c, is about a tenth of the
 * cost of a sheet); small entries are read inline. */
#define ASYNC_MIN_SIZE (4u * 1024u * 1024u)
#define ASYNC_SLOTS 4

struct inflater {
    pthread_t th;
    struct dagd_zip_entry *zf;
    pthread_mutex_t mu;
    pthread_cond_t cv_data, cv_space;
    char *buf[ASYNC_SLOTS];
    int64_t len[ASYNC_SLOTS];
    unsigned head, count;
    size_t pos; /* read position in the head slot (consumer only) */
    bool stop;
    char zerr[256];
};

struct source {
    struct dagd_zip_entry *zf; /* either a zip entry ... */
    struct inflater *async;    /* ... (read by a helper thread) ... */
    const char *mem;           /* ... or memory */
    size_t mem_len, mem_pos;
};

/* Helper thread: fills free slots with inflated chunks until EOF (a 0
 * length), an error (-1, zerr set) or stop. zf is used by this thread only. */
static void *inflate_main(void *arg)
{
    struct inflater *in = arg;

    for (;;) {
        unsigned slot;
        int64_t n;

        (void)pthread_mutex_lock(&in->mu);
        while (in->count == ASYNC_SLOTS && !in->stop) {
            (void)pthread_cond_wait(&in->cv_space, &in->mu);
        }
        if (in->stop) {
            (void)pthread_mutex_unlock(&in->mu);
            return NULL;
        }
        slot = (in->head + in->count) % ASYNC_SLOTS;
        (void)pthread_mutex_unlock(&in->mu);

        n = dagd_zip_entry_read(in->zf, in->buf[slot], CHUNK);
        if (n < 0) {
            (void)snprintf(in->zerr, sizeof(in->zerr), "%s", dagd_zip_entry_strerror(in->zf));
        }
        (void)pthread_mutex_lock(&in->mu);
        in->len[slot] = n;
        in->count++;
        (void)pthread_cond_signal(&in->cv_data);
        (void)pthread_mutex_unlock(&in->mu);
        if (n <= 0) {
            return NULL;
        }
    }
}

static void inflater_free(struct inflater *in)
{
    if (!in) {
        return;
    }
    for (unsigned i = 0; i < ASYNC_SLOTS; i++) {
        free(in->buf[i]);
    }
    free(in);
}

/* Starts inflating zf on a helper thread; NULL (read inline) if that fails. */
static struct inflater *inflater_start(struct dagd_zip_entry *zf)
{
    struct inflater *in = calloc(1, sizeof(*in));

    if (!in) {
        return NULL;
    }
    in->zf = zf;
    for (unsigned i = 0; i < ASYNC_SLOTS; i++) {
        in->buf[i] = malloc(CHUNK);
        if (!in->buf[i]) {
            inflater_free(in);
            return NULL;
        }
    }
    (void)pthread_mutex_init(&in->mu, NULL);
    (void)pthread_cond_init(&in->cv_data, NULL);
    (void)pthread_cond_init(&in->cv_space, NULL);
    if (pthread_create(&in->th, NULL, inflate_main, in) != 0) {
        (void)pthread_mutex_destroy(&in->mu);
        (void)pthread_cond_destroy(&in->cv_data);
        (void)pthread_cond_destroy(&in->cv_space);
        inflater_free(in);
        return NULL;
    }
    return in;
}

static void inflater_stop(struct inflater *in)
{
    (void)pthread_mutex_lock(&in->mu);
    in->stop = true;
    (void)pthread_cond_signal(&in->cv_space);
    (void)pthread_mutex_unlock(&in->mu);
    (void)pthread_join(in->th, NULL);
    (void)pthread_mutex_destroy(&in->mu);
    (void)pthread_cond_destroy(&in->cv_data);
    (void)pthread_cond_destroy(&in->cv_space);
    inflater_free(in);
}

/* Parser side: copies from the oldest filled slot; a slot holding EOF or
 * an error is never released, so repeated reads see it again. */
static int64_t inflater_read(struct inflater *in, void *out, size_t n)
{
    unsigned slot;
    int64_t len;
    size_t k;

    (void)pthread_mutex_lock(&in->mu);
    while (in->count == 0) {
        (void)pthread_cond_wait(&in->cv_data, &in->mu);
    }
    slot = in->head;
    (void)pthread_mutex_unlock(&in->mu);
    len = in->len[slot];
    if (len <= 0) {
        return len; /* end (kept, so later reads see it again) or error */
    }
    k = (size_t)len - in->pos;
    if (k > n) {
        k = n;
    }
    memcpy(out, in->buf[slot] + in->pos, k);
    in->pos += k;
    if (in->pos == (size_t)len) {
        in->pos = 0;
        (void)pthread_mutex_lock(&in->mu);
        in->head = (in->head + 1) % ASYNC_SLOTS;
        in->count--;
        (void)pthread_cond_signal(&in->cv_space);
        (void)pthread_mutex_unlock(&in->mu);
    }
    return (int64_t)k;
}

static int64_t source_read(struct source *s, void *buf, size_t n)
{
    if (s->async) {
        return inflater_read(s->async, buf, n);
    }
    if (s->zf) {
        return dagd_zip_entry_read(s->zf, buf, n);
    }
    if (n > s->mem_len - s->mem_pos) {
        n = s->mem_len - s->mem_pos;
    }
    memcpy(buf, s->mem + s->mem_pos, n);
    s->mem_pos += n;
    return (int64_t)n;
}

static const char *source_strerror(struct source *s)
{
    if (s->async) {
        return s->async->zerr;
    }
    return s->zf ? dagd_zip_entry_strerror(s->zf) : "?";
}

/* Pushes a whole part through the parser in CHUNK-sized pieces read
 * straight into expat's buffer (no intermediate copy for inline reads). */
static int feed(struct xml_ctx *c, struct source *s, const char *part, char *err, size_t errlen)
{
    for (;;) {
        void *buf = XML_GetBuffer(c->parser, (int)CHUNK);
        int64_t n;

        if (!buf) {
            return set_err(err, errlen, -ENOMEM, "%s: out of memory", part);
        }
        n = source_read(s, buf, CHUNK);
        if (n < 0) {
            return set_err(err, errlen, -EIO,
                           "%s: cannot read zip entry: %s (truncated or corrupt file)", part,
                           source_strerror(s));
        }
        if (XML_ParseBuffer(c->parser, (int)n, n == 0) == XML_STATUS_ERROR) {
            if (c->r != 0) {
                if (c->msg[0]) {
                    (void)set_err(err, errlen, c->r, "%s: %s", part, c->msg);
                }
                return c->r;
            }
            return set_err(err, errlen, -EINVAL,
                           "%s: malformed XML at line %lu, column %lu (byte %lld): %s", part,
                           (unsigned long)XML_GetCurrentLineNumber(c->parser),
                           (unsigned long)XML_GetCurrentColumnNumber(c->parser),
                           (long long)XML_GetCurrentByteIndex(c->parser),
                           XML_ErrorString(XML_GetErrorCode(c->parser)));
        }
        if (n == 0) {
            return 0;
        }
    }
}

/* Zip entry of a part; names are case-insensitive in OPC, so retry so. */
static int locate(zip_t *za, const char *part, zip_int64_t *ret)
{
    zip_int64_t idx = zip_name_locate(za, part, ZIP_FL_ENC_GUESS);
    if (idx < 0) {
        idx = zip_name_locate(za, part, ZIP_FL_NOCASE);
    }
    if (idx < 0) {
        return -ENOENT;
    }
    *ret = idx;
    return 0;
}

/* Parses zip entry `part` with parser c->parser (handlers set by caller). */
static int parse_part(struct dagd_xlsx *x, const char *part, struct xml_ctx *c, char *err,
                      size_t errlen)
{
    struct source s = {0};
    char zerr[256];
    zip_stat_t st;
    zip_int64_t idx;
    int r;

    if (locate(x->za, part, &idx) < 0) {
        return set_err(err, errlen, -ENOENT, "part %s is missing from the archive", part);
    }
    if (dagd_zip_entry_open(x->za, (zip_uint64_t)idx, &s.zf, zerr, sizeof(zerr)) < 0) {
        return set_err(err, errlen, -EIO,
                       "%s: cannot open zip entry: %s (truncated or corrupt file)", part, zerr);
    }
    if (zip_stat_index(x->za, (zip_uint64_t)idx, 0, &st) == 0 && (st.valid & ZIP_STAT_SIZE) &&
        st.size >= ASYNC_MIN_SIZE) {
        s.async = inflater_start(s.zf);
    }
    r = feed(c, &s, part, err, errlen);
    if (s.async) {
        inflater_stop(s.async);
    }
    (void)dagd_zip_entry_close(s.zf);
    return r;
}

static XML_Parser parser_new(struct xml_ctx *c, void *state)
{
    c->parser = XML_ParserCreate(NULL);
    if (c->parser) {
        XML_SetUserData(c->parser, state);
    }
    return c->parser;
}

/* ---------------------------------------------------------------------- */
/* Relationships and workbook */

struct rel {
    char *id, *type, *target;
};

struct rels_state {
    struct xml_ctx c;
    struct rel *rels;
    size_t n, cap;
};

/* Collects the internal relationships (id, type, target) of a .rels part. */
static void rels_start(void *ud, const char *name, const char **atts)
{
    struct rels_state *s = ud;
    const char *id, *type, *target, *mode;
    struct rel *nr;

    if (strcmp(local_name(name), "Relationship") != 0) {
        return;
    }
    id = attr(atts, "Id");
    type = attr(atts, "Type");
    target = attr(atts, "Target");
    mode = attr(atts, "TargetMode");
    if (!id || !type || !target || (mode && strcmp(mode, "External") == 0)) {
        return;
    }
    if (s->n >= MAX_SHEETS * 4) {
        ctx_fail(&s->c, -E2BIG, "too many relationships");
        return;
    }
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 16;
        nr = realloc(s->rels, ncap * sizeof(*nr));
        if (!nr) {
            ctx_fail(&s->c, -ENOMEM, "out of memory");
            return;
        }
        s->rels = nr;
        s->cap = ncap;
    }
    nr = &s->rels[s->n];
    nr->id = strdup(id);
    nr->type = strdup(type);
    nr->target = strdup(target);
    s->n++;
    if (!nr->id || !nr->type || !nr->target) {
        ctx_fail(&s->c, -ENOMEM, "out of memory");
    }
}

static void rels_done(struct rels_state *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->rels[i].id);
        free(s->rels[i].type);
        free(s->rels[i].target);
    }
    free(s->rels);
    s->rels = NULL;
    s->n = s->cap = 0;
}

/* Reads the relationships part `part`; a missing part is an empty list. */
static int read_rels(struct dagd_xlsx *x, const char *part, struct rels_state *s, char *err,
                     size_t errlen)
{
    zip_int64_t idx;
    int r;

    memset(s, 0, sizeof(*s));
    if (locate(x->za, part, &idx) < 0) {
        return 0;
    }
    if (!parser_new(&s->c, s)) {
        return set_err(err, errlen, -ENOMEM, "out of memory");
    }
    XML_SetStartElementHandler(s->c.parser, rels_start);
    r = parse_part(x, part, &s->c, err, errlen);
    XML_ParserFree(s->c.parser);
    if (r < 0) {
        rels_done(s);
    }
    return r;
}

static bool type_is(const char *type, const char *suffix)
{
    size_t lt = strlen(type), ls = strlen(suffix);
    return lt >= ls && strcmp(type + lt - ls, suffix) == 0;
}

/* Resolves a relationship target against the directory of `from` (a part
 * name): "/xl/a.xml" is absolute, "worksheets/s.xml" and "../x.xml" are
 * relative. Returns a malloc'd part name, or NULL (bad path or OOM). */
/* Part names are zip entry names without a leading slash; ".." segments
 * are resolved textually and may not climb above the root. */
static char *resolve_target(const char *from, const char *target)
{
    char buf[MAX_PART_NAME * 2];
    char *segs[256];
    size_t nseg = 0, out = 0;
    const char *slash;
    char *p, *save = NULL, *res;
    int n;

    if (target[0] == '/') {
        n = snprintf(buf, sizeof(buf), "%s", target + 1);
    } else {
        slash = strrchr(from, '/');
        n = snprintf(buf, sizeof(buf), "%.*s%s%s", slash ? (int)(slash - from) : 0, from,
                     slash ? "/" : "", target);
    }
    if (n < 0 || (size_t)n >= sizeof(buf) || (size_t)n >= MAX_PART_NAME) {
        return NULL;
    }
    for (p = strtok_r(buf, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
        if (strcmp(p, ".") == 0) {
            continue;
        }
        if (strcmp(p, "..") == 0) {
            if (nseg > 0) {
                nseg--;
            }
            continue;
        }
        if (nseg == sizeof(segs) / sizeof(segs[0])) {
            return NULL;
        }
        segs[nseg++] = p;
    }
    res = malloc(MAX_PART_NAME + 1);
    if (!res) {
        return NULL;
    }
    for (size_t i = 0; i < nseg; i++) {
        size_t l = strlen(segs[i]);
        if (out + l + 2 > MAX_PART_NAME) {
            free(res);
            return NULL;
        }
        if (i > 0) {
            res[out++] = '/';
        }
        memcpy(res + out, segs[i], l);
        out += l;
    }
    res[out] = '\0';
    return res;
}

struct wb_state {
    struct xml_ctx c;
    struct dagd_xlsx *x;
    size_t cap;
};

/* xl/workbook.xml: one <sheet name= r:id=> per sheet, in workbook order. */
static void wb_start(void *ud, const char *name, const char **atts)
{
    struct wb_state *s = ud;
    struct dagd_xlsx *x = s->x;
    const char *sname, *rid;

    if (strcmp(local_name(name), "sheet") != 0) {
        return;
    }
    sname = attr(atts, "name");
    rid = NULL;
    for (size_t i = 0; atts[i]; i += 2) {
        /* r:id (any prefix bound to the relationships namespace) */
        if (strchr(atts[i], ':') && strcmp(local_name(atts[i]), "id") == 0) {
            rid = atts[i + 1];
        }
    }
    if (!sname || !rid) {
        ctx_fail(&s->c, -EINVAL, "<sheet> without name or r:id");
        return;
    }
    if (x->n_sheets >= MAX_SHEETS) {
        ctx_fail(&s->c, -E2BIG, "too many sheets");
        return;
    }
    if (x->n_sheets == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 8;
        struct sheet_entry *ns = realloc(x->sheets, ncap * sizeof(*ns));
        if (!ns) {
            ctx_fail(&s->c, -ENOMEM, "out of memory");
            return;
        }
        x->sheets = ns;
        s->cap = ncap;
    }
    x->sheets[x->n_sheets] = (struct sheet_entry){strdup(sname), strdup(rid), NULL};
    x->n_sheets++;
    if (!x->sheets[x->n_sheets - 1].name || !x->sheets[x->n_sheets - 1].rid) {
        ctx_fail(&s->c, -ENOMEM, "out of memory");
    }
}

/* ---------------------------------------------------------------------- */
/* Scanning a big part (xml_scan.c instead of expat) */

/* Error state of a scan: the first error a callback found (with message),
 * or a value the row callback returned (msg empty). */
struct scan_ctx {
    int r;
    char msg[384];
};

static int scan_fail(struct scan_ctx *c, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int scan_fail(struct scan_ctx *c, int r, const char *fmt, ...)
{
    va_list ap;

    if (c->r == 0) {
        c->r = r;
        va_start(ap, fmt);
        (void)vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
        va_end(ap);
    }
    return r;
}

static inline bool name_is(const char *name, size_t len, const char *want, size_t want_len)
{
    /* want_len is a constant once inlined: no libc call */
    return len == want_len && memcmp(name, want, want_len) == 0;
}
#define NAME_IS(name, len, lit) name_is(name, len, lit, sizeof(lit) - 1)

/* Strips a namespace prefix ("x:row" -> "row"). */
static inline const char *local_n(const char *name, size_t *len)
{
    const char *colon = memchr(name, ':', *len);

    if (!colon) {
        return name;
    }
    *len -= (size_t)(colon + 1 - name);
    return colon + 1;
}

/* Inflater side of a zero-copy read: the oldest filled slot (its length,
 * 0 at the end, -1 on error); inflater_release() hands it back. */
static int64_t inflater_peek(struct inflater *in, const char **ret)
{
    int64_t len;

    (void)pthread_mutex_lock(&in->mu);
    while (in->count == 0) {
        (void)pthread_cond_wait(&in->cv_data, &in->mu);
    }
    (void)pthread_mutex_unlock(&in->mu);
    len = in->len[in->head];
    *ret = in->buf[in->head];
    return len;
}

static void inflater_release(struct inflater *in)
{
    (void)pthread_mutex_lock(&in->mu);
    in->head = (in->head + 1) % ASYNC_SLOTS;
    in->count--;
    (void)pthread_cond_signal(&in->cv_space);
    (void)pthread_mutex_unlock(&in->mu);
}

/* Pushes a whole part through the scanner, in place: inflater slots and
 * memory are scanned where they are, inline zip reads go through one
 * CHUNK buffer. `where` adds context to a malformed-XML message (the row),
 * may be NULL. Returns 0, the callbacks' error (c->msg, if any, in err) or
 * the scanner's (with line, column and byte). */
static int scan_source(struct dagd_xml_scan *sc, struct scan_ctx *c, struct source *s,
                       const char *part, void (*where)(void *, char *, size_t), void *ud, char *err,
                       size_t errlen)
{
    char *buf = NULL;
    int r = 0;

    if (s->zf && !s->async && !(buf = malloc(CHUNK))) {
        return set_err(err, errlen, -ENOMEM, "%s: out of memory", part);
    }
    for (;;) {
        const char *p;
        int64_t n;

        if (s->async) {
            n = inflater_peek(s->async, &p);
        } else if (s->zf) {
            n = dagd_zip_entry_read(s->zf, buf, CHUNK);
            p = buf;
        } else {
            n = (int64_t)(s->mem_len - s->mem_pos < CHUNK ? s->mem_len - s->mem_pos : CHUNK);
            p = s->mem + s->mem_pos;
            s->mem_pos += (size_t)n;
        }
        if (n < 0) {
            r = set_err(err, errlen, -EIO,
                        "%s: cannot read zip entry: %s (truncated or corrupt file)", part,
                        source_strerror(s));
            break;
        }
        r = dagd_xml_scan_feed(sc, p, (size_t)n, n == 0);
        if (s->async && n > 0) {
            inflater_release(s->async);
        }
        if (r < 0 || n == 0) {
            break;
        }
    }
    free(buf);
    if (r >= 0 || r == -EIO) {
        return r;
    }
    if (c->r != 0) {
        /* a callback stopped the scan */
        if (c->msg[0]) {
            (void)set_err(err, errlen, c->r, "%s: %s", part, c->msg);
        }
        return c->r;
    }
    if (dagd_xml_scan_error(sc)[0]) {
        uint64_t line, col, byte;
        char ctx[64] = "";
        dagd_xml_scan_position(sc, &line, &col, &byte);
        if (where) {
            where(ud, ctx, sizeof(ctx));
        }
        (void)set_err(err, errlen, r == -ENOMEM ? r : -EINVAL,
                      "%s: %s at line %llu, column %llu (byte %llu)%s: %s", part,
                      r == -EINVAL ? "malformed XML" : "unsupported or oversized XML",
                      (unsigned long long)line, (unsigned long long)col, (unsigned long long)byte,
                      ctx, dagd_xml_scan_error(sc));
        return r == -ENOTSUP ? -EINVAL : r;
    }
    return r;
}

/* Scans zip entry `part` (or `mem`) with handler h. */
static int scan_part(struct dagd_xlsx *x, const char *part, struct source *mem,
                     const struct dagd_xml_handler *h, struct scan_ctx *c,
                     void (*where)(void *, char *, size_t), char *err, size_t errlen)
{
    struct dagd_xml_scan *sc = dagd_xml_scan_new(h);
    struct source s = {0};
    char zerr[256];
    zip_stat_t st;
    zip_int64_t idx;
    int r;

    if (!sc) {
        return set_err(err, errlen, -ENOMEM, "out of memory");
    }
    if (mem) {
        r = scan_source(sc, c, mem, part, where, h->userdata, err, errlen);
        dagd_xml_scan_free(sc);
        return r;
    }
    if (locate(x->za, part, &idx) < 0) {
        dagd_xml_scan_free(sc);
        return set_err(err, errlen, -ENOENT, "part %s is missing from the archive", part);
    }
    if (dagd_zip_entry_open(x->za, (zip_uint64_t)idx, &s.zf, zerr, sizeof(zerr)) < 0) {
        dagd_xml_scan_free(sc);
        return set_err(err, errlen, -EIO,
                       "%s: cannot open zip entry: %s (truncated or corrupt file)", part, zerr);
    }
    if (zip_stat_index(x->za, (zip_uint64_t)idx, 0, &st) == 0 && (st.valid & ZIP_STAT_SIZE) &&
        st.size >= ASYNC_MIN_SIZE) {
        s.async = inflater_start(s.zf);
    }
    r = scan_source(sc, c, &s, part, where, h->userdata, err, errlen);
    if (s.async) {
        inflater_stop(s.async);
    }
    (void)dagd_zip_entry_close(s.zf);
    dagd_xml_scan_free(sc);
    return r;
}

/* Leading decimal digits of v (at most 19), or 0. */
static uint64_t leading_number(const char *v, size_t len)
{
    uint64_t n = 0;

    for (size_t i = 0; i < len && i < 19 && v[i] >= '0' && v[i] <= '9'; i++) {
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    return n;
}

/* ---------------------------------------------------------------------- */
/* Shared strings */

static size_t shared_limit = DAGD_XLSX_SHARED_LIMIT_DEFAULT;

void dagd_xlsx_set_shared_limit(size_t bytes)
{
    shared_limit = bytes == 0                 ? DAGD_XLSX_SHARED_LIMIT_DEFAULT
                   : bytes > MAX_SHARED_BYTES ? MAX_SHARED_BYTES
                                              : bytes;
}

struct sst_state {
    struct scan_ctx c;
    struct dagd_xlsx *x;
    bool in_si, in_t, in_rph;
};

static int sst_push_offset(struct dagd_xlsx *x, uint32_t off)
{
    if (x->sst_n + 1 >= x->sst_off_cap) {
        size_t ncap = x->sst_off_cap ? x->sst_off_cap * 2 : 1024;
        uint32_t *no;
        if (ncap > SIZE_MAX / sizeof(*no)) {
            return -ENOMEM;
        }
        no = realloc(x->sst_off, ncap * sizeof(*no));
        if (!no) {
            return -ENOMEM;
        }
        x->sst_off = no;
        x->sst_off_cap = ncap;
    }
    x->sst_off[x->sst_n] = off;
    return 0;
}

/* xl/sharedStrings.xml: one <si> per string; its text is all its <t>
 * runs outside <rPh> (phonetic guides), concatenated. */
static int sst_start(void *ud, const char *name, size_t len, const struct dagd_xml_attr *atts,
                     size_t n_atts)
{
    struct sst_state *s = ud;
    struct dagd_xlsx *x = s->x;
    const char *ln = local_n(name, &len);

    if (len == 1 && ln[0] == 't') {
        s->in_t = s->in_si && !s->in_rph;
    } else if (NAME_IS(ln, len, "si")) {
        s->in_si = true;
        if (sst_push_offset(x, (uint32_t)x->sst_len) < 0) {
            return scan_fail(&s->c, -ENOMEM, "out of memory");
        }
    } else if (NAME_IS(ln, len, "rPh")) {
        s->in_rph = true;
    } else if (NAME_IS(ln, len, "sst")) {
        uint64_t hint = 0;
        for (size_t i = 0; i < n_atts; i++) {
            size_t al = atts[i].name_len;
            const char *an = local_n(atts[i].name, &al);
            if (NAME_IS(an, al, "uniqueCount")) {
                hint = leading_number(atts[i].value, atts[i].value_len);
            }
        }
        if (hint > MAX_SHARED_HINT) {
            hint = MAX_SHARED_HINT; /* bounded before allocating: it is input */
        }
        if (hint + 1 > x->sst_off_cap) {
            uint32_t *no = realloc(x->sst_off, (size_t)(hint + 1) * sizeof(*no));
            if (!no) {
                return scan_fail(&s->c, -ENOMEM, "out of memory");
            }
            x->sst_off = no;
            x->sst_off_cap = (size_t)hint + 1;
        }
    }
    return 0;
}

static int sst_end(void *ud, const char *name, size_t len)
{
    struct sst_state *s = ud;
    struct dagd_xlsx *x = s->x;
    const char *ln = local_n(name, &len);

    if (len == 1 && ln[0] == 't') {
        s->in_t = false;
    } else if (NAME_IS(ln, len, "si") && s->in_si) {
        s->in_si = false;
        if (grow(&x->sst, &x->sst_cap, x->sst_len, 1, shared_limit) < 0) {
            return scan_fail(&s->c, -E2BIG,
                             "shared string table over %zu bytes (extract's max_shared_strings_mb)",
                             shared_limit);
        }
        x->sst[x->sst_len++] = '\0';
        x->sst_n++;
        if (sst_push_offset(x, (uint32_t)x->sst_len) < 0) {
            return scan_fail(&s->c, -ENOMEM, "out of memory");
        }
    } else if (NAME_IS(ln, len, "rPh")) {
        s->in_rph = false;
    }
    return 0;
}

static int sst_text(void *ud, const char *text, size_t len)
{
    struct sst_state *s = ud;
    struct dagd_xlsx *x = s->x;

    if (!s->in_t) {
        return 0;
    }
    /* A shared string is a cell's text: the cell limit applies to it too
     * (sst_off[sst_n] is where the string being read starts). */
    if (x->sst_len - x->sst_off[x->sst_n] + len > MAX_CELL_TEXT) {
        return scan_fail(&s->c, -E2BIG, "shared string %zu over %u bytes (the cell limit)",
                         x->sst_n + 1, MAX_CELL_TEXT);
    }
    if (grow(&x->sst, &x->sst_cap, x->sst_len, len, shared_limit) < 0) {
        return scan_fail(&s->c, -E2BIG,
                         "shared string table over %zu bytes (extract's max_shared_strings_mb)",
                         shared_limit);
    }
    memcpy(x->sst + x->sst_len, text, len);
    x->sst_len += len;
    return 0;
}

static void sst_reset(struct dagd_xlsx *x)
{
    x->sst_len = 0;
    x->sst_n = 0;
}

/* The string number the scan had reached, for a malformed-XML message. */
static void sst_where(void *ud, char *buf, size_t len)
{
    struct sst_state *s = ud;

    (void)snprintf(buf, len, " in string %zu", s->x->sst_n + (s->in_si ? 1 : 0));
}

static int parse_shared(struct dagd_xlsx *x, const char *part, struct source *mem, char *err,
                        size_t errlen)
{
    struct sst_state s = {.x = x};
    struct dagd_xml_handler h = {sst_start, sst_end, sst_text, &s};
    int r;

    sst_reset(x);
    r = scan_part(x, part, mem, &h, &s.c, sst_where, err, errlen);
    if (r < 0) {
        sst_reset(x);
    }
    return r;
}

int dagd_xlsx_parse_shared_xml(struct dagd_xlsx *x, const void *xml, size_t size, char *err,
                               size_t errlen)
{
    struct source mem = {.mem = xml, .mem_len = size};
    return parse_shared(x, "sharedStrings", &mem, err, errlen);
}

/* ---------------------------------------------------------------------- */
/* Sheets */

enum cell_type { T_NUMBER, T_SHARED, T_INLINE, T_STR, T_BOOL, T_ERROR };

struct pending_cell {
    uint32_t col;
    uint32_t kind;
    const char *shared; /* text in the shared table, or NULL: text at off in the row arena */
    uint32_t off, len;
};

struct sheet_state {
    struct scan_ctx c;
    struct dagd_xlsx *x;
    const struct dagd_xlsx_handler *h;
    bool in_data, in_row, in_cell, in_is, in_rph, capture, got_value;
    bool root_seen, prefixed;
    enum cell_type type;
    uint32_t col;
    int64_t last_col;
    uint64_t row_no;
    uint32_t cell_off;
    char cell_ref[24];

    char *text; /* row arena */
    size_t text_len, text_cap;
    struct pending_cell *cells;
    struct dagd_xlsx_cell *out;
    size_t n_cells, cells_cap;
};

static void cell_ref_name(struct sheet_state *s)
{
    char letters[4];
    uint32_t c = s->col + 1;
    int i = 3;

    letters[i] = '\0';
    while (c > 0 && i > 0) {
        letters[--i] = (char)('A' + (c - 1) % 26);
        c = (c - 1) / 26;
    }
    (void)snprintf(s->cell_ref, sizeof(s->cell_ref), "%s%llu", letters + i,
                   (unsigned long long)s->row_no);
}

/* <c r="B2" t="s">: column (from r, else the next one) and value type. */
static int start_cell(struct sheet_state *s, const struct dagd_xml_attr *atts, size_t n_atts)
{
    const struct dagd_xml_attr *ref = NULL, *t = NULL;

    for (size_t i = 0; i < n_atts; i++) {
        if (atts[i].name_len == 1) {
            if (atts[i].name[0] == 'r') {
                ref = &atts[i];
            } else if (atts[i].name[0] == 't') {
                t = &atts[i];
            }
        }
    }
    if (ref) {
        if (parse_ref_n(ref->value, ref->value_len, &s->col, NULL) < 0) {
            return scan_fail(&s->c, -EINVAL, "row %llu: bad cell reference r=\"%.*s\"",
                             (unsigned long long)s->row_no,
                             (int)(ref->value_len > 20 ? 20 : ref->value_len), ref->value);
        }
    } else {
        if (s->last_col + 1 >= (int64_t)DAGD_XLSX_MAX_COLS) {
            return scan_fail(&s->c, -E2BIG, "row %llu: more than %u columns",
                             (unsigned long long)s->row_no, DAGD_XLSX_MAX_COLS);
        }
        s->col = (uint32_t)(s->last_col + 1);
    }
    s->last_col = s->col;
    s->type = T_NUMBER;
    if (t) {
        const char *v = t->value;
        size_t vl = t->value_len;
        if (NAME_IS(v, vl, "s")) {
            s->type = T_SHARED;
        } else if (NAME_IS(v, vl, "inlineStr")) {
            s->type = T_INLINE;
        } else if (NAME_IS(v, vl, "str") || NAME_IS(v, vl, "d")) {
            s->type = T_STR;
        } else if (NAME_IS(v, vl, "b")) {
            s->type = T_BOOL;
        } else if (NAME_IS(v, vl, "e")) {
            s->type = T_ERROR;
        }
    }
    s->in_cell = true;
    s->got_value = false;
    s->cell_off = (uint32_t)s->text_len;
    return 0;
}

/* <row r="7">: the row number (previous + 1 without r). */
static int start_row(struct sheet_state *s, const struct dagd_xml_attr *atts, size_t n_atts)
{
    const struct dagd_xml_attr *ra = NULL;

    for (size_t i = 0; i < n_atts; i++) {
        if (atts[i].name_len == 1 && atts[i].name[0] == 'r') {
            ra = &atts[i];
        }
    }
    if (ra) {
        /* what strtoull took before: leading blanks and '+', then digits */
        const char *v = ra->value;
        size_t i = 0, vl = ra->value_len;
        uint64_t n = 0;
        bool ok;
        while (i < vl && v[i] == ' ') {
            i++;
        }
        if (i < vl && v[i] == '+') {
            i++;
        }
        ok = i < vl;
        for (; ok && i < vl; i++) {
            ok = v[i] >= '0' && v[i] <= '9' && n <= (UINT64_MAX - 9) / 10;
            n = n * 10 + (uint64_t)(v[i] - '0');
        }
        if (!ok || n == 0) {
            return scan_fail(&s->c, -EINVAL, "bad row number r=\"%.*s\" after row %llu",
                             (int)(vl > 20 ? 20 : vl), v, (unsigned long long)s->row_no);
        }
        s->row_no = n;
    } else {
        s->row_no++;
    }
    s->in_row = true;
    s->last_col = -1;
    s->n_cells = 0;
    s->text_len = 0;
    return 0;
}

static int sheet_start(void *ud, const char *name, size_t len, const struct dagd_xml_attr *atts,
                       size_t n_atts)
{
    struct sheet_state *s = ud;
    const char *ln = name;

    if (!s->root_seen) {
        /* Writers either prefix every SpreadsheetML element (x:row) or none;
         * only a prefixed document pays for stripping prefixes. */
        s->root_seen = true;
        s->prefixed = memchr(name, ':', len) != NULL;
    }
    if (s->prefixed) {
        ln = local_n(name, &len);
    }

    switch (ln[0]) {
    case 'c':
        if (len == 1 && s->in_row) {
            return start_cell(s, atts, n_atts);
        }
        break;
    case 'v':
        if (len == 1 && s->in_cell && s->type != T_INLINE) {
            s->capture = true;
            s->got_value = true;
        }
        break;
    case 't':
        if (len == 1 && s->in_is && !s->in_rph) {
            s->capture = true;
            s->got_value = true;
        }
        break;
    case 'i':
        if (len == 2 && ln[1] == 's' && s->in_cell && s->type == T_INLINE) {
            s->in_is = true;
        }
        break;
    case 'r':
        if (NAME_IS(ln, len, "row") && s->in_data) {
            return start_row(s, atts, n_atts);
        } else if (NAME_IS(ln, len, "rPh")) {
            s->in_rph = true;
        }
        break;
    case 's':
        if (NAME_IS(ln, len, "sheetData")) {
            s->in_data = true;
        }
        break;
    case 'd':
        if (NAME_IS(ln, len, "dimension") && s->h->dimension && !s->in_data) {
            for (size_t i = 0; i < n_atts; i++) {
                if (NAME_IS(atts[i].name, atts[i].name_len, "ref")) {
                    const char *v = atts[i].value, *last;
                    size_t vl = atts[i].value_len;
                    uint32_t col;
                    uint64_t row;
                    last = memrchr(v, ':', vl);
                    if (last) {
                        vl -= (size_t)(last + 1 - v);
                        v = last + 1;
                    }
                    if (parse_ref_n(v, vl, &col, &row) == 0 && row > 0) {
                        s->h->dimension(s->h->userdata, row);
                    }
                }
            }
        }
        break;
    default:
        break;
    }
    return 0;
}

/* End of <c>: resolve its value by type. Shared-string cells point into
 * the table (no copy); others keep their text in the row arena, NUL-ended.
 * Blank cells (no <v>/<is>, or an empty number) are not delivered. */
static int finish_cell(struct sheet_state *s)
{
    struct dagd_xlsx *x = s->x;
    struct pending_cell *pc;
    uint32_t len = (uint32_t)(s->text_len - s->cell_off);

    s->in_cell = s->in_is = s->capture = false;
    if (!s->got_value) {
        s->text_len = s->cell_off; /* blank cell: <c r="F7"/> or no <v> */
        return 0;
    }
    if (s->n_cells >= DAGD_XLSX_MAX_COLS) {
        cell_ref_name(s);
        return scan_fail(&s->c, -E2BIG, "row %llu: more than %u cells",
                         (unsigned long long)s->row_no, DAGD_XLSX_MAX_COLS);
    }
    if (s->n_cells == s->cells_cap) {
        size_t ncap = s->cells_cap ? s->cells_cap * 2 : 16;
        struct pending_cell *nc = realloc(s->cells, ncap * sizeof(*nc));
        struct dagd_xlsx_cell *no;
        if (!nc) {
            return scan_fail(&s->c, -ENOMEM, "out of memory");
        }
        s->cells = nc;
        no = realloc(s->out, ncap * sizeof(*no));
        if (!no) {
            return scan_fail(&s->c, -ENOMEM, "out of memory");
        }
        s->out = no;
        s->cells_cap = ncap;
    }
    pc = &s->cells[s->n_cells];
    pc->col = s->col;
    pc->shared = NULL;
    pc->off = s->cell_off;
    pc->len = len;
    switch (s->type) {
    case T_SHARED: {
        uint64_t idx = 0;
        /* no text yet at all: <v></v> in the sheet's first cell */
        const char *p = s->text ? s->text + s->cell_off : "";
        bool ok = len > 0 && len <= 10;
        for (uint32_t i = 0; ok && i < len; i++) {
            ok = p[i] >= '0' && p[i] <= '9';
            idx = idx * 10 + (uint64_t)(p[i] - '0');
        }
        if (!ok || idx >= x->sst_n) {
            cell_ref_name(s);
            return scan_fail(
                &s->c, -EINVAL,
                "cell %s: shared string index \"%.*s\" out of range (the table has %zu strings)",
                s->cell_ref, (int)(len > 16 ? 16 : len), p, x->sst_n);
        }
        s->text_len = s->cell_off;
        pc->kind = DAGD_XLSX_STRING;
        pc->shared = x->sst + x->sst_off[idx];
        pc->len = x->sst_off[idx + 1] - x->sst_off[idx] - 1;
        s->n_cells++;
        return 0;
    }
    case T_INLINE:
    case T_STR:
        pc->kind = DAGD_XLSX_STRING;
        break;
    case T_BOOL:
        pc->kind = DAGD_XLSX_BOOL;
        break;
    case T_ERROR:
        pc->kind = DAGD_XLSX_ERROR;
        break;
    case T_NUMBER:
    default:
        if (len == 0) {
            s->text_len = s->cell_off; /* <v></v>: blank */
            return 0;
        }
        pc->kind = DAGD_XLSX_NUMBER;
        break;
    }
    if (grow(&s->text, &s->text_cap, s->text_len, 1, MAX_ROW_TEXT) < 0) {
        return scan_fail(&s->c, -E2BIG, "row %llu: over %u bytes of text",
                         (unsigned long long)s->row_no, MAX_ROW_TEXT);
    }
    s->text[s->text_len++] = '\0';
    s->n_cells++;
    return 0;
}

/* End of <row>: arena offsets become pointers (the arena is stable now)
 * and the row goes to the caller; a negative return stops the scan. */
static int finish_row(struct sheet_state *s)
{
    int r;

    s->in_row = false;
    if (s->n_cells == 0) {
        return 0;
    }
    for (size_t i = 0; i < s->n_cells; i++) {
        const struct pending_cell *pc = &s->cells[i];
        s->out[i] = (struct dagd_xlsx_cell){
            .col = pc->col,
            .kind = pc->kind,
            .text = pc->shared ? pc->shared : s->text + pc->off,
            .len = pc->len,
        };
    }
    r = s->h->row(s->h->userdata, s->row_no, s->out, s->n_cells);
    if (r < 0) {
        s->c.msg[0] = '\0';
        s->c.r = r;
        return r;
    }
    return 0;
}

static int sheet_end(void *ud, const char *name, size_t len)
{
    struct sheet_state *s = ud;
    const char *ln = s->prefixed ? local_n(name, &len) : name;

    switch (ln[0]) {
    case 'v':
    case 't':
        if (len == 1) {
            s->capture = false;
        }
        break;
    case 'c':
        if (len == 1 && s->in_cell) {
            return finish_cell(s);
        }
        break;
    case 'i':
        if (len == 2 && ln[1] == 's') {
            s->in_is = false;
        }
        break;
    case 'r':
        if (NAME_IS(ln, len, "row") && s->in_row) {
            return finish_row(s);
        } else if (NAME_IS(ln, len, "rPh")) {
            s->in_rph = false;
        }
        break;
    case 's':
        if (NAME_IS(ln, len, "sheetData")) {
            s->in_data = false;
        }
        break;
    default:
        break;
    }
    return 0;
}

static int sheet_text(void *ud, const char *text, size_t len)
{
    struct sheet_state *s = ud;

    if (!s->capture) {
        return 0;
    }
    if (s->text_len - s->cell_off + len > MAX_CELL_TEXT) {
        cell_ref_name(s);
        return scan_fail(&s->c, -E2BIG, "cell %s: text over %u bytes", s->cell_ref, MAX_CELL_TEXT);
    }
    if ((s->text_len + len > s->text_cap || s->text_len + len > MAX_ROW_TEXT) &&
        grow(&s->text, &s->text_cap, s->text_len, len, MAX_ROW_TEXT) < 0) {
        return scan_fail(&s->c, -E2BIG, "row %llu: over %u bytes of text",
                         (unsigned long long)s->row_no, MAX_ROW_TEXT);
    }
    if (len <= 16) {
        /* most values are a few digits: cheaper than a memcpy call */
        for (size_t i = 0; i < len; i++) {
            s->text[s->text_len + i] = text[i];
        }
    } else {
        memcpy(s->text + s->text_len, text, len);
    }
    s->text_len += len;
    return 0;
}

/* The row the scan was in (or had passed), for a malformed-XML message. */
static void sheet_where(void *ud, char *buf, size_t len)
{
    struct sheet_state *s = ud;

    if (s->in_row) {
        (void)snprintf(buf, len, " in row %llu", (unsigned long long)s->row_no);
    } else if (s->row_no > 0) {
        (void)snprintf(buf, len, " after row %llu", (unsigned long long)s->row_no);
    }
}

static int parse_sheet(struct dagd_xlsx *x, const char *part, struct source *mem,
                       const struct dagd_xlsx_handler *h, char *err, size_t errlen)
{
    struct sheet_state s = {.x = x, .h = h};
    struct dagd_xml_handler xh = {sheet_start, sheet_end, sheet_text, &s};
    int r;

    r = scan_part(x, part, mem, &xh, &s.c, sheet_where, err, errlen);
    free(s.text);
    free(s.cells);
    free(s.out);
    return r;
}

int dagd_xlsx_parse_sheet_xml(struct dagd_xlsx *x, const void *xml, size_t size,
                              const struct dagd_xlsx_handler *h, char *err, size_t errlen)
{
    struct dagd_xlsx empty = {0};
    struct source mem = {.mem = xml, .mem_len = size};

    return parse_sheet(x ? x : &empty, "sheet", &mem, h, err, errlen);
}

int dagd_xlsx_read_sheet(struct dagd_xlsx *x, size_t index, const struct dagd_xlsx_handler *h,
                         char *err, size_t errlen)
{
    if (index >= x->n_sheets) {
        return set_err(err, errlen, -ENOENT, "no sheet number %zu", index + 1);
    }
    if (!x->sheets[index].part) {
        return set_err(err, errlen, -EINVAL, "sheet '%s': relationship %s not found in %s rels",
                       x->sheets[index].name, x->sheets[index].rid, x->workbook_part);
    }
    return parse_sheet(x, x->sheets[index].part, NULL, h, err, errlen);
}

/* ---------------------------------------------------------------------- */
/* Opening */

struct dagd_xlsx *dagd_xlsx_new_empty(void)
{
    return calloc(1, sizeof(struct dagd_xlsx));
}

struct dagd_xlsx *dagd_xlsx_free(struct dagd_xlsx *x)
{
    if (!x) {
        return NULL;
    }
    if (x->za) {
        zip_discard(x->za);
    }
    for (size_t i = 0; i < x->n_sheets; i++) {
        free(x->sheets[i].name);
        free(x->sheets[i].rid);
        free(x->sheets[i].part);
    }
    free(x->sheets);
    free(x->workbook_part);
    free(x->sst);
    free(x->sst_off);
    free(x);
    return NULL;
}

static char *rels_part_of(const char *part)
{
    const char *slash = strrchr(part, '/');
    size_t dirlen = slash ? (size_t)(slash - part) : 0;
    const char *base = slash ? slash + 1 : part;
    size_t n = dirlen + strlen(base) + 16;
    char *res = malloc(n);

    if (res) {
        (void)snprintf(res, n, "%.*s%s_rels/%s.rels", (int)dirlen, part, slash ? "/" : "", base);
    }
    return res;
}

/* Package relationships -> workbook part -> its relationships -> sheet
 * parts and the shared strings; falls back to the conventional names when a
 * writer omitted a relationship. */
static int load_workbook(struct dagd_xlsx *x, char *err, size_t errlen)
{
    struct rels_state root, wbrels;
    struct wb_state wb = {.x = x};
    zip_int64_t idx;
    char *rels_part = NULL, *sst_part = NULL;
    int r;

    /* Find the workbook through the package relationships. */
    r = read_rels(x, "_rels/.rels", &root, err, errlen);
    if (r < 0) {
        return r;
    }
    for (size_t i = 0; i < root.n && !x->workbook_part; i++) {
        if (type_is(root.rels[i].type, "/officeDocument")) {
            x->workbook_part = resolve_target("", root.rels[i].target);
        }
    }
    rels_done(&root);
    if (!x->workbook_part || locate(x->za, x->workbook_part, &idx) < 0) {
        free(x->workbook_part);
        x->workbook_part = strdup("xl/workbook.xml");
        if (!x->workbook_part) {
            return set_err(err, errlen, -ENOMEM, "out of memory");
        }
        if (locate(x->za, x->workbook_part, &idx) < 0) {
            return set_err(err, errlen, -ENOENT,
                           "a zip archive but not an xlsx workbook (no xl/workbook.xml)");
        }
    }

    if (!parser_new(&wb.c, &wb)) {
        return set_err(err, errlen, -ENOMEM, "out of memory");
    }
    XML_SetStartElementHandler(wb.c.parser, wb_start);
    r = parse_part(x, x->workbook_part, &wb.c, err, errlen);
    XML_ParserFree(wb.c.parser);
    if (r < 0) {
        return r;
    }

    rels_part = rels_part_of(x->workbook_part);
    if (!rels_part) {
        return set_err(err, errlen, -ENOMEM, "out of memory");
    }
    r = read_rels(x, rels_part, &wbrels, err, errlen);
    free(rels_part);
    if (r < 0) {
        return r;
    }
    for (size_t i = 0; i < x->n_sheets; i++) {
        for (size_t j = 0; j < wbrels.n; j++) {
            if (strcmp(wbrels.rels[j].id, x->sheets[i].rid) == 0) {
                x->sheets[i].part = resolve_target(x->workbook_part, wbrels.rels[j].target);
                break;
            }
        }
    }
    for (size_t j = 0; j < wbrels.n && !sst_part; j++) {
        if (type_is(wbrels.rels[j].type, "/sharedStrings")) {
            sst_part = resolve_target(x->workbook_part, wbrels.rels[j].target);
        }
    }
    rels_done(&wbrels);
    if (!sst_part) {
        /* No relationship: Excel's default name, if present. */
        sst_part = resolve_target(x->workbook_part, "sharedStrings.xml");
        if (sst_part && locate(x->za, sst_part, &idx) < 0) {
            free(sst_part);
            sst_part = NULL;
        }
    }
    if (sst_part && locate(x->za, sst_part, &idx) < 0) {
        /* a dangling relationship: no shared strings (a t="s" cell then fails) */
        free(sst_part);
        sst_part = NULL;
    }
    if (sst_part) {
        r = parse_shared(x, sst_part, NULL, err, errlen);
        free(sst_part);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

/* libzip is opened with the first workbook (lib/zip). */
static int load_zip(char *err, size_t errlen)
{
    char *why = NULL;
    if (dagd_zip_load(&why) < 0) {
        int r = set_err(err, errlen, -ELIBACC, "%s", why ? why : "cannot load libzip");
        free(why);
        return r;
    }
    return 0;
}

static int open_common(zip_t *za, struct dagd_xlsx **ret, char *err, size_t errlen)
{
    struct dagd_xlsx *x = dagd_xlsx_new_empty();
    int r;

    if (!x) {
        zip_discard(za);
        return set_err(err, errlen, -ENOMEM, "out of memory");
    }
    x->za = za;
    r = load_workbook(x, err, errlen);
    if (r < 0) {
        dagd_xlsx_free(x);
        return r;
    }
    *ret = x;
    return 0;
}

/* libzip error codes -> -errno and a message that says what the user
 * should suspect (a truncated file, or not a workbook at all). */
static int zip_open_error(int ze, char *err, size_t errlen)
{
    zip_error_t e;
    int r;

    zip_error_init_with_code(&e, ze);
    switch (ze) {
    case ZIP_ER_NOZIP:
    case ZIP_ER_INCONS:
    case ZIP_ER_SEEK:
    case ZIP_ER_READ:
        r = set_err(err, errlen, -EBADMSG,
                    "not a valid zip archive (%s): truncated, or not an xlsx file",
                    zip_error_strerror(&e));
        break;
    case ZIP_ER_OPEN:
    case ZIP_ER_NOENT:
        r = set_err(err, errlen, -ENOENT, "cannot open: %s", zip_error_strerror(&e));
        break;
    case ZIP_ER_MEMORY:
        r = set_err(err, errlen, -ENOMEM, "out of memory");
        break;
    default:
        r = set_err(err, errlen, -EBADMSG, "cannot open as zip archive: %s",
                    zip_error_strerror(&e));
        break;
    }
    zip_error_fini(&e);
    return r;
}

int dagd_xlsx_open(const char *path, struct dagd_xlsx **ret, char *err, size_t errlen)
{
    int ze = 0;
    struct stat st;
    zip_t *za;
    int r;

    if (stat(path, &st) < 0) {
        return set_err(err, errlen, -errno, "cannot open: %s", strerror(errno));
    }
    if (st.st_size == 0) {
        return set_err(err, errlen, -EBADMSG, "empty file (0 bytes): not an xlsx workbook");
    }
    if ((r = load_zip(err, errlen)) < 0) {
        return r;
    }
    za = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!za) {
        return zip_open_error(ze, err, errlen);
    }
    return open_common(za, ret, err, errlen);
}

int dagd_xlsx_open_buffer(const void *data, size_t size, struct dagd_xlsx **ret, char *err,
                          size_t errlen)
{
    zip_error_t ze;
    zip_source_t *src;
    zip_t *za;
    int r;

    if (size == 0) {
        return set_err(err, errlen, -EBADMSG, "empty file (0 bytes): not an xlsx workbook");
    }
    if ((r = load_zip(err, errlen)) < 0) {
        return r;
    }
    zip_error_init(&ze);
    src = zip_source_buffer_create(data, size, 0, &ze);
    if (!src) {
        zip_error_fini(&ze);
        return set_err(err, errlen, -ENOMEM, "out of memory");
    }
    za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!za) {
        r = zip_open_error(zip_error_code_zip(&ze), err, errlen);
        zip_source_free(src);
        zip_error_fini(&ze);
        return r;
    }
    zip_error_fini(&ze);
    return open_common(za, ret, err, errlen);
}

size_t dagd_xlsx_sheet_count(const struct dagd_xlsx *x)
{
    return x->n_sheets;
}

const char *dagd_xlsx_sheet_name(const struct dagd_xlsx *x, size_t i)
{
    return i < x->n_sheets ? x->sheets[i].name : NULL;
}

int dagd_xlsx_find_sheet(const struct dagd_xlsx *x, const char *name)
{
    for (size_t i = 0; i < x->n_sheets; i++) {
        if (strcmp(x->sheets[i].name, name) == 0) {
            return (int)i;
        }
    }
    for (size_t i = 0; i < x->n_sheets; i++) {
        if (strcasecmp(x->sheets[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -ENOENT;
}

size_t dagd_xlsx_shared_count(const struct dagd_xlsx *x)
{
    return x->sst_n;
}
