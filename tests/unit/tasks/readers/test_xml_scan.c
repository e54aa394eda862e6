/* Unit tests of tasks/readers/xml_scan.c: every construct the workbook
 * reader relies on, each fed whole, split in two at every byte and byte by
 * byte (the events must not depend on chunk boundaries), references, and
 * every error with its position. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "xml_scan.h"

/* Events flattened: "<name a=v b=w>", "</name>", text as is (adjacent
 * pieces merged: how text is split is not part of the contract). */
struct events {
    char buf[16384];
    size_t len;
    int stop_at_start; /* return -ECANCELED at this start event (0: never) */
    int starts;
};

static void put(struct events *e, const char *s, size_t n)
{
    if (e->len + n < sizeof(e->buf)) {
        memcpy(e->buf + e->len, s, n);
        e->len += n;
        e->buf[e->len] = '\0';
    }
}

static int on_start(void *ud, const char *name, size_t len, const struct dagd_xml_attr *a, size_t n)
{
    struct events *e = ud;

    if (e->stop_at_start && ++e->starts == e->stop_at_start) {
        return -ECANCELED;
    }
    put(e, "<", 1);
    put(e, name, len);
    for (size_t i = 0; i < n; i++) {
        put(e, " ", 1);
        put(e, a[i].name, a[i].name_len);
        put(e, "=", 1);
        put(e, a[i].value, a[i].value_len);
    }
    put(e, ">", 1);
    return 0;
}

static int on_end(void *ud, const char *name, size_t len)
{
    struct events *e = ud;

    put(e, "</", 2);
    put(e, name, len);
    put(e, ">", 1);
    return 0;
}

static int on_text(void *ud, const char *text, size_t len)
{
    assert_true(len > 0);
    put(ud, text, len);
    return 0;
}

struct result {
    int r;
    struct events ev;
    char msg[256];
    uint64_t line, col, byte;
};

/* Feeds doc[0..n) as the pieces [0, cuts[0]), [cuts[0], cuts[1]), ... */
static void run(const char *doc, size_t n, const size_t *cuts, size_t n_cuts, int stop_at,
                struct result *res)
{
    struct dagd_xml_handler h = {on_start, on_end, on_text, &res->ev};
    struct dagd_xml_scan *s;
    size_t from = 0;

    memset(res, 0, sizeof(*res));
    res->ev.stop_at_start = stop_at;
    s = dagd_xml_scan_new(&h);
    assert_non_null(s);
    for (size_t i = 0; i <= n_cuts && res->r == 0; i++) {
        size_t to = i < n_cuts ? cuts[i] : n;
        res->r = dagd_xml_scan_feed(s, doc + from, to - from, i == n_cuts);
        from = to;
    }
    snprintf(res->msg, sizeof(res->msg), "%s", dagd_xml_scan_error(s));
    dagd_xml_scan_position(s, &res->line, &res->col, &res->byte);
    /* an error is sticky */
    if (res->r != 0) {
        assert_int_equal(dagd_xml_scan_feed(s, "x", 1, true), res->r);
    }
    dagd_xml_scan_free(s);
}

static void same(const struct result *a, const struct result *b, const char *doc, size_t cut)
{
    /* before an error, how much text was handed out depends on the pieces */
    if (a->r != b->r || (a->r == 0 && strcmp(a->ev.buf, b->ev.buf) != 0) ||
        strcmp(a->msg, b->msg) != 0 || a->byte != b->byte || a->line != b->line ||
        a->col != b->col) {
        fail_msg("split at %zu of \"%s\":\n whole: %d %s [%s] byte %llu\n split: %d %s [%s] "
                 "byte %llu",
                 cut, doc, a->r, a->ev.buf, a->msg, (unsigned long long)a->byte, b->r, b->ev.buf,
                 b->msg, (unsigned long long)b->byte);
    }
}

/* Scans doc whole, then split at every byte, then byte by byte: the
 * results must agree; returns the whole-document result. */
