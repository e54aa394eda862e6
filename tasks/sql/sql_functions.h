/* SQL functions that the sql task adds to the warehouse connection before
 * running models, beyond SQLite's built-ins:
 *
 *   sha256(X)   lower-case hex SHA-256 of X's bytes (NULL for NULL), e.g. a
 *               stable pseudonymous id: substr(sha256(date_of_birth), 1, 5)
 */
#ifndef DAGD_SQL_FUNCTIONS_H
#define DAGD_SQL_FUNCTIONS_H

#include <errno.h>

struct sqlite3;

/* Registers the functions on db. 0, or -EIO. */
int dagd_sql_functions_register(struct sqlite3 *db);

#endif /* DAGD_SQL_FUNCTIONS_H */
