#!/usr/bin/env python3
"""Steps on Slurm, per-step jobs mode (issue 14, docs/slurm.md), on a real
one-node cluster (dagdtest.slurm) driven through dagd serve and dagctl:

  - a fan-out: one task ready six times goes out as one job array, a local
    step joins them; stdout and logs come back from the shared directory;
  - retries (flaky fails twice, succeeds on attempt 3) and a timeout (the
    job is scanceled, the step fails "timed out after 3s");
  - dagctl cancel: scancel of the running job, the run canceled;
  - scancel of a job behind dagd's back: the attempt fails with a reason
    that says so and is retried;
  - a step that writes a SQLite warehouse is refused on Slurm, not retried;
    the same step against a PostgreSQL warehouse runs (SKIP of that part
    without the PostgreSQL server binaries);
  - the daemon config's slurm: section reaches sbatch (a partition that
    does not exist makes sbatch fail, named in the step's error);
  - Slurm's end states TIMEOUT, OUT_OF_MEMORY and NODE_FAIL become the
    attempts' errors and are retried (squeue wrapped to report them: this
    cluster cannot produce them in seconds).

SKIP without slurm-wlm and munge."""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dagdtest import Daemon, check, eq, need_test_plugins, run_main, wait_for  # noqa: E402
from dagdtest.pg import PgServer, available as pg_available  # noqa: E402
from dagdtest.slurm import SlurmCluster, need_slurm  # noqa: E402

CONFIG = """slurm:
  poll_interval: 250ms
"""

FAN = """pipeline: fan
defaults:
  executor: slurm
  slurm: {cpus: 1, memory: 64M}
steps:
  - name: start
    task: command
    config: {argv: [sh, -c, "echo started on $(hostname) job $SLURM_JOB_ID"]}
""" + "".join("""  - {name: b%d, task: sleep, needs: [start], config: {ms: 200}}
""" % i for i in range(6)) + """  - name: join
    task: noop
    executor: local
    needs: [%s]
""" % ", ".join("b%d" % i for i in range(6))

RETRY = """pipeline: retry
steps:
  - name: flaky
    task: flaky
    executor: slurm
    retries: 2
    retry_delay: 100ms
    config: {failures: 2}
  - name: slow
    task: sleep
    executor: slurm
    timeout: 3s
    config: {ms: 60000}
"""

LONG = """pipeline: long
steps:
  - name: wait
    task: sleep
    executor: slurm
    config: {ms: 60000}
  - {name: after, task: noop, needs: [wait]}
"""

BEHIND = """pipeline: behind
steps:
  - name: nap
    task: sleep
    executor: slurm
    retries: 1
    retry_delay: 100ms
    config: {ms: 6000}
"""

WAREHOUSE = """pipeline: wh
steps:
  - name: checks
    task: check
    executor: slurm
    retries: 3
    config:
      table: t
      checks:
        - {not_null: [a]}
"""

PGWH = """pipeline: pgwh
params:
  warehouse: ${state_dir}/warehouse.db
steps:
  - name: checks
    task: check
    executor: slurm
    config:
      table: t
      checks:
        - {not_null: [a]}
        - {row_count: {min: 2}}
"""

NOPART = """pipeline: nopart
steps:
  - {name: one, task: noop, executor: slurm}
"""


def job_of(d, run_id, step, attempt):
    """The Slurm job of an attempt, from its directory (exec_slurm.c)."""
    path = os.path.join(d.state, "slurm", run_id, step, str(attempt), "handle")

    def read():
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            return None
    h = wait_for(read, 60, "the Slurm job of %s attempt %d" % (step, attempt))
    eq(h.split(":")[0], "slurm", "handle kind")
    return h.split(":", 1)[1]


def test_fan(c, d):
    run_id = d.start_run("fan")
    row = d.wait_run(run_id, timeout=180)
    st = d.steps(run_id)
    eq(row["status"], "succeeded", "fan run (steps: %r)" % st)
    for name in ["start", "join"] + ["b%d" % i for i in range(6)]:
        eq(st[name]["status"], "succeeded", "step " + name)
        eq(st[name]["attempts"], 1, "attempts of " + name)
    out = [e["message"] for e in d.events(run_id, "start") if e["kind"] == "stdout"]
    check(any(m.startswith("started on ") and "job " in m for m in out),
          "the job's stdout came back: %r" % out)
    jobs = [e["message"] for e in d.events(run_id) if "runs as slurm:" in e["message"]]
    eq(len(jobs), 7, "one 'runs as' event per Slurm attempt: %r" % jobs)
    arrays = {m.split("slurm:")[1].split("_")[0] for m in jobs if "_" in m.split("slurm:")[1]}
    eq(len(arrays), 1, "the six sleeps went out as one job array: %r" % jobs)
    states = c.jobs()
    b0 = job_of(d, run_id, "b0", 1)
    eq(states.get(b0), "COMPLETED", "Slurm's state of b0's job")
    check(os.path.exists(os.path.join(d.state, "slurm", run_id, "b0", "1", "exit.json")),
          "the worker's exit record")


