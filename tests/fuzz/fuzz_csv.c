/* Fuzz target for tasks/readers/csv_reader.c. The first byte picks the
 * chunk size (1..128, so quotes, "" pairs and CRLFs are split everywhere)
 * and, by its top bit, ';' instead of ',' as the delimiter. Each record is
 * checked against what the reader promises: fields NUL-terminated at their
 * length, record numbers counting up from 1, lines never going back.
 * Built as a libFuzzer target with -Dfuzzers=true (clang), and always as a
 * corpus replay test (replay_main.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csv_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct state {
    uint64_t records, line;
    size_t sum;
};

static int on_record(void *ud, uint64_t record_no, uint64_t line, const struct dagd_csv_field *f,
                     size_t n)
{
    struct state *st = ud;

    if (record_no != st->records + 1 || line < st->line || n == 0) {
        abort();
    }
    st->records = record_no;
    st->line = line;
    for (size_t i = 0; i < n; i++) {
        if (f[i].s[f[i].len] != '\0') {
            abort();
        }
        st->sum += f[i].len + (size_t)f[i].quoted;
    }
    return record_no == 100000 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct state st = {0};
    size_t chunk = 64;
    struct dagd_csv_reader *r = dagd_csv_reader_new(on_record, &st);
    int e = 0;

    if (!r) {
        return 0;
    }
    if (size > 0) {
        chunk = (size_t)(data[0] & 0x7f) + 1;
        if (data[0] & 0x80) {
            (void)dagd_csv_reader_set_delimiter(r, ';');
        }
        data++;
        size--;
    }
    for (size_t off = 0; off < size && e == 0; off += chunk) {
        e = dagd_csv_reader_feed(r, data + off, size - off < chunk ? size - off : chunk);
    }
    if (e == 0) {
        (void)dagd_csv_reader_finish(r);
    }
    (void)strlen(dagd_csv_reader_error(r));
    dagd_csv_reader_free(r);
    return 0;
}
