/* See pq.h. */
#define DAGD_PQ_IMPL
#include "pq.h"

#include <pthread.h>

#include "dl.h"

/* The soname of Debian 12's libpq5 (the -dev package's libpq.so link may be
 * absent at run time). */
#define PQ_SONAME "libpq.so.5"

#define LOAD_FAILED                                                                                \
    "PostgreSQL needs the client library " PQ_SONAME " (Debian package libpq5), which cannot be "  \
    "loaded: "

struct dagd_pq dagd_pq;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_error[512]; /* empty: loaded */

#define SYM(field)                                                                                 \
    {                                                                                              \
        "PQ" #field, (void **)&dagd_pq.field                                                       \
    }

static void load_once(void)
{
    /* Kept open for the process's life: connections come and go, and
     * unloading OpenSSL and Kerberos is not worth the risk. */
    static const struct dagd_dl_sym syms[] = {
        SYM(clear),
        SYM(cmdStatus),
        SYM(cmdTuples),
        SYM(connectdb),
        SYM(connectdbParams),
        SYM(conninfoFree),
        SYM(conninfoParse),
        SYM(consumeInput),
        SYM(describePrepared),
        SYM(enterPipelineMode),
        SYM(errorMessage),
        SYM(exec),
        SYM(execParams),
        SYM(exitPipelineMode),
        SYM(finish),
        SYM(flush),
        SYM(fname),
        SYM(freemem),
        SYM(ftype),
        SYM(getisnull),
        SYM(getResult),
        SYM(getvalue),
        SYM(isBusy),
        SYM(makeEmptyPGresult),
        SYM(nfields),
        SYM(notifies),
        SYM(ntuples),
        SYM(pipelineStatus),
        SYM(pipelineSync),
        SYM(prepare),
        SYM(putCopyData),
        SYM(putCopyEnd),
        SYM(reset),
        SYM(resetPoll),
        SYM(resetStart),
        SYM(resultErrorField),
        SYM(resultErrorMessage),
        SYM(resultStatus),
        SYM(sendFlushRequest),
        SYM(sendQueryParams),
        SYM(setClientEncoding),
        SYM(setnonblocking),
        SYM(setNoticeProcessor),
        SYM(setSingleRowMode),
        SYM(socket),
        SYM(status),
    };
    if (dagd_dl_open(PQ_SONAME, syms, sizeof(syms) / sizeof(syms[0]), LOAD_FAILED, load_error,
                     sizeof(load_error)) < 0) {
        return;
    }
}

int dagd_pq_load(char **ret_msg)
{
    (void)pthread_once(&once, load_once);
    return dagd_dl_status(load_error, ret_msg);
}
