/* Unit tests of tasks/readers/xlsx_reader.c: cell references, sheet XML
 * quirks (inline and shared strings, rich text, absent cells, cells without
 * <v>, prefixes), whole workbooks (the repo's sample data, crafted zips) and
 * every bad-input error. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include <cmocka.h>

#include "config.h"
#include "xlsx_reader.h"

/* Collected rows, flattened as "row:COL=kind:text|..." lines. */
struct collect {
    char buf[8192];
    size_t len;
    uint64_t rows;
    uint64_t last_dim;
    int stop_at; /* return -ECANCELED at this row count (0: never) */
};

static int collect_row(void *ud, uint64_t row_no, const struct dagd_xlsx_cell *c, size_t n)
{
    struct collect *co = ud;
    static const char kinds[] = "?NSBE";

    co->rows++;
    if (co->stop_at && (int)co->rows == co->stop_at) {
        return -ECANCELED;
    }
    if (co->len < sizeof(co->buf) - 256) {
        co->len += (size_t)snprintf(co->buf + co->len, sizeof(co->buf) - co->len,
                                    "%llu:", (unsigned long long)row_no);
        for (size_t i = 0; i < n && co->len < sizeof(co->buf) - 128; i++) {
            assert_int_equal(strlen(c[i].text), c[i].len);
            co->len += (size_t)snprintf(co->buf + co->len, sizeof(co->buf) - co->len, "%u=%c:%s|",
                                        c[i].col, kinds[c[i].kind], c[i].text);
        }
        co->len += (size_t)snprintf(co->buf + co->len, sizeof(co->buf) - co->len, "\n");
    }
    return 0;
}

static void collect_dim(void *ud, uint64_t last_row)
{
    ((struct collect *)ud)->last_dim = last_row;
}

static int parse_xml(struct dagd_xlsx *x, const char *xml, struct collect *co, char *err,
                     size_t errlen)
{
    struct dagd_xlsx_handler h = {collect_row, collect_dim, co};
    return dagd_xlsx_parse_sheet_xml(x, xml, strlen(xml), &h, err, errlen);
}

#define SHEET_HEAD "<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">"

static void test_parse_ref(void **state)
{
    uint32_t col;
    uint64_t row;

    assert_int_equal(dagd_xlsx_parse_ref("A1", &col, &row), 0);
    assert_int_equal(col, 0);
    assert_int_equal(row, 1);
    assert_int_equal(dagd_xlsx_parse_ref("AB12", &col, &row), 0);
    assert_int_equal(col, 27);
    assert_int_equal(row, 12);
    assert_int_equal(dagd_xlsx_parse_ref("XFD1048576", &col, &row), 0);
    assert_int_equal(col, 16383);
    assert_int_equal(row, 1048576);
    assert_int_equal(dagd_xlsx_parse_ref("XFE1", &col, &row), -EINVAL);
    assert_int_equal(dagd_xlsx_parse_ref("1A", &col, &row), -EINVAL);
    assert_int_equal(dagd_xlsx_parse_ref("a1", &col, &row), -EINVAL);
    assert_int_equal(dagd_xlsx_parse_ref("AAAA1", &col, &row), -EINVAL);
    assert_int_equal(dagd_xlsx_parse_ref("", &col, &row), -EINVAL);
}