def test_retry_timeout(c, d):
    run_id = d.start_run("retry")
    row = d.wait_run(run_id, timeout=180)
    eq(row["status"], "failed", "run with a timed-out step")
    st = d.steps(run_id)
    eq(st["flaky"]["status"], "succeeded", "flaky after retries")
    eq(st["flaky"]["attempts"], 3, "flaky's attempts")
    retries = [e["message"] for e in d.events(run_id, "flaky") if e["kind"] == "retry"]
    eq(len(retries), 2, "retry events")
    check("flaky failure 1 of 2" in retries[0], "first retry names the failure: %r" % retries)
    eq(st["slow"]["status"], "failed", "slow step")
    eq(st["slow"]["error"], "timed out after 3s", "timeout error")
    job = job_of(d, run_id, "slow", 1)
    wait_for(lambda: c.jobs().get(job) == "CANCELLED", 60, "the timed-out job to be scanceled")


def test_cancel(c, d):
    run_id = d.start_run("long")
    job = job_of(d, run_id, "wait", 1)
    wait_for(lambda: c.jobs().get(job) == "RUNNING", 60, "job %s to run" % job)
    d.ctl("cancel", run_id)
    row = d.wait_run(run_id, timeout=60)
    eq(row["status"], "canceled", "canceled run")
    st = d.steps(run_id)
    eq(st["wait"]["status"], "canceled", "running step")
    eq(st["after"]["status"], "canceled", "pending step")
    wait_for(lambda: c.jobs().get(job) == "CANCELLED", 60, "scancel of job %s" % job)


def test_scancel_behind(c, d):
    run_id = d.start_run("behind")
    job = job_of(d, run_id, "nap", 1)
    wait_for(lambda: c.jobs().get(job) == "RUNNING", 60, "job %s to run" % job)
    c.run("scancel", job)
    row = d.wait_run(run_id, timeout=120)
    st = d.steps(run_id)
    eq(row["status"], "succeeded", "run after a retry (steps %r)" % st)
    eq(st["nap"]["attempts"], 2, "attempts")
    retries = [e["message"] for e in d.events(run_id, "nap") if e["kind"] == "retry"]
    eq(len(retries), 1, "one retry")
    check("Slurm job %s was canceled outside dagd" % job in retries[0],
          "the retry names the scancel: %r" % retries)


def test_warehouse(c, d):
    run_id = d.start_run("wh")
    row = d.wait_run(run_id, timeout=120)
    eq(row["status"], "failed", "run of a SQLite warehouse step on Slurm")
    st = d.steps(run_id)
    eq(st["checks"]["attempts"], 1, "refused, not retried")
    check(st["checks"]["error"].startswith("refused: step runs on Slurm and its warehouse"),
          "error: %r" % st["checks"]["error"])
    check("executor: local" in st["checks"]["error"], "the error says how to fix it")


def test_pg_warehouse(c, d):
    """The path the SQLite refusal points to: the same warehouse step on
    Slurm against a PostgreSQL warehouse (--param warehouse=CONNINFO) runs
    and succeeds; its checks fail on the data when they should."""
    why = pg_available()
    if why:
        print("test_pg_warehouse SKIP: %s" % why)
        return
    with PgServer(dbname="wh") as pg:
        pg.psql("CREATE TABLE t (a integer); INSERT INTO t VALUES (1), (2);")
        run_id = d.ctl("run", "pgwh", "--force", "--param", "warehouse=" + pg.conninfo,
                       json_out=True).json["run_id"]
        row = d.wait_run(run_id, timeout=120)
        st = d.steps(run_id)
        eq(row["status"], "succeeded", "checks on Slurm against PostgreSQL (steps %r)" % st)
        check(os.path.exists(os.path.join(d.state, "slurm", run_id, "checks", "1", "exit.json")),
              "it ran as a Slurm job")
        pg.psql("INSERT INTO t VALUES (NULL);")
        run_id = d.ctl("run", "pgwh", "--force", "--param", "warehouse=" + pg.conninfo,
                       json_out=True).json["run_id"]
        d.wait_run(run_id, timeout=120)
        st = d.steps(run_id)
        eq(st["checks"]["status"], "failed", "a NULL in t fails not_null on Slurm too")


