/* Fuzz target for tasks/readers/xlsx_reader.c.
 *
 * An input starting with "PK" is opened as a whole workbook (zip) and every
 * sheet is streamed. Anything else is XML: the bytes before the first NUL
 * (if any) are a shared string table, the rest a worksheet, so the sheet
 * parser is reached without the zip container in the way.
 * Built as a libFuzzer target with -Dfuzzers=true (clang), and always as a
 * corpus replay test (replay_main.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xlsx_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_row(void *ud, uint64_t row_no, const struct dagd_xlsx_cell *cells, size_t n)
{
    size_t *sum = ud;

    for (size_t i = 0; i < n; i++) {
        /* touch every byte, so ASan sees a bad pointer or length */
        for (size_t k = 0; k <= cells[i].len; k++) {
            *sum += (unsigned char)cells[i].text[k];
        }
        *sum += cells[i].col + cells[i].kind;
    }
    return *sum % 9973 == 17 ? -1 : 0; /* sometimes stop from the callback */
}

static void on_dim(void *ud, uint64_t last_row)
{
    *(size_t *)ud += (size_t)last_row;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t sum = 0;
    struct dagd_xlsx_handler h = {on_row, on_dim, &sum};
    char err[512];

    if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
        struct dagd_xlsx *x = NULL;
        if (dagd_xlsx_open_buffer(data, size, &x, err, sizeof(err)) == 0) {
            for (size_t i = 0; i < dagd_xlsx_sheet_count(x); i++) {
                (void)dagd_xlsx_find_sheet(x, dagd_xlsx_sheet_name(x, i));
                (void)dagd_xlsx_read_sheet(x, i, &h, err, sizeof(err));
            }
            dagd_xlsx_free(x);
        }
    } else {
        struct dagd_xlsx *x = dagd_xlsx_new_empty();
        const uint8_t *nul = memchr(data, 0, size);
        if (!x) {
            return 0;
        }
        if (nul) {
            (void)dagd_xlsx_parse_shared_xml(x, data, (size_t)(nul - data), err, sizeof(err));
            size -= (size_t)(nul - data) + 1;
            data = nul + 1;
        }
        (void)dagd_xlsx_parse_sheet_xml(x, data, size, &h, err, sizeof(err));
        dagd_xlsx_free(x);
    }
    return 0;
}
