/* Streaming XML tokenizer (see xml_scan.h for what it accepts).
 *
 * How a chunk is scanned: scan_region() walks the bytes once, with a
 * 256-entry class table per context (text, attribute value, name), so an
 * ordinary byte costs one load and one compare. It stops at the first
 * token the region does not hold completely (a tag, a reference, a UTF-8
 * sequence, a "\r" or "]]" that needs the next byte) and says how far it
 * got; feed() keeps that tail in the carry buffer and, on the next call,
 * appends a growing window of new bytes to it until the token is complete,
 * then goes back to scanning the caller's chunk in place. So bytes are
 * copied only around chunk boundaries, and a long text or comment is never
 * held: it is handed out (or skipped) up to the end of each chunk.
 *
 * Positions: `base` is the document offset of the region being scanned and
 * `line`/`line_start` count the newlines before it; consumed bytes are
 * counted with memchr, so an error can say line and column.
 */
#include "xml_scan.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NEED_MORE 1               /* a step's result: the region ends inside a token */
#define MAX_REF 32                /* "&#x0000010FFFF;" and the like, leading zeros included */
#define MAX_NAMES (1024u * 1024u) /* bytes of open element names */
#define WINDOW 4096u              /* first window of new bytes appended to a carried token */

enum mode {
    M_CONTENT, /* text and markup */
    M_COMMENT, /* inside <!-- --> */
    M_CDATA,   /* inside <![CDATA[ ]]> */
    M_PI,      /* inside <? ?>, after the target */
};

/* How the bytes are encoded (XML 1.0 4.3.3, appendix F): UTF-8 is scanned
 * as it is, the others are first transcoded to UTF-8 (feed_transcoded). */
enum encoding {
    ENC_UTF8,
    ENC_UTF16LE,
    ENC_UTF16BE,
    ENC_LATIN1, /* declared ISO-8859-1: switched to after the declaration */
};

struct dagd_xml_scan {
    struct dagd_xml_handler h;
    enum mode mode;
    enum encoding enc;
    bool enc_known;       /* the first two bytes were looked at */
    bool enc_switched;    /* the declaration just switched to ENC_LATIN1 */
    unsigned char pre[4]; /* bytes not transcoded yet (first bytes, a cut UTF-16 unit) */
    size_t pre_len;
    char *conv; /* transcoded bytes of the current feed */
    size_t conv_cap;
    bool started;     /* the byte order mark check is done */
    bool root_seen;   /* the root start tag was seen */
    uint64_t decl_at; /* where an XML declaration may be: 0, or 3 after a BOM */
    int err;
    char msg[256];

    /* the unconsumed tail of earlier feeds (an incomplete token) */
    char *carry;
    size_t carry_len, carry_cap;

    /* open elements: names back to back, name_end[i] is where the name of
     * depth i+1 ends */
    char *names;
    size_t names_cap;
    size_t depth;
    uint32_t name_end[DAGD_XML_MAX_DEPTH];

    struct dagd_xml_attr attrs[DAGD_XML_MAX_ATTRS];
    bool attr_raw[DAGD_XML_MAX_ATTRS]; /* the value needs decoding */
    char *scratch;                     /* decoded attribute values */
    size_t scratch_cap;

    uint64_t base;       /* document offset of the region being scanned */
    uint64_t line;       /* 1 + newlines before base */
    uint64_t line_start; /* document offset after the last newline before base */
    uint64_t err_line, err_col, err_byte;
};

/* Byte classes. Text: everything that is not plain ASCII stops the fast
 * loop. */
enum { C_PLAIN = 0, C_LT, C_AMP, C_CR, C_RSQB, C_CTL, C_HIGH, C_QUOT, C_APOS, C_WS };

#define CTL_RANGE                                                                                  \
    [0x00 ... 0x08] = C_CTL, [0x0B ... 0x0C] = C_CTL, [0x0E ... 0x1F] = C_CTL, [0x7F] = C_PLAIN,   \
              [0x80 ... 0xFF] = C_HIGH

static const unsigned char text_class[256] = {
    CTL_RANGE, ['<'] = C_LT, ['&'] = C_AMP, ['\r'] = C_CR, [']'] = C_RSQB,
};

/* Attribute values: the quotes end them, \t \n \r are normalized to spaces. */
static const unsigned char attr_class[256] = {
    CTL_RANGE,       ['<'] = C_LT,  ['&'] = C_AMP, ['"'] = C_QUOT,
    ['\''] = C_APOS, ['\t'] = C_WS, ['\n'] = C_WS, ['\r'] = C_WS,
};

/* Names: 1 may start a name, 2 only continue it, 3 non-ASCII (any valid
 * UTF-8 character is taken, a superset of XML's NameChar). */
static const unsigned char name_class[256] = {
    ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['_'] = 1, [':'] = 1,
    ['0' ... '9'] = 2, ['-'] = 2,         ['.'] = 2, [0x80 ... 0xFF] = 3,
};

static inline bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* ---------------------------------------------------------------------- */
/* Errors and positions */

static void count_lines(uint64_t *line, uint64_t *line_start, uint64_t base, const char *p,
                        size_t n)
{
    const char *q = p, *end = p + n;

    while ((q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
        (*line)++;
        q++;
        *line_start = base + (uint64_t)(q - p);
    }
}

static int fail_at(struct dagd_xml_scan *s, const char *p, size_t at, int r, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Records the first error, found at p[at] of the region being scanned. */
static int fail_at(struct dagd_xml_scan *s, const char *p, size_t at, int r, const char *fmt, ...)
{
    uint64_t line = s->line, line_start = s->line_start;
    va_list ap;

    if (s->err != 0) {
        return s->err;
    }
    count_lines(&line, &line_start, s->base, p, at);
    s->err = r;
    s->err_line = line;
    s->err_byte = s->base + at;
    s->err_col = s->err_byte - line_start + 1;
    if (fmt) {
        va_start(ap, fmt);
        (void)vsnprintf(s->msg, sizeof(s->msg), fmt, ap);
        va_end(ap);
    } else {
        s->msg[0] = '\0';
    }
    return r;
}

/* A callback's negative return: kept as the scanner's result, no message. */
static int cb_fail(struct dagd_xml_scan *s, const char *p, size_t at, int r)
{
    return fail_at(s, p, at, r, NULL);
}

/* ---------------------------------------------------------------------- */
/* Characters */

/* Length of the UTF-8 sequence at p if it encodes an XML Char (RFC 3629:
 * no overlong forms, no surrogates, at most U+10FFFF; XML 1.0 2.2: not
 * U+FFFE or U+FFFF); 0 if the n bytes end inside it; -1 if invalid. */
static int utf8_char(const unsigned char *p, size_t n)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xBF;
    int len;

    if (c < 0xC2) {
        return -1; /* ASCII is not asked about; 0x80..0xC1 never start a sequence */
    } else if (c < 0xE0) {
        len = 2;
    } else if (c < 0xF0) {
        len = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c < 0xF5) {
        len = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return -1;
    }
    for (int i = 1; i < len; i++) {
        if ((size_t)i >= n) {
            return 0;
        }
        if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xBF)) {
            return -1;
        }
    }
    if (c == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF)) {
        return -1; /* U+FFFE, U+FFFF */
    }
    return len;
}

