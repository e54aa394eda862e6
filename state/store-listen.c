/* See store.h, "Requests between daemons": the leader's LISTEN connection
 * and the standby's pg_notify. A connection of its own, apart from the
 * store's: its socket is only ever read when the loop says it is readable,
 * so waiting for a notification never holds the store's statements. */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pq.h"
#include "store-pg.h"
#include "util.h"

struct dagd_store_listener {
    PGconn *conn;
    char errmsg[512];
};

static void set_err(struct dagd_store_listener *l, const char *what)
{
    (void)snprintf(l->errmsg, sizeof(l->errmsg), "%s: %s", what,
                   l->conn ? PQerrorMessage(l->conn) : "out of memory");
    /* libpq's messages span lines; ours are one line (logs, replies). */
    for (char *c = l->errmsg; *c; c++) {
        if (*c == '\n' || *c == '\t') {
            *c = ' ';
        }
    }
}

int dagd_store_listener_new(const char *conninfo, struct dagd_store_listener **ret,
                            char **reterr_msg)
{
    char *msg = NULL;
    if (dagd_pq_load(&msg) < 0) {
        *reterr_msg = msg;
        return -ENOPKG;
    }
    struct dagd_store_listener *l = dagd_xcalloc(1, sizeof(*l));
    /* As the store connects (store-pg.c): dbname carries the conninfo. */
    const char *keys[] = {"dbname", "fallback_application_name", "client_encoding", NULL};
    const char *vals[] = {conninfo, "dagd listener", "UTF8", NULL};
    l->conn = PQconnectdbParams(keys, vals, 1);
    int r = -ECONNREFUSED;
    if (!l->conn || PQstatus(l->conn) != CONNECTION_OK) {
        set_err(l, "Failed to connect to PostgreSQL");
        goto fail;
    }
    /* Its notices (the server's FATAL when it shuts down while we listen)
     * are not the log's business: the drop is reported once. */
    dagd__pg_quiet_notices(l->conn);
    PGresult *res = PQexec(l->conn, "LISTEN " DAGD_STORE_CHANNEL);
    bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok) {
        set_err(l, "Failed to LISTEN");
        r = -EIO;
        goto fail;
    }
    *ret = l;
    return 0;
fail:
    *reterr_msg = dagd_xstrdup(l->errmsg);
    (void)dagd_store_listener_free(l);
    return r;
}

int dagd_store_listener_fd(const struct dagd_store_listener *l)
{
    return PQsocket(l->conn);
}

int dagd_store_listener_read(struct dagd_store_listener *l, dagd_store_notify_fn fn, void *userdata,
                             char **reterr_msg)
{
    /* Non-blocking: reads what the socket has, never waits. */
    if (!PQconsumeInput(l->conn) || PQstatus(l->conn) != CONNECTION_OK) {
        set_err(l, "Lost the LISTEN connection");
        *reterr_msg = dagd_xstrdup(l->errmsg);
        return -EIO;
    }
    PGnotify *n;
    while ((n = PQnotifies(l->conn))) {
        fn(n->extra ? n->extra : "", userdata);
        PQfreemem(n);
    }
    return 0;
}

struct dagd_store_listener *dagd_store_listener_free(struct dagd_store_listener *l)
{
    if (l) {
        if (l->conn) {
            PQfinish(l->conn);
        }
        free(l);
    }
    return NULL;
}
