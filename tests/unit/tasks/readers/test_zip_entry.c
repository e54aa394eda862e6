/* Unit tests for tasks/readers/zip_entry.c: DEFLATE entries inflated by
 * ISA-L give exactly what libzip gives, in any read size; stored entries go
 * through libzip; a wrong CRC, a wrong size, cut or garbage compressed data
 * fail with a message, and keep failing. Zip files are made with libzip and
 * then patched in their central directory, which is what zip_stat reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zip.h>

/* This test builds its archives with the real libzip (linked); zip_entry.c
 * reads them through lib/zip's table, which dagd_zip_load() fills. */
#define DAGD_ZIP_IMPL
#include "zip_dl.h"
#include "zip_entry.h"

#define TEXT_LEN (3u * 1024u * 1024u + 17u)

static char path[64];
static char *text; /* compressible but not trivial, like sheet XML */

static void make_text(void)
{
    uint32_t x = 12345;
    size_t n = 0;

    text = malloc(TEXT_LEN);
    assert_non_null(text);
    while (n < TEXT_LEN) {
        char cell[64];
        x = x * 1103515245u + 12345u;
        int k = snprintf(cell, sizeof(cell), "<c r=\"A%u\" t=\"n\"><v>%u</v></c>", x % 100000,
                         (x >> 8) % 1000);
        for (int i = 0; i < k && n < TEXT_LEN; i++) {
            text[n++] = cell[i];
        }
    }
}

/* a.xml deflated, b.txt stored. */
static void write_zip(void)
{
    int ze;
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &ze);
    assert_non_null(za);
    zip_source_t *a = zip_source_buffer(za, text, TEXT_LEN, 0);
    zip_source_t *b = zip_source_buffer(za, "plain stored bytes", 18, 0);
    zip_int64_t ia = zip_file_add(za, "a.xml", a, 0);
    zip_int64_t ib = zip_file_add(za, "b.txt", b, 0);
    assert_true(ia >= 0 && ib >= 0);
    assert_int_equal(zip_set_file_compression(za, (zip_uint64_t)ia, ZIP_CM_DEFLATE, 6), 0);
    assert_int_equal(zip_set_file_compression(za, (zip_uint64_t)ib, ZIP_CM_STORE, 0), 0);
    assert_int_equal(zip_close(za), 0);
}

static int setup(void **state)
{
    strcpy(path, "/tmp/dagd-test-zip-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) {
        return -1;
    }
    close(fd);
    make_text();
    return dagd_zip_load(NULL) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    free(text);
    return unlink(path);
}

/* Patch a little-endian uint32 at `off` bytes into a.xml's central
 * directory header (signature PK\1\2; CRC at 16, sizes at 20 and 24), or
 * `data_off` bytes into its compressed data when off < 0. */
static void patch(long off, long data_off, uint32_t (*f)(uint32_t))
{
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long size = ftell(fp);
    unsigned char *b = malloc((size_t)size);
    assert_non_null(b);
    rewind(fp);
    assert_int_equal(fread(b, 1, (size_t)size, fp), (size_t)size);
    long at = -1;
    if (off >= 0) {
        for (long i = 0; i + 46 < size; i++) {
            if (memcmp(b + i, "PK\1\2", 4) == 0 && memcmp(b + i + 46, "a.xml", 5) == 0) {
                at = i + off;
                break;
            }
        }
    } else {
        at = 30 + 5 + data_off; /* first local header: fixed part, name, no extra */
        assert_int_equal(b[26] | b[27] << 8, 5);
        assert_int_equal(b[28] | b[29] << 8, 0);
    }
    assert_true(at >= 0);
    uint32_t v = (uint32_t)b[at] | (uint32_t)b[at + 1] << 8 | (uint32_t)b[at + 2] << 16 |
                 (uint32_t)b[at + 3] << 24;
    v = f(v);
    for (int i = 0; i < 4; i++) {
        b[at + i] = (unsigned char)(v >> (8 * i));
    }
    rewind(fp);
    assert_int_equal(fwrite(b, 1, (size_t)size, fp), (size_t)size);
    assert_int_equal(fclose(fp), 0);
    free(b);
}

/* Reads entry `name` whole in reads of `chunk` bytes; returns the length
 * read, or -1 with the message in msg (and checks that it keeps failing). */
