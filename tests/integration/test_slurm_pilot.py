#!/usr/bin/env python3
"""Pilot mode on a real one-node Slurm cluster (issue 14, docs/slurm.md
"Pilot mode"; dagdtest.slurm), driven through dagd serve and dagctl:

  - a fan-out of 20 pilot steps: dagd asks Slurm for at most `max`
    allocations (jobs named dagd-pilot-*), each attempt runs inside one (it
    sees the allocation's SLURM_JOB_ID), every step recorded once;
  - a pilot killed with SIGKILL mid-step: the attempt is retried in another
    allocation, the step recorded once (attempts 2, one retry event);
  - scancel of a pilot's allocation behind dagd's back: the attempt is
    retried in another allocation, recorded once;
  - dagctl cancel of a running pilot step;
  - dagd serve SIGKILLed while a pilot step runs: the pilot's job ends, the
    restarted daemon runs the step again (attempt 2);
  - pilots idle for `idle` are released: their Slurm jobs end, and nothing
    of dagd is left in the cluster.

SKIP without slurm-wlm and munge."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dagdtest import Daemon, alive, check, eq, need_test_plugins, run_main, wait_for  # noqa: E402
from dagdtest.fakewiki import free_port  # noqa: E402
from dagdtest.slurm import SlurmCluster, need_slurm, runs_as  # noqa: E402

FAN = """pipeline: fan
defaults:
  executor: slurm
  slurm: {mode: pilot}
steps:
  - name: start
    task: command
    config: {argv: [sh, -c, "echo in job $SLURM_JOB_ID"]}
""" + "".join("  - {name: n%d, task: noop, needs: [start]}\n" % i for i in range(20))

NAP = """pipeline: nap
steps:
  - name: nap
    task: sleep
    executor: slurm
    slurm: {mode: pilot}
    config: {ms: 4000}
"""

LONG = """pipeline: long
steps:
  - name: wait
    task: sleep
    executor: slurm
    slurm: {mode: pilot}
    config: {ms: 60000}
  - {name: after, task: noop, needs: [wait]}
