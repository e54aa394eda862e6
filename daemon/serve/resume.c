/* See resume.h. */
#include "resume.h"

#include "exec_slurm.h"
#include "log.h"
#include "util.h"

/* Runs still marked running that the snapshot looks at; more wait for the
 * next start. */
#define MAX_RESUMED 1000

struct resumed {
    struct dagd_run_info run;
    struct dagd_step_info *steps;
    size_t n_steps;
    bool has_job; /* a running step's directory names its job */
};

struct dagd_resume {
    struct resumed *runs;
    size_t n;
};

/* A running step whose attempt directory holds the backend's handle. */
static bool has_job(const char *state_dir, const struct dagd_step_info *st)
{
    if (st->status != DAGD_STEP_RUNNING || st->attempts == 0) {
        return false;
    }
    _cleanup_free_ char *handle =
        dagd_exec_slurm_attempt_handle(state_dir, st->run_id, st->step, st->attempts);
    return handle != NULL;
}

struct dagd_resume *dagd_resume_collect(struct dagd_store *st, const char *state_dir)
{
    struct dagd_runs_filter f = {.status = "running", .limit = MAX_RESUMED};
    struct dagd_run_info *runs = NULL;
    size_t n = 0;
    struct dagd_resume *rs = NULL;

    if (dagd_store_runs_page(st, &f, &runs, &n) < 0) {
        dagd_log_warning("Failed to list running runs: %s, not resuming Slurm jobs",
                         dagd_store_errmsg(st));
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        struct dagd_step_info *steps = NULL;
        size_t ns = 0;
        bool keep = false, job = false;
        if (dagd_store_steps_list(st, runs[i].run_id, &steps, &ns) >= 0) {
            for (size_t k = 0; k < ns && !job; k++) {
                /* Which running steps were on Slurm only the pipeline
                 * says (dagd_resume_start): a pilot's leave no handle. */
                keep = keep || steps[k].status == DAGD_STEP_RUNNING;
                job = has_job(state_dir, &steps[k]);
            }
        }
        if (!keep) {
            for (size_t k = 0; k < ns; k++) {
                dagd_step_info_done(&steps[k]);
            }
            free(steps);
            dagd_run_info_done(&runs[i]);
            continue;
        }
        if (!rs) {
            rs = dagd_xcalloc(1, sizeof(*rs));
            rs->runs = dagd_xcalloc(n, sizeof(*rs->runs));
        }
        rs->runs[rs->n++] =
            (struct resumed){.run = runs[i], .steps = steps, .n_steps = ns, .has_job = job};
    }
    free(runs);
    return rs;
}

/* Whether a step of x that was running runs on Slurm by p. */
static bool runs_on_slurm(const struct dagd_pipeline *p, const struct resumed *x)
{
    for (size_t k = 0; k < x->n_steps; k++) {
        ssize_t i = dagd_pipeline_step_index(p, x->steps[k].step);
        if (x->steps[k].status == DAGD_STEP_RUNNING && i >= 0 &&
            p->steps[i].executor != DAGD_STEP_EXECUTOR_LOCAL) {
            return true;
        }
    }
    return false;
}

void dagd_resume_start(struct dagd_resume *rs, struct dagd_registry *reg, struct dagd_executor *e)
{
    if (!rs) {
        return;
    }
    for (size_t i = 0; i < rs->n; i++) {
        struct resumed *x = &rs->runs[i];
        struct dagd_pipeline *p = dagd_registry_get(reg, x->run.pipeline);
        struct dagd_diags d = {0};
        int k = -ENOENT;
        if (p && (x->has_job || runs_on_slurm(p, x))) {
            k = dagd_executor_resume(e, p, &x->run, x->steps, x->n_steps, &d);
        }
        if (k >= 0) {
            dagd_log_info("Resumed run %s of %s: its steps on Slurm carry on", x->run.run_id,
                          x->run.pipeline);
        } else if (!x->has_job && k == -ENOENT) {
            /* local steps only (or its pipeline is gone): the orphan
             * recovery's word stands, as before Slurm */
        } else {
            dagd_log_warning("Cannot resume run %s of '%s' (%s%s%s), it stays failed",
                             x->run.run_id, x->run.pipeline, p ? "" : "its pipeline is not loaded",
                             d.n ? d.items[0].message : "", !p || d.n ? "" : strerror(-k));
        }
        dagd_diags_done(&d);
        for (size_t k2 = 0; k2 < x->n_steps; k2++) {
            dagd_step_info_done(&x->steps[k2]);
        }
        free(x->steps);
        dagd_run_info_done(&x->run);
    }
    free(rs->runs);
    free(rs);
}
