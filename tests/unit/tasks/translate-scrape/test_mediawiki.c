/* Unit tests for tasks/translate-scrape/mediawiki.c and dictionary.c. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dictionary.h"
#include "mediawiki.h"

static int parse(const char *body, const char *const *titles, size_t n, struct dagd_wiki_answer *a,
                 char **cont, char **code)
{
    return dagd_wiki_parse(body, strlen(body), titles, n, a, cont, code);
}

static void test_parse_v2_redirect_missing_link(void **state)
{
    (void)state;
    /* As fakewiki/MediaWiki answer titles=泸州|日照市|唐山|a_b|相山区 with formatversion=2. */
    const char *body =
        "{\"batchcomplete\":true,\"query\":{"
        "\"normalized\":[{\"fromencoded\":false,\"from\":\"a_b\",\"to\":\"A b\"}],"
        "\"redirects\":[{\"from\":\"泸州\",\"to\":\"泸州市\"}],"
        "\"pages\":[{\"ns\":0,\"title\":\"唐山\",\"missing\":true},"
        "{\"ns\":0,\"title\":\"A b\",\"missing\":true},"
        "{\"pageid\":1,\"ns\":0,\"title\":\"泸州市\",\"langlinks\":[{\"lang\":\"en\",\"title\":"
        "\"Luzhou\"}]},"
        "{\"pageid\":2,\"ns\":0,\"title\":\"日照市\",\"langlinks\":[{\"lang\":\"en\",\"title\":"
        "\"Rizhao\"}]},"
        "{\"pageid\":3,\"ns\":0,\"title\":\"相山区\",\"langlinks\":[{\"lang\":\"en\",\"title\":"
        "\"Xiangshan District, Huaibei\"}]}]}}";
    const char *titles[] = {"泸州", "日照市", "唐山", "a_b", "相山区"};
    struct dagd_wiki_answer a[5] = {0};
    char *cont = (char *)"x";
    assert_int_equal(parse(body, titles, 5, a, &cont, NULL), 0);
    assert_null(cont);
    assert_int_equal(a[0].state, DAGD_WIKI_FOUND);
    assert_string_equal(a[0].page, "泸州市");
    assert_string_equal(a[0].en, "Luzhou");
    assert_string_equal(a[1].en, "Rizhao");
    assert_int_equal(a[2].state, DAGD_WIKI_MISSING);
    assert_null(a[2].en);
    assert_int_equal(a[3].state, DAGD_WIKI_MISSING);
    assert_string_equal(a[4].en, "Xiangshan District, Huaibei");
    dagd_wiki_answers_done(a, 5);
}

static void test_parse_v1_and_continue(void **state)
{
    (void)state;
    const char *first =
        "{\"continue\":{\"llcontinue\":\"20|en\",\"continue\":\"||\"},\"query\":{\"pages\":{"
        "\"10\":{\"pageid\":10,\"ns\":0,\"title\":\"A\",\"langlinks\":[{\"lang\":\"en\",\"*\":"
        "\"Alpha\"}]},"
        "\"20\":{\"pageid\":20,\"ns\":0,\"title\":\"B\"},"
        "\"-1\":{\"title\":\"C|\",\"invalidreason\":\"bad\",\"invalid\":\"\"}}}}";
    const char *second = "{\"batchcomplete\":\"\",\"query\":{\"pages\":{"
                         "\"10\":{\"pageid\":10,\"ns\":0,\"title\":\"A\"},"
                         "\"20\":{\"pageid\":20,\"ns\":0,\"title\":\"B\",\"langlinks\":[{\"lang\":"
                         "\"en\",\"*\":\"Beta\"}]},"
                         "\"-1\":{\"title\":\"C|\",\"invalidreason\":\"bad\",\"invalid\":\"\"}}}}";
    const char *titles[] = {"A", "B", "C|"};
    struct dagd_wiki_answer a[3] = {0};
    char *cont = NULL;
    assert_int_equal(parse(first, titles, 3, a, &cont, NULL), 0);
    assert_string_equal(cont, "20|en");
    assert_string_equal(a[0].en, "Alpha");
    assert_int_equal(a[1].state, DAGD_WIKI_FOUND);
    assert_null(a[1].en);
    assert_int_equal(a[2].state, DAGD_WIKI_INVALID);
    free(cont);
    assert_int_equal(parse(second, titles, 3, a, &cont, NULL), 0);
    assert_null(cont);
    assert_string_equal(a[0].en, "Alpha"); /* kept from the first page */
    assert_string_equal(a[1].en, "Beta");
    dagd_wiki_answers_done(a, 3);
}

