/* Fuzz target for tasks/readers/json_reader.c: the input is pushed in
 * chunks whose size comes from the first byte (1..256, so records and
 * tokens are split everywhere), with the dataset2 keys wanted.
 * Built as a libFuzzer target with -Dfuzzers=true (clang), and always as a
 * corpus replay test (replay_main.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[] = {"ORDER_ID",        "ORDER_TIME_PST", "SHIP_TO_DISTRICT_NAME",
                                   "SHIP_TO_CITY_CD", "RPTG_AMT",       "CURRENCY_CD",
                                   "ORDER_QTY"};

static int on_record(void *ud, const struct dagd_json_record *rec)
{
    size_t *sum = ud;

    for (size_t k = 0; k < rec->n_values; k++) {
        const struct dagd_json_value *v = &rec->values[k];
        if (v->s) {
            for (size_t i = 0; i <= v->len; i++) {
                *sum += (unsigned char)v->s[i];
            }
        }
        *sum += (size_t)v->kind + (size_t)v->i;
    }
    if (rec->extra_keys) {
        *sum += strlen(rec->extra_keys);
    }
    return rec->record_no == 1000 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t sum = 0, chunk = 64;
    struct dagd_json_reader *r = dagd_json_reader_new(keys, 7, on_record, &sum);
    int e = 0;

    if (!r) {
        return 0;
    }
    if (size > 0) {
        chunk = (size_t)data[0] + 1;
        data++;
        size--;
    }
    for (size_t off = 0; off < size && e == 0; off += chunk) {
        e = dagd_json_reader_feed(r, data + off, size - off < chunk ? size - off : chunk);
    }
    if (e == 0) {
        (void)dagd_json_reader_finish(r);
    }
    (void)strlen(dagd_json_reader_error(r));
    dagd_json_reader_free(r);
    return 0;
}
