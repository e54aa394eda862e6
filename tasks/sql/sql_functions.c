/* SQL functions the sql task adds to the warehouse connection, for what
 * SQLite's own functions cannot express (sql_functions.h). */
#include "sql_functions.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>

#include "dl.h"

/* libcrypto is opened on the first sha256() call, not linked: the daemon
 * dlopens this plugin to validate pipelines, and mapping OpenSSL for one
 * digest cost an idle dagd serve 1.45 MB of its RSS (issue 11). Its header
 * is for the types only, as in lib/pq and lib/curl. */
#define CRYPTO_SONAME "libcrypto.so.3"

static __typeof__(EVP_Digest) *evp_digest;
static __typeof__(EVP_sha256) *evp_sha256;
static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static char crypto_error[256]; /* empty: loaded */

static void crypto_load(void)
{
    static const struct dagd_dl_sym syms[] = {
        {"EVP_Digest", (void **)&evp_digest},
        {"EVP_sha256", (void **)&evp_sha256},
    };
    (void)dagd_dl_open(CRYPTO_SONAME, syms, sizeof(syms) / sizeof(syms[0]),
                       "sha256() needs the library " CRYPTO_SONAME
                       " (Debian package libssl3), which cannot be loaded: ",
                       crypto_error, sizeof(crypto_error));
}

/* sha256(X): lower-case hex of the SHA-256 of X's bytes (text as UTF-8,
 * blobs as they are); NULL for NULL. */
static void fn_sha256(sqlite3_context *c, int argc, sqlite3_value **argv)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char out[2 * EVP_MAX_MD_SIZE + 1];
    const void *p;
    int len;

    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
        sqlite3_result_null(c);
        return;
    }
    if (sqlite3_value_type(argv[0]) == SQLITE_BLOB) {
        p = sqlite3_value_blob(argv[0]);
    } else {
        p = sqlite3_value_text(argv[0]);
    }
    len = sqlite3_value_bytes(argv[0]);
    (void)pthread_once(&crypto_once, crypto_load);
    if (crypto_error[0]) {
        sqlite3_result_error(c, crypto_error, -1);
        return;
    }
    if (!evp_digest(p ? p : "", (size_t)len, md, &n, evp_sha256(), NULL)) {
        sqlite3_result_error(c, "sha256 failed", -1);
        return;
    }
    for (unsigned int i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    sqlite3_result_text(c, out, (int)(2 * n), SQLITE_TRANSIENT);
}

int dagd_sql_functions_register(struct sqlite3 *db)
{
    int rc = sqlite3_create_function(db, "sha256", 1,
                                     SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                                     fn_sha256, NULL, NULL);

    return rc == SQLITE_OK ? 0 : -EIO;
}
