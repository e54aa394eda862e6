/* See zip_entry.h. */
#include "zip_entry.h"

#include <errno.h>
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zip_dl.h"

#define IN_CHUNK (64u * 1024u) /* compressed bytes per zip_fread */

struct dagd_zip_entry {
    zip_file_t *zf;
    bool raw; /* zf gives compressed bytes, inflated here */

    /* raw only */
    struct inflate_state st;
    unsigned char *in;
    uint64_t size, out; /* declared and produced uncompressed bytes */
    uint32_t want_crc, crc;
    bool in_eof, finished, failed;
    char err[256];
};

int dagd_zip_entry_open(zip_t *za, zip_uint64_t idx, struct dagd_zip_entry **ret, char *err,
                        size_t errlen)
{
    const zip_uint64_t need =
        ZIP_STAT_SIZE | ZIP_STAT_CRC | ZIP_STAT_COMP_METHOD | ZIP_STAT_ENCRYPTION_METHOD;
    struct dagd_zip_entry *e = calloc(1, sizeof(*e));
    zip_stat_t zs;

    if (!e) {
        (void)snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    e->raw = zip_stat_index(za, idx, 0, &zs) == 0 && (zs.valid & need) == need &&
             zs.comp_method == ZIP_CM_DEFLATE && zs.encryption_method == ZIP_EM_NONE;
    if (e->raw) {
        e->in = malloc(IN_CHUNK);
        if (!e->in) {
            free(e);
            (void)snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        e->size = zs.size;
        e->want_crc = zs.crc;
        isal_inflate_init(&e->st); /* raw DEFLATE: no header, no trailer */
    }
    e->zf = zip_fopen_index(za, idx, e->raw ? ZIP_FL_COMPRESSED : 0);
    if (!e->zf) {
        (void)snprintf(err, errlen, "%s", zip_strerror(za));
        free(e->in);
        free(e);
        return -EIO;
    }
    *ret = e;
    return 0;
}

static int64_t fail(struct dagd_zip_entry *e, const char *msg)
{
    (void)snprintf(e->err, sizeof(e->err), "%s", msg);
    e->failed = true;
    return -1;
}

/* The end of the stream: what came out must be what the directory says. */
static int64_t check_end(struct dagd_zip_entry *e)
{
    if (e->out != e->size) {
        return fail(e, "inflated size differs from the size in the zip directory");
    }
    if (e->crc != e->want_crc) {
        return fail(e, "CRC error");
    }
    return 0;
}

int64_t dagd_zip_entry_read(struct dagd_zip_entry *e, void *buf, size_t n)
{
    if (!e->raw) {
        return zip_fread(e->zf, buf, n);
    }
    if (e->failed) {
        return -1;
    }
    if (n > UINT32_MAX) {
        n = UINT32_MAX;
    }
    for (;;) {
        if (e->finished) {
            return check_end(e);
        }
        if (e->st.avail_in == 0 && !e->in_eof) {
            zip_int64_t got = zip_fread(e->zf, e->in, IN_CHUNK);
            if (got < 0) {
                return fail(e, zip_file_strerror(e->zf));
            }
            e->in_eof = got == 0;
            e->st.next_in = e->in;
            e->st.avail_in = (uint32_t)got;
        }
        uint32_t avail_in = e->st.avail_in;
        e->st.next_out = buf;
        e->st.avail_out = (uint32_t)n;
        if (isal_inflate(&e->st) < 0) {
            return fail(e, "invalid compressed data");
        }
        size_t made = n - e->st.avail_out;
        e->finished = e->st.block_state == ISAL_BLOCK_FINISH;
        if (made > 0) {
            e->out += made;
            if (e->out > e->size) {
                return fail(e, "inflated data longer than the size in the zip directory");
            }
            e->crc = crc32_gzip_refl(e->crc, buf, made);
            return (int64_t)made;
        }
        /* Nothing came out: isal needs more input, unless there is none
         * (or it took none: never loop without progress). */
        if (!e->finished &&
            ((e->in_eof && e->st.avail_in == 0) || (avail_in > 0 && e->st.avail_in == avail_in))) {
            return fail(e, "compressed data ends early");
        }
    }
}

const char *dagd_zip_entry_strerror(struct dagd_zip_entry *e)
{
    if (e->raw && e->failed) {
        return e->err;
    }
    return zip_file_strerror(e->zf);
}

struct dagd_zip_entry *dagd_zip_entry_close(struct dagd_zip_entry *e)
{
    if (e) {
        (void)zip_fclose(e->zf);
        free(e->in);
        free(e);
    }
    return NULL;
}
