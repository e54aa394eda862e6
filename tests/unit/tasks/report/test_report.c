/* Unit tests for tasks/report/report_html.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report_html.h"

static char *render(const struct dagd_report *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(dagd_report_render(r, f), 0);
    fclose(f);
    return buf;
}

static void test_money(void **state)
{
    (void)state;
    char b[48];
    assert_string_equal(dagd_report_money(b, sizeof(b), 169069930), "1,690,699.30");
    assert_string_equal(dagd_report_money(b, sizeof(b), 0), "0.00");
    assert_string_equal(dagd_report_money(b, sizeof(b), 5), "0.05");
    assert_string_equal(dagd_report_money(b, sizeof(b), 100000), "1,000.00");
    assert_string_equal(dagd_report_money(b, sizeof(b), 99999), "999.99");
    assert_string_equal(dagd_report_money(b, sizeof(b), -123456), "-1,234.56");
    assert_string_equal(dagd_report_money(b, sizeof(b), INT64_MIN), "-92,233,720,368,547,758.08");
}

static void test_money_short(void **state)
{
    (void)state;
    char b[48];
    assert_string_equal(dagd_report_money_short(b, sizeof(b), 2907136286), "29.1M");
    assert_string_equal(dagd_report_money_short(b, sizeof(b), 1000000000), "10M");
    assert_string_equal(dagd_report_money_short(b, sizeof(b), 250000000), "2.5M");
    assert_string_equal(dagd_report_money_short(b, sizeof(b), 787522), "7.9K");
    assert_string_equal(dagd_report_money_short(b, sizeof(b), 99996000), "1M"); /* not 1000K */
    assert_string_equal(dagd_report_money_short(b, sizeof(b), 175878422894), "1.8B");
    assert_string_equal(dagd_report_money_short(b, sizeof(b), 95049), "950");
    assert_string_equal(dagd_report_money_short(b, sizeof(b), 0), "0");
    assert_string_equal(dagd_report_money_short(b, sizeof(b), -2907136286), "-29.1M");
}

static void test_escape(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    dagd_html_escape(f, "<script>alert(\"x\" & 'y')</script>\x01上海");
    dagd_html_escape(f, NULL);
    fclose(f);
    assert_string_equal(buf, "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
                             "\xef\xbf\xbd上海");
    free(buf);
}

