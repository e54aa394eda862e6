/* The protocol between the executor (parent) and dagd-worker (see
 * docs/executor.md). Owns nothing; constants only.
 *
 * The executor starts one `dagd-worker --template` process per executor (the
 * "template", a pre-forked zygote) with a SOCK_SEQPACKET control socket on
 * fd 3. For each step attempt the executor sends one message: the job as a
 * JSON object, with three file descriptors attached (SCM_RIGHTS): the write
 * ends of the events, stdout and stderr pipes. The template forks a child
 * that runs the attempt and answers with messages (JSON objects):
 *
 *     {"id":N,"pid":P,"start":T}                the child was forked; T: its start
 *                                               time, clock ticks since boot
 *     {"id":N,"error":"..."}                    it could not be (no exit follows)
 *     {"id":N,"pid":P,"status":S,"utime_us":U,"stime_us":T,"maxrss_kb":R}
 *                                               the child ended (wait4 status)
 *
 * The child writes JSON lines on the events pipe (its fd 3):
 *
 *     {"k":"log","l":"info","m":"..."}           level: error/warning/notice/info/debug
 *     {"k":"progress","done":N,"total":M}
 *     {"k":"metrics","in":N,"out":M}
 *     {"k":"input","path":"..."} / {"k":"output","path":"..."}
 *     {"k":"check","name":"...","severity":"error","status":"failed",
 *      "violations":N,"sample":[{...}] or null,"detail":"..."}
 *                             a data-quality check result (task.h
 *                             check_result; stored in state.db `checks`)
 *     {"k":"noretry","reason":"..."}  the failure is permanent: no retry
 *                             (task.h no_retry, ABI 1.3)
 *     {"k":"oom"}             an allocation failed under the step's memory
 *                             limit (memlimit_worker.c; at most once)
 *     {"k":"result","rc":0}  or  {"k":"result","rc":-22,"error":"..."}
 *
 * and exits 0 after a successful result, 1 after a failed one. A child that
 * ends without a result line failed (crash, exit(), closed pipe). */
#ifndef DAGD_WORKER_PROTO_H
#define DAGD_WORKER_PROTO_H

/* fd of the control socket in the template, and of the events pipe in a child. */
#define DAGD_WORKER_CTRL_FD 3
#define DAGD_WORKER_EVENTS_FD 3

/* Largest job message (config + params JSON). */
#define DAGD_WORKER_MAX_JOB (1024 * 1024)
/* Largest reply message from the template. */
#define DAGD_WORKER_MAX_REPLY 512
/* Largest events line the parent accepts; longer lines are cut. */
#define DAGD_WORKER_MAX_LINE (64 * 1024)

#endif
