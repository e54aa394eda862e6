#!/usr/bin/env python3
"""Disk full (issue 16, item 6; docs/reliability.md "Disk full",
docs/security.md "Disk full").

The state directory is a 5 MB tmpfs and the full sales data goes into the
warehouse there: the warehouse and then state.db writes fail. Expected:
the run ends `failed` with "disk full" as soon as the state can be written
again (the tmpfs is remounted larger), the daemon stays up, the WALs are
checkpointed away, and `dagd run` never prints `running`/`pending` for a
run that ended.

Needs root (mount); without it the test is skipped (exit 77), never passed.

1. `dagd run`: when it says it cannot record the end of the run, the
   tmpfs grows; it records it, prints the run `failed`, exits 1.
2. `dagd serve`: the same run through dagctl; the daemon logs that it
   cannot record the end and keeps answering; once the tmpfs grows the run
   is `failed` with "disk full", `cancel` says it is not active, the WALs
   are small, and a next run succeeds."""
import os
import shutil
import subprocess
import tempfile
import time

from dagdtest import (DAGD, NO_WIKI, SOURCE, Daemon, check, fail, fast_sales_yaml, skip,
                      wait_for)

SMALL, LARGE = "5m", "64m"
WAL_MAX = 64 * 1024  # what may stay of a WAL once the space is back


def mount_tmpfs(path):
    os.makedirs(path, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + SMALL, "tmpfs", path],
                       capture_output=True, text=True)
    if p.returncode != 0:
        skip("cannot mount a tmpfs (needs root): %s" % p.stderr.strip())


def grow(path):
    p = subprocess.run(["mount", "-o", "remount,size=" + LARGE, path], capture_output=True,
                       text=True)
    check(p.returncode == 0, "remount: %s" % p.stderr)


def umount(path):
    subprocess.run(["umount", "-l", path], capture_output=True)


def params():
    return ["--param", "data_dir=" + os.path.join(SOURCE, "data", "sales"),
            "--param", "translations_dir=" + os.path.join(SOURCE, "data", "translations"),
            "--param", "wiki_api=" + NO_WIKI]


def check_state(state, run_id, what):
    import sqlite3
    c = sqlite3.connect("file:%s?mode=ro" % os.path.join(state, "state.db"), uri=True)
    row = c.execute("SELECT status, error FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    left = c.execute("SELECT count(*) FROM steps WHERE run_id = ? AND status IN "
                     "('running', 'pending')", (run_id,)).fetchone()[0]
    step_full = c.execute("SELECT count(*) FROM steps WHERE run_id = ? AND error LIKE "
                          "'%disk is full%'", (run_id,)).fetchone()[0]
    c.close()
    check(row is not None, "%s: run %s not in state.db" % (what, run_id))
    # "disk full" in the run's error when state writes failed; when only the
    # warehouse filled up (the state writes happened to fit), the failed
    # step says it.
    check(row[0] == "failed" and ("disk full" in (row[1] or "") or step_full),
          "%s: run is %s: %s" % (what, row[0], row[1]))
    check(left == 0, "%s: %d steps left running or pending" % (what, left))
    # The checkpoints run once the end is stored (the warehouse's in the
    # background): give them a moment.
    for name in ("state.db-wal", "warehouse.db-wal"):
        f = os.path.join(state, name)
        size = lambda: os.path.getsize(f) if os.path.exists(f) else 0
        end = time.monotonic() + 10
        while size() > WAL_MAX and time.monotonic() < end:
            time.sleep(0.1)
        check(size() <= WAL_MAX, "%s: %s is %d bytes after the space came back"
              % (what, name, size()))


def run_case(tmp, yaml):
    what = "dagd run"
    state = os.path.join(tmp, "run-state")
    mount_tmpfs(state)
    try:
        p = subprocess.Popen([DAGD, "run", yaml, "--state-dir", state, "--force"] + params(),
                             cwd=SOURCE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
        out = []
        grown = False
        for line in p.stdout:
            out.append(line)
            if "could not be recorded" in line and not grown:
                grow(state)
                grown = True
        rc = p.wait(timeout=120)
        text = "".join(out)
        table = text[text.rindex("\nSTEP "):]
        for bad in (" running ", " pending "):
            check(bad not in table, "%s: the summary shows%s:\n%s" % (what, bad, table))
        last = [l for l in text.splitlines() if l.startswith("run ")][-1]
        check(" failed " in last, "%s: last line %r" % (what, last))
        # It waits for room only when the end did not fit at once.
        if grown:
            check("disk full" in last, "%s: last line %r" % (what, last))
        else:
            grow(state)  # the end fitted at once: only the warehouse filled up
        check(rc == 1, "%s: exit %d:\n%s" % (what, rc, text[-3000:]))
        run_id = last.split()[1]
        check_state(state, run_id, what)
    finally:
        umount(state)


def serve_case():
    what = "dagd serve"
    with Daemon(start=False) as d:
        fast_sales_yaml(d.pipes)
        d.write_pipeline("quick", "pipeline: quick\nsteps:\n"
                                  "  - {name: q, task: command, config: {argv: [\"true\"]}}\n")
        mount_tmpfs(d.state)
        try:
            d.start()
            run_id = d.ctl("run", "sales", "--force", *params()).stdout.strip()
            # The executor is done with the run (the disk filled up under it).
            wait_for(lambda: "disk is full" in d.logtext(), 120, "the disk to fill up")
            wait_for(lambda: (lambda st: st["running"] + st["queued"] == 0)(
                d.ctl("status", json_out=True).json), 120, "the run to end")
            time.sleep(1.5)  # a retry or two while the disk is still full
            check(d.proc.poll() is None, "%s: the daemon died:\n%s" % (what, d.logtext()[-3000:]))
            d.ctl("status")
            grow(d.state)
            wait_for(lambda: (lambda r: r is not None and r["status"] == "failed")(
                d.run_row(run_id)), 10, "the run's end in state.db once the space is back")
            check_state(d.state, run_id, what)
            p = d.ctl("cancel", run_id, check_rc=None)
            check(p.returncode != 0, "%s: cancel of an ended run: %s" % (what, p.stdout))
            quick = d.ctl("run", "quick", "--wait", json_out=True)
            check(quick.json["status"] == "succeeded", "%s: next run %r" % (what, quick.json))
            check(d.stop() == 0, "%s: exit status after SIGTERM" % what)
        finally:
            if d.proc and d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
            umount(d.state)


tmp = tempfile.mkdtemp(prefix="dagd-diskfull-")
try:
    run_case(tmp, fast_sales_yaml(tmp))
    serve_case()
finally:
    shutil.rmtree(tmp, ignore_errors=True)
print("ok")