def test_config(c):
    """The daemon's slurm: partition goes to sbatch; one that does not exist
    fails the attempt with sbatch's words."""
    with Daemon(pipelines={"nopart": NOPART},
                config="slurm:\n  partition: nosuchpart\n  poll_interval: 250ms\n") as d:
        run_id = d.start_run("nopart")
        d.wait_run(run_id, timeout=60)
        st = d.steps(run_id)
        eq(st["one"]["status"], "failed", "step with a bad partition")
        check(st["one"]["error"].startswith("sbatch failed:") and
              "partition" in st["one"]["error"].lower(), "error: %r" % st["one"]["error"])


STATES = """pipeline: states
defaults:
  executor: slurm
  retries: 1
  retry_delay: 100ms
steps:
""" + "".join("""  - name: %s
    task: command
    config: {argv: [sh, -c, "cd %%(dir)s; test -e %s.1 && exit 0; touch %s.1; exec sleep 60"]}
""" % (n, n, n) for n in ("tmo", "oom", "node"))

# Slurm's own squeue, with the state of the jobs listed in DIR/force
# ("JOB STATE" lines) replaced: this one-node cluster has no memory
# enforcement (task/none) and checks time limits only every minute.
FORCED_SQUEUE = """#!/bin/sh
squeue "$@" | awk -F'|' -v OFS='|' -v f="%(dir)s/force" '
BEGIN { while ((getline l < f) > 0) { split(l, a, " "); m[a[1]] = a[2] } }
{ if ($1 in m) $2 = m[$1]; print }'
"""


def test_states(c):
    """Slurm's end states (TIMEOUT, OUT_OF_MEMORY, NODE_FAIL) become the
    attempts' errors, and the attempts are retried: three jobs scanceled
    while squeue (a wrapper of the real one) reports each with one of
    those states."""
    tmp = tempfile.mkdtemp(prefix="dagd-slurm-states-")
    os.chmod(tmp, 0o755)
    squeue = os.path.join(tmp, "squeue-forced")
    with open(squeue, "w") as f:
        f.write(FORCED_SQUEUE % {"dir": tmp})
    os.chmod(squeue, 0o755)
    cfg = "slurm:\n  poll_interval: 250ms\n  arrays: false\n  squeue: %s\n" % squeue
    want = {"tmo": ("TIMEOUT", "reached its time limit (TIMEOUT)"),
            "oom": ("OUT_OF_MEMORY", "out of memory (Slurm job %s: OUT_OF_MEMORY)"),
            "node": ("NODE_FAIL", "the node of Slurm job %s failed (NODE_FAIL)")}
    try:
        with Daemon(pipelines={"states": STATES % {"dir": tmp}}, config=cfg) as d:
            run_id = d.start_run("states")
            jobs = {n: job_of(d, run_id, n, 1) for n in want}
            # running or still pending (the node runs two at a time): the
            # state Slurm reports is what counts
            with open(os.path.join(tmp, "force"), "w") as f:
                f.write("".join("%s %s\n" % (j, want[n][0]) for n, j in jobs.items()))
            c.run("scancel", *jobs.values())
            for n in want:  # attempt 2 ends at once (a canceled pending one never ran)
                open(os.path.join(tmp, n + ".1"), "a").close()
            row = d.wait_run(run_id, timeout=120)
            st = d.steps(run_id)
            eq(row["status"], "succeeded", "run after the retries (steps %r)" % st)
            for n, j in jobs.items():
                eq(st[n]["attempts"], 2, "attempts of " + n)
                retries = [e["message"] for e in d.events(run_id, n) if e["kind"] == "retry"]
                text = want[n][1] % j if "%s" in want[n][1] else want[n][1]
                check(len(retries) == 1 and text in retries[0],
                      "%s's retry names Slurm's %s: %r" % (n, want[n][0], retries))
            d.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    need_slurm()
    need_test_plugins("noop", "sleep", "flaky")
    with SlurmCluster() as c:
        pipes = {"fan": FAN, "retry": RETRY, "long": LONG, "behind": BEHIND, "wh": WAREHOUSE,
                 "pgwh": PGWH}
        with Daemon(pipelines=pipes, config=CONFIG) as d:
            for t in (test_fan, test_retry_timeout, test_cancel, test_scancel_behind,
                      test_warehouse, test_pg_warehouse):
                t0 = time.monotonic()
                t(c, d)
                print("%s ok (%.1fs)" % (t.__name__, time.monotonic() - t0))
            d.stop()
        t0 = time.monotonic()
        test_config(c)
        print("test_config ok (%.1fs)" % (time.monotonic() - t0))
        t0 = time.monotonic()
        test_states(c)
        print("test_states ok (%.1fs)" % (time.monotonic() - t0))
        check(c.wait_idle(60), "jobs left running: %r" % c.jobs())
    return 0


if __name__ == "__main__":
    run_main(main)
