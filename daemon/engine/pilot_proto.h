/* The protocol between the daemon's pilot pool (pilot_pool.h) and
 * `dagd-worker --pilot` on a Slurm allocation (docs/slurm.md, "Pilot
 * mode"). Owns nothing; constants only.
 *
 * TCP. Each message is one JSON object on one line; a line may be followed
 * by raw bytes when it says so ("n"). The pilot speaks first:
 *
 *   P: {"v":1,"t":"hello","alloc":"ID","secret":"HEX","slots":N,"host":"node1"}
 *   D: {"v":1,"t":"welcome","hb_ms":MS,"dhb":true}
 *
 * The daemon closes the connection (and logs why) when the first line does
 * not come within DAGD_PILOT_HELLO_TIMEOUT_MS, is longer than
 * DAGD_PILOT_MAX_HELLO, is not this shape, names an allocation it did not
 * ask for, or carries another secret than the one it made for that
 * allocation. One connection per allocation: a second hello for the same
 * allocation is refused too.
 *
 * Then:
 *
 *   D: {"t":"job","job":{...}}   an attempt: the object of worker_proto.h
 *                                (its "id" names the attempt everywhere below)
 *   D: {"t":"kill","id":N,"grace_ms":G}  SIGTERM to the attempt's process
 *                                group, SIGKILL G ms later (0: at once)
 *   D: {"t":"bye"}               released (idle): kill what runs, exit 0
 *   P: {"t":"pid","id":N,"pid":P}   forked
 *   P: {"t":"error","id":N,"error":"..."}   could not fork (no exit follows)
 *   P: {"t":"out","id":N,"fd":F,"n":LEN} + LEN raw bytes
 *                                what the attempt wrote on fd F: 0 events
 *                                (JSON lines, worker_proto.h), 1 stdout, 2 stderr
 *   P: {"t":"exit","id":N,"status":S,"utime_us":U,"stime_us":T,"maxrss_kb":R}
 *                                the attempt's process ended (wait4), after
 *                                all of its output was sent
 *   P: {"t":"hb"}                every hb_ms, so a node that died without
 *                                closing the connection is noticed: after
 *                                DAGD_PILOT_HB_MISSES intervals of silence
 *                                the daemon counts the pilot lost
 *   D: {"t":"hb"}                every hb_ms too (when the welcome says
 *                                "dhb"): a pilot that hears nothing for
 *                                DAGD_PILOT_HB_MISSES - 1/2 intervals (a
 *                                daemon that died with its machine, a
 *                                network split) kills its attempts and
 *                                exits, before the daemon, which heard
 *                                nothing either, retries them elsewhere
 *
 * Attempt ids are the executor's and never reused, and a message about an
 * attempt counts only from the connection it was sent on while it is in
 * flight: a late result from a pilot declared lost is never recorded. */
#ifndef DAGD_PILOT_PROTO_H
#define DAGD_PILOT_PROTO_H

#define DAGD_PILOT_PROTO_VERSION 1

/* Longest first line (before the pilot is authenticated). */
#define DAGD_PILOT_MAX_HELLO 1024
/* Longest line after it (a job carries config and params, worker_proto.h). */
#define DAGD_PILOT_MAX_LINE (DAGD_WORKER_MAX_JOB + 4096)
/* Largest raw payload of one "out" message. */
#define DAGD_PILOT_MAX_CHUNK (64 * 1024)
/* The hello must arrive this soon after the connection. */
#define DAGD_PILOT_HELLO_TIMEOUT_MS 5000
/* Heartbeat intervals of silence after which a pilot counts as lost. */
#define DAGD_PILOT_HB_MISSES 3
/* Bytes of the per-allocation secret (sent as hex). */
#define DAGD_PILOT_SECRET_BYTES 32

#endif
