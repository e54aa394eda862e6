/* CSV push parser: a byte state machine that copies field bytes into one
 * per-record arena (fields may span chunks), with a memchr-free fast path
 * for plain unquoted bytes. */
#include "csv_reader.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_RECORD_BYTES (64u * 1024u * 1024u)
#define MAX_FIELDS 16384u

enum state {
    S_FIELD_START, /* at the start of a field */
    S_UNQUOTED,
    S_QUOTED,
    S_QUOTE, /* a '"' inside a quoted field: "" or the end of the field */
};

struct span {
    size_t off, len;
    bool quoted;
};

struct dagd_csv_reader {
    dagd_csv_record_fn fn;
    void *userdata;
    char delim; /* ',' unless set */
    /* stop[c]: byte c ends a run of unquoted field text (the delimiter,
     * CR, LF, '"'): one table lookup per byte in the hot loop instead of
     * four compares (callgrind: the scan was a fifth of the reader) */
    bool stop[256];
    enum state st;
    bool skip_lf;     /* after a CR ending a record */
    unsigned bom_pos; /* bytes of a leading BOM seen; 3 = done */
    bool dead;
    uint64_t offset; /* bytes consumed */
    uint64_t line;   /* current line (1-based) */
    uint64_t rec_line, rec_offset, quote_offset;
    uint64_t records;

    char *buf;
    size_t len, cap;
    struct span *spans;
    struct dagd_csv_field *fields;
    size_t n, spans_cap;
    size_t field_off;
    bool field_quoted;
    bool in_record;

    int r;
    char err[256];
};

static int fail(struct dagd_csv_reader *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct dagd_csv_reader *r, int code, const char *fmt, ...)
{
    va_list ap;

    r->dead = true;
    r->r = code;
    va_start(ap, fmt);
    (void)vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
    return code;
}

/* Grows the record arena for n more bytes (and a NUL), bounded by
 * MAX_RECORD_BYTES (one runaway quoted field must not eat the memory). */
static __attribute__((noinline)) int grow(struct dagd_csv_reader *r, size_t n)
{
    size_t ncap = r->cap ? r->cap : 4096;
    char *nb;

    if (r->len + n + 1 > MAX_RECORD_BYTES) {
        return fail(r, -E2BIG, "line %llu: record larger than %u bytes",
                    (unsigned long long)r->rec_line, MAX_RECORD_BYTES);
    }
    while (ncap < r->len + n + 1) {
        ncap *= 2;
    }
    nb = realloc(r->buf, ncap);
    if (!nb) {
        return fail(r, -ENOMEM, "out of memory");
    }
    r->buf = nb;
    r->cap = ncap;
    return 0;
}

/* Appends n bytes of field text to the record arena. Inline: it runs for
 * every field, and the arena rarely has to grow. */
static inline int put(struct dagd_csv_reader *r, const char *p, size_t n)
{
    int e;

    if (r->len + n + 1 > r->cap && (e = grow(r, n)) < 0) {
        return e;
    }
    memcpy(r->buf + r->len, p, n);
    r->len += n;
    return 0;
}

/* Closes the current field: records its span and NUL-terminates it, so
 * the loader can parse numbers in place. */
static int end_field(struct dagd_csv_reader *r)
{
    int e;

    if (r->n >= MAX_FIELDS) {
        return fail(r, -E2BIG, "line %llu: more than %u fields", (unsigned long long)r->rec_line,
                    MAX_FIELDS);
    }
    if (r->n == r->spans_cap) {
        size_t ncap = r->spans_cap ? r->spans_cap * 2 : 16;
        struct span *ns = realloc(r->spans, ncap * sizeof(*ns));
        struct dagd_csv_field *nf;
        if (!ns) {
            return fail(r, -ENOMEM, "out of memory");
        }
        r->spans = ns;
        nf = realloc(r->fields, ncap * sizeof(*nf));
        if (!nf) {
            return fail(r, -ENOMEM, "out of memory");
        }
        r->fields = nf;
        r->spans_cap = ncap;
    }
    r->spans[r->n] = (struct span){r->field_off, r->len - r->field_off, r->field_quoted};
    r->n++;
    if (r->len + 1 < r->cap) {
        r->buf[r->len++] = '\0'; /* the common case, without put()'s call */
    } else if ((e = put(r, "", 1)) < 0) {
        return e;
    }
    r->field_off = r->len;
    r->field_quoted = false;
    return 0;
}