static void test_inline_and_blank_cells(void **state)
{
    struct collect co = {0};
    char err[256] = "";
    const char *xml = SHEET_HEAD
        "<dimension ref=\"A1:F3\"/><sheetData>"
        "<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>ORDER_TIME  (PST)</t></is></c></row>"
        /* B absent, C without <v>, D empty <v>, E number, F rich text */
        "<row r=\"2\"><c r=\"A2\" t=\"inlineStr\"><is><t>G1</t></is></c>"
        "<c r=\"C2\" s=\"1\"/><c r=\"D2\"><v></v></c><c r=\"E2\" t=\"n\"><v>50127</v></c>"
        "<c r=\"F2\" t=\"inlineStr\"><is><r><t>ab</t></r><r><t xml:space=\"preserve\"> c</t></r>"
        "<rPh><t>IGNORED</t></rPh></is></c></row>"
        "<row r=\"3\"><c r=\"A3\" t=\"b\"><v>1</v></c><c r=\"B3\" t=\"e\"><v>#N/A</v></c>"
        "<c r=\"C3\" t=\"str\"><f>A1</f><v>x</v></c><c r=\"D3\"><v>1680.53</v></c>"
        "<c r=\"E3\" t=\"inlineStr\"><is><t>&#33487;&#24030;</t></is></c></row>"
        "<row r=\"5\"/>"
        "</sheetData></worksheet>";

    assert_int_equal(parse_xml(NULL, xml, &co, err, sizeof(err)), 0);
    assert_int_equal(co.rows, 3);
    assert_int_equal(co.last_dim, 3);
    assert_string_equal(co.buf,
                        "1:0=S:ORDER_TIME  (PST)|\n"
                        "2:0=S:G1|4=N:50127|5=S:ab c|\n"
                        "3:0=B:1|1=E:#N/A|2=S:x|3=N:1680.53|4=S:\xe8\x8b\x8f\xe5\xb7\x9e|\n");
}

static void test_shared_strings(void **state)
{
    struct dagd_xlsx *x = dagd_xlsx_new_empty();
    struct collect co = {0};
    char err[256] = "";
    const char *sst = "<sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
                      "count=\"4\" uniqueCount=\"3\"><si><t>ORDER_ID</t></si>"
                      "<si><r><rPr><b/></rPr><t>R</t></r><r><t>MB</t></r><rPh><t>x</t></rPh></si>"
                      "<si><t/></si></sst>";
    const char *xml =
        SHEET_HEAD "<sheetData><row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c></row>"
                   "<row><c t=\"s\"><v>1</v></c><c t=\"s\"><v>2</v></c><c><v>7</v></c></row>"
                   "</sheetData></worksheet>";

    assert_non_null(x);
    assert_int_equal(dagd_xlsx_parse_shared_xml(x, sst, strlen(sst), err, sizeof(err)), 0);
    assert_int_equal(dagd_xlsx_shared_count(x), 3);
    assert_int_equal(parse_xml(x, xml, &co, err, sizeof(err)), 0);
    /* rows and columns without r="" follow the previous ones */
    assert_string_equal(co.buf, "1:0=S:ORDER_ID|\n2:0=S:RMB|1=S:|2=N:7|\n");
    dagd_xlsx_free(x);
}

/* Shared strings are bounded (issue 16 item 9): one string by the 4 MiB
 * cell limit, the table by dagd_xlsx_set_shared_limit (64 MiB default). */
static char *sst_of(size_t n, size_t each)
{
    size_t cap = n * (each + 16) + 64, len = 0;
    char *s = malloc(cap);

    assert_non_null(s);
    len += (size_t)sprintf(s, "<sst>");
    for (size_t i = 0; i < n; i++) {
        len += (size_t)sprintf(s + len, "<si><t>");
        memset(s + len, 'a', each);
        len += each;
        len += (size_t)sprintf(s + len, "</t></si>");
    }
    (void)sprintf(s + len, "</sst>");
    return s;
}

static void test_shared_limits(void **state)
{
    struct dagd_xlsx *x = dagd_xlsx_new_empty();
    char err[256] = "";
    char *sst;

    /* one string over the cell limit */
    sst = sst_of(1, (4u << 20) + 1);
    assert_int_equal(dagd_xlsx_parse_shared_xml(x, sst, strlen(sst), err, sizeof(err)), -E2BIG);
    assert_non_null(strstr(err, "shared string 1 over 4194304 bytes (the cell limit)"));
    free(sst);
    /* exactly at the cell limit is fine */
    sst = sst_of(1, 4u << 20);
    assert_int_equal(dagd_xlsx_parse_shared_xml(x, sst, strlen(sst), err, sizeof(err)), 0);
    free(sst);
    /* 9 strings of 1 MiB over a 8 MiB table limit; the default takes them */
    sst = sst_of(9, 1u << 20);
    dagd_xlsx_set_shared_limit(8u << 20);
    assert_int_equal(dagd_xlsx_parse_shared_xml(x, sst, strlen(sst), err, sizeof(err)), -E2BIG);
    assert_non_null(strstr(err, "shared string table over 8388608 bytes"));
    dagd_xlsx_set_shared_limit(0);
    assert_int_equal(dagd_xlsx_parse_shared_xml(x, sst, strlen(sst), err, sizeof(err)), 0);
    assert_int_equal(dagd_xlsx_shared_count(x), 9);
    free(sst);
    /* 65 x 1 MiB: over the 64 MiB default */
    sst = sst_of(65, 1u << 20);
    assert_int_equal(dagd_xlsx_parse_shared_xml(x, sst, strlen(sst), err, sizeof(err)), -E2BIG);
    free(sst);
    dagd_xlsx_free(x);
}

