/* Streaming CSV reader (RFC 4180: ',' separator or another byte, '"' quoting with "" for a
 * quote, CRLF or LF line ends, newlines allowed inside quotes, an optional
 * UTF-8 byte order mark). Bytes are pushed in chunks of any size; each
 * record is handed to a callback as an array of fields. Memory is bounded
 * by the largest record. Blank lines are skipped. Never logs.
 */
#ifndef DAGD_READERS_CSV_READER_H
#define DAGD_READERS_CSV_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dagd_csv_field {
    const char *s; /* NUL-terminated, quotes removed */
    size_t len;
    bool quoted;
};

/* record_no: 1-based over non-blank records (the header is record 1); line:
 * the 1-based line where the record starts. Return 0 or a negative errno
 * to stop (feed/finish return it, with no error message). */
typedef int (*dagd_csv_record_fn)(void *userdata, uint64_t record_no, uint64_t line,
                                  const struct dagd_csv_field *fields, size_t n_fields);

struct dagd_csv_reader;

struct dagd_csv_reader *dagd_csv_reader_new(dagd_csv_record_fn fn, void *userdata);
struct dagd_csv_reader *dagd_csv_reader_free(struct dagd_csv_reader *r);
/* Field separator instead of ',' (e.g. ';' or '\t'), before the first
 * feed. -EINVAL for '"', CR, LF, NUL, or after input was fed. */
int dagd_csv_reader_set_delimiter(struct dagd_csv_reader *r, char delim);
/* Returns 0, a callback's value, -EINVAL (bad quoting; message from
 * dagd_csv_reader_error with line and byte offset), -E2BIG, -ENOMEM. */
int dagd_csv_reader_feed(struct dagd_csv_reader *r, const void *buf, size_t len);
/* Ends the input: delivers a last record without a line end; fails on an
 * unterminated quoted field. */
int dagd_csv_reader_finish(struct dagd_csv_reader *r);
const char *dagd_csv_reader_error(const struct dagd_csv_reader *r);
uint64_t dagd_csv_reader_records(const struct dagd_csv_reader *r);
/* Bytes fed so far (for progress). */
uint64_t dagd_csv_reader_offset(const struct dagd_csv_reader *r);

#endif /* DAGD_READERS_CSV_READER_H */
