/* Fuzz target for cron expressions (daemon/cron.c): the input is
 * "Z" + expression, where the first byte picks a time zone and the start
 * time; the expression is parsed and, when valid, its next fire times are
 * computed. Checks the invariants: a next fire is strictly after its start
 * and fires are strictly increasing.
 *
 * Built as a libFuzzer target with -Dfuzzers=true (clang); linked with
 * replay_main.c as a plain program that replays a corpus (files or
 * directories given as arguments), which meson runs as a test. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const zones[] = {"UTC",           "Europe/Berlin",       "America/New_York",
                                        "Asia/Shanghai", "Australia/Lord_Howe", "Asia/Kolkata"};
    /* Around DST changes and a leap day: 2024-03-10, 2024-10-27, 2024-02-28. */
    static const int64_t starts[] = {1710054000, 1729990800, 1709078400, 0};
    struct dagd_cron c;
    char *err = NULL;
    char expr[256];

    if (size == 0 || size > sizeof(expr)) {
        return 0;
    }
    memcpy(expr, data + 1, size - 1);
    expr[size - 1] = '\0';
    if (dagd_cron_parse(expr, &c, &err) < 0) {
        if (!err || strchr(err, '\n')) {
            abort(); /* every error has a one-line message */
        }
        free(err);
        return 0;
    }
    const char *tz = zones[data[0] % 6];
    int64_t t = starts[(data[0] / 6) % 4];
    for (int i = 0; i < 4; i++) {
        int64_t next;
        if (dagd_cron_next(&c, tz, t, &next) < 0) {
            break;
        }
        if (next <= t) {
            abort();
        }
        t = next;
    }
    return 0;
}