/* Closes the current record and hands it to the callback; a record that
 * is a single empty unquoted field is a blank line and is skipped. Spans are
 * turned into pointers only here, because the arena may move while it grows. */
static int end_record(struct dagd_csv_reader *r)
{
    int e = end_field(r);

    if (e < 0) {
        return e;
    }
    if (!(r->n == 1 && r->spans[0].len == 0 && !r->spans[0].quoted)) {
        for (size_t i = 0; i < r->n; i++) {
            r->fields[i] = (struct dagd_csv_field){r->buf + r->spans[i].off, r->spans[i].len,
                                                   r->spans[i].quoted};
        }
        r->records++;
        e = r->fn(r->userdata, r->records, r->rec_line, r->fields, r->n);
        if (e < 0) {
            r->dead = true;
            r->r = e;
            r->err[0] = '\0';
            return e;
        }
    }
    r->n = 0;
    r->len = 0;
    r->field_off = 0;
    r->in_record = false;
    return 0;
}

/* The first byte at or after i that ends a run of unquoted field text
 * (r->stop: the delimiter, CR, LF, '"'), or n. With SSE2 (every x86-64)
 * 16 bytes are compared at once: most fields end within the first 16, so
 * a field costs one step instead of one per byte (perf on
 * tests/bench/pg_load: the byte loop was two thirds of the reader's feed). */
static size_t scan_unquoted(const struct dagd_csv_reader *r, const char *p, size_t i, size_t n)
{
#ifdef __SSE2__
    const __m128i d = _mm_set1_epi8(r->delim), q = _mm_set1_epi8('"');
    const __m128i lf = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r');

    while (n - i >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, d), _mm_cmpeq_epi8(v, q)),
                                   _mm_or_si128(_mm_cmpeq_epi8(v, lf), _mm_cmpeq_epi8(v, cr)));
        unsigned mask = (unsigned)_mm_movemask_epi8(hit);
        if (mask) {
            return i + (size_t)__builtin_ctz(mask);
        }
        i += 16;
    }
#endif
    while (i < n && !r->stop[(unsigned char)p[i]]) {
        i++;
    }
    return i;
}

/* The state survives between calls, so a field, a quote pair ("") or a
 * CRLF may be split across chunks anywhere. Plain bytes are copied in runs
 * (the inner scans) rather than one state transition at a time. */
