/* Step fingerprints and file content hashes; see fingerprint.h. */
#include "fingerprint.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <xxhash.h>

#include "util.h"

/* Field tags: a fingerprint is a hash over (tag, length, bytes) records, so
 * "ab"+"c" and "a"+"bc" never collide and a field can never be mistaken
 * for another. Never reuse or renumber a tag: that would silently change
 * every stored fingerprint's meaning. Bump FP_FORMAT instead. */
enum {
    TAG_FORMAT = 1,
    TAG_TASK,
    TAG_VERSION,
    TAG_PLUGIN_PATH,
    TAG_PLUGIN_SIZE,
    TAG_PLUGIN_MTIME,
    TAG_CONFIG,
    TAG_PARAM_KEY,
    TAG_PARAM_VALUE,
    TAG_INPUT_PATH,
    TAG_INPUT_HASH,
    TAG_INPUT_MISSING,
    TAG_UPSTREAM_STEP,
    TAG_UPSTREAM_FP,
};

#define FP_FORMAT "dagd-fp-1"

bool dagd_fingerprint_param_is_volatile(const char *key)
{
    /* run_id is new for every run; everything else a step can see may
     * change its output. */
    return streq(key, "run_id");
}

static void to_hex(XXH128_hash_t h, char ret[static DAGD_FP_HEX_SIZE])
{
    XXH128_canonical_t c;
    static const char digits[] = "0123456789abcdef";

    XXH128_canonicalFromHash(&c, h);
    for (size_t i = 0; i < sizeof(c.digest); i++) {
        ret[2 * i] = digits[c.digest[i] >> 4];
        ret[2 * i + 1] = digits[c.digest[i] & 0xf];
    }
    ret[DAGD_FP_HEX_LEN] = '\0';
}

static void feed(XXH3_state_t *st, uint8_t tag, const void *data, size_t len)
{
    uint64_t l = len;

    (void)XXH3_128bits_update(st, &tag, 1);
    (void)XXH3_128bits_update(st, &l, sizeof(l));
    if (len > 0) {
        (void)XXH3_128bits_update(st, data, len);
    }
}

static void feed_str(XXH3_state_t *st, uint8_t tag, const char *s)
{
    feed(st, tag, s, strlen(s));
}

static void feed_i64(XXH3_state_t *st, uint8_t tag, int64_t v)
{
    feed(st, tag, &v, sizeof(v));
}

static void xxh3_freep(XXH3_state_t **st)
{
    if (*st) {
        (void)XXH3_freeState(*st);
    }
}

static XXH3_state_t *state_new(void)
{
    XXH3_state_t *st = XXH3_createState();
    if (!st) {
        abort(); /* like dagd_xmalloc */
    }
    (void)XXH3_128bits_reset(st);
    return st;
}

void dagd_fingerprint_hash_buffer(const void *buf, size_t len, char ret[static DAGD_FP_HEX_SIZE])
{
    to_hex(XXH3_128bits(buf, len), ret);
}

/* Index sorts, so the caller's arrays stay as they are. */
static int cmp_by_key(const void *a, const void *b, void *keys)
{
    const char *const *k = keys;
    return strcmp(k[*(const size_t *)a], k[*(const size_t *)b]);
}

static size_t *sorted_order(const char *const *keys, size_t n)
{
    size_t *idx = dagd_xreallocarray(NULL, n, sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        idx[i] = i;
    }
    qsort_r(idx, n, sizeof(size_t), cmp_by_key, (void *)keys);
    return idx;
}

static int cmp_input(const void *a, const void *b)
{
    return strcmp(((const struct dagd_fp_input *)a)->path, ((const struct dagd_fp_input *)b)->path);
}

static int cmp_upstream(const void *a, const void *b)
{
    return strcmp(((const struct dagd_fp_upstream *)a)->step,
                  ((const struct dagd_fp_upstream *)b)->step);
}

