/* Executor backends: where a step attempt runs. The executor (executor.h)
 * decides what runs when (dependencies, retries, timeouts, cancels, what is
 * recorded); a backend only starts an attempt, stops it, and reports its
 * output and its end. Two exist: `local` (the pre-forked worker template, in
 * executor.c, where the per-step cost is measured) and `slurm`
 * (exec_slurm.c: each attempt a Slurm job running dagd-worker --job).
 *
 * The contract, kept small so another backend (pilot allocations) fits:
 *   - launch(): asynchronous; 0 when the attempt was accepted (its end is
 *     reported later through host->finished, exactly once), -errno when it
 *     could not be (host->finished is then never called: STYLE 9).
 *   - cancel(): ask the attempt to stop (SIGTERM-like, the backend escalates
 *     by itself); its end still comes through host->finished.
 *   - adopt(): after a daemon restart, take back an attempt launched by the
 *     previous daemon, named by the handle host->started reported for it.
 *   - free(): stop watching; attempts still out there are not killed (the
 *     executor cancels what it wants stopped first).
 * Every callback runs on the executor's loop thread. Ids are the executor's
 * attempt ids; a backend never sees executor structs. */
#ifndef DAGD_EXEC_BACKEND_H
#define DAGD_EXEC_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dagd_step;

/* What streams host->output carries; the same three pipes a local attempt
 * has (docs/executor.md, "Worker processes and their protocol"). */
enum dagd_exec_stream {
    DAGD_EXEC_STREAM_EVENTS, /* the worker's JSON lines */
    DAGD_EXEC_STREAM_STDOUT,
    DAGD_EXEC_STREAM_STDERR,
    _DAGD_EXEC_STREAM_MAX,
};

/* One attempt to start. Pointers are valid during the call only. */
struct dagd_exec_job {
    uint64_t id; /* the executor's attempt id */
    const char *run_id, *step, *task, *pipeline;
    unsigned attempt;
    const char *job_json;        /* the worker job (worker_proto.h), as the template gets it */
    const struct dagd_step *def; /* timeout, memory, executor options */
    const char *handle;          /* adopt(): what host->started said for it; else NULL */
};

/* How an attempt ended. */
struct dagd_exec_end {
    int status;                  /* wait4() status of the worker's child; -1: none known */
    int64_t cpu_usec, maxrss_kb; /* 0 when unknown */
    /* The backend's reason when it knows better than the status: the
     * cluster killed the job (time limit, out of memory, canceled outside
     * dagd, node failure), or it never started. NULL: judge by status and
     * the worker's result line. */
    const char *error;
    /* The machine it ran on was lost with it (a pilot's node died): the
     * executor retries it elsewhere without counting against `retries`. */
    bool lost;
};

/* What a backend calls; `host` is the executor. */
struct dagd_exec_host {
    void *host;
    /* The attempt runs under `handle` (e.g. "slurm:1234"): recorded, so a
     * restarted daemon can adopt it. */
    void (*started)(void *host, uint64_t id, const char *handle);
    /* Bytes of one stream, in order; lines may be split anywhere. */
    void (*output)(void *host, uint64_t id, enum dagd_exec_stream stream, const char *data,
                   size_t n);
    /* The attempt is over; everything it wrote went through output() first. */
    void (*finished)(void *host, uint64_t id, const struct dagd_exec_end *end);
};

struct dagd_exec_backend_ops {
    const char *name;
    int (*launch)(void *impl, const struct dagd_exec_job *job);
    void (*cancel)(void *impl, uint64_t id);
    int (*adopt)(void *impl, const struct dagd_exec_job *job);
    void (*free)(void *impl);
};

struct dagd_exec_backend {
    const struct dagd_exec_backend_ops *ops;
    void *impl;
};

#endif