int dagd_csv_reader_feed(struct dagd_csv_reader *r, const void *data, size_t n)
{
    const char *p = data;
    size_t i = 0;
    int e;

    if (r->dead) {
        return r->r;
    }
    /* Skip a UTF-8 byte order mark, even when split across chunks. */
    while (r->bom_pos < 3 && i < n) {
        if ((unsigned char)p[i] != (unsigned char)"\xEF\xBB\xBF"[r->bom_pos]) {
            if (r->bom_pos > 0 && (e = put(r, "\xEF\xBB\xBF", r->bom_pos)) < 0) {
                return e; /* a partial mark is data */
            }
            if (r->bom_pos > 0) {
                r->in_record = true;
                r->st = S_UNQUOTED;
            }
            r->bom_pos = 3;
            break;
        }
        r->bom_pos++;
        i++;
    }
    while (i < n) {
        char c = p[i];

        if (r->skip_lf) {
            r->skip_lf = false;
            if (c == '\n') {
                i++;
                continue;
            }
        }
        if (!r->in_record) {
            r->in_record = true;
            r->rec_line = r->line;
            r->rec_offset = r->offset + i;
        }
        switch (r->st) {
        case S_FIELD_START:
            if (c == '"') {
                r->st = S_QUOTED;
                r->field_quoted = true;
                r->quote_offset = r->offset + i;
                i++;
                continue;
            }
            r->st = S_UNQUOTED;
            /* fall through */
        case S_UNQUOTED: {
            size_t j = scan_unquoted(r, p, i, n);
            if (j > i && (e = put(r, p + i, j - i)) < 0) {
                return e;
            }
            i = j;
            if (i == n) {
                continue;
            }
            c = p[i++];
            if (c == '"') {
                return fail(r, -EINVAL,
                            "line %llu (byte offset %llu): '\"' inside an unquoted field",
                            (unsigned long long)r->line, (unsigned long long)(r->offset + i - 1));
            }
            if (c == r->delim) {
                e = end_field(r);
                r->st = S_FIELD_START;
            } else {
                r->skip_lf = c == '\r';
                r->line++;
                r->st = S_FIELD_START;
                e = end_record(r);
            }
            if (e < 0) {
                return e;
            }
            continue;
        }
        case S_QUOTED: {
            const char *q = memchr(p + i, '"', n - i);
            size_t j = q ? (size_t)(q - p) : n;
            for (const char *nl = p + i; (nl = memchr(nl, '\n', (size_t)(p + j - nl))); nl++) {
                r->line++;
            }
            if (j > i && (e = put(r, p + i, j - i)) < 0) {
                return e;
            }
            i = j;
            if (i < n) {
                r->st = S_QUOTE;
                i++;
            }
            continue;
        }
        case S_QUOTE:
            i++;
            if (c == '"') {
                if ((e = put(r, "\"", 1)) < 0) {
                    return e;
                }
                r->st = S_QUOTED;
            } else if (c == r->delim) {
                r->st = S_FIELD_START;
                if ((e = end_field(r)) < 0) {
                    return e;
                }
            } else if (c == '\n' || c == '\r') {
                r->skip_lf = c == '\r';
                r->line++;
                r->st = S_FIELD_START;
                if ((e = end_record(r)) < 0) {
                    return e;
                }
            } else {
                return fail(
                    r, -EINVAL,
                    "line %llu (byte offset %llu): unexpected character after a closing quote",
                    (unsigned long long)r->line, (unsigned long long)(r->offset + i - 1));
            }
            continue;
        }
    }
    r->offset += n;
    return 0;
}

/* The last record may lack a line end; an open quote at EOF means the
 * file was cut (or a quote is missing): report where it opened. */
int dagd_csv_reader_finish(struct dagd_csv_reader *r)
{
    if (r->dead) {
        return r->r;
    }
    if (r->st == S_QUOTED) {
        return fail(
            r, -EINVAL,
            "truncated CSV: quoted field opened at line %llu (byte offset %llu) is not closed",
            (unsigned long long)r->rec_line, (unsigned long long)r->quote_offset);
    }
    if (r->in_record) {
        int e = end_record(r);
        if (e < 0) {
            return e;
        }
    }
    r->dead = true;
    r->r = 0;
    return 0;
}

struct dagd_csv_reader *dagd_csv_reader_new(dagd_csv_record_fn fn, void *userdata)
{
    struct dagd_csv_reader *r = calloc(1, sizeof(*r));

    if (!r) {
        return NULL;
    }
    r->fn = fn;
    r->userdata = userdata;
    r->line = 1;
    r->stop[(unsigned char)'\n'] = r->stop[(unsigned char)'\r'] = r->stop[(unsigned char)'"'] =
        true;
    r->delim = ',';
    r->stop[(unsigned char)','] = true;
    return r;
}

int dagd_csv_reader_set_delimiter(struct dagd_csv_reader *r, char delim)
{
    if (delim == '"' || delim == '\n' || delim == '\r' || delim == '\0' || r->offset > 0 ||
        r->bom_pos > 0) {
        return -EINVAL;
    }
    r->stop[(unsigned char)r->delim] = false;
    r->delim = delim;
    r->stop[(unsigned char)delim] = true;
    return 0;
}

uint64_t dagd_csv_reader_offset(const struct dagd_csv_reader *r)
{
    return r->offset;
}

struct dagd_csv_reader *dagd_csv_reader_free(struct dagd_csv_reader *r)
{
    if (r) {
        free(r->buf);
        free(r->spans);
        free(r->fields);
        free(r);
    }
    return NULL;
}

const char *dagd_csv_reader_error(const struct dagd_csv_reader *r)
{
    return r->err;
}

uint64_t dagd_csv_reader_records(const struct dagd_csv_reader *r)
{
    return r->records;
}