static void test_render_full(void **state)
{
    (void)state;
    const char *evil = "<script>alert(1)</script>";
    struct dagd_report_kv summary[] = {{"total_sales_rmb_cents", "2215767092"},
                                       {"rows_loaded", "2500"}};
    struct dagd_report_hour hours[] = {{5, "北京", "Beijing", 5804513, 309467},
                                       {6, evil, NULL, 13122479, 3185575},
                                       {10, "上海", "Shanghai", 2907136286, 963947608}};
    struct dagd_report_q2 q2[] = {{1, "上海", "Shanghai", 16, 169069930, 10566871},
                                  {2, evil, "<b>bold</b>", 1, 100, 100}};
    struct dagd_report_tier_city tiers[] = {{"上海", "Shanghai", 169069930, 2},
                                            {"北京", "Beijing", 139453016, 2},
                                            {"杭州", NULL, 91839571, 1},
                                            {"台州", "Taizhou, Zhejiang", 91000000, 1},
                                            {evil, NULL, 132566, 0}};
    struct dagd_report_dq dq[] = {{"final", "bad_order_time", 1}, {"dataset1", evil, 2}};
    struct dagd_report_file files[] = {{"dataset1", "/data/<x>.xlsx", "abc", 2000, 1234, 0}};
    struct dagd_report r = {
        .title = "Sales & <report>",
        .run_id = "run-\"42\"",
        .generated_at_ms = 1764161400000,
        .summary = summary,
        .n_summary = 2,
        .hours = hours,
        .n_hours = 3,
        .q2 = q2,
        .n_q2 = 2,
        .tiers = tiers,
        .n_tiers = 5,
        .dq = dq,
        .n_dq = 2,
        .files = files,
        .n_files = 1,
    };
    char *html = render(&r);
    assert_non_null(strstr(html, "<meta charset=\"utf-8\">"));
    assert_non_null(strstr(html, "id=\"" DAGD_REPORT_ID_Q1 "\""));
    assert_non_null(strstr(html, "id=\"" DAGD_REPORT_ID_Q2 "\""));
    assert_non_null(strstr(html, "id=\"" DAGD_REPORT_ID_TIERS "\""));
    assert_non_null(strstr(html, "id=\"" DAGD_REPORT_ID_DQ "\""));
    assert_non_null(strstr(html, "id=\"" DAGD_REPORT_ID_FILES "\""));
    assert_non_null(strstr(html, "北京"));
    assert_non_null(strstr(html, "Beijing"));
    assert_non_null(strstr(html, "22,157,670.92"));
    assert_non_null(strstr(html, "run-&quot;42&quot;"));
    assert_non_null(strstr(html, "Sales &amp; &lt;report&gt;"));
    assert_non_null(strstr(html, "/data/&lt;x&gt;.xlsx"));
    assert_non_null(strstr(html, "2025-11-26 12:50:00 UTC"));
    /* no markup from the data survives, and nothing loads from outside */
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<b>bold"));
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_null(strstr(html, "src="));
    assert_null(strstr(html, "href="));
    assert_null(strstr(html, "@import"));
    assert_null(strstr(html, "url("));
    /* each tier is named, its cities are named in the chart itself */
    assert_non_null(strstr(html, "Tier 0 (lowest)"));
    assert_non_null(strstr(html, "Tier 2 (highest)"));
    assert_non_null(
        strstr(html, "class=\"seg-label\" text-anchor=\"middle\" fill=\"#ffffff\">上海"));
    assert_non_null(strstr(html, "Largest: 上海"));
    assert_null(strstr(html, "log scale"));
    /* axes have titles with units, ticks and bar labels read 29.1M */
    assert_non_null(strstr(html, ">Sales (RMB)</text>"));
    assert_non_null(strstr(html, ">Average sales per district with sales (RMB)</text>"));
    assert_non_null(strstr(html, "class=\"value\" text-anchor=\"middle\">29.1M</text>"));
    assert_non_null(strstr(html, ">30M</text>"));
    assert_null(strstr(html, "class=\"axis\" text-anchor=\"end\">0.00<"));
    /* Q1 says why these hours and in which time zone */
    assert_non_null(strstr(html, "Pacific time (PST)"));
    assert_non_null(strstr(html, "05:00 to 10:59 PST"));
    /* tooltips carry the English name */
    assert_non_null(
        strstr(html, "<title>10:00&#8211;10:59 PST: 上海 (Shanghai), 29,071,362.86 RMB"));
    assert_non_null(strstr(html, "<title>上海 (Shanghai): 105,668.71 RMB per district"));
    /* a name with a comma stays one list item */
    assert_non_null(strstr(html, "<li><span class=\"zh\" lang=\"zh-Hans\">台州</span> <span "
                                 "class=\"en\" lang=\"en\">Taizhou, Zhejiang</span></li>"));
    /* flagged versus rejected, and rule codes with words */
    assert_non_null(strstr(html, "Flagged is not rejected."));
    assert_non_null(strstr(html, "Order time unreadable (e.g. the text &quot;time&quot;)<br><code>"
                                 "bad_order_time</code></td><td>Kept, not in hourly figures (Q1)"));
    /* one row per rule, one column per source, the rejecting rules first */
    assert_non_null(strstr(html, "<th class=\"num\">final<br>rows flagged</th><th "
                                 "class=\"num\">dataset1<br>rows flagged</th>"));
    assert_non_null(
        strstr(html, "(Q1)</td><td class=\"num\">1</td><td class=\"num\">&#8211;</td>"));
    /* a chart label too long for its bar is cut at a character, with an
     * ellipsis (the table and the tooltip keep the whole name) */
    assert_non_null(strstr(
        html, "class=\"label\" text-anchor=\"middle\">&lt;script&gt;alert(1)&lt;/&#8230;</text>"));
    assert_non_null(
        strstr(html, "<title>06:00&#8211;06:59 PST: &lt;script&gt;alert(1)&lt;/script&gt;,"));
    /* counts with thousands separators */
    assert_non_null(strstr(html, "<b>2,500</b>Rows loaded"));
    free(html);
}

static void test_render_empty(void **state)
{
    (void)state;
    struct dagd_report r = {.title = "t", .run_id = "r"};
    char *html = render(&r);
    assert_non_null(strstr(html, "no data in the warehouse"));
    assert_non_null(strstr(html, "</html>"));
    free(html);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_money),        cmocka_unit_test(test_money_short),
        cmocka_unit_test(test_escape),       cmocka_unit_test(test_render_full),
        cmocka_unit_test(test_render_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
