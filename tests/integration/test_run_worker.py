"""The worker side: peak RSS from wait4 (hog), the stdout/stderr cap, and
recovery when the worker template dies mid-run (the attempt fails with a
clear reason, is retried, and the retry runs in a fresh template)."""
import os
import shutil
import signal
import time

from dagdtest import BUILD, Tmp, check, eq


def children(pid):
    out = []
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
            out += [int(x) for x in f.read().split()]
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


with Tmp() as t:
    # Peak RSS of a step that touches 64 MiB, and output beyond 1 MiB.
    t.write("p.yaml", """
pipeline: worker
steps:
  - {name: hog, task: hog, config: {mb: 64}}
  - name: chatty
    task: command
    config: {argv: [sh, -c, "i=0; while [ $i -lt 40000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"]}
""")
    t.run("p.yaml", rc=0, timeout=120)
    st = t.steps()
    check(st["hog"]["max_rss_kb"] >= 60 * 1024, "hog max_rss_kb %r" % st["hog"]["max_rss_kb"])
    eq(st["hog"]["rows_out"], 64, "hog metrics")
    out = t.events(step="chatty", kind="stdout")
    check(20000 < len(out) < 40000, "stdout capped near 1 MiB: %d lines" % len(out))
    eq(out[0]["message"], "line-0-xxxxxxxxxxxxxxxxxxxxxxxxxx", "first line")
    check(out[-1]["message"].startswith("[output truncated"), out[-1]["message"])

    # Kill the worker template while a step runs.
    t.write("die.yaml", """
pipeline: die
steps:
  - name: victim
    task: sleep
    config: {ms: 1500}
    retries: 1
    retry_delay: 10ms
  - {name: after, task: noop, needs: [victim]}
""")
    proc = t.spawn("die.yaml")

    def victim_running():
        r = t.last_run()
        return r is not None and r["pipeline"] == "die" and \
            t.steps(r["run_id"])["victim"]["status"] == "running"
    t.wait_for(victim_running, "the victim step to run")
    tmpl = [c for c in children(proc.pid) if b"--template" in cmdline(c)]
    eq(len(tmpl), 1, "one worker template under dagd run")
    os.kill(tmpl[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    eq(proc.returncode, 0, "run recovers (stderr: %s)" % err)
    st = t.steps()
    eq(st["victim"]["status"], "succeeded", "victim retried")
    eq(st["victim"]["attempts"], 2, "victim attempts")
    retry = [e["message"] for e in t.events(step="victim", kind="retry")]
    eq(len(retry), 1, "one retry")
    check("the worker template died" in retry[0], retry[0])
    eq(st["after"]["status"], "succeeded", "downstream ran in the new template")

# The worker opens plugins with the same ABI checks as dagd: a plugin file
# replaced after dagd loaded it by one whose descriptor is too small (but has
# a run callback) is refused by the worker too, not run.
UNIT_PLUGINS = os.path.join(BUILD, "tests", "unit", "plugins")
with Tmp() as t:
    pdir = os.path.join(t.dir, "plugins")
    os.mkdir(pdir)
    shutil.copy(os.path.join(UNIT_PLUGINS, "dagd-task-swapped.so"), pdir)
    shutil.copy(os.path.join(UNIT_PLUGINS, "dagd-task-swapped-short.so"), t.dir)
    t.write("swap.yaml", """
pipeline: swap
steps:
  - name: swap
    task: command
    config: {argv: [mv, dagd-task-swapped-short.so, plugins/dagd-task-swapped.so]}
  - {name: victim, task: swapped, needs: [swap]}
""")
    t.run("swap.yaml", "--plugin-dir", pdir, rc=1)
    st = t.steps()
    eq(st["swap"]["status"], "succeeded", "the swap step")
    eq(st["victim"]["status"], "failed", "a step whose plugin became too small")
    check("declares a descriptor of 16 bytes" in (st["victim"]["error"] or ""),
          "victim error: %r" % st["victim"]["error"])
print("ok")
