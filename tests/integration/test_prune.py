#!/usr/bin/python3
"""Retention: `dagd prune --older-than DURATION` (and `dagctl prune` through a
daemon) deletes finished runs older than the cutoff (with their steps and
events) in batches, keeps newer ones, never creates a state directory, and
rejects bad durations."""
import os
import shutil
import sqlite3
import tempfile
import time

from dagdtest import check, dagd, plan, state_db

PIPELINE = """\
pipeline: keep
steps:
  - name: one
    task: noop
  - name: two
    task: noop
    needs: [one]
"""


def count(state, table):
    with state_db(state) as c:
        return c.execute("SELECT count(*) FROM %s" % table).fetchone()[0]


def main():
    work = tempfile.mkdtemp(prefix="dagd-prune-")
    try:
        with open(os.path.join(work, "keep.yaml"), "w") as f:
            f.write(PIPELINE)
        state = os.path.join(work, "state")
        for _ in range(5):
            dagd("run", "keep.yaml", "--state-dir", "state", "--force", cwd=work, check_rc=0)
        check(count(state, "runs") == 5, "wanted 5 runs")

        p = dagd("prune", "--older-than", "1h", "--state-dir", "state", cwd=work, check_rc=0)
        check(count(state, "runs") == 5, "prune --older-than 1h deleted recent runs: %s" % p.stdout)

        # Make three runs old, as if they ended two days ago.
        old_ms = int((time.time() - 2 * 86400) * 1000)
        with sqlite3.connect(os.path.join(state, "state.db")) as c:
            ids = [r[0] for r in c.execute("SELECT run_id FROM runs ORDER BY created_at LIMIT 3")]
            c.executemany("UPDATE runs SET created_at = ?, started_at = ?, ended_at = ? WHERE run_id = ?",
                          [(old_ms, old_ms, old_ms, i) for i in ids])
        p = dagd("prune", "--older-than", "1d", "--batch", "1", "--state-dir", "state", cwd=work, check_rc=0)
        check(count(state, "runs") == 2, "after prune: %d runs, wanted 2 (%s)" % (count(state, "runs"), p.stdout))
        with state_db(state) as c:
            left = c.execute("SELECT count(*) FROM steps WHERE run_id IN (%s)" % ",".join("?" * 3), ids).fetchone()[0]
            ev = c.execute("SELECT count(*) FROM events WHERE run_id IN (%s)" % ",".join("?" * 3), ids).fetchone()[0]
        check(left == 0 and ev == 0, "pruned runs left %d steps and %d events" % (left, ev))
        check(p.stdout.startswith("deleted "), "prune output: %r" % p.stdout)

        # Memoization survives on the runs that are left.
        pl = plan("keep.yaml", "--state-dir", "state", cwd=work)
        check(all(s["action"] == "skip" for s in pl.values()), "plan after prune: %s" % pl)

        # The same through the daemon: dagctl prune asks until it is done.
        import subprocess
        from dagdtest import BUILD
        old2 = int((time.time() - 3 * 86400) * 1000)
        with sqlite3.connect(os.path.join(state, "state.db")) as c:
            c.execute("UPDATE runs SET created_at = ?, started_at = ?, ended_at = ?", (old2, old2, old2))
        os.makedirs(os.path.join(work, "pipelines"))
        sock = os.path.join(work, "s.sock")
        srv = subprocess.Popen([os.path.join(BUILD, "daemon", "dagd"), "serve", "--socket", sock,
                                "--state-dir", state, "--pipelines", os.path.join(work, "pipelines")],
                               cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            from dagdtest import wait_socket
            wait_socket(sock, srv)
            ctl = [os.path.join(BUILD, "daemon", "dagctl"), "--socket", sock, "prune"]
            p = subprocess.run(ctl + ["--older-than", "bogus"], capture_output=True, text=True)
            check(p.returncode != 0, "dagctl prune accepted a bogus duration")
            p = subprocess.run(ctl + ["--older-than", "1d"], capture_output=True, text=True, timeout=60)
            check(p.returncode == 0 and p.stdout.startswith("deleted "), "dagctl prune: %d %s %s"
                  % (p.returncode, p.stdout, p.stderr))
            check(count(state, "runs") == 0, "after dagctl prune: %d runs" % count(state, "runs"))
        finally:
            srv.terminate()
            srv.wait(timeout=30)

        dagd("prune", "--older-than", "bogus", "--state-dir", "state", cwd=work, check_rc=2)
        dagd("prune", "--state-dir", "state", cwd=work, check_rc=2)
        dagd("prune", "--older-than", "1d", "--state-dir", "nothere", cwd=work, check_rc=0)
        check(not os.path.exists(os.path.join(work, "nothere")), "prune created a state dir")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("ok")


if __name__ == "__main__":
    main()