static void scan_all_ways(const char *doc, size_t n, struct result *whole)
{
    static struct result split;
    size_t *cuts = malloc((n + 1) * sizeof(*cuts));

    assert_non_null(cuts);
    run(doc, n, NULL, 0, 0, whole);
    for (size_t i = 0; i <= n; i++) {
        run(doc, n, &i, 1, 0, &split);
        same(whole, &split, doc, i);
    }
    for (size_t i = 0; i < n; i++) {
        cuts[i] = i + 1;
    }
    run(doc, n, cuts, n, 0, &split);
    same(whole, &split, doc, SIZE_MAX);
    free(cuts);
}

static void expect_events(const char *doc, const char *want)
{
    static struct result res;

    scan_all_ways(doc, strlen(doc), &res);
    if (res.r != 0) {
        fail_msg("\"%s\": %d %s at byte %llu", doc, res.r, res.msg, (unsigned long long)res.byte);
    }
    assert_string_equal(res.ev.buf, want);
}

static void expect_error_n(const char *doc, size_t n, int r, const char *needle, uint64_t byte)
{
    static struct result res;

    scan_all_ways(doc, n, &res);
    if (res.r != r || !strstr(res.msg, needle) || res.byte != byte) {
        fail_msg("\"%s\": want %d \"%s\" at byte %llu, got %d \"%s\" at byte %llu", doc, r, needle,
                 (unsigned long long)byte, res.r, res.msg, (unsigned long long)res.byte);
    }
}

static void expect_error(const char *doc, int r, const char *needle, uint64_t byte)
{
    expect_error_n(doc, strlen(doc), r, needle, byte);
}

/* ---------------------------------------------------------------------- */

static void test_cells_and_attributes(void **state)
{
    /* any order, both quotes, blanks around '=', self-closing, empty <v> */
    expect_events("<row r=\"2\"><c t = 's'  r=\"B2\" s\t=\n\"1\"><v>6</v></c><c r='C2'/>"
                  "<c r=\"D2\"><v/></c><c><v></v></c></row>",
                  "<row r=2><c t=s r=B2 s=1><v>6</v></c><c r=C2></c><c r=D2><v></v></c>"
                  "<c><v></v></c></row>");
    /* prefixes are names like any other */
    expect_events("<x:c xmlns:x=\"u\" x:r=\"A1\"><x:v>1</x:v></x:c >",
                  "<x:c xmlns:x=u x:r=A1><x:v>1</x:v></x:c>");
    /* names with '-', '.', digits and non-ASCII */
    expect_events("<a.b-c_1 \xc3\xa9=\"\xe4\xb8\xad\"/>",
                  "<a.b-c_1 \xc3\xa9=\xe4\xb8\xad></a.b-c_1>");
    /* white space in values: \t \n \r and \r\n become one space each;
     * references keep theirs */
    expect_events("<a v=\"x\ty\nz\r\nw\rq&#10;&#9;\"/>", "<a v=x y z w q\n\t></a>");
    /* quotes of the other kind and '>' are fine in a value */
    expect_events("<a v='say \"hi\" >' w=\"it's\"/>", "<a v=say \"hi\" > w=it's></a>");
}

static void test_shared_string_shapes(void **state)
{
    expect_events("<sst><si><t>ab</t></si><si><r><rPr><b/></rPr><t>a</t></r><r><t>b</t></r>"
                  "<rPh sb=\"0\" eb=\"1\"><t>x</t></rPh></si><si><t xml:space=\"preserve\"> s "
                  "</t></si><si><t/></si></sst>",
                  "<sst><si><t>ab</t></si><si><r><rPr><b></b></rPr><t>a</t></r><r><t>b</t></r>"
                  "<rPh sb=0 eb=1><t>x</t></rPh></si><si><t xml:space=preserve> s </t></si>"
                  "<si><t></t></si></sst>");
    expect_events("<c t=\"inlineStr\"><is><t>x</t></is></c>",
                  "<c t=inlineStr><is><t>x</t></is></c>");
}

