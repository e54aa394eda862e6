/* libpq, opened when a PostgreSQL run history or warehouse is first used,
 * not when the process starts (issue 11's idle-RSS target, issue 13).
 *
 * Debian's libpq5 links OpenSSL, GnuTLS, Kerberos, LDAP and SASL: ~28
 * libraries and ~4 MB of RSS in every process that links it, whether it
 * talks to PostgreSQL or not (dagd serve on SQLite went from 6.0 to 10.4 MB
 * idle when the store learned PostgreSQL; the daemon also dlopens the task
 * plugins to validate pipelines). So neither dagd nor the plugins link it:
 * they call libpq through this table, filled by dlopen("libpq.so.5") on the
 * first dagd_pq_load(), the way daemon/serve/http_mhd.h opens
 * libmicrohttpd. The macros below keep the callers written against libpq's
 * own names; <libpq-fe.h> is included for its types and prototypes only.
 *
 * A leaf library (libc and libdl): the state store and tasks/common link it;
 * each plugin has its own hidden copy of the table. */
#ifndef DAGD_PQ_H
#define DAGD_PQ_H

#include <libpq-fe.h>

struct dagd_pq {
    __typeof__(PQclear) *clear;
    __typeof__(PQcmdStatus) *cmdStatus;
    __typeof__(PQcmdTuples) *cmdTuples;
    __typeof__(PQconnectdb) *connectdb;
    __typeof__(PQconnectdbParams) *connectdbParams;
    __typeof__(PQconninfoFree) *conninfoFree;
    __typeof__(PQconninfoParse) *conninfoParse;
    __typeof__(PQconsumeInput) *consumeInput;
    __typeof__(PQdescribePrepared) *describePrepared;
    __typeof__(PQenterPipelineMode) *enterPipelineMode;
    __typeof__(PQerrorMessage) *errorMessage;
    __typeof__(PQexec) *exec;
    __typeof__(PQexecParams) *execParams;
    __typeof__(PQexitPipelineMode) *exitPipelineMode;
    __typeof__(PQfinish) *finish;
    __typeof__(PQflush) *flush;
    __typeof__(PQfname) *fname;
    __typeof__(PQfreemem) *freemem;
    __typeof__(PQftype) *ftype;
    __typeof__(PQgetisnull) *getisnull;
    __typeof__(PQgetResult) *getResult;
    __typeof__(PQgetvalue) *getvalue;
    __typeof__(PQisBusy) *isBusy;
    __typeof__(PQmakeEmptyPGresult) *makeEmptyPGresult;
    __typeof__(PQnfields) *nfields;
    __typeof__(PQnotifies) *notifies;
    __typeof__(PQntuples) *ntuples;
    __typeof__(PQpipelineStatus) *pipelineStatus;
    __typeof__(PQpipelineSync) *pipelineSync;
    __typeof__(PQprepare) *prepare;
    __typeof__(PQputCopyData) *putCopyData;
    __typeof__(PQputCopyEnd) *putCopyEnd;
    __typeof__(PQreset) *reset;
    __typeof__(PQresetPoll) *resetPoll;
    __typeof__(PQresetStart) *resetStart;
    __typeof__(PQresultErrorField) *resultErrorField;
    __typeof__(PQresultErrorMessage) *resultErrorMessage;
    __typeof__(PQresultStatus) *resultStatus;
    __typeof__(PQsendFlushRequest) *sendFlushRequest;
    __typeof__(PQsendQueryParams) *sendQueryParams;
    __typeof__(PQsetClientEncoding) *setClientEncoding;
    __typeof__(PQsetnonblocking) *setnonblocking;
    __typeof__(PQsetNoticeProcessor) *setNoticeProcessor;
    __typeof__(PQsetSingleRowMode) *setSingleRowMode;
    __typeof__(PQsocket) *socket;
    __typeof__(PQstatus) *status;
};

/* The table; valid after dagd_pq_load() returned 0. */
extern struct dagd_pq dagd_pq;

/* Open libpq (once per process, thread-safe; later calls return at once).
 * 0, or -ELIBACC with a message naming the library, the Debian package that
 * ships it and dlerror()'s words in *ret_msg (malloc'ed; NULL when out of
 * memory). */
int dagd_pq_load(char **ret_msg);

#ifndef DAGD_PQ_IMPL
#define PQclear dagd_pq.clear
#define PQcmdStatus dagd_pq.cmdStatus
#define PQcmdTuples dagd_pq.cmdTuples
#define PQconnectdb dagd_pq.connectdb
#define PQconnectdbParams dagd_pq.connectdbParams
#define PQconninfoFree dagd_pq.conninfoFree
#define PQconninfoParse dagd_pq.conninfoParse
#define PQconsumeInput dagd_pq.consumeInput
#define PQdescribePrepared dagd_pq.describePrepared
#define PQenterPipelineMode dagd_pq.enterPipelineMode
#define PQerrorMessage dagd_pq.errorMessage
#define PQexec dagd_pq.exec
#define PQexecParams dagd_pq.execParams
#define PQexitPipelineMode dagd_pq.exitPipelineMode
#define PQfinish dagd_pq.finish
#define PQflush dagd_pq.flush
#define PQfname dagd_pq.fname
#define PQfreemem dagd_pq.freemem
#define PQftype dagd_pq.ftype
#define PQgetisnull dagd_pq.getisnull
#define PQgetResult dagd_pq.getResult
#define PQgetvalue dagd_pq.getvalue
#define PQisBusy dagd_pq.isBusy
#define PQmakeEmptyPGresult dagd_pq.makeEmptyPGresult
#define PQnfields dagd_pq.nfields
#define PQnotifies dagd_pq.notifies
#define PQntuples dagd_pq.ntuples
#define PQpipelineStatus dagd_pq.pipelineStatus
#define PQpipelineSync dagd_pq.pipelineSync
#define PQprepare dagd_pq.prepare
#define PQputCopyData dagd_pq.putCopyData
#define PQputCopyEnd dagd_pq.putCopyEnd
#define PQreset dagd_pq.reset
#define PQresetPoll dagd_pq.resetPoll
#define PQresetStart dagd_pq.resetStart
#define PQresultErrorField dagd_pq.resultErrorField
#define PQresultErrorMessage dagd_pq.resultErrorMessage
#define PQresultStatus dagd_pq.resultStatus
#define PQsendFlushRequest dagd_pq.sendFlushRequest
#define PQsendQueryParams dagd_pq.sendQueryParams
#define PQsetClientEncoding dagd_pq.setClientEncoding
#define PQsetnonblocking dagd_pq.setnonblocking
#define PQsetNoticeProcessor dagd_pq.setNoticeProcessor
#define PQsetSingleRowMode dagd_pq.setSingleRowMode
#define PQsocket dagd_pq.socket
#define PQstatus dagd_pq.status
#endif

#endif