static void test_namespace_prefix(void **state)
{
    struct collect co = {0};
    char err[256] = "";
    const char *xml =
        "<x:worksheet xmlns:x=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">"
        "<x:sheetData><x:row r=\"1\"><x:c r=\"B1\" t=\"inlineStr\"><x:is><x:t>h</x:t></x:is>"
        "</x:c></x:row></x:sheetData></x:worksheet>";

    assert_int_equal(parse_xml(NULL, xml, &co, err, sizeof(err)), 0);
    assert_string_equal(co.buf, "1:1=S:h|\n");
}

static void test_sheet_errors(void **state)
{
    struct dagd_xlsx *x = dagd_xlsx_new_empty();
    struct collect co = {0};
    char err[256] = "";
    const char *sst = "<sst><si><t>a</t></si></sst>";

    assert_int_equal(dagd_xlsx_parse_shared_xml(x, sst, strlen(sst), err, sizeof(err)), 0);

    /* shared string index out of range names the cell */
    assert_int_equal(parse_xml(x,
                               SHEET_HEAD "<sheetData><row r=\"4\"><c r=\"C4\" t=\"s\"><v>1</v>"
                                          "</c></row></sheetData></worksheet>",
                               &co, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "cell C4"));
    assert_non_null(strstr(err, "out of range"));

    /* bad cell reference */
    assert_int_equal(parse_xml(x,
                               SHEET_HEAD "<sheetData><row r=\"2\"><c r=\"2B\"><v>1</v></c></row>"
                                          "</sheetData></worksheet>",
                               &co, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "row 2"));

    /* malformed XML gives line, column and byte */
    assert_int_equal(parse_xml(x, SHEET_HEAD "<sheetData><row r=\"2\"><c r=\"A2\"><v>1</c></row>",
                               &co, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "malformed XML"));
    assert_non_null(strstr(err, "byte"));

    /* truncated XML */
    assert_int_equal(parse_xml(x, SHEET_HEAD "<sheetData><row r=\"2\"><c r=\"A2\"><v>1</v>", &co,
                               err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "no element found"));
    dagd_xlsx_free(x);
}

static void test_callback_stops(void **state)
{
    struct collect co = {.stop_at = 2};
    char err[256] = "";

    assert_int_equal(parse_xml(NULL,
                               SHEET_HEAD "<sheetData><row><c><v>1</v></c></row><row><c><v>2</v>"
                                          "</c></row><row><c><v>3</v></c></row></sheetData>"
                                          "</worksheet>",
                               &co, err, sizeof(err)),
                     -ECANCELED);
    assert_int_equal(co.rows, 2);
    assert_string_equal(err, "");
}

/* ---------------------------------------------------------------------- */
/* Whole workbooks */

struct part {
    const char *name;
    const char *data;
};

static const char rels_root[] =
    "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
    "<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
    "relationships/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>";
static const char wb_two[] =
    "<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" "
    "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><sheets>"
    "<sheet name=\"DATA\" sheetId=\"1\" r:id=\"rId1\"/><sheet name=\"CITY_DISTRICT_MAP\" "
    "sheetId=\"2\" r:id=\"rId2\"/></sheets></workbook>";
/* relative and absolute targets, and a shared string part */
static const char wb_rels[] =
    "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
    "<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
    "relationships/worksheet\" Target=\"worksheets/sheet1.xml\"/>"
    "<Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
    "relationships/worksheet\" Target=\"/xl/worksheets/../worksheets/sheet2.xml\"/>"
    "<Relationship Id=\"rId3\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/"
    "relationships/sharedStrings\" Target=\"sharedStrings.xml\"/></Relationships>";