static void test_references(void **state)
{
    expect_events("<t>&amp;&lt;&gt;&quot;&apos;</t>", "<t>&<>\"'</t>");
    /* 1- to 4-byte UTF-8, decimal, hex (either case), leading zeros */
    expect_events("<t>&#65;&#xe9;&#x4E2D;&#x1F600;&#0000066;&#x000043;</t>",
                  "<t>A\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80"
                  "BC</t>");
    expect_events("<t a=\"&lt;&#x4e2d;&amp;\">&#13;</t>", "<t a=<\xe4\xb8\xad&>\r</t>");

    expect_error("<t>&#0;</t>", -EINVAL, "not an XML Char", 3);
    expect_error("<t>&#xD800;</t>", -EINVAL, "not an XML Char", 3);
    expect_error("<t>&#xFFFE;</t>", -EINVAL, "not an XML Char", 3);
    expect_error("<t>&#x110000;</t>", -EINVAL, "not an XML Char", 3);
    expect_error("<t>&#99999999999;</t>", -EINVAL, "not an XML Char", 3);
    expect_error("<t>&foo;</t>", -EINVAL, "undefined entity \"&foo;\"", 3);
    expect_error("<t>&;</t>", -EINVAL, "malformed", 3);
    expect_error("<t>&#;</t>", -EINVAL, "malformed", 3);
    expect_error("<t>&#x;</t>", -EINVAL, "malformed", 3);
    expect_error("<t>&#X41;</t>", -EINVAL, "malformed", 3);
    expect_error("<t>&#12a;</t>", -EINVAL, "malformed", 3);
    expect_error("<t>a & b</t>", -EINVAL, "malformed", 5);
    expect_error("<t>&amp</t>", -EINVAL, "malformed", 3);
    expect_error("<t a=\"&bad;\"/>", -EINVAL, "undefined entity", 6);
    expect_error("<t>&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;</t>", -EINVAL,
                 "malformed", 3);
}

static void test_cdata_comments_pis(void **state)
{
    expect_events("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n<!-- a - b -->"
                  "<?pi x?><r><!--in--><v><![CDATA[a<b&c]]]]><![CDATA[>]]></v><?p?><![CDATA[]]>"
                  "</r><!-- after -->\n<?z?> ",
                  "<r><v>a<b&c]]></v></r>");
    /* BOM, lower-case encoding name, single quotes */
    expect_events("\xef\xbb\xbf<?xml version='1.0' encoding='utf-8'?><r/>", "<r></r>");
    /* line ends in text: \r\n and \r become \n (also in CDATA) */
    expect_events("<t>a\r\nb\rc\n\r</t>", "<t>a\nb\nc\n\n</t>");
    expect_events("<t><![CDATA[a\r\nb]]></t>", "<t>a\nb</t>");
    /* "]" and "]]" alone are text */
    expect_events("<t>a]b]]c]</t>", "<t>a]b]]c]</t>");

    expect_error("<r><!-- a -- b --></r>", -EINVAL, "\"--\" inside a comment", 10);
    expect_error("<r>a]]>b</r>", -EINVAL, "\"]]>\" in text", 4);
    expect_error("<![CDATA[x]]><r/>", -EINVAL, "CDATA section outside", 0);
    expect_error("<r/><?xml version=\"1.0\"?>", -EINVAL, "not at the start", 4);
    expect_error(" <?xml version=\"1.0\"?><r/>", -EINVAL, "not at the start", 1);
    expect_error("<?XML version=\"1.0\"?><r/>", -EINVAL, "reserved", 0);
    expect_error("<?xml encoding=\"UTF-8\"?><r/>", -EINVAL, "not well-formed", 6);
    expect_error("<?xml version=\"1.0\" standalone=\"maybe\"?><r/>", -EINVAL, "standalone", 32);
    expect_error("<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><r/>", -ENOTSUP,
                 "encoding \"Shift_JIS\" is not supported", 30);
    expect_error("<?xml version=\"1.0\" encoding=\"UTF-16\"?><r/>", -EINVAL,
                 "the part is not UTF-16", 30);
    expect_error("<!DOCTYPE r [<!ENTITY a \"b\">]><r>&a;</r>", -ENOTSUP, "DOCTYPE", 0);
    expect_error("<r><!-- open", -EINVAL, "unclosed comment", 12);
    expect_error("<r><![CDATA[open", -EINVAL, "unclosed CDATA", 16);
    expect_error("<r><?pi open", -EINVAL, "unclosed processing", 12);
}

