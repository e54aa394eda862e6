/* Unit tests of daemon/protocol.c: line splitting and request/reply coding. */
#include <errno.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "protocol.h"
#include "util.h"

static void test_lines_basic(void **state)
{
    struct dagd_linebuf lb;
    char *line;
    size_t len;

    dagd_linebuf_init(&lb, 16);
    assert_int_equal(dagd_linebuf_next(&lb, &line, &len), 0);
    dagd_linebuf_append(&lb, "ab\ncd\r\nef", 9);
    assert_int_equal(dagd_linebuf_next(&lb, &line, &len), 1);
    assert_string_equal(line, "ab");
    assert_int_equal(len, 2);
    assert_int_equal(dagd_linebuf_next(&lb, &line, &len), 1);
    assert_string_equal(line, "cd");
    assert_int_equal(dagd_linebuf_next(&lb, &line, &len), 0);
    assert_int_equal(dagd_linebuf_pending(&lb), 2);
    dagd_linebuf_append(&lb, "g\n", 2);
    assert_int_equal(dagd_linebuf_next(&lb, &line, &len), 1);
    assert_string_equal(line, "efg");
    assert_int_equal(dagd_linebuf_next(&lb, &line, &len), 0);
    dagd_linebuf_done(&lb);
}

static void test_lines_byte_at_a_time(void **state)
{
    struct dagd_linebuf lb;
    const char *in = "{\"v\":1}\nxyz\n";
    char *line;
    size_t len;
    int got = 0;

    dagd_linebuf_init(&lb, 1024);
    for (size_t i = 0; in[i]; i++) {
        dagd_linebuf_append(&lb, in + i, 1);
        while (dagd_linebuf_next(&lb, &line, &len) == 1) {
            assert_string_equal(line, got == 0 ? "{\"v\":1}" : "xyz");
            got++;
        }
    }
    assert_int_equal(got, 2);
    dagd_linebuf_done(&lb);
}

static void test_lines_oversize(void **state)
{
    struct dagd_linebuf lb;
    char *line;
    size_t len;
    char big[100];

    memset(big, 'x', sizeof(big));
    dagd_linebuf_init(&lb, 10);
    dagd_linebuf_append(&lb, "ok\n", 3);
    /* an oversized line arriving in pieces, then a good one */
    dagd_linebuf_append(&lb, big, 50);
    dagd_linebuf_append(&lb, big, 50);
    dagd_linebuf_append(&lb, "x\nfine\n", 7);
    assert_int_equal(dagd_linebuf_next(&lb, &line, &len), 1);
    assert_string_equal(line, "ok");
    assert_int_equal(dagd_linebuf_next(&lb, &line, &len), -EMSGSIZE);
    assert_int_equal(dagd_linebuf_next(&lb, &line, &len), 1);
    assert_string_equal(line, "fine");
    assert_int_equal(dagd_linebuf_next(&lb, &line, &len), 0);
    /* exactly max is fine, max + 1 is not */
    dagd_linebuf_append(&lb, "0123456789\n01234567890\n", 23);
    assert_int_equal(dagd_linebuf_next(&lb, &line, &len), 1);
    assert_int_equal(len, 10);
    assert_int_equal(dagd_linebuf_next(&lb, &line, &len), -EMSGSIZE);
    assert_int_equal(dagd_linebuf_next(&lb, &line, &len), 0);
    /* held memory stays bounded while an endless line streams in */
    for (int i = 0; i < 1000; i++) {
        dagd_linebuf_append(&lb, big, sizeof(big));
    }
    assert_true(lb.cap <= 256);
    dagd_linebuf_done(&lb);
}

static int decode(const char *s, struct dagd_request *req, const char **code, cJSON **id)
{
    char *msg = NULL;
    int r = dagd_request_decode(s, strlen(s), req, code, &msg, id);
    if (r < 0) {
        assert_non_null(msg);
        assert_null(strchr(msg, '\n'));
        free(msg);
    }
    return r;
}

static void test_request_decode(void **state)
{
    struct dagd_request req;
    const char *code;
    cJSON *id = NULL;

    assert_int_equal(decode("{\"v\":1,\"id\":7,\"method\":\"status\"}", &req, &code, &id), 0);
    assert_string_equal(req.method, "status");
    assert_true(cJSON_IsObject(req.params));
    assert_int_equal(req.id->valueint, 7);
    dagd_request_done(&req);

    assert_int_equal(
        decode("{\"v\":1,\"id\":\"a\",\"method\":\"run\",\"params\":{\"x\":1}}", &req, &code, &id),
        0);
    assert_string_equal(req.id->valuestring, "a");
    dagd_request_done(&req);

    assert_int_equal(decode("{\"v\":1,\"id\":1,", &req, &code, &id), -EINVAL);
    assert_string_equal(code, DAGD_ERR_PARSE);
    assert_null(id);

    assert_int_equal(decode("{\"v\":2,\"id\":3,\"method\":\"x\"}", &req, &code, &id), -EPROTO);
    assert_string_equal(code, DAGD_ERR_VERSION);
    assert_non_null(id);
    assert_int_equal(id->valueint, 3);
    cJSON_Delete(id);
    id = NULL;

    assert_int_equal(decode("{\"id\":3,\"method\":\"x\"}", &req, &code, &id), -EINVAL);
    assert_string_equal(code, DAGD_ERR_INVALID_REQUEST);
    cJSON_Delete(id);
    id = NULL;
    assert_int_equal(decode("{\"v\":1,\"id\":1.5,\"method\":\"x\"}", &req, &code, &id), -EINVAL);
    assert_null(id);
    assert_int_equal(decode("{\"v\":1,\"id\":1,\"method\":7}", &req, &code, &id), -EINVAL);
    cJSON_Delete(id);
    id = NULL;
    assert_int_equal(decode("{\"v\":1,\"id\":1,\"method\":\"x\",\"params\":[]}", &req, &code, &id),
                     -EINVAL);
    cJSON_Delete(id);
    id = NULL;
    assert_int_equal(decode("[1,2]", &req, &code, &id), -EINVAL);
    assert_int_equal(decode("{\"v\":1,\"id\":1,\"method\":\"x\"} junk", &req, &code, &id), -EINVAL);
    assert_string_equal(code, DAGD_ERR_PARSE);
    cJSON_Delete(id);
    id = NULL;
    assert_int_equal(decode("{\"v\":1,\"id\":1,\"method\":\"x\",\"params\":{\"a\":[[[[[[[[[[[[[[["
                            "[[[[[[]]]]]]]]]]]]]]]]]]]]}}",
                            &req, &code, &id),
                     -EINVAL);
    cJSON_Delete(id);
}