static void write_zip(const char *path, const struct part *parts, size_t n)
{
    int ze;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &ze);

    assert_non_null(z);
    for (size_t i = 0; i < n; i++) {
        zip_source_t *s = zip_source_buffer(z, parts[i].data, strlen(parts[i].data), 0);
        assert_non_null(s);
        assert_true(zip_file_add(z, parts[i].name, s, ZIP_FL_OVERWRITE) >= 0);
    }
    assert_int_equal(zip_close(z), 0);
}

static char tmpdir[256];

static int setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_xlsx.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_crafted_workbook(void **state)
{
    const struct part parts[] = {
        {"_rels/.rels", rels_root},
        {"xl/workbook.xml", wb_two},
        {"xl/_rels/workbook.xml.rels", wb_rels},
        {"xl/sharedStrings.xml", "<sst><si><t>ORDER_ID</t></si><si><t>G0000000001</t></si></sst>"},
        {"xl/worksheets/sheet1.xml",
         SHEET_HEAD "<sheetData><row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v>"
                    "</c></row><row r=\"2\"><c r=\"A2\" t=\"s\"><v>1</v>"
                    "</c></row></sheetData></worksheet>"},
        {"xl/worksheets/sheet2.xml", SHEET_HEAD "<sheetData><row r=\"1\"><c r=\"A1\"><v>3</v></c>"
                                                "</row></sheetData></worksheet>"},
    };
    char path[300], err[512] = "";
    struct dagd_xlsx *x = NULL;
    struct collect co = {0};
    struct dagd_xlsx_handler h = {collect_row, NULL, &co};

    snprintf(path, sizeof(path), "%s/crafted.xlsx", tmpdir);
    write_zip(path, parts, sizeof(parts) / sizeof(parts[0]));
    assert_int_equal(dagd_xlsx_open(path, &x, err, sizeof(err)), 0);
    assert_int_equal(dagd_xlsx_sheet_count(x), 2);
    assert_string_equal(dagd_xlsx_sheet_name(x, 1), "CITY_DISTRICT_MAP");
    assert_int_equal(dagd_xlsx_find_sheet(x, "data"), 0);
    assert_int_equal(dagd_xlsx_find_sheet(x, "NOPE"), -ENOENT);
    assert_int_equal(dagd_xlsx_read_sheet(x, 0, &h, err, sizeof(err)), 0);
    assert_int_equal(dagd_xlsx_read_sheet(x, 1, &h, err, sizeof(err)), 0);
    assert_string_equal(co.buf, "1:0=S:ORDER_ID|\n2:0=S:G0000000001|\n1:0=N:3|\n");
    dagd_xlsx_free(x);
}

/* What the scanner has to get right inside a sheet: attributes in any
 * order and quoting, empty and absent values, references, CDATA, line ends,
 * comments and processing instructions; rich text with phonetic runs in
 * the shared strings. */
