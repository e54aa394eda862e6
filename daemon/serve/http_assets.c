/* The web UI's files, embedded at build time (web/embed-assets.py). */
#include "http-assets.h"
#include "http_internal.h"

int dagd__http_asset(const char *path, struct dagd_http_response *res)
{
    if (streq(path, "/")) {
        path = "/index.html";
    }
    for (size_t i = 0; i < ELEMENTSOF(dagd_http_assets); i++) {
        const struct dagd_http_asset *a = &dagd_http_assets[i];
        if (streq(a->path, path)) {
            res->status = 200;
            res->content_type = a->type;
            res->body = (char *)a->data;
            res->len = a->len;
            res->is_static = true;
            /* The files change only with the binary: revalidate each load. */
            res->cache_control = "no-cache";
            return 0;
        }
    }
    return -ENOENT;
}
