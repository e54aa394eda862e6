/* The bundled translation dictionary. See dictionary.h for the quirks it
 * works around. Lookups are linear over cJSON arrays hashed into a small
 * open-addressing table by name: ~3k entries, loaded once per attempt. */
#include "dictionary.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest dictionary file we read: the real ones are ~3 MB. */
#define DICT_MAX_BYTES (64u << 20)

struct table {
    const cJSON **slot; /* entries by name, NULL = empty */
    size_t cap;
    const char *key; /* the JSON key holding the name */
};

struct dagd_dict {
    cJSON *cities, *districts;
    struct table city, district;
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    }
    return h;
}

static const char *str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int table_build(struct table *t, const cJSON *arr, const char *key)
{
    size_t n = (size_t)cJSON_GetArraySize(arr);
    t->key = key;
    t->cap = 16;
    while (t->cap < 2 * n + 1) {
        t->cap *= 2;
    }
    t->slot = calloc(t->cap, sizeof(*t->slot));
    if (!t->slot) {
        return -ENOMEM;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        const char *name = str(e, key);
        if (!name) {
            continue;
        }
        size_t i = hash(name) & (t->cap - 1);
        while (t->slot[i] && strcmp(str(t->slot[i], key), name) != 0) {
            i = (i + 1) & (t->cap - 1);
        }
        if (!t->slot[i]) {
            t->slot[i] = e; /* first entry of a name wins */
        }
    }
    return 0;
}

static const cJSON *table_get(const struct table *t, const char *name)
{
    if (!t->slot || !name) {
        return NULL;
    }
    size_t i = hash(name) & (t->cap - 1);
    while (t->slot[i]) {
        if (strcmp(str(t->slot[i], t->key), name) == 0) {
            return t->slot[i];
        }
        i = (i + 1) & (t->cap - 1);
    }
    return NULL;
}

static int read_json(const char *dir, const char *name, cJSON **ret, char **reterr_msg)
{
    char path[4096];
    int r = 0;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
        return -ENAMETOOLONG;
    }
    FILE *f = fopen(path, "re");
    if (!f) {
        r = -errno;
        if (reterr_msg) {
            (void)asprintf(reterr_msg, "cannot open '%s': %s", path, strerror(-r));
        }
        return r;
    }
    char *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            if (cap > DICT_MAX_BYTES) {
                r = -EFBIG;
                break;
            }
            char *nd = realloc(data, cap);
            if (!nd) {
                r = -ENOMEM;
                break;
            }
            data = nd;
        }
        size_t got = fread(data + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) {
                r = -EIO;
            }
            break;
        }
    }
    fclose(f);
    cJSON *root = r < 0 ? NULL : cJSON_ParseWithLength(data, len);
    free(data);
    if (r == 0 && !cJSON_IsArray(root)) {
        r = -EBADMSG;
    }
    if (r < 0) {
        cJSON_Delete(root);
        if (reterr_msg && !*reterr_msg) {
            (void)asprintf(reterr_msg, "cannot read '%s': %s", path,
                           r == -EBADMSG ? "not a JSON array" : strerror(-r));
        }
        return r;
    }
    *ret = root;
    return 0;
}

int dagd_dict_load(const char *dir, struct dagd_dict **ret_dict, char **reterr_msg)
{
    struct dagd_dict *d = calloc(1, sizeof(*d));
    int r;
    if (reterr_msg) {
        *reterr_msg = NULL;
    }
    if (!d) {
        return -ENOMEM;
    }
    r = read_json(dir, "city_translations.json", &d->cities, reterr_msg);
    if (r >= 0) {
        r = read_json(dir, "districts_translations.json", &d->districts, reterr_msg);
    }
    if (r >= 0) {
        r = table_build(&d->city, d->cities, "SHIP_TO_CITY_CD");
    }
    if (r >= 0) {
        r = table_build(&d->district, d->districts, "SHIP_TO_DISTRICT_NAME");
    }
    if (r < 0) {
        dagd_dict_free(d);
        return r;
    }
    *ret_dict = d;
    return 0;
}

struct dagd_dict *dagd_dict_free(struct dagd_dict *d)
{
    if (d) {
        cJSON_Delete(d->cities);
        cJSON_Delete(d->districts);
        free(d->city.slot);
        free(d->district.slot);
        free(d);
    }
    return NULL;
}

static bool usable_en(const char *zh, const char *en)
{
    return en && *en && strcmp(en, zh) != 0 && !strstr(en, "(disambiguation)");
}

/* Infobox keys naming a district's city, most specific first. */
static const char *const city_keys[] = {
    "Prefecture-level city",
    "Sub-provincial city",
    "Municipality",
    "Autonomous prefecture",
    "Prefecture",
    "League",
    NULL,
};

char *dagd_dict_city(const struct dagd_dict *d, const char *zh, const char *const *districts,
                     size_t n_districts)
{
    if (!d || !zh) {
        return NULL;
    }
    const cJSON *e = table_get(&d->city, zh);
    const char *en = str(e, "SHIP_TO_CITY_CD_ENG");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(e, "metadata");
    if (usable_en(zh, en) && cJSON_GetObjectItemCaseSensitive(meta, "Country")) {
        return strdup(en);
    }

    /* Majority vote of the districts' infobox city; ties: the value seen
     * first (districts come in map order, so this is deterministic). */
    const char *best = NULL;
    size_t best_votes = 0;
    for (size_t i = 0; i < n_districts; i++) {
        const char *v = NULL;
        const cJSON *dm =
            cJSON_GetObjectItemCaseSensitive(table_get(&d->district, districts[i]), "metadata");
        for (size_t k = 0; !v && city_keys[k]; k++) {
            v = str(dm, city_keys[k]);
        }
        if (!v || !*v) {
            continue;
        }
        size_t votes = 0;
        for (size_t j = 0; j < n_districts; j++) {
            const char *w = NULL;
            const cJSON *dj =
                cJSON_GetObjectItemCaseSensitive(table_get(&d->district, districts[j]), "metadata");
            for (size_t k = 0; !w && city_keys[k]; k++) {
                w = str(dj, city_keys[k]);
            }
            votes += w && strcmp(w, v) == 0;
        }
        if (votes > best_votes) {
            best_votes = votes;
            best = v;
        }
    }
    return best ? strdup(best) : NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

char *dagd_dict_district_title(const char *zh, const char *en)
{
    const char *word = NULL;
    if (!zh || !usable_en(zh, en)) {
        return NULL;
    }
    if (ends_with(zh, "区") && !ends_with(zh, "新区") && !strstr(en, "District")) {
        word = " District";
    } else if (ends_with(zh, "县") && !strstr(en, "County")) {
        word = " County";
    } else if (ends_with(zh, "旗") && !strstr(en, "Banner")) {
        word = " Banner";
    }
    if (!word) {
        return strdup(en);
    }
    const char *comma = strstr(en, ", ");
    size_t head = comma ? (size_t)(comma - en) : strlen(en);
    char *out = NULL;
    if (asprintf(&out, "%.*s%s%s", (int)head, en, word, comma ? comma : "") < 0) {
        return NULL;
    }
    return out;
}

char *dagd_dict_district(const struct dagd_dict *d, const char *zh)
{
    if (!d || !zh) {
        return NULL;
    }
    return dagd_dict_district_title(zh,
                                    str(table_get(&d->district, zh), "SHIP_TO_DISTRICT_NAME_ENG"));
}