static int64_t read_all(const char *name, size_t chunk, char *out, size_t cap, char *msg,
                        size_t msglen)
{
    int ze;
    char err[256];
    struct dagd_zip_entry *e = NULL;
    zip_t *za = zip_open(path, ZIP_RDONLY, &ze);
    assert_non_null(za);
    zip_int64_t idx = zip_name_locate(za, name, 0);
    assert_true(idx >= 0);
    assert_int_equal(dagd_zip_entry_open(za, (zip_uint64_t)idx, &e, err, sizeof(err)), 0);
    int64_t total = 0, n;
    while ((n = dagd_zip_entry_read(e, out + total, chunk < cap - total ? chunk : cap - total)) >
           0) {
        total += n;
        assert_true((size_t)total <= cap);
    }
    if (n < 0) {
        snprintf(msg, msglen, "%s", dagd_zip_entry_strerror(e));
        total = -1;
        assert_true(dagd_zip_entry_read(e, out, chunk) < 0); /* and again */
    } else {
        assert_int_equal(dagd_zip_entry_read(e, out, chunk), 0); /* the end stays the end */
    }
    assert_null(dagd_zip_entry_close(e));
    zip_discard(za);
    return total;
}

static void test_roundtrip(void **state)
{
    static const size_t chunks[] = {1, 7, 4096, 65536, 256 * 1024, TEXT_LEN + 100};
    char *out = malloc(TEXT_LEN + 100);
    char msg[256];

    write_zip();
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        size_t chunk = chunks[i];
        if (chunk == 1) {
            /* byte at a time over a prefix only: the whole would be slow */
            int ze;
            char err[256];
            struct dagd_zip_entry *e = NULL;
            zip_t *za = zip_open(path, ZIP_RDONLY, &ze);
            assert_int_equal(dagd_zip_entry_open(za, 0, &e, err, sizeof(err)), 0);
            for (size_t k = 0; k < 100000; k++) {
                assert_int_equal(dagd_zip_entry_read(e, out + k, 1), 1);
            }
            assert_memory_equal(out, text, 100000);
            dagd_zip_entry_close(e);
            zip_discard(za);
            continue;
        }
        assert_int_equal(read_all("a.xml", chunk, out, TEXT_LEN + 100, msg, sizeof(msg)), TEXT_LEN);
        assert_memory_equal(out, text, TEXT_LEN);
    }
    assert_int_equal(read_all("b.txt", 5, out, 100, msg, sizeof(msg)), 18);
    assert_memory_equal(out, "plain stored bytes", 18);
    free(out);
}

static uint32_t plus_one(uint32_t v)
{
    return v + 1;
}

static uint32_t minus_one(uint32_t v)
{
    return v - 1;
}

static uint32_t half(uint32_t v)
{
    return v / 2;
}

static uint32_t garbage(uint32_t v)
{
    return 0xA5A5A5A5u ^ v;
}

static void expect_error(long off, long data_off, uint32_t (*f)(uint32_t), const char *want)
{
    char *out = malloc(TEXT_LEN + 100);
    char msg[256] = "";

    write_zip();
    patch(off, data_off, f);
    assert_int_equal(read_all("a.xml", 65536, out, TEXT_LEN + 100, msg, sizeof(msg)), -1);
    if (!strstr(msg, want)) {
        fail_msg("message '%s' does not contain '%s'", msg, want);
    }
    free(out);
}

static void test_crc_mismatch(void **state)
{
    expect_error(16, 0, plus_one, "CRC error");
}

static void test_size_mismatch(void **state)
{
    expect_error(24, 0, plus_one, "size");  /* declared longer than the data */
    expect_error(24, 0, minus_one, "size"); /* declared shorter */
}

static void test_cut_data(void **state)
{
    expect_error(20, 0, half, "ends early"); /* compressed size halved */
}

static void test_garbage_data(void **state)
{
    /* a few bytes into the stream: the block header itself is damaged */
    expect_error(-1, 0, garbage, "");
    expect_error(-1, 1000, garbage, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),     cmocka_unit_test(test_crc_mismatch),
        cmocka_unit_test(test_size_mismatch), cmocka_unit_test(test_cut_data),
        cmocka_unit_test(test_garbage_data),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
