#!/usr/bin/env python3
"""Nothing a step started outlives the dagd that ran it (issue 16, item 5;
docs/security.md "Processes a step starts", docs/executor.md).

A command step runs `sh -c 'sleep N; echo done >> MARKER'` and also starts
a process that leaves the step's process group and session (setsid) and
writes to a second marker. Then:

1. kill -9 `dagd serve`: the worker template (subreaper, PDEATHSIG) kills
   all of them at once; the restarted daemon shows the run `failed`; no
   marker is ever written.
2. kill -9 `dagd serve` and its worker template together (the template
   cannot clean up): the step's process group survives the crash, and the
   restarted daemon's start-up sweep kills it (recorded pgid and start
   time in state.db) before it marks the run failed. The setsid process
   is beyond the sweep (docs/security.md): it is started here without the
   second marker.
3. kill -9 `dagd run`: the same as 1, then `dagd run` again fails the orphan.
"""
import os
import signal
import subprocess
import tempfile
import time

from dagdtest import DAGD, Daemon, check, fail, wait_for

NAP_S = 4
# Every process of the step names this (sleep 4.NNN): how the test finds them.
NAP = "%d.%03d" % (NAP_S, os.getpid() % 1000)


def pipeline(marker, escaped):
    inner = ""
    if escaped:
        # A process that leaves the step's group and session.
        inner = "(setsid sh -c 'sleep %s; echo escaped >> %s' &); " % (NAP, escaped)
    script = "%ssleep %s; echo done >> %s" % (inner, NAP, marker)
    return """pipeline: nap
steps:
  - name: nap
    task: command
    config:
      argv: [sh, -c, "%s"]
""" % script.replace('"', '\\"')


def stat(pid):
    """(state, ppid, pgrp) of pid, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    fields = st[st.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[2])


def alive(pid):
    s = stat(pid)
    return s is not None and s[0] != "Z"


def processes_with(text):
    """Live pids whose command line contains text."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and alive(int(d)):
            out.append(int(d))
    return out


def template_of(pid):
    for d in os.listdir("/proc"):
        if d.isdigit():
            s = stat(int(d))
            if s and s[1] == pid:
                try:
                    with open("/proc/%s/cmdline" % d, "rb") as f:
                        if b"--template" in f.read():
                            return int(d)
                except OSError:
                    pass
    return None


def wait_started(want):
    """The step's processes: sh and sleep, plus the setsid'd sh and its sleep."""
    return wait_for(lambda: (lambda p: p if len(p) >= want else None)(processes_with(NAP)), 15,
                    "the step's processes to start")


def check_never_written(markers, what):
    time.sleep(NAP_S + 1.5)
    for m in markers:
        if os.path.exists(m):
            with open(m) as f:
                fail("%s: %s was written (%r) by a step of a dead dagd" % (what, m, f.read()))


def check_gone(pids, what, timeout=3):
    end = time.monotonic() + timeout
    while time.monotonic() < end and any(alive(p) for p in pids):
        time.sleep(0.05)
    left = [p for p in pids if alive(p)]
    check(not left, "%s: processes of the step still alive: %r" % (what, left))


def step_running(d):
    with d.db() as c:
        r = c.execute("SELECT status, pgid FROM steps WHERE step = 'nap'").fetchone()
    return r is not None and r["status"] == "running" and r["pgid"] is not None


def serve_case(kill_template):
    what = "serve, kill -9 of dagd%s" % (" and its template" if kill_template else "")
    tmp = tempfile.mkdtemp(prefix="dagd-procs-")
    marker = os.path.join(tmp, "marker")
    escaped = None if kill_template else os.path.join(tmp, "escaped")
    markers = [m for m in (marker, escaped) if m]
    with Daemon({"nap": pipeline(marker, escaped)}) as d:
        run_id = d.ctl("run", "nap", "--force").stdout.strip()
        pids = wait_started(4 if escaped else 2)
        wait_for(lambda: step_running(d), 10, "the step's process group in state.db")
        tmpl = template_of(d.proc.pid)
        check(tmpl is not None, "no worker template under dagd serve")
        d.proc.send_signal(signal.SIGKILL)
        if kill_template:
            os.kill(tmpl, signal.SIGKILL)
        d.proc.wait()
        if kill_template:
            time.sleep(0.5)
            check(any(alive(p) for p in pids),
                  "%s: the step's processes died without the sweep, the case tests nothing" % what)
        else:
            check_gone(pids, what)
        d.start()
        check_gone(pids, what + ", after the restart", timeout=1)
        row = d.wait_run(run_id, timeout=10)
        check(row["status"] == "failed", "%s: run is %s" % (what, row["status"]))
        if kill_template:
            check("Killed process group" in d.logtext(), "%s: the sweep did not log" % what)
        check(d.stop() == 0, "%s: exit status" % what)
    check_never_written(markers, what)


def run_case():
    what = "dagd run, kill -9"
    tmp = tempfile.mkdtemp(prefix="dagd-procs-run-")
    marker = os.path.join(tmp, "marker")
    escaped = os.path.join(tmp, "escaped")
    yaml = os.path.join(tmp, "nap.yaml")
    with open(yaml, "w") as f:
        f.write(pipeline(marker, escaped))
    state = os.path.join(tmp, "state")
    p = subprocess.Popen([DAGD, "run", yaml, "--state-dir", state, "--force"], cwd=tmp,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pids = wait_started(4)
    finally:
        p.kill()
        p.wait()
    check_gone(pids, what)
    # Another pipeline on the same state directory: its start fails the orphan.
    quick = os.path.join(tmp, "quick.yaml")
    with open(quick, "w") as f:
        f.write("pipeline: quick\nsteps:\n  - {name: q, task: command, config: {argv: [true]}}\n")
    again = subprocess.run([DAGD, "run", quick, "--state-dir", state], cwd=tmp,
                           capture_output=True, text=True, timeout=60)
    check("orphan" in again.stderr or "left running" in again.stderr,
          "%s: the next dagd run did not fail the orphan:\n%s" % (what, again.stderr))
    check_never_written([marker, escaped], what)


serve_case(kill_template=False)
serve_case(kill_template=True)
run_case()
print("ok")