static bool xml_char(uint32_t cp)
{
    return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
           (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

static size_t utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The reference at p ('&') with n bytes available: writes its UTF-8 to out
 * (4 bytes room) and returns the bytes it spans; 0 when the region ends
 * before its ';'; -1 malformed, -2 undefined entity name, -3 not an XML
 * Char. */
static int reference(const char *p, size_t n, char *out, size_t *ret_len)
{
    const char *semi = memchr(p, ';', n < MAX_REF ? n : MAX_REF);
    size_t len;

    if (!semi) {
        return n < MAX_REF ? 0 : -1;
    }
    len = (size_t)(semi - p) + 1; /* "&...;" */
    if (p[1] == '#') {
        uint32_t cp = 0;
        bool hex = p[2] == 'x';
        size_t i = hex ? 3 : 2;
        if (i == len - 1) {
            return -1; /* "&#;" or "&#x;" */
        }
        for (; i < len - 1; i++) {
            char c = p[i];
            uint32_t d;
            if (c >= '0' && c <= '9') {
                d = (uint32_t)(c - '0');
            } else if (hex && ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')) {
                d = (uint32_t)((c | 0x20) - 'a' + 10);
            } else {
                return -1;
            }
            cp = cp * (hex ? 16 : 10) + d;
            if (cp > 0x10FFFF) {
                return -3;
            }
        }
        if (!xml_char(cp)) {
            return -3;
        }
        *ret_len = utf8_put(cp, out);
        return (int)len;
    }
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    for (size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++) {
        size_t nl = strlen(named[k].name);
        if (len - 1 == nl && memcmp(p + 1, named[k].name, nl) == 0) {
            out[0] = named[k].c;
            *ret_len = 1;
            return (int)len;
        }
    }
    for (size_t i = 1; i < len - 1; i++) {
        if (!name_class[(unsigned char)p[i]] || (i == 1 && name_class[(unsigned char)p[i]] == 2)) {
            return -1;
        }
    }
    return len > 2 ? -2 : -1;
}

static int reference_error(struct dagd_xml_scan *s, const char *p, size_t len, size_t at, int rr)
{
    const char *why = rr == -2   ? "undefined entity"
                      : rr == -3 ? "character reference to a code point that is not an XML Char"
                                 : "malformed character or entity reference";
    size_t n = 1;

    while (n < 20 && at + n < len && p[at + n - 1] != ';' && (unsigned char)p[at + n] >= 0x20 &&
           (unsigned char)p[at + n] < 0x80) {
        n++;
    }
    return fail_at(s, p, at, -EINVAL, "%s \"%.*s\"", why, (int)n, p + at);
}

/* ---------------------------------------------------------------------- */
/* Text, CDATA, comments, processing instructions */

static inline int emit_text(struct dagd_xml_scan *s, const char *p, size_t from, size_t to)
{
    int r;

    if (to == from) {
        return 0;
    }
    if (s->depth == 0) {
        for (size_t i = from; i < to; i++) {
            if (!is_space(p[i])) {
                return fail_at(s, p, i, -EINVAL,
                               s->root_seen ? "junk after document element"
                                            : "text before the root element");
            }
        }
        return 0;
    }
    if (s->h.text && (r = s->h.text(s->h.userdata, p + from, to - from)) < 0) {
        return cb_fail(s, p, from, r);
    }
    return 0;
}

/* Text from *ppos up to the next '<' (cdata: up to "]]>", which it
 * consumes). Returns 0 at the '<' or the section's end, NEED_MORE when the
 * region ends first (everything complete up to there is handed out), or an
 * error. */
static int scan_text(struct dagd_xml_scan *s, const char *p, size_t len, size_t *ppos, bool final,
                     bool cdata)
{
    size_t pos = *ppos, start = pos;
    char buf[4];
    size_t blen;
    int r, k;

    for (;;) {
        while (pos < len && text_class[(unsigned char)p[pos]] == C_PLAIN) {
            pos++;
        }
        if (pos == len) {
            break;
        }
        switch (text_class[(unsigned char)p[pos]]) {
        case C_LT:
            if (cdata) {
                pos++;
                continue;
            }
            if ((r = emit_text(s, p, start, pos)) < 0) {
                return r;
            }
            *ppos = pos;
            return 0;
        case C_AMP:
            if (cdata) {
                pos++;
                continue;
            }
            if ((r = emit_text(s, p, start, pos)) < 0) {
                return r;
            }
            start = pos;
            k = reference(p + pos, len - pos, buf, &blen);
            if (k == 0 && !final) {
                *ppos = pos;
                return NEED_MORE;
            }
            if (k <= 0) {
                return reference_error(s, p, len, pos, k);
            }
            if (s->depth == 0) {
                return fail_at(s, p, pos, -EINVAL,
                               s->root_seen ? "junk after document element"
                                            : "text before the root element");
            }
            if (s->h.text && (r = s->h.text(s->h.userdata, buf, blen)) < 0) {
                return cb_fail(s, p, pos, r);
            }
            pos += (size_t)k;
            start = pos;
            continue;
        case C_CR:
            /* XML 1.0 2.11: \r\n and a lone \r are read as \n */
            if ((r = emit_text(s, p, start, pos)) < 0) {
                return r;
            }
            if (pos + 1 == len && !final) {
                *ppos = pos;
                return NEED_MORE;
            }
            if (s->depth > 0 && s->h.text && (r = s->h.text(s->h.userdata, "\n", 1)) < 0) {
                return cb_fail(s, p, pos, r);
            }
            pos += pos + 1 < len && p[pos + 1] == '\n' ? 2 : 1;
            start = pos;
            continue;
        case C_RSQB:
            if (pos + 2 >= len && !final) {
                if ((r = emit_text(s, p, start, pos)) < 0) {
                    return r;
                }
                *ppos = pos;
                return NEED_MORE;
            }
            if (pos + 2 < len && p[pos + 1] == ']' && p[pos + 2] == '>') {
                if (!cdata) {
                    return fail_at(s, p, pos, -EINVAL, "\"]]>\" in text");
                }
                if ((r = emit_text(s, p, start, pos)) < 0) {
                    return r;
                }
                *ppos = pos + 3;
                s->mode = M_CONTENT;
                return 0;
            }
            pos++;
            continue;
        case C_HIGH:
            k = utf8_char((const unsigned char *)p + pos, len - pos);
            if (k == 0 && !final) {
                if ((r = emit_text(s, p, start, pos)) < 0) {
                    return r;
                }
                *ppos = pos;
                return NEED_MORE;
            }
            if (k <= 0) {
                return fail_at(s, p, pos, -EINVAL, "invalid UTF-8 or not an XML character");
            }
            pos += (size_t)k;
            continue;
        default:
            return fail_at(s, p, pos, -EINVAL, "control character 0x%02x not allowed in XML",
                           (unsigned char)p[pos]);
        }
    }
    if ((r = emit_text(s, p, start, pos)) < 0) {
        return r;
    }
    *ppos = pos;
    return NEED_MORE;
}

/* Checks that p[from..to) holds XML Chars; returns 0, or the offset where
 * a UTF-8 sequence is cut by `to` (as NEED_MORE with *ret_at), or an error. */
static int check_chars(struct dagd_xml_scan *s, const char *p, size_t from, size_t to, bool final,
                       size_t *ret_at)
{
    for (size_t i = from; i < to;) {
        unsigned char c = (unsigned char)p[i];
        int k;
        if (c < 0x80) {
            if (text_class[c] == C_CTL) {
                return fail_at(s, p, i, -EINVAL, "control character 0x%02x not allowed in XML", c);
            }
            i++;
            continue;
        }
        k = utf8_char((const unsigned char *)p + i, to - i);
        if (k == 0 && !final) {
            *ret_at = i;
            return NEED_MORE;
        }
        if (k <= 0) {
            return fail_at(s, p, i, -EINVAL, "invalid UTF-8 or not an XML character");
        }
        i += (size_t)k;
    }
    return 0;
}

/* Inside a comment (term "-->", "--" alone is an error) or a processing
 * instruction (term "?>"): skips to the terminator, checking characters. */
static int scan_skip(struct dagd_xml_scan *s, const char *p, size_t len, size_t *ppos, bool final)
{
    char stop = s->mode == M_COMMENT ? '-' : '?';
    size_t pos = *ppos, at = 0;
    int r;

    for (;;) {
        const char *q = memchr(p + pos, stop, len - pos);
        size_t end = q ? (size_t)(q - p) : len;
        if ((r = check_chars(s, p, pos, end, final, &at)) != 0) {
            if (r == NEED_MORE) {
                *ppos = at;
            }
            return r;
        }
        if (!q) {
            *ppos = len;
            return NEED_MORE;
        }
        pos = end;
        if (stop == '?') {
            if (pos + 1 >= len) {
                *ppos = pos;
                return NEED_MORE;
            }
            if (p[pos + 1] == '>') {
                *ppos = pos + 2;
                s->mode = M_CONTENT;
                return 0;
            }
            pos++;
            continue;
        }
        if (pos + 1 >= len || (p[pos + 1] == '-' && pos + 2 >= len)) {
            *ppos = pos;
            return NEED_MORE;
        }
        if (p[pos + 1] != '-') {
            pos++;
            continue;
        }
        if (p[pos + 2] != '>') {
            return fail_at(s, p, pos, -EINVAL, "\"--\" inside a comment");
        }
        *ppos = pos + 3;
        s->mode = M_CONTENT;
        return 0;
    }
}

/* ---------------------------------------------------------------------- */
/* Markup */

/* A name at p[*pq]: 0 and *pq past it, NEED_MORE, or -1 (not a name). */
static int scan_name_slow(const char *p, size_t len, size_t *pq)
{
    size_t q = *pq;

    if (q >= len) {
        return NEED_MORE;
    }
    if (name_class[(unsigned char)p[q]] == 0 || name_class[(unsigned char)p[q]] == 2) {
        return -1;
    }
    for (;;) {
        unsigned char c;
        while (q < len && (c = name_class[(unsigned char)p[q]]) != 0 && c != 3) {
            q++;
        }
        if (q == len) {
            return NEED_MORE; /* a name is followed by something */
        }
        if (name_class[(unsigned char)p[q]] != 3) {
            break;
        }
        int k = utf8_char((const unsigned char *)p + q, len - q);
        if (k == 0) {
            return NEED_MORE;
        }
        if (k < 0) {
            return -1;
        }
        q += (size_t)k;
    }
    *pq = q;
    return 0;
}

/* scan_name() for the common case, inlined: an ASCII name followed by
 * something that is not part of it. */
static inline __attribute__((always_inline)) int scan_name(const char *p, size_t len, size_t *pq)
{
    size_t q = *pq;

    if (q < len && name_class[(unsigned char)p[q]] == 1) {
        q++;
        while (q < len && (unsigned)(name_class[(unsigned char)p[q]] - 1) < 2) {
            q++;
        }
        if (q < len && name_class[(unsigned char)p[q]] != 3) {
            *pq = q;
            return 0;
        }
    }
    return scan_name_slow(p, len, pq);
}

static inline size_t skip_space(const char *p, size_t len, size_t q)
{
    while (q < len && (unsigned char)p[q] <= ' ' && is_space(p[q])) {
        q++;
    }
    return q;
}

/* Short names are copied and compared inline: a libc call per tag costs
 * more than the few bytes. */
static inline void copy_short(char *d, const char *s, size_t n)
{
    if (n > 16) {
        memcpy(d, s, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        d[i] = s[i];
    }
}

static inline bool equal_short(const char *a, const char *b, size_t n)
{
    if (n > 16) {
        return memcmp(a, b, n) == 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            return false;
        }
    }
    return true;
}

/* Decodes the attribute values that hold references or white space into
 * the scratch area; `room` bounds the decoded size (never larger than the
 * raw values). */
static int decode_attrs(struct dagd_xml_scan *s, size_t n, size_t room)
{
    size_t o = 0;

    if (room > s->scratch_cap) {
        char *ns = realloc(s->scratch, room);
        if (!ns) {
            return -ENOMEM;
        }
        s->scratch = ns;
        s->scratch_cap = room;
    }
    for (size_t i = 0; i < n; i++) {
        const char *v = s->attrs[i].value;
        size_t vl = s->attrs[i].value_len, start = o;
        if (!s->attr_raw[i]) {
            continue;
        }
        for (size_t j = 0; j < vl;) {
            char c = v[j];
            if (c == '&') {
                size_t bl;
                int k = reference(v + j, vl - j, s->scratch + o, &bl);
                /* checked while scanning: k > 0 */
                o += bl;
                j += (size_t)k;
            } else if (c == '\r' && j + 1 < vl && v[j + 1] == '\n') {
                j++; /* \r\n is one line end, so one space (XML 1.0 2.11, 3.3.3) */
            } else {
                s->scratch[o++] = (c == '\t' || c == '\n' || c == '\r') ? ' ' : c;
                j++;
            }
        }
        s->attrs[i].value = s->scratch + start;
        s->attrs[i].value_len = o - start;
    }
    return 0;
}

static int push_name(struct dagd_xml_scan *s, const char *p, size_t at, const char *name,
                     size_t nlen)
{
    size_t used = s->depth ? s->name_end[s->depth - 1] : 0;

    if (s->depth == DAGD_XML_MAX_DEPTH) {
        return fail_at(s, p, at, -E2BIG, "elements nested deeper than %u", DAGD_XML_MAX_DEPTH);
    }
    if (nlen > MAX_NAMES - used) {
        return fail_at(s, p, at, -E2BIG, "open element names over %u bytes", MAX_NAMES);
    }
    if (used + nlen > s->names_cap) {
        size_t ncap = s->names_cap ? s->names_cap : 256;
        char *nn;
        while (ncap < used + nlen) {
            ncap *= 2;
        }
        nn = realloc(s->names, ncap);
        if (!nn) {
            return fail_at(s, p, at, -ENOMEM, "out of memory");
        }
        s->names = nn;
        s->names_cap = ncap;
    }
    copy_short(s->names + used, name, nlen);
    s->name_end[s->depth++] = (uint32_t)(used + nlen);
    return 0;
}

/* <name attr="v" ...> or <name .../> at p[pos]. */
static int scan_start_tag(struct dagd_xml_scan *s, const char *p, size_t len, size_t *ppos)
{
    size_t pos = *ppos, q = pos + 1, room = 0, n = 0;
    const char *name = p + q;
    size_t nlen;
    bool empty;
    int r;

    if ((r = scan_name(p, len, &q)) != 0) {
        return r == NEED_MORE ? r : fail_at(s, p, q, -EINVAL, "not well-formed (invalid token)");
    }
    nlen = (size_t)(p + q - name);
    for (;;) {
        size_t sp = q, an, vs;
        char quote;
        bool raw = false;

        q = skip_space(p, len, q);
        if (q == len) {
            return NEED_MORE;
        }
        if (p[q] == '>') {
            q++;
            empty = false;
            break;
        }
        if (p[q] == '/') {
            if (q + 1 == len) {
                return NEED_MORE;
            }
            if (p[q + 1] != '>') {
                return fail_at(s, p, q, -EINVAL, "not well-formed (invalid token)");
            }
            q += 2;
            empty = true;
            break;
        }
        if (q == sp) {
            return fail_at(s, p, q, -EINVAL, "not well-formed (invalid token) in <%.*s>",
                           (int)(nlen > 40 ? 40 : nlen), name);
        }
        an = q;
        if ((r = scan_name(p, len, &q)) != 0) {
            return r == NEED_MORE ? r
                                  : fail_at(s, p, q, -EINVAL, "not well-formed (invalid token)");
        }
        if (n == DAGD_XML_MAX_ATTRS) {
            return fail_at(s, p, an, -E2BIG, "more than %u attributes in <%.*s>",
                           DAGD_XML_MAX_ATTRS, (int)(nlen > 40 ? 40 : nlen), name);
        }
        s->attrs[n].name = p + an;
        s->attrs[n].name_len = q - an;
        q = skip_space(p, len, q);
        if (q == len) {
            return NEED_MORE;
        }
        if (p[q] != '=') {
            return fail_at(s, p, q, -EINVAL, "expected '=' after attribute %.*s",
                           (int)(q - an > 40 ? 40 : q - an), p + an);
        }
        q = skip_space(p, len, q + 1);
        if (q == len) {
            return NEED_MORE;
        }
        quote = p[q];
        if (quote != '"' && quote != '\'') {
            return fail_at(s, p, q, -EINVAL, "attribute value not in quotes");
        }
        vs = ++q;
        for (;;) {
            unsigned char c;
            while (q < len && attr_class[(unsigned char)p[q]] == C_PLAIN) {
                q++;
            }
            if (q == len) {
                return NEED_MORE;
            }
            c = attr_class[(unsigned char)p[q]];
            if (p[q] == quote) {
                break;
            }
            if (c == C_QUOT || c == C_APOS) {
                q++;
            } else if (c == C_WS) {
                raw = true;
                q++;
            } else if (c == C_AMP) {
                char buf[4];
                size_t bl;
                int k = reference(p + q, len - q, buf, &bl);
                if (k == 0) {
                    return NEED_MORE;
                }
                if (k < 0) {
                    return reference_error(s, p, len, q, k);
                }
                raw = true;
                q += (size_t)k;
            } else if (c == C_HIGH) {
                int k = utf8_char((const unsigned char *)p + q, len - q);
                if (k == 0) {
                    return NEED_MORE;
                }
                if (k < 0) {
                    return fail_at(s, p, q, -EINVAL, "invalid UTF-8 or not an XML character");
                }
                q += (size_t)k;
            } else if (c == C_LT) {
                return fail_at(s, p, q, -EINVAL, "'<' in an attribute value");
            } else {
                return fail_at(s, p, q, -EINVAL, "control character 0x%02x not allowed in XML",
                               (unsigned char)p[q]);
            }
        }
        s->attrs[n].value = p + vs;
        s->attrs[n].value_len = q - vs;
        s->attr_raw[n] = raw;
        if (raw) {
            room += q - vs;
        }
        for (size_t i = 0; i < n; i++) {
            if (s->attrs[i].name_len == s->attrs[n].name_len &&
                equal_short(s->attrs[i].name, s->attrs[n].name, s->attrs[n].name_len)) {
                return fail_at(s, p, an, -EINVAL, "duplicate attribute %.*s",
                               (int)(s->attrs[n].name_len > 40 ? 40 : s->attrs[n].name_len),
                               p + an);
            }
        }
        n++;
        q++; /* the closing quote */
    }

    if (q - pos > DAGD_XML_MAX_TOKEN) {
        /* the same limit as for a tag cut by chunk ends (feed()) */
        return fail_at(s, p, pos, -E2BIG, "a tag over %u bytes (an unclosed '<'?)",
                       DAGD_XML_MAX_TOKEN);
    }
    if (s->depth == 0 && s->root_seen) {
        return fail_at(s, p, pos, -EINVAL, "junk after document element");
    }
    s->root_seen = true;
    if (!empty && (r = push_name(s, p, pos, name, nlen)) < 0) {
        return r;
    }
    if (room > 0 && decode_attrs(s, n, room) < 0) {
        return fail_at(s, p, pos, -ENOMEM, "out of memory");
    }
    if (s->h.start && (r = s->h.start(s->h.userdata, name, nlen, s->attrs, n)) < 0) {
        return cb_fail(s, p, pos, r);
    }
    if (empty && s->h.end && (r = s->h.end(s->h.userdata, name, nlen)) < 0) {
        return cb_fail(s, p, pos, r);
    }
    *ppos = q;
    return 0;
}

/* </name> at p[pos]: must close the innermost open element. */
static int scan_end_tag(struct dagd_xml_scan *s, const char *p, size_t len, size_t *ppos)
{
    size_t pos = *ppos, q = pos + 2, nlen, open_from, open_len;
    const char *name = p + q;
    int r;

    if ((r = scan_name(p, len, &q)) != 0) {
        return r == NEED_MORE ? r : fail_at(s, p, q, -EINVAL, "not well-formed (invalid token)");
    }
    nlen = (size_t)(p + q - name);
    q = skip_space(p, len, q);
    if (q == len) {
        return NEED_MORE;
    }
    if (p[q] != '>') {
        return fail_at(s, p, q, -EINVAL, "not well-formed (invalid token) in </%.*s>",
                       (int)(nlen > 40 ? 40 : nlen), name);
    }
    if (q - pos > DAGD_XML_MAX_TOKEN) {
        return fail_at(s, p, pos, -E2BIG, "a tag over %u bytes (an unclosed '<'?)",
                       DAGD_XML_MAX_TOKEN);
    }
    if (s->depth == 0) {
        return fail_at(s, p, pos, -EINVAL, "end tag </%.*s> without a start tag",
                       (int)(nlen > 40 ? 40 : nlen), name);
    }
    open_from = s->depth > 1 ? s->name_end[s->depth - 2] : 0;
    open_len = s->name_end[s->depth - 1] - open_from;
    if (open_len != nlen || !equal_short(s->names + open_from, name, nlen)) {
        return fail_at(s, p, pos, -EINVAL, "mismatched tag: </%.*s> closes <%.*s>",
                       (int)(nlen > 40 ? 40 : nlen), name, (int)(open_len > 40 ? 40 : open_len),
                       s->names + open_from);
    }
    s->depth--;
    if (s->h.end && (r = s->h.end(s->h.userdata, name, nlen)) < 0) {
        return cb_fail(s, p, pos, r);
    }
    *ppos = q + 1;
    return 0;
}

/* The pseudo-attributes of <?xml ...?> in p[pos..end) (XML 1.0 2.8, 4.3.3):
 * version, then optionally encoding and standalone, in that order. The
 * encoding must match what detect_encoding() saw; ISO-8859-1 switches to
 * transcoding after the declaration. */
static int xml_declaration(struct dagd_xml_scan *s, const char *p, size_t pos, size_t end)
{
    static const char *const keys[] = {"version", "encoding", "standalone"};
    size_t q = pos, next = 0;

    for (;;) {
        size_t sp = q, k, kl, vs, vl;
        q = skip_space(p, end, q);
        if (q == end) {
            break;
        }
        if (q == sp) {
            return fail_at(s, p, q, -EINVAL, "XML declaration not well-formed");
        }
        for (kl = 0; q + kl < end && p[q + kl] >= 'a' && p[q + kl] <= 'z'; kl++) {
        }
        for (k = next; k < 3; k++) {
            if (strlen(keys[k]) == kl && memcmp(p + q, keys[k], kl) == 0) {
                break;
            }
        }
        if (k == 3 || (next == 0 && k != 0)) {
            return fail_at(s, p, q, -EINVAL, "XML declaration not well-formed");
        }
        next = k + 1;
        q = skip_space(p, end, q + kl);
        if (q == end || p[q] != '=') {
            return fail_at(s, p, q, -EINVAL, "XML declaration not well-formed");
        }
        q = skip_space(p, end, q + 1);
        if (q == end || (p[q] != '"' && p[q] != '\'')) {
            return fail_at(s, p, q, -EINVAL, "XML declaration not well-formed");
        }
        vs = q + 1;
        for (q = vs; q < end && p[q] != p[vs - 1]; q++) {
        }
        if (q == end) {
            return fail_at(s, p, vs, -EINVAL, "XML declaration not well-formed");
        }
        vl = q - vs;
        q++;
        if (k == 0) {
            /* [a-zA-Z0-9_.-]+, what expat takes as a version */
            bool ok = vl > 0;
            for (size_t i = 0; ok && i < vl; i++) {
                char c = p[vs + i];
                ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '_' || c == '.' || c == '-';
            }
            if (!ok) {
                return fail_at(s, p, vs, -EINVAL, "XML declaration: bad version");
            }
        } else if (k == 1) {
            /* the encodings expat knows without help */
            bool utf16 = s->enc == ENC_UTF16LE || s->enc == ENC_UTF16BE;
            bool says16 = (vl == 6 && strncasecmp(p + vs, "UTF-16", 6) == 0) ||
                          (vl == 8 && (strncasecmp(p + vs, "UTF-16LE", 8) == 0 ||
                                       strncasecmp(p + vs, "UTF-16BE", 8) == 0));
            if (utf16 || says16) {
                if (utf16 && says16) {
                    continue;
                }
                return fail_at(s, p, vs, -EINVAL, "encoding \"%.*s\" declared, but the part is %s",
                               (int)(vl > 40 ? 40 : vl), p + vs, utf16 ? "UTF-16" : "not UTF-16");
            }
            if ((vl == 5 && strncasecmp(p + vs, "UTF-8", 5) == 0) ||
                (vl == 8 && strncasecmp(p + vs, "US-ASCII", 8) == 0)) {
                continue;
            }
            if (vl == 10 && strncasecmp(p + vs, "ISO-8859-1", 10) == 0) {
                /* the bytes after the declaration are Latin-1 */
                s->enc = ENC_LATIN1;
                s->enc_switched = true;
                continue;
            }
            return fail_at(s, p, vs, -ENOTSUP,
                           "encoding \"%.*s\" is not supported (UTF-8, UTF-16, ISO-8859-1 are)",
                           (int)(vl > 40 ? 40 : vl), p + vs);
        } else if (!(vl == 3 && memcmp(p + vs, "yes", 3) == 0) &&
                   !(vl == 2 && memcmp(p + vs, "no", 2) == 0)) {
            return fail_at(s, p, vs, -EINVAL, "XML declaration: bad standalone");
        }
    }
    if (next == 0) {
        return fail_at(s, p, pos, -EINVAL, "XML declaration without version");
    }
    return 0;
}

/* '<' at p[*ppos]: a tag, comment, CDATA section or processing instruction. */
static int scan_markup(struct dagd_xml_scan *s, const char *p, size_t len, size_t *ppos)
{
    static const char comment[] = "<!--", cdata[] = "<![CDATA[", doctype[] = "<!DOCTYPE";
    size_t pos = *ppos, avail = len - pos;

    if (avail < 2) {
        return NEED_MORE;
    }
    switch (p[pos + 1]) {
    case '/':
        return scan_end_tag(s, p, len, ppos);
    case '?': {
        size_t q = pos + 2;
        const char *end;
        int r = scan_name(p, len, &q);
        if (r == NEED_MORE) {
            return r;
        }
        if (r < 0) {
            return fail_at(s, p, pos, -EINVAL, "not well-formed (invalid token)");
        }
        if (q - pos - 2 == 3 && strncasecmp(p + pos + 2, "xml", 3) == 0) {
            if (memcmp(p + pos + 2, "xml", 3) != 0) {
                /* XML 1.0 2.6: targets matching [Xx][Mm][Ll] are reserved */
                return fail_at(s, p, pos, -EINVAL, "reserved processing instruction target");
            }
            if (s->base + pos != s->decl_at) {
                /* only first in the document (after a byte order mark) */
                return fail_at(s, p, pos, -EINVAL,
                               "XML declaration not at the start of the document");
            }
            end = NULL;
            for (size_t i = q; i + 1 < len; i++) {
                if (p[i] == '?' && p[i + 1] == '>') {
                    end = p + i;
                    break;
                }
            }
            if (!end) {
                return NEED_MORE;
            }
            if ((size_t)(end - p) - pos > DAGD_XML_MAX_TOKEN) {
                return fail_at(s, p, pos, -E2BIG, "a tag over %u bytes (an unclosed '<'?)",
                               DAGD_XML_MAX_TOKEN);
            }
            if ((r = xml_declaration(s, p, q, (size_t)(end - p))) < 0) {
                return r;
            }
            *ppos = (size_t)(end - p) + 2;
            return 0;
        }
        if (q < len && !is_space(p[q]) && p[q] != '?') {
            return fail_at(s, p, q, -EINVAL, "not well-formed (invalid token)");
        }
        s->mode = M_PI;
        *ppos = q;
        return 0;
    }
    case '!':
        if (memcmp(p + pos, comment, avail < 4 ? avail : 4) == 0) {
            if (avail < 4) {
                return NEED_MORE;
            }
            s->mode = M_COMMENT;
            *ppos = pos + 4;
            return 0;
        }
        if (memcmp(p + pos, cdata, avail < 9 ? avail : 9) == 0) {
            if (avail < 9) {
                return NEED_MORE;
            }
            if (s->depth == 0) {
                return fail_at(s, p, pos, -EINVAL, "CDATA section outside the root element");
            }
            s->mode = M_CDATA;
            *ppos = pos + 9;
            return 0;
        }
        if (memcmp(p + pos, doctype, avail < 9 ? avail : 9) == 0) {
            if (avail < 9) {
                return NEED_MORE;
            }
            return fail_at(s, p, pos, -ENOTSUP,
                           "DOCTYPE not allowed (OPC, ECMA-376 part 2, forbids DTDs in parts)");
        }
        return fail_at(s, p, pos, -EINVAL, "not well-formed (invalid token)");
    default:
        return scan_start_tag(s, p, len, ppos);
    }
}

/* ---------------------------------------------------------------------- */
/* Regions and feeding */

/* Scans p[0..len); returns the bytes consumed (everything up to the first
 * incomplete token) or a negative error. With `final`, p holds the rest of
 * the document and anything left open is an error. */
static int64_t scan_region(struct dagd_xml_scan *s, const char *p, size_t len, bool final)
{
    size_t pos = 0;
    int r = 0;

    if (!s->started) {
        const unsigned char *u = (const unsigned char *)p;
        if (len < 3 && !final && (len == 0 || u[0] == 0xEF)) {
            return 0; /* maybe a UTF-8 byte order mark */
        }
        if (len >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) {
            pos = 3;
        }
        s->decl_at = pos;
        s->started = true;
    }
    while (pos < len && r == 0 && !s->enc_switched) {
        switch (s->mode) {
        case M_CONTENT:
            if (p[pos] != '<' && s->depth > 0) {
                /* fast path: plain text up to the next tag, as in <v>123</v> */
                size_t e = pos;
                while (e < len && text_class[(unsigned char)p[e]] == C_PLAIN) {
                    e++;
                }
                if (e < len && p[e] == '<') {
                    if (s->h.text && (r = s->h.text(s->h.userdata, p + pos, e - pos)) < 0) {
                        return cb_fail(s, p, pos, r);
                    }
                    pos = e;
                }
            }
            r = p[pos] == '<' ? scan_markup(s, p, len, &pos)
                              : scan_text(s, p, len, &pos, final, false);
            if (r == NEED_MORE && pos == len) {
                r = 0; /* text ran to the end of the region: all consumed */
            }
            break;
        case M_CDATA:
            r = scan_text(s, p, len, &pos, final, true);
            if (r == NEED_MORE && pos == len) {
                r = 0;
            }
            break;
        case M_COMMENT:
        case M_PI:
            r = scan_skip(s, p, len, &pos, final);
            if (r == NEED_MORE && pos == len) {
                r = 0;
            }
            break;
        }
    }
    if (r < 0) {
        return r;
    }
    if (final && !s->enc_switched) {
        static const char *const open[] = {
            [M_CONTENT] = "unclosed token",
            [M_COMMENT] = "unclosed comment",
            [M_CDATA] = "unclosed CDATA section",
            [M_PI] = "unclosed processing instruction",
        };
        if (pos < len || s->mode != M_CONTENT) {
            return fail_at(s, p, pos, -EINVAL, "%s (the document ends inside it: truncated?)",
                           open[s->mode]);
        }
        if (!s->root_seen) {
            return fail_at(s, p, pos, -EINVAL, "no element found");
        }
        if (s->depth > 0) {
            size_t from = s->depth > 1 ? s->name_end[s->depth - 2] : 0;
            size_t l = s->name_end[s->depth - 1] - from;
            return fail_at(s, p, pos, -EINVAL,
                           "no element found: the document ends inside <%.*s> (truncated?)",
                           (int)(l > 40 ? 40 : l), s->names + from);
        }
    }
    count_lines(&s->line, &s->line_start, s->base, p, pos);
    s->base += pos;
    return (int64_t)pos;
}

static int carry_append(struct dagd_xml_scan *s, const char *d, size_t n)
{
    if (s->carry_len + n > s->carry_cap) {
        size_t ncap = s->carry_cap ? s->carry_cap : WINDOW * 2;
        char *nc;
        while (ncap < s->carry_len + n) {
            ncap *= 2;
        }
        nc = realloc(s->carry, ncap);
        if (!nc) {
            return -ENOMEM;
        }
        s->carry = nc;
        s->carry_cap = ncap;
    }
    memcpy(s->carry + s->carry_len, d, n);
    s->carry_len += n;
    return 0;
}

static int token_too_big(struct dagd_xml_scan *s)
{
    return fail_at(s, s->carry, 0, -E2BIG, "a tag over %u bytes (an unclosed '<'?)",
                   DAGD_XML_MAX_TOKEN);
}

/* Scans UTF-8 bytes. When the XML declaration switches the encoding,
 * stops after it and says in *ret_rest how many bytes of d were not
 * scanned (they are in the new encoding). */
static int feed_utf8(struct dagd_xml_scan *s, const char *d, size_t len, bool final,
                     size_t *ret_rest)
{
    int64_t r;

    if (len == 0 && !final) {
        return 0;
    }
    /* First finish the carried token, in a window of new bytes that
     * doubles until the token fits (each try rescans the token: linear). */
    while (s->carry_len > 0) {
        size_t old = s->carry_len;
        size_t take = old > WINDOW ? old : WINDOW;
        if (take > len) {
            take = len;
        }
        if (carry_append(s, d, take) < 0) {
            return fail_at(s, s->carry, 0, -ENOMEM, "out of memory");
        }
        d += take;
        len -= take;
        r = scan_region(s, s->carry, s->carry_len, final && len == 0);
        if (r < 0) {
            return (int)r;
        }
        if ((size_t)r >= old) {
            /* the carried token is done; the rest is in the caller's chunk */
            size_t back = s->carry_len - (size_t)r;
            d -= back;
            len += back;
            s->carry_len = 0;
            if (s->enc_switched) {
                *ret_rest = len;
                return 0;
            }
            break;
        }
        memmove(s->carry, s->carry + r, s->carry_len - (size_t)r);
        s->carry_len -= (size_t)r;
        if (s->carry_len > DAGD_XML_MAX_TOKEN) {
            return token_too_big(s);
        }
        if (len == 0) {
            return 0;
        }
    }
    if (len == 0 && !final) {
        return 0;
    }
    r = scan_region(s, d, len, final);
    if (r < 0) {
        return (int)r;
    }
    if (s->enc_switched) {
        *ret_rest = len - (size_t)r;
        return 0;
    }
    if ((size_t)r < len) {
        /* base is at d + r now */
        if (len - (size_t)r > DAGD_XML_MAX_TOKEN) {
            return fail_at(s, d + r, 0, -E2BIG, "a tag over %u bytes (an unclosed '<'?)",
                           DAGD_XML_MAX_TOKEN);
        }
        if (carry_append(s, d + r, len - (size_t)r) < 0) {
            return fail_at(s, d + r, 0, -ENOMEM, "out of memory");
        }
    }
    return 0;
}

static char *conv_room(struct dagd_xml_scan *s, size_t need)
{
    if (need > s->conv_cap) {
        char *nc = realloc(s->conv, need);
        if (!nc) {
            return NULL;
        }
        s->conv = nc;
        s->conv_cap = need;
    }
    return s->conv;
}

/* Transcodes d (after the bytes kept in pre) to UTF-8 and scans that. A
 * UTF-16 unit or surrogate pair cut by the end of d waits in pre. Error
 * positions then count the UTF-8 bytes. */
static int feed_transcoded(struct dagd_xml_scan *s, const unsigned char *d, size_t len, bool final)
{
    size_t total = s->pre_len + len, o = 0, k = 0, rest = 0;
    const char *bad = NULL;
    char *out;
    int r;

#define BYTE(i) ((i) < s->pre_len ? s->pre[i] : d[(i)-s->pre_len])
    if (s->enc == ENC_LATIN1) {
        if (!(out = conv_room(s, 2 * total + 1))) {
            return fail_at(s, "", 0, -ENOMEM, "out of memory");
        }
        for (; k < total; k++) {
            unsigned char c = BYTE(k);
            if (c < 0x80) {
                out[o++] = (char)c;
            } else {
                out[o++] = (char)(0xC0 | (c >> 6));
                out[o++] = (char)(0x80 | (c & 0x3F));
            }
        }
    } else {
        bool le = s->enc == ENC_UTF16LE;
        if (!(out = conv_room(s, total / 2 * 3 + 4))) {
            return fail_at(s, "", 0, -ENOMEM, "out of memory");
        }
        while (k + 2 <= total) {
            uint32_t u = le ? (uint32_t)(BYTE(k) | BYTE(k + 1) << 8)
                            : (uint32_t)(BYTE(k) << 8 | BYTE(k + 1));
            size_t used = 2;
            if (u >= 0xD800 && u <= 0xDBFF) {
                uint32_t u2;
                if (k + 4 > total) {
                    break; /* the low surrogate is in the next piece */
                }
                u2 = le ? (uint32_t)(BYTE(k + 2) | BYTE(k + 3) << 8)
                        : (uint32_t)(BYTE(k + 2) << 8 | BYTE(k + 3));
                if (u2 < 0xDC00 || u2 > 0xDFFF) {
                    bad = "invalid UTF-16: unpaired surrogate";
                    break;
                }
                u = 0x10000 + ((u - 0xD800) << 10) + (u2 - 0xDC00);
                used = 4;
            } else if (u >= 0xDC00 && u <= 0xDFFF) {
                bad = "invalid UTF-16: unpaired surrogate";
                break;
            }
            o += utf8_put(u, out + o);
            k += used;
        }
    }
    rest = total - k;
    if (!bad && rest > 0 && final) {
        bad = "invalid UTF-16: the part ends inside a character";
    }
    if (!bad) {
        unsigned char keep[4];
        for (size_t i = 0; i < rest; i++) {
            keep[i] = BYTE(k + i);
        }
        memcpy(s->pre, keep, rest);
        s->pre_len = rest;
    }
#undef BYTE
    r = feed_utf8(s, out, o, final && !bad, &rest);
    if (r < 0 || !bad) {
        return r;
    }
    /* after what came before: the carry starts at base, so this is the
     * position of the first byte not scanned */
    return fail_at(s, s->carry_len ? s->carry : "", s->carry_len, -EINVAL, "%s", bad);
}

/* Looks at the first two bytes (XML 1.0 appendix F): a UTF-16 byte order
 * mark, or "<" as a UTF-16 unit, means UTF-16; anything else is read as
 * UTF-8 (whose own mark scan_region() skips). Returns NEED_MORE until two
 * bytes (or the end) were seen; they wait in pre. */
static int detect_encoding(struct dagd_xml_scan *s, const unsigned char **pd, size_t *plen,
                           bool final)
{
    while (s->pre_len < 2 && *plen > 0) {
        s->pre[s->pre_len++] = *(*pd)++;
        (*plen)--;
    }
    if (s->pre_len < 2 && !final) {
        return NEED_MORE;
    }
    s->enc_known = true;
    if (s->pre_len == 2) {
        unsigned char a = s->pre[0], b = s->pre[1];
        if ((a == 0xFF && b == 0xFE) || (a == 0xFE && b == 0xFF)) {
            s->enc = a == 0xFF ? ENC_UTF16LE : ENC_UTF16BE;
            s->pre_len = 0; /* the mark is not part of the document */
        } else if ((a == '<' && b == 0) || (a == 0 && b == '<')) {
            s->enc = a == '<' ? ENC_UTF16LE : ENC_UTF16BE;
        }
    }
    return 0;
}

int dagd_xml_scan_feed(struct dagd_xml_scan *s, const void *data, size_t len, bool final)
{
    const unsigned char *d = data;
    size_t rest = 0;
    int r;

    if (s->err != 0) {
        return s->err;
    }
    if (!s->enc_known) {
        if (detect_encoding(s, &d, &len, final) == NEED_MORE) {
            return 0;
        }
        if (s->enc == ENC_UTF8 && s->pre_len > 0) {
            char first[2];
            size_t n = s->pre_len;
            memcpy(first, s->pre, n);
            s->pre_len = 0;
            /* two bytes cannot hold a declaration: no switch here */
            if ((r = feed_utf8(s, first, n, final && len == 0, &rest)) < 0 || (final && len == 0)) {
                return r;
            }
        }
    }
    if (s->enc == ENC_UTF8) {
        /* the common case: scanned in place */
        r = feed_utf8(s, (const char *)d, len, final, &rest);
        if (r < 0 || !s->enc_switched) {
            return r;
        }
        s->enc_switched = false;
        d += len - rest;
        len = rest;
    }
    return feed_transcoded(s, d, len, final);
}

struct dagd_xml_scan *dagd_xml_scan_new(const struct dagd_xml_handler *h)
{
    struct dagd_xml_scan *s = calloc(1, sizeof(*s));

    if (s) {
        s->h = *h;
        s->line = 1;
    }
    return s;
}

struct dagd_xml_scan *dagd_xml_scan_free(struct dagd_xml_scan *s)
{
    if (s) {
        free(s->carry);
        free(s->names);
        free(s->scratch);
        free(s->conv);
        free(s);
    }
    return NULL;
}

const char *dagd_xml_scan_error(const struct dagd_xml_scan *s)
{
    return s->msg;
}

void dagd_xml_scan_position(const struct dagd_xml_scan *s, uint64_t *ret_line, uint64_t *ret_col,
                            uint64_t *ret_byte)
{
    if (s->err != 0) {
        *ret_line = s->err_line;
        *ret_col = s->err_col;
        *ret_byte = s->err_byte;
    } else {
        *ret_line = s->line;
        *ret_col = s->base - s->line_start + 1;
        *ret_byte = s->base;
    }
}
