/* Small helpers of the validate pass: an arena for strings and an
 * open-addressing hash map from byte strings to int64 (dedup by ORDER_ID,
 * map lookups, interning). Allocation failures abort (like dagd_xmalloc):
 * the step runs in a worker process and is retried. */
#ifndef DAGD_STRMAP_H
#define DAGD_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dagd_arena {
    struct dagd_arena_chunk *head;
};

/* A NUL-terminated copy of s[0..len) that lives until dagd_arena_done. */
const char *dagd_arena_strndup(struct dagd_arena *a, const char *s, size_t len);
void dagd_arena_done(struct dagd_arena *a);
/* Hand every string of `from` over to `to` (they live until
 * dagd_arena_done(to)); `from` is empty afterwards. */
void dagd_arena_move(struct dagd_arena *to, struct dagd_arena *from);

struct dagd_strmap_entry {
    const char *key; /* not owned; NULL = empty slot */
    uint32_t len;
    uint32_t hash; /* 24-byte entries: the map of 200k ORDER_IDs stays small */
    int64_t value;
};

struct dagd_strmap {
    struct dagd_strmap_entry *slots;
    size_t cap; /* power of two */
    size_t n;
};

/* The entry for key (len bytes), added with value `def` if missing; *ret_added
 * (may be NULL) tells which. The key pointer is stored, not copied: it must
 * outlive the map (use the arena). The entry pointer is valid until the next
 * insertion. */
struct dagd_strmap_entry *dagd_strmap_upsert(struct dagd_strmap *m, const char *key, size_t len,
                                             int64_t def, bool *ret_added);
/* Make room for n keys in all: no entry moves until the map holds more. */
void dagd_strmap_reserve(struct dagd_strmap *m, size_t n);
/* The entry for key, or NULL. */
struct dagd_strmap_entry *dagd_strmap_find(const struct dagd_strmap *m, const char *key,
                                           size_t len);
void dagd_strmap_done(struct dagd_strmap *m);

#endif
