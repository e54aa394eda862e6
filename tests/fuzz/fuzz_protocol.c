/* Fuzz target for the protocol decoder: the input is a byte stream as a
 * client would send it. It is fed to the line splitter in small chunks
 * (systemd fuzz-varlink writes 143 bytes at a time; the first byte picks the
 * chunk size here, so one-byte-at-a-time is covered too), each line is
 * decoded, and a reply is encoded for it exactly as the server does.
 *
 * Built as a libFuzzer target with -Dfuzzers=true (clang); linked with
 * replay_main.c as a plain program that replays a corpus (files or
 * directories given as arguments), which meson runs as a test. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dagd_linebuf lb;
    size_t chunk = 143;

    if (size > 0) {
        chunk = data[0] % 8 == 0 ? 1 : 143;
    }
    /* A small maximum so oversize handling is reached with small inputs. */
    dagd_linebuf_init(&lb, size > 1 && data[1] % 2 ? 64 : DAGD_PROTOCOL_MAX_LINE);
    for (size_t off = 0; off < size; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        dagd_linebuf_append(&lb, (const char *)data + off, n);
        for (;;) {
            char *line;
            size_t len;
            int r = dagd_linebuf_next(&lb, &line, &len);
            if (r == 0) {
                break;
            }
            char *out;
            if (r < 0) {
                out = dagd_reply_error(NULL, DAGD_ERR_LINE_TOO_LONG, "too long", NULL);
                free(out);
                continue;
            }
            struct dagd_request req;
            const char *code = NULL;
            char *msg = NULL;
            cJSON *id = NULL;
            if (dagd_request_decode(line, len, &req, &code, &msg, &id) < 0) {
                size_t olen;
                out = dagd_reply_error(id, code, msg, &olen);
                if (memchr(out, '\n', olen - 1)) {
                    abort(); /* a reply must stay one line */
                }
                free(out);
                free(msg);
                cJSON_Delete(id);
                continue;
            }
            /* Echo the params back, as a handler might. */
            out = dagd_reply_result(req.id, cJSON_Duplicate(req.params, true), NULL);
            if (!dagd_utf8_valid(out, strlen(out), NULL)) {
                abort(); /* only UTF-8 gets past the decoder, so only UTF-8 comes back */
            }
            struct dagd_reply rep;
            if (dagd_reply_decode(out, strlen(out) - 1, &rep) < 0) {
                abort(); /* what we encode must decode */
            }
            dagd_reply_done(&rep);
            free(out);
            dagd_request_done(&req);
        }
    }
    dagd_linebuf_done(&lb);
    return 0;
}