static void test_scanner_constructs(void **state)
{
    struct dagd_xlsx *x = dagd_xlsx_new_empty();
    struct collect co = {0};
    char err[256] = "";
    const char *sst =
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n"
        "<sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" uniqueCount='4'>"
        "<si><t>a&amp;b &#x4E2D;</t></si>"
        "<si><r><rPr><b/><sz val=\"11\"/></rPr><t>To</t></r><r><t xml:space=\"preserve\"> kyo"
        "</t></r><rPh sb=\"0\" eb=\"1\"><t>TOU</t></rPh><phoneticPr fontId=\"1\"/></si>"
        "<si><t/></si><!-- c --><si><t><![CDATA[<x>]]>\r\n</t></si></sst>";
    const char *xml =
        "\xef\xbb\xbf<?xml version='1.0'?>" SHEET_HEAD "<?mso-application progid?><sheetData>"
        "<row r = '3' spans=\"1:6\"><c t='s' s=\"2\" r='A3'><v>0</v></c><c s='1' r=\"B3\"/>"
        "<c r=\"C3\" t=\"s\"><v>1</v></c><c r=\"D3\" t=\"s\"><v >2</v></c><c r=\"E3\"><v/></c>"
        "<c r=\"F3\" t=\"s\"><v>3</v></c></row><!-- between rows -->"
        "<row><c t=\"str\"><v>&lt;&quot;&apos;&gt;</v></c><c t=\"inlineStr\"><is><t>l1\r\nl2"
        "</t></is></c><c t=\"e\"><v>#N/A</v></c><c t=\"b\"><v>1</v></c><c><v>-1.5E-3</v></c>"
        "</row></sheetData></worksheet>";

    assert_int_equal(dagd_xlsx_parse_shared_xml(x, sst, strlen(sst), err, sizeof(err)), 0);
    assert_int_equal(dagd_xlsx_shared_count(x), 4);
    assert_int_equal(parse_xml(x, xml, &co, err, sizeof(err)), 0);
    assert_string_equal(co.buf, "3:0=S:a&b \xe4\xb8\xad|2=S:To kyo|3=S:|5=S:<x>\n|\n"
                                "4:0=S:<\"'>|1=S:l1\nl2|2=E:#N/A|3=B:1|4=N:-1.5E-3|\n");
    dagd_xlsx_free(x);
}

/* UTF-16 and ISO-8859-1 parts are transcoded, as expat read them. */
static void test_other_encodings(void **state)
{
    struct dagd_xlsx *x = dagd_xlsx_new_empty();
    struct collect co = {0};
    char err[256] = "";
    const char *sst = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><sst><si><t>caf\xe9</t></si>"
                      "</sst>";
    /* <sheetData><row><c t="s"><v>0</v></c></row></sheetData> in UTF-16LE */
    static const char sheet[] =
        "\xff\xfe<\0s\0h\0e\0e\0t\0D\0a\0t\0a\0>\0<\0r\0o\0w\0>\0<\0c\0 \0t\0="
        "\0\"\0s\0\"\0>\0<\0v\0>\0000\0<\0/\0v\0>\0<\0/\0c\0>\0<\0/\0r\0o\0w\0>"
        "\0<\0/\0s\0h\0e\0e\0t\0D\0a\0t\0a\0>\0";
    struct dagd_xlsx_handler h = {collect_row, collect_dim, &co};

    assert_int_equal(dagd_xlsx_parse_shared_xml(x, sst, strlen(sst), err, sizeof(err)), 0);
    assert_int_equal(dagd_xlsx_parse_sheet_xml(x, sheet, sizeof(sheet) - 1, &h, err, sizeof(err)),
                     0);
    assert_string_equal(co.buf, "1:0=S:caf\xc3\xa9|\n");
    dagd_xlsx_free(x);
}

/* Malformed XML names the part and the row it was found in. */
static void test_malformed_names_row(void **state)
{
    struct collect co = {0};
    char err[512] = "";

    assert_int_equal(parse_xml(NULL,
                               SHEET_HEAD "<sheetData><row r=\"1\"><c><v>1</v></c></row>\n"
                                          "<row r=\"2\"><c r=\"A2\"><v>1&bogus;</v></c></row>"
                                          "</sheetData></worksheet>",
                               &co, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "sheet: malformed XML at line 2, column 26 (byte "));
    assert_non_null(strstr(err, "in row 2"));
    assert_non_null(strstr(err, "undefined entity"));

    /* a DTD is refused (OPC forbids them): no entity expansion */
    assert_int_equal(parse_xml(NULL,
                               "<!DOCTYPE w [<!ENTITY a \"aaaa\">]>" SHEET_HEAD
                               "<sheetData><row><c t=\"inlineStr\"><is><t>&a;</t></is></c></row>"
                               "</sheetData></worksheet>",
                               &co, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "DOCTYPE"));

    /* a huge attribute is bounded */
    {
        size_t n = 3u << 20;
        char *big = malloc(n + 256);
        size_t o = (size_t)sprintf(big, SHEET_HEAD "<sheetData><row r=\"7\"><c r=\"");
        memset(big + o, 'A', n);
        strcpy(big + o + n, "1\"><v>1</v></c></row></sheetData></worksheet>");
        assert_int_equal(parse_xml(NULL, big, &co, err, sizeof(err)), -E2BIG);
        assert_non_null(strstr(err, "a tag over"));
        assert_non_null(strstr(err, "in row 7"));
        free(big);
    }
}

