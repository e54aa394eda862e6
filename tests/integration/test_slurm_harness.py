#!/usr/bin/env python3
"""The private Slurm cluster of dagdtest.slurm (DESIGN 10): it comes up,
runs a job and a job array whose files land in a directory the test reads,
reports end states through squeue while slurmctld keeps the jobs
(MinJobAge), cancels with scancel, and leaves no process behind. SKIP
without slurm-wlm and munge."""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dagdtest import check, eq, run_main  # noqa: E402
from dagdtest.slurm import SlurmCluster, need_slurm  # noqa: E402


def cluster_pids(conf_dir):
    """Processes whose command line names the cluster's files."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if conf_dir in cmd:
            out.append((pid, cmd.replace("\0", " ")))
    return out


def main():
    need_slurm()
    shared = tempfile.mkdtemp(prefix="dagd-slurm-shared-")
    with SlurmCluster() as c:
        conf_dir, munge_dir = c.dir, c.munge_dir
        eq(os.environ.get("SLURM_CONF"), c.conf, "SLURM_CONF while the cluster runs")
        one = c.run("sbatch", "--parsable", "-o", shared + "/one.out",
                    "--wrap", "echo hello from $SLURM_JOB_ID").stdout.strip()
        arr = c.run("sbatch", "--parsable", "--array=0-2", "-o", shared + "/arr_%a.out",
                    "--wrap", "echo task $SLURM_ARRAY_TASK_ID; exit $SLURM_ARRAY_TASK_ID"
                    ).stdout.strip()
        slow = c.run("sbatch", "--parsable", "--wrap", "sleep 300").stdout.strip()
        check(one.isdigit() and arr.isdigit() and slow.isdigit(), "sbatch --parsable ids")
        # Both CPUs may be busy: wait for the short jobs, then cancel the slow one.
        end = time.monotonic() + 120
        while time.monotonic() < end:
            j = c.jobs()
            if j.get(one) == "COMPLETED" and all(j.get("%s_%d" % (arr, i)) in
                                                 ("COMPLETED", "FAILED") for i in range(3)):
                break
            time.sleep(0.2)
        c.run("scancel", slow)
        check(c.wait_idle(60), "jobs still active: %r" % c.jobs())
        j = c.jobs()
        eq(j.get(one), "COMPLETED", "state of the one job")
        eq(j.get(arr + "_0"), "COMPLETED", "array task 0 (exit 0)")
        eq(j.get(arr + "_2"), "FAILED", "array task 2 (exit 2)")
        eq(j.get(slow), "CANCELLED", "scanceled job")
        with open(shared + "/one.out") as f:
            eq(f.read().strip(), "hello from " + one, "the job's output")
        with open(shared + "/arr_1.out") as f:
            eq(f.read().strip(), "task 1", "array task 1's output")
    check(os.environ.get("SLURM_CONF") is None or os.environ["SLURM_CONF"] != c.conf,
          "SLURM_CONF restored")
    check(not os.path.exists(conf_dir) and not os.path.exists(munge_dir),
          "cluster directories removed")
    time.sleep(0.2)
    left = cluster_pids(conf_dir) + cluster_pids(munge_dir)
    check(not left, "processes left behind: %r" % left)
    return 0


if __name__ == "__main__":
    run_main(main)