int dagd_fingerprint_compute(const struct dagd_fp_parts *parts, char ret[static DAGD_FP_HEX_SIZE],
                             char **ret_manifest)
{
    _cleanup_(xxh3_freep) XXH3_state_t *all = NULL, *part = NULL;
    _cleanup_free_ size_t *pidx = NULL;
    _cleanup_free_ struct dagd_fp_input *inputs = NULL;
    _cleanup_free_ struct dagd_fp_upstream *ups = NULL;
    char plugin_hex[DAGD_FP_HEX_SIZE] = "", config_hex[DAGD_FP_HEX_SIZE],
         params_hex[DAGD_FP_HEX_SIZE];
    const char *config = parts->config_json ? parts->config_json : "{}";

    if (!parts->task || !parts->task_version) {
        return -EINVAL;
    }
    if ((parts->n_params > 0 && (!parts->param_keys || !parts->param_values)) ||
        (parts->n_inputs > 0 && !parts->inputs) || (parts->n_upstream > 0 && !parts->upstream)) {
        return -EINVAL;
    }

    all = state_new();
    part = state_new();
    feed_str(all, TAG_FORMAT, FP_FORMAT);
    feed_str(all, TAG_TASK, parts->task);
    feed_str(all, TAG_VERSION, parts->task_version);

    /* Each component is also hashed on its own for the manifest. */
    if (parts->plugin_path) {
        feed_str(part, TAG_PLUGIN_PATH, parts->plugin_path);
        feed_i64(part, TAG_PLUGIN_SIZE, parts->plugin_size);
        feed_i64(part, TAG_PLUGIN_MTIME, parts->plugin_mtime_ns);
        to_hex(XXH3_128bits_digest(part), plugin_hex);
        feed_str(all, TAG_PLUGIN_PATH, plugin_hex);
    }

    dagd_fingerprint_hash_buffer(config, strlen(config), config_hex);
    feed_str(all, TAG_CONFIG, config);

    (void)XXH3_128bits_reset(part);
    pidx = sorted_order(parts->param_keys, parts->n_params);
    for (size_t i = 0; i < parts->n_params; i++) {
        const char *k = parts->param_keys[pidx[i]], *v = parts->param_values[pidx[i]];
        if (dagd_fingerprint_param_is_volatile(k)) {
            continue;
        }
        feed_str(part, TAG_PARAM_KEY, k);
        feed_str(part, TAG_PARAM_VALUE, v ? v : "");
    }
    to_hex(XXH3_128bits_digest(part), params_hex);
    feed_str(all, TAG_PARAM_KEY, params_hex);

    inputs = dagd_xreallocarray(NULL, parts->n_inputs, sizeof(*inputs));
    if (parts->n_inputs > 0) {
        memcpy(inputs, parts->inputs, parts->n_inputs * sizeof(*inputs));
        qsort(inputs, parts->n_inputs, sizeof(*inputs), cmp_input);
    }
    for (size_t i = 0; i < parts->n_inputs; i++) {
        feed_str(all, TAG_INPUT_PATH, inputs[i].path);
        if (inputs[i].hash) {
            feed_str(all, TAG_INPUT_HASH, inputs[i].hash);
        } else {
            feed(all, TAG_INPUT_MISSING, NULL, 0);
        }
    }

    ups = dagd_xreallocarray(NULL, parts->n_upstream, sizeof(*ups));
    if (parts->n_upstream > 0) {
        memcpy(ups, parts->upstream, parts->n_upstream * sizeof(*ups));
        qsort(ups, parts->n_upstream, sizeof(*ups), cmp_upstream);
    }
    for (size_t i = 0; i < parts->n_upstream; i++) {
        feed_str(all, TAG_UPSTREAM_STEP, ups[i].step);
        feed_str(all, TAG_UPSTREAM_FP, ups[i].fingerprint ? ups[i].fingerprint : "");
    }

    to_hex(XXH3_128bits_digest(all), ret);

    if (ret_manifest) {
        cJSON *m = cJSON_CreateObject(), *in = cJSON_CreateObject(), *up = cJSON_CreateObject();
        if (!m || !in || !up) {
            abort();
        }
        cJSON_AddNumberToObject(m, "v", 1);
        cJSON_AddStringToObject(m, "task", parts->task);
        cJSON_AddStringToObject(m, "version", parts->task_version);
        cJSON_AddStringToObject(m, "plugin", plugin_hex);
        cJSON_AddStringToObject(m, "config", config_hex);
        cJSON_AddStringToObject(m, "params", params_hex);
        for (size_t i = 0; i < parts->n_inputs; i++) {
            if (inputs[i].hash) {
                cJSON_AddStringToObject(in, inputs[i].path, inputs[i].hash);
            } else {
                cJSON_AddNullToObject(in, inputs[i].path);
            }
        }
        cJSON_AddItemToObject(m, "inputs", in);
        for (size_t i = 0; i < parts->n_upstream; i++) {
            cJSON_AddStringToObject(up, ups[i].step, ups[i].fingerprint ? ups[i].fingerprint : "");
        }
        cJSON_AddItemToObject(m, "upstream", up);
        char *s = cJSON_PrintUnformatted(m);
        cJSON_Delete(m);
        if (!s) {
            abort();
        }
        *ret_manifest = s;
    }
    return 0;
}

static void cjson_deletep(cJSON **j)
{
    cJSON_Delete(*j);
}