static void expect_events_n(const char *doc, size_t n, const char *want)
{
    static struct result res;

    scan_all_ways(doc, n, &res);
    if (res.r != 0) {
        fail_msg("%d %s at byte %llu", res.r, res.msg, (unsigned long long)res.byte);
    }
    assert_string_equal(res.ev.buf, want);
}

/* UTF-16 (by byte order mark, or "<" as a UTF-16 unit) and a declared
 * ISO-8859-1 are transcoded to UTF-8, as expat did; at every split, so
 * units and surrogate pairs are cut everywhere. */
static void test_encodings(void **state)
{
    /* <r a="é">x😀</r> in UTF-16LE with a mark, and BE without */
    static const char le[] =
        "\xff\xfe<\0r\0 \0a\0=\0\"\0\xe9\0\"\0>\0x\0\x3d\xd8\x00\xde<\0/\0r\0>\0";
    static const char be[] = "\0<\0r\0 \0a\0=\0\"\0\xe9\0\"\0>\0x\xd8\x3d\xde\x00\0<\0/\0r\0>";
    static const char decl16[] = "\xfe\xff\0<\0?\0x\0m\0l\0 \0v\0e\0r\0s\0i\0o\0n\0=\0'\0001\0.\0"
                                 "0\0'\0 \0e\0n\0c\0o\0d\0i\0n\0g\0=\0'\0U\0T\0F\0-\0001\0006\0'\0?"
                                 "\0>\0<\0r\0/\0>";
    static const char bad_pair[] = "<\0r\0>\0\x3d\xd8x\0<\0/\0r\0>\0";
    static const char cut[] = "<\0r\0/\0>\0\x3d";
    const char *want = "<r a=\xc3\xa9>x\xf0\x9f\x98\x80</r>";

    expect_events_n(le, sizeof(le) - 1, want);
    expect_events_n(be, sizeof(be) - 1, want);
    expect_events_n(decl16, sizeof(decl16) - 1, "<r></r>");
    expect_error_n(bad_pair, sizeof(bad_pair) - 1, -EINVAL, "unpaired surrogate", 3);
    expect_error_n(cut, sizeof(cut) - 1, -EINVAL, "ends inside a character", 4);
    /* Latin-1 after its declaration; "é" is one byte there */
    expect_events("<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n<r a=\"\xe9\">\xe9\xff</r>",
                  "<r a=\xc3\xa9>\xc3\xa9\xc3\xbf</r>");
}

static void test_malformed(void **state)
{
    expect_error("", -EINVAL, "no element found", 0);
    expect_error("  \n ", -EINVAL, "no element found", 4);
    expect_error("<r><c><v>1</v>", -EINVAL, "no element found: the document ends inside <c>", 14);
    expect_error("<r><c r=\"A1", -EINVAL, "unclosed token", 3);
    expect_error("<r><c r=\"A1\"", -EINVAL, "unclosed token", 3);
    expect_error("<r></r", -EINVAL, "unclosed token", 3);
    expect_error("<r><c><v>1</c></r>", -EINVAL, "mismatched tag: </c> closes <v>", 10);
    expect_error("<r></r></r>", -EINVAL, "without a start tag", 7);
    expect_error("<r/><r/>", -EINVAL, "junk after document element", 4);
    expect_error("<r/>junk", -EINVAL, "junk after document element", 4);
    expect_error("<r/>&amp;", -EINVAL, "junk after document element", 4);
    expect_error("x<r/>", -EINVAL, "text before the root element", 0);
    expect_error("<r a=\"1\" a=\"2\"/>", -EINVAL, "duplicate attribute a", 9);
    expect_error("<r a=\"<\"/>", -EINVAL, "'<' in an attribute value", 6);
    expect_error("<r a=1/>", -EINVAL, "not in quotes", 5);
    expect_error("<r a/>", -EINVAL, "expected '='", 4);
    expect_error("<r a=\"1\"b=\"2\"/>", -EINVAL, "invalid token", 8);
    expect_error("<r / >", -EINVAL, "invalid token", 3);
    expect_error("<1r/>", -EINVAL, "invalid token", 1);
    expect_error("< r/>", -EINVAL, "invalid token", 1);
    expect_error("<r>\x01</r>", -EINVAL, "control character 0x01", 3);
    expect_error_n("<r>\0</r>", 7, -EINVAL, "control character 0x00", 3);
    expect_error("<r>\xc0\x80</r>", -EINVAL, "invalid UTF-8", 3);     /* overlong */
    expect_error("<r>\xed\xa0\x80</r>", -EINVAL, "invalid UTF-8", 3); /* surrogate */
    expect_error("<r>\xef\xbf\xbe</r>", -EINVAL, "invalid UTF-8", 3); /* U+FFFE */
    expect_error("<r>\xf5\x80\x80\x80</r>", -EINVAL, "invalid UTF-8", 3);
    expect_error("<r>\xe4\xb8</r>", -EINVAL, "invalid UTF-8", 3); /* cut short */
    expect_error("<r a=\"\xff\"/>", -EINVAL, "invalid UTF-8", 6);
    expect_error("<r>\xe4\xb8", -EINVAL, "invalid UTF-8", 3);
    expect_error("<r><!--\x02--></r>", -EINVAL, "control character", 7);
    expect_error("<r>garbage<<>>&&</r>", -EINVAL, "invalid token", 11);
}

