/* Fuzz target for cron expressions (daemon/cron.c): the input is
 * "Z" + expression, where the first byte picks a time zone and the start
 * time; the expression is parsed and, when valid, its next fire times are
 * computed. Checks the invariants: a next fire is strictly after its start
 * and fires are strictly increasing.
 *
 * Built as a libFuzzer target with -Dfuzzers=true (clang); built with
 * DAGD_FUZZ_REPLAY as a plain program that replays a corpus (files or
 * directories given as arguments), which meson runs as a test. */
#include <dirent.h>
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

#ifdef DAGD_FUZZ_REPLAY
static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            buf = realloc(buf, cap);
            if (!buf) {
                abort();
            }
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        if (n == 0) {
            break;
        }
        len += n;
    }
    fclose(f);
    LLVMFuzzerTestOneInput((const uint8_t *)buf, len);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (!d) {
            if (replay_file(argv[i]) < 0) {
                return 1;
            }
            n++;
            continue;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.') {
                continue;
            }
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
            if (replay_file(path) < 0) {
                closedir(d);
                return 1;
            }
            n++;
        }
        closedir(d);
    }
    printf("replayed %d inputs\n", n);
    return n > 0 ? 0 : 1;
}
#endif