static void test_parse_garbage_and_errors(void **state)
{
    (void)state;
    const char *titles[] = {"A"};
    struct dagd_wiki_answer a[1] = {0};
    char *code = NULL;
    const char *ok = "{\"batchcomplete\":true,\"query\":{\"pages\":[{\"ns\":0,\"title\":\"A\","
                     "\"missing\":true}]}}";
    char trunc[128]; /* room for the whole %.*s: gcc -O0 checks the bound */
    snprintf(trunc, sizeof(trunc), "%.*s", (int)strlen(ok) / 2, ok);
    char extra[256];
    snprintf(extra, sizeof(extra), "%s}", ok);
    assert_int_equal(parse(trunc, titles, 1, a, NULL, NULL), -EBADMSG);
    assert_int_equal(parse(extra, titles, 1, a, NULL, NULL), -EBADMSG);
    assert_int_equal(
        parse("<html><body>upstream connect error</body></html>", titles, 1, a, NULL, NULL),
        -EBADMSG);
    assert_int_equal(parse("{'batchcomplete':true}", titles, 1, a, NULL, NULL), -EBADMSG);
    assert_int_equal(parse("", titles, 1, a, NULL, NULL), -EBADMSG);
    /* a page we did not ask for only */
    assert_int_equal(parse("{\"batchcomplete\":true,\"query\":{\"pages\":[{\"title\":\"Z\","
                           "\"missing\":true}]}}",
                           titles, 1, a, NULL, NULL),
                     -EBADMSG);
    assert_int_equal(a[0].state, DAGD_WIKI_UNKNOWN); /* untouched by failures */
    assert_int_equal(
        parse("{\"error\":{\"code\":\"toomanyvalues\",\"info\":\"x\"}}", titles, 1, a, NULL, &code),
        -EPROTO);
    assert_string_equal(code, "toomanyvalues");
    const char *tmv = "{\"error\":{\"code\":\"toomanyvalues\",\"limit\":20}}";
    assert_int_equal(dagd_wiki_error_limit(tmv, strlen(tmv)), 20);
    assert_int_equal(dagd_wiki_error_limit("{}", 2), -EINVAL);
    assert_int_equal(dagd_wiki_error_limit("garbage", 7), -EINVAL);
    free(code);
    assert_int_equal(parse(ok, titles, 1, a, NULL, NULL), 0);
    assert_int_equal(a[0].state, DAGD_WIKI_MISSING);
    dagd_wiki_answers_done(a, 1);
}

static void test_build_url(void **state)
{
    (void)state;
    const char *titles[] = {"日照市", "A b"};
    char *url = NULL;
    assert_int_equal(dagd_wiki_build_url("http://h/w/api.php", titles, 2, NULL, &url), 0);
    assert_non_null(strstr(url, "http://h/w/api.php?action=query&"));
    assert_non_null(strstr(url, "prop=langlinks"));
    assert_non_null(strstr(url, "lllang=en"));
    assert_non_null(strstr(url, "redirects"));
    assert_non_null(strstr(url, "formatversion=2"));
    assert_non_null(strstr(url, "format=json"));
    assert_non_null(strstr(url, "titles=%E6%97%A5%E7%85%A7%E5%B8%82%7CA%20b"));
    assert_null(strstr(url, "llcontinue"));
    free(url);
    assert_int_equal(dagd_wiki_build_url("http://h/api.php?x=1", titles, 1, "20|en", &url), 0);
    assert_non_null(strstr(url, "?x=1&action=query"));
    assert_non_null(strstr(url, "&llcontinue=20%7Cen"));
    assert_non_null(strstr(url, "lllimit=max"));
    free(url);
    assert_int_equal(dagd_wiki_build_url_limit("http://h/", titles, 1, NULL, 10, &url), 0);
    assert_non_null(strstr(url, "lllimit=10&"));
    free(url);
    const char *bad[] = {"<script>"};
    assert_int_equal(dagd_wiki_build_url("http://h/", bad, 1, NULL, &url), -EINVAL);
    const char *many[51];
    for (int i = 0; i < 51; i++) {
        many[i] = "A";
    }
    assert_int_equal(dagd_wiki_build_url("http://h/", many, 51, NULL, &url), -EINVAL);
    assert_int_equal(dagd_wiki_build_url("http://h/", many, 50, NULL, &url), 0);
    free(url);
}