static void test_positions(void **state)
{
    static struct result res;
    const char *doc = "<r>\n  <c>\r\n    <v>1</x>\n</r>";

    scan_all_ways(doc, strlen(doc), &res);
    assert_int_equal(res.r, -EINVAL);
    assert_int_equal(res.line, 3);
    assert_int_equal(res.col, 9);
    assert_int_equal(res.byte, 19);
}

static void test_limits(void **state)
{
    size_t big = DAGD_XML_MAX_TOKEN + 100;
    char *doc = malloc(big + 64);
    struct result *res = malloc(sizeof(*res));
    size_t n, cuts[3];

    assert_non_null(doc);
    assert_non_null(res);
    /* a huge attribute: E2BIG, in one piece and in 64 KiB pieces */
    n = (size_t)sprintf(doc, "<r a=\"");
    memset(doc + n, 'x', big);
    n += big;
    n += (size_t)sprintf(doc + n, "\"/>");
    run(doc, n, NULL, 0, 0, res);
    assert_int_equal(res->r, -E2BIG);
    assert_non_null(strstr(res->msg, "a tag over"));
    cuts[0] = 65536;
    cuts[1] = 65536 * 3;
    cuts[2] = 65536 * 10;
    run(doc, n, cuts, 3, 0, res);
    assert_int_equal(res->r, -E2BIG);

    /* a long text is handed out as it goes, whatever its size */
    n = (size_t)sprintf(doc, "<r>");
    memset(doc + n, 'y', big);
    n += big;
    n += (size_t)sprintf(doc + n, "</r>");
    run(doc, n, cuts, 3, 0, res);
    assert_int_equal(res->r, 0);

    /* nesting */
    n = 0;
    for (unsigned i = 0; i <= DAGD_XML_MAX_DEPTH; i++) {
        n += (size_t)sprintf(doc + n, "<a>");
    }
    run(doc, n, NULL, 0, 0, res);
    assert_int_equal(res->r, -E2BIG);
    assert_non_null(strstr(res->msg, "nested deeper"));

    /* attributes */
    n = (size_t)sprintf(doc, "<r");
    for (unsigned i = 0; i <= DAGD_XML_MAX_ATTRS; i++) {
        n += (size_t)sprintf(doc + n, " a%u=\"\"", i);
    }
    n += (size_t)sprintf(doc + n, "/>");
    run(doc, n, NULL, 0, 0, res);
    assert_int_equal(res->r, -E2BIG);
    assert_non_null(strstr(res->msg, "more than"));
    free(doc);
    free(res);
}

static void test_callback_stops(void **state)
{
    static struct result res;
    const char *doc = "<r><a/><b/><c/></r>";

    run(doc, strlen(doc), NULL, 0, 3, &res);
    assert_int_equal(res.r, -ECANCELED);
    assert_string_equal(res.msg, "");
    assert_string_equal(res.ev.buf, "<r><a></a>");
    assert_int_equal(res.byte, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cells_and_attributes),
        cmocka_unit_test(test_shared_string_shapes),
        cmocka_unit_test(test_references),
        cmocka_unit_test(test_cdata_comments_pis),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_encodings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
