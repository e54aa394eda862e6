/* SQL functions the sql task adds to the warehouse connection, for what
 * SQLite's own functions cannot express (sql_functions.h). */
#include "sql_functions.h"

#include <openssl/evp.h>
#include <sqlite3.h>

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
    if (!EVP_Digest(p ? p : "", (size_t)len, md, &n, EVP_sha256(), NULL)) {
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