static void test_titles_and_cities(void **state)
{
    (void)state;
    assert_true(dagd_wiki_title_is_valid("日照"));
    assert_false(dagd_wiki_title_is_valid(""));
    assert_false(dagd_wiki_title_is_valid("   "));
    assert_false(dagd_wiki_title_is_valid("a|b"));
    assert_false(dagd_wiki_title_is_valid("<script>alert(1)</script>"));
    assert_false(dagd_wiki_title_is_valid("a\nb"));
    assert_false(dagd_wiki_title_is_valid("\xff\xfe"));
    assert_true(dagd_wiki_is_disambiguation("Datong (disambiguation)"));
    assert_false(dagd_wiki_is_disambiguation("Datong"));
    assert_false(dagd_wiki_is_disambiguation(NULL));

    struct {
        const char *zh, *title;
    } cases[] = {
        {"日照", "日照市"},           {"平顶山", "平顶山市"},
        {"大同", "大同市"},           {"唐山", "唐山市"},
        {"广州", "广州市"},           {"哈密市", "哈密市"},
        {"阿勒泰地区", "阿勒泰地区"}, {"红河哈尼族彝族自治州", "红河哈尼族彝族自治州"},
        {"兴安盟", "兴安盟"},         {"神农架林区", "神农架林区"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *t = dagd_wiki_city_title(cases[i].zh);
        assert_string_equal(t, cases[i].title);
        free(t);
    }
}

static void test_backoff(void **state)
{
    (void)state;
    const uint64_t base = 500000, cap = 30000000;
    /* grows, is capped, jitter stays within [d/2, d) */
    uint64_t d1 = dagd_wiki_backoff_usec(1, base, cap, 0, 0.0);
    uint64_t d3 = dagd_wiki_backoff_usec(3, base, cap, 0, 0.0);
    assert_int_equal(d1, base / 2);
    assert_int_equal(d3, 2 * base / 2 * 2);
    assert_true(dagd_wiki_backoff_usec(30, base, cap, 0, 0.999) <= cap);
    assert_true(dagd_wiki_backoff_usec(30, base, cap, 0, 0.0) >= cap / 2);
    uint64_t j = dagd_wiki_backoff_usec(2, base, cap, 0, 0.5);
    assert_true(j >= base / 2 && j < 2 * base);
    /* never sooner than Retry-After */
    assert_int_equal(dagd_wiki_backoff_usec(1, base, cap, 2000000, 0.3), 2000000);
}

static char *source_path(const char *rel)
{
    const char *root = getenv("DAGD_SOURCE_ROOT");
    char *p = NULL;
    assert_true(asprintf(&p, "%s/%s", root ? root : ".", rel) > 0);
    return p;
}

static void test_dictionary(void **state)
{
    (void)state;
    struct dagd_dict *d = NULL;
    char *msg = NULL;
    char *dir = source_path("data/translations");
    assert_int_equal(dagd_dict_load(dir, &d, &msg), 0);
    free(dir);

    /* a good entry is taken */
    char *en = dagd_dict_city(d, "泸州", NULL, 0);
    assert_string_equal(en, "Luzhou");
    free(en);
    /* mistranslation without infobox: the districts' vote wins */
    const char *rizhao[] = {"东港区", "岚山区", "五莲县", "莒县"};
    en = dagd_dict_city(d, "日照", rizhao, 4);
    assert_string_equal(en, "Rizhao");
    free(en);
    en = dagd_dict_city(d, "日照", NULL, 0);
    assert_null(en); /* "Sunlight" is never taken */
    /* disambiguation entry */
    en = dagd_dict_city(d, "大同", NULL, 0);
    assert_null(en);
    /* missing from the file */
    const char *tangshan[] = {"路南区", "路北区", "丰润区"};
    en = dagd_dict_city(d, "唐山", tangshan, 3);
    assert_string_equal(en, "Tangshan");
    free(en);

    en = dagd_dict_district(d, "相山区");
    assert_string_equal(en, "Xiangshan District, Huaibei");
    free(en);
    assert_null(dagd_dict_district(d, "不存在区"));
    d = dagd_dict_free(d);

    assert_true(dagd_dict_load("/nonexistent", &d, &msg) < 0);
    assert_non_null(msg);
    free(msg);

    en = dagd_dict_district_title("赫章县", "Hezhang");
    assert_string_equal(en, "Hezhang County");
    free(en);
    en = dagd_dict_district_title("新郑市", "Xinzheng");
    assert_string_equal(en, "Xinzheng");
    free(en);
    assert_null(dagd_dict_district_title("中山", "中山"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_v2_redirect_missing_link),
        cmocka_unit_test(test_parse_v1_and_continue),
        cmocka_unit_test(test_parse_garbage_and_errors),
        cmocka_unit_test(test_build_url),
        cmocka_unit_test(test_titles_and_cities),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_dictionary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