/* A sheet of several chunks (the reader reads 256 KiB at a time), so chunk
 * ends fall inside tags, references and UTF-8 sequences: every row must
 * still come out whole. Read from memory and from a zip entry. */
struct big_check {
    uint64_t rows;
    bool bad;
};

static int check_big_row(void *ud, uint64_t row_no, const struct dagd_xlsx_cell *c, size_t n)
{
    struct big_check *bc = ud;
    char want[64];

    snprintf(want, sizeof(want), "r&%llu<\xe4\xb8\xad>", (unsigned long long)row_no);
    bc->rows++;
    if (n != 2 || c[0].col != 0 || strcmp(c[0].text, want) != 0 || c[1].col != 2 ||
        strtoull(c[1].text, NULL, 10) != row_no * 7) {
        bc->bad = true;
    }
    return 0;
}

static void test_big_sheet_chunks(void **state)
{
    const unsigned rows = 30000;
    size_t cap = (size_t)rows * 160 + 1024, n;
    char *xml = malloc(cap), path[300], err[512] = "";
    struct big_check bc = {0};
    struct dagd_xlsx_handler h = {check_big_row, NULL, &bc};
    struct dagd_xlsx *x = NULL;

    assert_non_null(xml);
    n = (size_t)sprintf(xml, "%s", SHEET_HEAD "<sheetData>");
    for (unsigned i = 1; i <= rows; i++) {
        /* lengths vary with i, so the chunk ends land everywhere */
        n += (size_t)sprintf(xml + n,
                             "<row r=\"%u\"><c r=\"A%u\" t=\"inlineStr\"><is><t>r&amp;%u&lt;"
                             "\xe4\xb8\xad&#x3E;</t></is></c><c r=\"C%u\"%*s><v>%u</v></c></row>",
                             i, i, i, i, (int)(i % 13), "", i * 7);
    }
    n += (size_t)sprintf(xml + n, "</sheetData></worksheet>");
    assert_true(n > 3 * 256 * 1024);
    assert_int_equal(dagd_xlsx_parse_sheet_xml(NULL, xml, n, &h, err, sizeof(err)), 0);
    assert_int_equal(bc.rows, rows);
    assert_false(bc.bad);

    {
        const struct part parts[] = {
            {"_rels/.rels", rels_root},
            {"xl/workbook.xml", wb_two},
            {"xl/_rels/workbook.xml.rels", wb_rels},
            {"xl/worksheets/sheet1.xml", xml},
            {"xl/worksheets/sheet2.xml", SHEET_HEAD "<sheetData/></worksheet>"},
        };
        snprintf(path, sizeof(path), "%s/big.xlsx", tmpdir);
        write_zip(path, parts, sizeof(parts) / sizeof(parts[0]));
    }
    memset(&bc, 0, sizeof(bc));
    assert_int_equal(dagd_xlsx_open(path, &x, err, sizeof(err)), 0);
    assert_int_equal(dagd_xlsx_read_sheet(x, 0, &h, err, sizeof(err)), 0);
    assert_int_equal(bc.rows, rows);
    assert_false(bc.bad);
    dagd_xlsx_free(x);
    free(xml);
}

static void test_not_a_workbook(void **state)
{
    const struct part parts[] = {{"hello.txt", "hello"}};
    char path[300], err[512] = "";
    struct dagd_xlsx *x = NULL;

    snprintf(path, sizeof(path), "%s/plain.zip", tmpdir);
    write_zip(path, parts, 1);
    assert_int_equal(dagd_xlsx_open(path, &x, err, sizeof(err)), -ENOENT);
    assert_null(x);
    assert_non_null(strstr(err, "not an xlsx workbook"));

    assert_int_equal(dagd_xlsx_open_buffer("not a zip at all", 16, &x, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "not a valid zip archive"));
    assert_int_equal(dagd_xlsx_open_buffer("", 0, &x, err, sizeof(err)), -EBADMSG);
}

