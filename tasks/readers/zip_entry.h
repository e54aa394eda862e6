/* Reading one entry of a zip archive, inflated, for the xlsx reader.
 *
 * A worksheet is one big DEFLATE stream (37 MB of XML for 160k rows), and
 * inflating it with zlib (what zip_fread does) costs about as much CPU as
 * scanning the XML. So a DEFLATE entry is read raw (ZIP_FL_COMPRESSED) and
 * inflated with ISA-L's igzip (~3x faster than zlib on these parts), and its
 * CRC-32 and size are checked against the central directory at the end, as
 * libzip would. Every other entry (stored, another method, encrypted, no
 * CRC or size in the directory) is read through libzip as before.
 *
 * Owns: the libzip file handle and the inflate state (~100 KiB), nothing
 * that grows with the entry. Not thread-safe: one thread reads an entry at
 * a time (another may take over between reads). Never logs. */
#ifndef DAGD_READERS_ZIP_ENTRY_H
#define DAGD_READERS_ZIP_ENTRY_H

#include <stddef.h>
#include <stdint.h>
#include <zip.h>

struct dagd_zip_entry;

/* Opens entry `idx` of `za`. Returns 0 with *ret (free with
 * dagd_zip_entry_close), or -EIO with libzip's message in err. */
int dagd_zip_entry_open(zip_t *za, zip_uint64_t idx, struct dagd_zip_entry **ret, char *err,
                        size_t errlen);

/* Like zip_fread: up to n inflated bytes into buf; returns how many (> 0),
 * 0 at the end of the entry (after its CRC and size were checked), or -1 on
 * an error (corrupt or truncated data, CRC or size mismatch), after which
 * dagd_zip_entry_strerror() says what, and every later read fails again. */
int64_t dagd_zip_entry_read(struct dagd_zip_entry *e, void *buf, size_t n);

/* The last error of a read. */
const char *dagd_zip_entry_strerror(struct dagd_zip_entry *e);

/* Returns NULL; accepts NULL. */
struct dagd_zip_entry *dagd_zip_entry_close(struct dagd_zip_entry *e);

#endif
