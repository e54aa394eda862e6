/* Streaming reader for JSON deliveries: a top-level array of flat objects,
 * one record per object (dataset2.json).
 *
 * Owns: a yajl parser and one per-record scratch arena. Bytes are pushed in
 * chunks of any size (dagd_json_reader_feed); each finished object is handed
 * to the record callback with its values looked up by a fixed key list, so
 * memory is bounded by the largest record, not by the file.
 *
 * What a record holds: for each wanted key, the value (absent when the key is
 * missing; the last one wins if a key repeats); the other keys, in order, as
 * a comma-separated list. Nested arrays/objects are delivered as their
 * compact JSON text. Numbers keep their written type: integral text is an
 * integer, anything with a fraction or exponent is a real (2.0 stays real).
 *
 * Errors (-EINVAL, message from dagd_json_reader_error) name the record
 * number and the byte offset: a syntax error, a top level that is not an
 * array, an element that is not an object. Never logs.
 */
#ifndef DAGD_READERS_JSON_READER_H
#define DAGD_READERS_JSON_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dagd_json_kind {
    DAGD_JSON_ABSENT = 0, /* key not in the record */
    DAGD_JSON_NULL,
    DAGD_JSON_BOOL,   /* i = 0 or 1 */
    DAGD_JSON_INT,    /* i */
    DAGD_JSON_REAL,   /* d */
    DAGD_JSON_STRING, /* s, len (UTF-8, escapes decoded) */
    DAGD_JSON_NESTED, /* s, len: compact JSON text of an array or object */
};

struct dagd_json_value {
    enum dagd_json_kind kind;
    int64_t i;
    double d;
    const char *s; /* NUL-terminated */
    size_t len;
};

struct dagd_json_record {
    uint64_t record_no;                   /* 1-based index in the array */
    uint64_t offset;                      /* byte offset of the record's '{' in the input */
    const struct dagd_json_value *values; /* one per wanted key, in key order */
    size_t n_values;
    const char *extra_keys; /* "A,B" or NULL when none */
};

/* Return 0 to continue, or a negative errno to stop (feed/finish then
 * return it, with no error message). Pointers are valid during the call. */
typedef int (*dagd_json_record_fn)(void *userdata, const struct dagd_json_record *rec);

struct dagd_json_reader;

/* keys: the wanted keys (array of n_keys strings, kept by reference: must
 * outlive the reader). NULL on OOM. */
struct dagd_json_reader *dagd_json_reader_new(const char *const *keys, size_t n_keys,
                                              dagd_json_record_fn fn, void *userdata);
struct dagd_json_reader *dagd_json_reader_free(struct dagd_json_reader *r);
/* Reads NDJSON instead (one object per line, or any whitespace between
 * objects; an empty input is no records). Before the first feed; -EINVAL
 * after. */
int dagd_json_reader_set_ndjson(struct dagd_json_reader *r);

/* Pushes the next len bytes. Returns 0, a callback's negative value, or
 * -EINVAL (bad input; see dagd_json_reader_error), -E2BIG (a record over
 * the size limit) or -ENOMEM. After an error, the reader is dead. */
int dagd_json_reader_feed(struct dagd_json_reader *r, const void *buf, size_t len);
/* Ends the input: fails if the array is not closed (truncated file) or
 * the input was empty. */
int dagd_json_reader_finish(struct dagd_json_reader *r);

/* The error message of the last failure ("" if none). */
const char *dagd_json_reader_error(const struct dagd_json_reader *r);
/* Records delivered so far, and bytes pushed so far. */
uint64_t dagd_json_reader_records(const struct dagd_json_reader *r);
uint64_t dagd_json_reader_bytes(const struct dagd_json_reader *r);

#endif /* DAGD_READERS_JSON_READER_H */