static void test_missing_sheet_part(void **state)
{
    const struct part parts[] = {
        {"_rels/.rels", rels_root},
        {"xl/workbook.xml", wb_two},
        {"xl/_rels/workbook.xml.rels", wb_rels},
        {"xl/worksheets/sheet1.xml", SHEET_HEAD "<sheetData/></worksheet>"},
    };
    char path[300], err[512] = "";
    struct dagd_xlsx *x = NULL;
    struct collect co = {0};
    struct dagd_xlsx_handler h = {collect_row, NULL, &co};

    snprintf(path, sizeof(path), "%s/nosheet2.xlsx", tmpdir);
    write_zip(path, parts, sizeof(parts) / sizeof(parts[0]));
    assert_int_equal(dagd_xlsx_open(path, &x, err, sizeof(err)), 0);
    assert_int_equal(dagd_xlsx_read_sheet(x, 0, &h, err, sizeof(err)), 0);
    assert_int_equal(co.rows, 0);
    assert_int_equal(dagd_xlsx_read_sheet(x, 1, &h, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "xl/worksheets/sheet2.xml is missing"));
    dagd_xlsx_free(x);
}

static uint64_t count_rows(const char *path, const char *sheet, uint64_t *ret_last_row)
{
    char err[512] = "";
    struct dagd_xlsx *x = NULL;
    struct collect co = {0};
    struct dagd_xlsx_handler h = {collect_row, NULL, &co};
    int idx;

    assert_int_equal(dagd_xlsx_open(path, &x, err, sizeof(err)), 0);
    idx = dagd_xlsx_find_sheet(x, sheet);
    assert_true(idx >= 0);
    assert_int_equal(dagd_xlsx_read_sheet(x, (size_t)idx, &h, err, sizeof(err)), 0);
    dagd_xlsx_free(x);
    if (ret_last_row) {
        /* first line of co.buf is the header: "1:0=S:ORDER_ID|..." */
        assert_memory_equal(co.buf, "1:0=S:", 6);
    }
    return co.rows;
}

static void test_sample_workbooks(void **state)
{
    uint64_t dummy;

    /* inline strings (sales-tiny) and shared strings (sales): header + rows */
    assert_int_equal(count_rows(DAGD_SOURCE_ROOT "/data/sales-tiny/dataset1.xlsx", "DATA", &dummy),
                     2001);
    assert_int_equal(
        count_rows(DAGD_SOURCE_ROOT "/data/sales-tiny/dataset1.xlsx", "CITY_DISTRICT_MAP", NULL),
        2583);
    assert_int_equal(count_rows(DAGD_SOURCE_ROOT "/data/sales/dataset1.xlsx", "DATA", &dummy),
                     159751);
}

static void test_truncated_workbook(void **state)
{
    char path[300], err[512] = "";
    struct dagd_xlsx *x = NULL;
    FILE *in = fopen(DAGD_SOURCE_ROOT "/data/sales-tiny/dataset1.xlsx", "rb");
    FILE *out;
    char *buf = malloc(1 << 20);
    size_t n;

    assert_non_null(in);
    n = fread(buf, 1, 1 << 20, in);
    fclose(in);
    snprintf(path, sizeof(path), "%s/truncated.xlsx", tmpdir);
    out = fopen(path, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(buf, 1, n / 2, out), n / 2);
    fclose(out);
    free(buf);
    assert_int_equal(dagd_xlsx_open(path, &x, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "truncated"));
    assert_null(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ref),           cmocka_unit_test(test_inline_and_blank_cells),
        cmocka_unit_test(test_shared_strings),      cmocka_unit_test(test_namespace_prefix),
        cmocka_unit_test(test_sheet_errors),        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_crafted_workbook),    cmocka_unit_test(test_not_a_workbook),
        cmocka_unit_test(test_missing_sheet_part),  cmocka_unit_test(test_sample_workbooks),
        cmocka_unit_test(test_truncated_workbook),  cmocka_unit_test(test_scanner_constructs),
        cmocka_unit_test(test_malformed_names_row), cmocka_unit_test(test_big_sheet_chunks),
        cmocka_unit_test(test_other_encodings),     cmocka_unit_test(test_shared_limits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
