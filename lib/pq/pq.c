/* See pq.h. */
#define DAGD_PQ_IMPL
#include "pq.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The soname of Debian 12's libpq5 (the -dev package's libpq.so link may be
 * absent at run time). */
#define PQ_SONAME "libpq.so.5"

#define LOAD_FAILED                                                                                \
    "PostgreSQL needs the client library " PQ_SONAME " (Debian package libpq5), which cannot be "  \
    "loaded: "

struct dagd_pq dagd_pq;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[512]; /* empty: loaded */

#define SYM(field, name)                                                                           \
    do {                                                                                           \
        *(void **)&dagd_pq.field = dlsym(lib, name);                                               \
        if (!dagd_pq.field) {                                                                      \
            (void)snprintf(load_error, sizeof(load_error), LOAD_FAILED "%s has no symbol %s",      \
                           PQ_SONAME, name);                                                       \
            return;                                                                                \
        }                                                                                          \
    } while (0)

static void load_once(void)
{
    /* Kept open for the process's life: connections come and go, and
     * unloading OpenSSL and Kerberos is not worth the risk. */
    void *lib = dlopen(PQ_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        (void)snprintf(load_error, sizeof(load_error), LOAD_FAILED "%s", e ? e : "dlopen failed");
        return;
    }
    SYM(clear, "PQclear");
    SYM(cmdStatus, "PQcmdStatus");
    SYM(cmdTuples, "PQcmdTuples");
    SYM(connectdb, "PQconnectdb");
    SYM(connectdbParams, "PQconnectdbParams");
    SYM(conninfoFree, "PQconninfoFree");
    SYM(conninfoParse, "PQconninfoParse");
    SYM(describePrepared, "PQdescribePrepared");
    SYM(errorMessage, "PQerrorMessage");
    SYM(exec, "PQexec");
    SYM(execParams, "PQexecParams");
    SYM(finish, "PQfinish");
    SYM(fname, "PQfname");
    SYM(freemem, "PQfreemem");
    SYM(ftype, "PQftype");
    SYM(getResult, "PQgetResult");
    SYM(getisnull, "PQgetisnull");
    SYM(getvalue, "PQgetvalue");
    SYM(makeEmptyPGresult, "PQmakeEmptyPGresult");
    SYM(nfields, "PQnfields");
    SYM(ntuples, "PQntuples");
    SYM(prepare, "PQprepare");
    SYM(putCopyData, "PQputCopyData");
    SYM(putCopyEnd, "PQputCopyEnd");
    SYM(reset, "PQreset");
    SYM(resultErrorField, "PQresultErrorField");
    SYM(resultErrorMessage, "PQresultErrorMessage");
    SYM(resultStatus, "PQresultStatus");
    SYM(sendQueryParams, "PQsendQueryParams");
    SYM(setClientEncoding, "PQsetClientEncoding");
    SYM(setNoticeProcessor, "PQsetNoticeProcessor");
    SYM(setSingleRowMode, "PQsetSingleRowMode");
    SYM(status, "PQstatus");
}

int dagd_pq_load(char **ret_msg)
{
    (void)pthread_once(&once, load_once);
    if (!load_error[0]) {
        return 0;
    }
    if (ret_msg) {
        *ret_msg = strdup(load_error);
    }
    return -ELIBACC;
}