"""


def job_of(message):
    """The Slurm job of a 'runs as pilot A (Slurm job J) on H, pid P' event."""
    return message.split("(Slurm job ")[1].split(")")[0]


def pilot_pid(alloc):
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"--pilot" in argv and alloc.encode() in argv:
            return int(name)
    return None


def pilot_jobs(c):
    r = c.run("squeue", "-h", "-a", "-t", "all", "-o", "%i %j %T")
    return {p[0]: p[2] for p in (l.split() for l in r.stdout.splitlines())
            if len(p) == 3 and p[1].startswith("dagd-pilot-")}


def test_fan(c, d):
    run_id = d.start_run("fan")
    row = d.wait_run(run_id, timeout=180)
    st = d.steps(run_id)
    eq(row["status"], "succeeded", "fan run (steps: %r)" % st)
    for name in st:
        eq(st[name]["status"], "succeeded", "step " + name)
        eq(st[name]["attempts"], 1, "attempts of " + name)
    jobs = pilot_jobs(c)
    check(1 <= len(jobs) <= 2, "at most max (2) pilot allocations: %r" % jobs)
    out = [e["message"] for e in d.events(run_id, "start") if e["kind"] == "stdout"]
    eq(len(out), 1, "start's stdout came back: %r" % out)
    check(out[0].split()[-1] in jobs, "the step ran inside a pilot's job: %r, %r" % (out, jobs))


def test_pilot_killed(c, d):
    run_id = d.start_run("nap")
    wait_for(lambda: runs_as(d, run_id, "nap"), 120, "nap to start in a pilot")
    alloc = runs_as(d, run_id, "nap")[0].split("runs as pilot ")[1].split()[0]
    pid = wait_for(lambda: pilot_pid(alloc), 10, "the pilot process of %s" % alloc)
    os.kill(pid, signal.SIGKILL)
    row = d.wait_run(run_id, timeout=180)
    st = d.steps(run_id)
    eq(row["status"], "succeeded", "run after the pilot was lost (steps %r)" % st)
    eq(st["nap"]["attempts"], 2, "attempts: the lost one and its retry")
    retries = [e["message"] for e in d.events(run_id, "nap") if e["kind"] == "retry"]
    eq(len(retries), 1, "one retry event: %r" % retries)
    check("was lost" in retries[0], "the retry says the pilot was lost: %r" % retries)
    allocs = [m.split("runs as pilot ")[1].split()[0] for m in runs_as(d, run_id, "nap")]
    check(len(allocs) == 2 and allocs[1] != alloc, "retried in another allocation: %r" % allocs)
    results = [e for e in d.events(run_id, "nap") if e["kind"] == "retry"]
    eq(len(results), 1, "nothing recorded twice")


def test_scancel_behind(c, d):
    """scancel of a pilot's allocation behind dagd's back: Slurm ends the
    pilot (SIGTERM), which kills its attempt; dagd counts the pilot lost
    and runs the attempt again in another allocation, recorded once."""
    run_id = d.start_run("nap")
    wait_for(lambda: runs_as(d, run_id, "nap"), 120, "nap to start in a pilot")
    first = runs_as(d, run_id, "nap")[0]
    job = job_of(first)
    pid = int(first.rsplit("pid ", 1)[1])
    c.run("scancel", job)
    wait_for(lambda: not alive(pid), 30, "the attempt's process to end with its allocation")
    row = d.wait_run(run_id, timeout=180)
    st = d.steps(run_id)
    eq(row["status"], "succeeded", "run after the scancel (steps %r)" % st)
    eq(st["nap"]["attempts"], 2, "attempts: the lost one and its retry")
    retries = [e["message"] for e in d.events(run_id, "nap") if e["kind"] == "retry"]
    check(len(retries) == 1 and "(Slurm job %s) was lost" % job in retries[0],
          "one retry, naming the lost allocation's job: %r" % retries)
    check(job_of(runs_as(d, run_id, "nap")[1]) != job, "retried in another allocation")
    eq(pilot_jobs(c).get(job), "CANCELLED", "Slurm's word on the scanceled allocation")


def test_restart(c, d):
    """dagd serve SIGKILLed while a pilot step runs on the cluster: the
    pilot's Slurm job ends with the connection (the attempt with it); the
    restarted daemon runs the step again in a new allocation, once."""
    run_id = d.start_run("nap")
    wait_for(lambda: runs_as(d, run_id, "nap"), 120, "nap to start in a pilot")
    first = runs_as(d, run_id, "nap")[0]
    job = job_of(first)
    pid = int(first.rsplit("pid ", 1)[1])
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    wait_for(lambda: not alive(pid), 15, "the attempt's process to end with the daemon")
    wait_for(lambda: all(s in ("COMPLETED", "FAILED", "CANCELLED") for s in pilot_jobs(c).values()),
             60, "the dead daemon's pilot jobs to end: %r" % pilot_jobs(c))
    d.start()
    row = d.wait_run(run_id, timeout=180)
    st = d.steps(run_id)
    eq(row["status"], "succeeded", "the resumed run (steps %r)" % st)
    eq(st["nap"]["attempts"], 2, "attempts: the one lost with the daemon and its run after")
    check(job_of(runs_as(d, run_id, "nap")[1]) != job, "run again in a new allocation")


def test_cancel(c, d):
    run_id = d.start_run("long")
    wait_for(lambda: runs_as(d, run_id, "wait"), 120, "wait to start in a pilot")
    pid = int(runs_as(d, run_id, "wait")[0].rsplit("pid ", 1)[1])
    d.ctl("cancel", run_id)
    row = d.wait_run(run_id, timeout=60)
    eq(row["status"], "canceled", "canceled run")
    st = d.steps(run_id)
    eq(st["wait"]["status"], "canceled", "running step")
    eq(st["after"]["status"], "canceled", "pending step")
    wait_for(lambda: not alive(pid), 15, "the attempt's process to end")


def test_idle_release(c, d):
    def ended():
        return all(s not in ("PENDING", "RUNNING", "COMPLETING", "CONFIGURING")
                   for s in pilot_jobs(c).values())
    wait_for(ended, 60, "idle pilot allocations to end: %r" % pilot_jobs(c))
    check("Releasing pilot allocation" in d.logtext(), "the daemon logged the release")


def main():
    need_slurm()
    need_test_plugins("noop", "sleep")
    with SlurmCluster() as c:
        cfg = """slurm:
  pilot:
    listen: 127.0.0.1:%d
    advertise: 127.0.0.1
    max: 2
    cpus: 1
    idle: 3s
    heartbeat: 1s
""" % free_port()
        with Daemon(pipelines={"fan": FAN, "nap": NAP, "long": LONG}, config=cfg) as d:
            for t in (test_fan, test_pilot_killed, test_scancel_behind, test_cancel,
                      test_restart, test_idle_release):
                t0 = time.monotonic()
                t(c, d)
                print("%s ok (%.1fs)" % (t.__name__, time.monotonic() - t0))
            d.stop()
        check(c.wait_idle(60), "jobs left running: %r" % c.jobs())
    return 0


if __name__ == "__main__":
    run_main(main)
