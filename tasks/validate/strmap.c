/* Arena and string hash map of the validate pass (see strmap.h). */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define CHUNK_BYTES (256 * 1024)

struct dagd_arena_chunk {
    struct dagd_arena_chunk *next;
    size_t used, cap;
    char data[];
};

static void *xmalloc0(size_t n)
{
    void *p = calloc(1, n ? n : 1);

    if (!p) {
        abort();
    }
    return p;
}

const char *dagd_arena_strndup(struct dagd_arena *a, const char *s, size_t len)
{
    struct dagd_arena_chunk *c = a->head;
    char *d;

    if (!c || c->cap - c->used < len + 1) {
        size_t cap = len + 1 > CHUNK_BYTES ? len + 1 : CHUNK_BYTES;
        c = xmalloc0(sizeof(*c) + cap);
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    d = c->data + c->used;
    memcpy(d, s, len);
    d[len] = '\0';
    c->used += len + 1;
    return d;
}

void dagd_arena_move(struct dagd_arena *to, struct dagd_arena *from)
{
    struct dagd_arena_chunk **tail = &from->head;

    while (*tail) {
        tail = &(*tail)->next;
    }
    *tail = to->head; /* chunks are only freed, in any order */
    to->head = from->head;
    from->head = NULL;
}

void dagd_arena_done(struct dagd_arena *a)
{
    while (a->head) {
        struct dagd_arena_chunk *n = a->head->next;
        free(a->head);
        a->head = n;
    }
}

static uint32_t hash_of(const char *key, size_t len)
{
    uint64_t h = XXH3_64bits(key, len);

    return (uint32_t)(h ^ (h >> 32));
}

static struct dagd_strmap_entry *slot_of(const struct dagd_strmap *m, const char *key, size_t len,
                                         uint32_t h)
{
    size_t i = (size_t)h & (m->cap - 1);

    for (;;) {
        struct dagd_strmap_entry *e = &m->slots[i];
        if (!e->key || (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0)) {
            return e;
        }
        i = (i + 1) & (m->cap - 1);
    }
}

static void grow_to(struct dagd_strmap *m, size_t cap)
{
    struct dagd_strmap_entry *old = m->slots;
    size_t old_cap = m->cap;

    m->cap = cap;
    m->slots = xmalloc0(m->cap * sizeof(*m->slots));
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].key) {
            *slot_of(m, old[i].key, old[i].len, old[i].hash) = old[i];
        }
    }
    free(old);
}

static void grow(struct dagd_strmap *m)
{
    grow_to(m, m->cap ? m->cap * 2 : 64);
}

void dagd_strmap_reserve(struct dagd_strmap *m, size_t n)
{
    size_t cap = m->cap ? m->cap : 64;

    while (cap < 2 * (n + 1)) {
        cap *= 2;
    }
    if (cap > m->cap) {
        grow_to(m, cap);
    }
}

struct dagd_strmap_entry *dagd_strmap_upsert(struct dagd_strmap *m, const char *key, size_t len,
                                             int64_t def, bool *ret_added)
{
    uint32_t h = hash_of(key, len);
    struct dagd_strmap_entry *e;

    /* Keep the load factor below 1/2 so probes stay short. */
    if ((m->n + 1) * 2 > m->cap) {
        grow(m);
    }
    e = slot_of(m, key, len, h);
    if (ret_added) {
        *ret_added = !e->key;
    }
    if (!e->key) {
        e->key = key;
        e->len = (uint32_t)len;
        e->hash = h;
        e->value = def;
        m->n++;
    }
    return e;
}

struct dagd_strmap_entry *dagd_strmap_find(const struct dagd_strmap *m, const char *key, size_t len)
{
    struct dagd_strmap_entry *e;

    if (m->cap == 0) {
        return NULL;
    }
    e = slot_of(m, key, len, hash_of(key, len));
    return e->key ? e : NULL;
}

void dagd_strmap_done(struct dagd_strmap *m)
{
    free(m->slots);
    memset(m, 0, sizeof(*m));
}