/* Invalid UTF-8 and "\u0000" are refused at the decoder, so nothing raw
 * reaches replies or the store (issue 16 item 12). */
static void test_request_decode_utf8(void **state)
{
    static const char *const bad[] = {
        "{\"v\":1,\"id\":1,\"method\":\"run\",\"params\":{\"pipeline\":\"a\xff\"}}",
        "{\"v\":1,\"id\":1,\"method\":\"run\",\"params\":{\"params\":[\"k=\xc3\x28\"]}}",
        "{\"v\":1,\"id\":1,\"method\":\"st\xc0\xaftus\"}", /* overlong "/" */
        "{\"v\":1,\"id\":1,\"method\":\"x\",\"params\":{\"a\":\"\xed\xa0\x80\"}}", /* surrogate */
        "{\"v\":1,\"id\":1,\"method\":\"x\",\"params\":{\"a\":\"\xf4\x90\x80\x80\"}}", /* > U+10FFFF
                                                                                        */
        "{\"v\":1,\"id\":1,\"method\":\"x\",\"params\":{\"a\":\"\xe2\x82\"}}", /* cut short */
        "{\"v\":1,\"id\":1,\"method\":\"run\",\"params\":{\"params\":[\"k=a\\u0000b\"]}}",
        "{\"v\":1,\"id\":1,\"method\":\"x\",\"params\":{\"a\":\"\\ud800\"}}", /* lone surrogate */
    };
    struct dagd_request req;
    const char *code;
    cJSON *id = NULL;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *msg = NULL;
        assert_int_equal(dagd_request_decode(bad[i], strlen(bad[i]), &req, &code, &msg, &id),
                         -EINVAL);
        assert_string_equal(code, DAGD_ERR_PARSE);
        assert_true(dagd_utf8_valid(msg, strlen(msg), NULL));
        free(msg);
        cJSON_Delete(id);
        id = NULL;
    }
    /* Valid multi-byte text, and an escaped backslash before a literal "u0000". */
    static const char ok[] =
        "{\"v\":1,\"id\":1,\"method\":\"x\",\"params\":{\"a\":"
        "\"gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x98\x80\",\"b\":\"\\\\u0000\"}}";
    assert_int_equal(decode(ok, &req, &code, &id), 0);
    assert_string_equal(cJSON_GetObjectItem(req.params, "b")->valuestring, "\\u0000");
    dagd_request_done(&req);
}

static void test_reply_roundtrip(void **state)
{
    cJSON *id = cJSON_CreateNumber(42);
    size_t len;
    struct dagd_reply rep;

    char *s = dagd_reply_error(id, DAGD_ERR_NOT_FOUND, "no such\nrun\r", &len);
    assert_int_equal(strlen(s), len);
    assert_int_equal(s[len - 1], '\n');
    assert_null(memchr(s, '\n', len - 1));
    assert_int_equal(dagd_reply_decode(s, len - 1, &rep), 0);
    assert_string_equal(rep.error_code, "NOT_FOUND");
    assert_string_equal(rep.error_message, "no such run ");
    assert_int_equal(rep.id->valueint, 42);
    dagd_reply_done(&rep);
    free(s);

    /* a bad code never leaves the daemon */
    s = dagd_reply_error(id, "lower", "m", &len);
    assert_non_null(strstr(s, "\"INTERNAL\""));
    free(s);

    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "text", "a\nb");
    s = dagd_reply_result(id, res, &len);
    assert_null(memchr(s, '\n', len - 1));
    assert_int_equal(dagd_reply_decode(s, len - 1, &rep), 0);
    assert_string_equal(cJSON_GetObjectItem(rep.result, "text")->valuestring, "a\nb");
    dagd_reply_done(&rep);
    free(s);

    s = dagd_request_encode(9, "status", NULL, &len);
    struct dagd_request req;
    const char *code;
    char *msg;
    cJSON *eid;
    assert_int_equal(dagd_request_decode(s, len - 1, &req, &code, &msg, &eid), 0);
    assert_string_equal(req.method, "status");
    dagd_request_done(&req);
    free(s);

    assert_int_equal(dagd_reply_decode("{\"v\":1,\"id\":1}", 14, &rep), -EINVAL);
    assert_int_equal(dagd_reply_decode("{\"v\":3,\"id\":1,\"result\":{}}", 26, &rep), -EPROTO);
    cJSON_Delete(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_basic),     cmocka_unit_test(test_lines_byte_at_a_time),
        cmocka_unit_test(test_lines_oversize),  cmocka_unit_test(test_request_decode),
        cmocka_unit_test(test_reply_roundtrip), cmocka_unit_test(test_request_decode_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
