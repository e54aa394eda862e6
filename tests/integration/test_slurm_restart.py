#!/usr/bin/env python3
"""dagd serve killed (SIGKILL) while its steps run as Slurm jobs, then
started again on the same state directory (issue 14, docs/slurm.md
"Restarts"): it finds the run, adopts the jobs (named in each attempt's
directory), records their results without running them again, and runs
what is downstream. SKIP without slurm-wlm and munge."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dagdtest import Daemon, check, eq, need_test_plugins, run_main, wait_for  # noqa: E402
from dagdtest.slurm import SlurmCluster, need_slurm  # noqa: E402

PIPE = """pipeline: restart
steps:
  - {name: first, task: noop}
""" + "".join("""  - name: nap%d
    task: command
    executor: slurm
    needs: [first]
    config: {argv: [sh, -c, "sleep 6; echo done %d"]}
""" % (i, i) for i in range(3)) + """  - {name: last, task: noop, needs: [nap0, nap1, nap2]}
"""


def main():
    need_slurm()
    need_test_plugins("noop")
    with SlurmCluster() as c:
        with Daemon(pipelines={"restart": PIPE}, config="slurm:\n  poll_interval: 250ms\n") as d:
            run_id = d.ctl("run", "restart", "--force", json_out=True).json["run_id"]
            handles = [os.path.join(d.state, "slurm", run_id, "nap%d" % i, "1", "handle")
                       for i in range(3)]
            wait_for(lambda: all(os.path.exists(h) for h in handles), 60, "three Slurm jobs")
            jobs = [open(h).read().split(":", 1)[1] for h in handles]
            wait_for(lambda: "RUNNING" in [c.jobs().get(j) for j in jobs], 60, "a job to run")
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait()
            check(all(c.jobs().get(j) in ("PENDING", "RUNNING") for j in jobs),
                  "the jobs outlive the daemon: %r" % c.jobs())
            d.start()
            row = d.wait_run(run_id, timeout=120)
            with d.db() as db:
                st = {r["step"]: dict(r) for r in
                      db.execute("SELECT * FROM steps WHERE run_id = ?", (run_id,))}
                ev = [dict(r) for r in
                      db.execute("SELECT * FROM events WHERE run_id = ? ORDER BY seq", (run_id,))]
            eq(row["status"], "succeeded", "the resumed run (steps %r)\n%s" % (st, d.logtext()))
            for i in range(3):
                name = "nap%d" % i
                eq(st[name]["status"], "succeeded", name)
                eq(st[name]["attempts"], 1, "attempts of %s (adopted, not run again)" % name)
                out = [e["message"] for e in ev if e["step"] == name and e["kind"] == "stdout"]
                check("done %d" % i in out, "%s's output recorded: %r" % (name, out))
                check(not os.path.exists(os.path.join(d.state, "slurm", run_id, name, "2")),
                      "no second job for " + name)
            eq(st["last"]["status"], "succeeded", "the step after them")
            adopted = [e for e in ev if "adopted after a restart" in e["message"]]
            eq(len(adopted), 3, "one 'adopted' event per job")
            eq({c.jobs().get(j) for j in jobs}, {"COMPLETED"}, "Slurm's word on the jobs")
            d.stop()
    return 0


if __name__ == "__main__":
    run_main(main)