static const char *str_of(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Compare two {name: hash|null} maps; describe the first difference with
 * `what` ("input", "upstream"). */
static char *explain_map(const cJSON *old, const cJSON *cur, const char *what)
{
    const cJSON *o, *c;

    cJSON_ArrayForEach(c, cur)
    {
        o = cJSON_GetObjectItemCaseSensitive(old, c->string);
        if (!o) {
            return dagd_xasprintf("%s %s added", what, c->string);
        }
        if (cJSON_IsNull(c) && !cJSON_IsNull(o)) {
            return dagd_xasprintf("%s %s missing", what, c->string);
        }
        if (!cJSON_IsNull(c) &&
            (!cJSON_IsString(o) || !cJSON_IsString(c) || !streq(o->valuestring, c->valuestring))) {
            return dagd_xasprintf("%s %s changed", what, c->string);
        }
    }
    cJSON_ArrayForEach(o, old)
    {
        if (!cJSON_GetObjectItemCaseSensitive(cur, o->string)) {
            return dagd_xasprintf("%s %s removed", what, o->string);
        }
    }
    return NULL;
}

char *dagd_fingerprint_explain(const char *old_manifest, const char *cur_manifest)
{
    _cleanup_(cjson_deletep) cJSON *old = NULL, *cur = NULL;
    /* Components in the order a user most wants to hear about them. */
    static const struct {
        const char *key, *reason;
    } scalars[] = {
        {"task", "task changed"},
        {"version", "task version changed"},
        {"config", "config changed"},
        {"params", "params changed"},
    };

    if (!old_manifest || !cur_manifest) {
        return NULL;
    }
    old = cJSON_Parse(old_manifest);
    cur = cJSON_Parse(cur_manifest);
    if (!cJSON_IsObject(old) || !cJSON_IsObject(cur)) {
        return NULL;
    }
    for (size_t i = 0; i < ELEMENTSOF(scalars); i++) {
        const char *a = str_of(old, scalars[i].key), *b = str_of(cur, scalars[i].key);
        if (!streq_ptr(a, b)) {
            return dagd_xstrdup(scalars[i].reason);
        }
    }
    char *r = explain_map(cJSON_GetObjectItemCaseSensitive(old, "inputs"),
                          cJSON_GetObjectItemCaseSensitive(cur, "inputs"), "input");
    if (r) {
        return r;
    }
    r = explain_map(cJSON_GetObjectItemCaseSensitive(old, "upstream"),
                    cJSON_GetObjectItemCaseSensitive(cur, "upstream"), "upstream");
    if (r) {
        return r;
    }
    /* Last: a rebuilt plugin with the same version is the least telling. */
    if (!streq_ptr(str_of(old, "plugin"), str_of(cur, "plugin"))) {
        return dagd_xstrdup("task plugin changed");
    }
    return NULL;
}

/* ---- File hashes ------------------------------------------------------- */

static int hash_fd(int fd, int64_t size, char ret[static DAGD_FP_HEX_SIZE])
{
    _cleanup_(xxh3_freep) XXH3_state_t *st = state_new();
    /* 256 KiB reads: large enough that syscalls do not dominate, small
     * enough to stay in L2 while XXH3 runs over it. */
    const size_t bufsize = 256 * 1024;
    _cleanup_free_ char *buf = dagd_xmalloc(bufsize);

    (void)size;
    for (;;) {
        ssize_t n = read(fd, buf, bufsize);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            break;
        }
        (void)XXH3_128bits_update(st, buf, (size_t)n);
    }
    to_hex(XXH3_128bits_digest(st), ret);
    return 0;
}

int dagd_fingerprint_hash_file(const char *path, struct dagd_filehash_cache *cache,
                               char ret[static DAGD_FP_HEX_SIZE])
{
    _cleanup_close_ int fd = -1;
    _cleanup_free_ char *abs = NULL;
    struct stat st;
    struct dagd_file_id id;
    char hex[DAGD_FP_HEX_SIZE];
    int r;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        return -errno;
    }
    if (fstat(fd, &st) < 0) {
        return -errno;
    }
    if (S_ISDIR(st.st_mode)) {
        return -EISDIR;
    }
    id = (struct dagd_file_id){
        .dev = (uint64_t)st.st_dev,
        .ino = (uint64_t)st.st_ino,
        .size = (int64_t)st.st_size,
        .mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
    };

    /* Key the cache by absolute path so "data/x" and "./data/x" share it. */
    abs = realpath(path, NULL);
    if (!abs) {
        abs = dagd_xstrdup(path);
    }

    if (cache && cache->get) {
        _cleanup_free_ char *cached = NULL;
        if (cache->get(cache->userdata, abs, &id, &cached) >= 0 && cached &&
            strlen(cached) == DAGD_FP_HEX_LEN) {
            cache->hits++;
            memcpy(ret, cached, DAGD_FP_HEX_SIZE);
            return 0;
        }
    }
    if (cache) {
        cache->misses++;
    }

    r = hash_fd(fd, id.size, hex);
    if (r < 0) {
        return r;
    }

    /* Racy-file rule: if the file changed within the last 2 s another write
     * may follow with the same size and mtime tick; do not trust the
     * identity for it yet. */
    int64_t now_ns = (int64_t)dagd_now_wall_usec() * 1000;
    if (cache && cache->put && id.mtime_ns < now_ns - 2 * (int64_t)1000000000) {
        (void)cache->put(cache->userdata, abs, &id, hex);
    }
    memcpy(ret, hex, DAGD_FP_HEX_SIZE);
    return 0;
}
