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
    enum { L_CONNECTING, L_LISTEN_SENT, L_READY } state;
    bool listen_ok;
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
    l->conn = PQconnectStartParams(keys, vals, 1);
    if (!l->conn || PQstatus(l->conn) == CONNECTION_BAD) {
        set_err(l, "Failed to connect to PostgreSQL");
        *reterr_msg = dagd_xstrdup(l->errmsg);
        (void)dagd_store_listener_free(l);
        return -ECONNREFUSED;
    }
    *ret = l;
    return 0;
}

static int step_fail(struct dagd_store_listener *l, const char *what, int r, char **reterr_msg)
{
    set_err(l, what);
    *reterr_msg = dagd_xstrdup(l->errmsg);
    return r;
}

int dagd_store_listener_connect_step(struct dagd_store_listener *l, bool *ret_want_write,
                                     char **reterr_msg)
{
    *ret_want_write = false;
    if (l->state == L_CONNECTING) {
        switch (PQconnectPoll(l->conn)) {
        case PGRES_POLLING_READING:
            return 0;
        case PGRES_POLLING_WRITING:
            *ret_want_write = true;
            return 0;
        case PGRES_POLLING_OK:
            break;
        default:
            return step_fail(l, "Failed to connect to PostgreSQL", -ECONNREFUSED, reterr_msg);
        }
        /* Its notices (the server's FATAL when it shuts down while we
         * listen) are not the log's business: the drop is reported once. */
        dagd__pg_quiet_notices(l->conn);
        if (PQsetnonblocking(l->conn, 1) != 0 ||
            !PQsendQuery(l->conn, "LISTEN " DAGD_STORE_CHANNEL)) {
            return step_fail(l, "Failed to LISTEN", -EIO, reterr_msg);
        }
        l->state = L_LISTEN_SENT;
    }
    if (l->state == L_LISTEN_SENT) {
        int f = PQflush(l->conn);
        if (f < 0) {
            return step_fail(l, "Failed to LISTEN", -EIO, reterr_msg);
        }
        if (f == 1) {
            *ret_want_write = true;
            return 0;
        }
        if (!PQconsumeInput(l->conn)) {
            return step_fail(l, "Failed to LISTEN", -EIO, reterr_msg);
        }
        while (!PQisBusy(l->conn)) {
            PGresult *res = PQgetResult(l->conn);
            if (!res) {
                if (!l->listen_ok) {
                    return step_fail(l, "Failed to LISTEN", -EIO, reterr_msg);
                }
                l->state = L_READY;
                return 1;
            }
            l->listen_ok = l->listen_ok || PQresultStatus(res) == PGRES_COMMAND_OK;
            PQclear(res);
        }
        return 0;
    }
    return 1;
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
