"""Helpers for the `dagd run` integration tests (test_run_*.py): a temporary
directory per test, writing pipelines, running build/daemon/dagd and reading
state.db with the sqlite3 module. Stdlib only."""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("DAGD_BUILD_ROOT") or os.path.join(os.path.dirname(__file__), "..", "..", "build")
DAGD = os.path.join(BUILD, "daemon", "dagd")


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def eq(got, want, what):
    if got != want:
        fail("%s: got %r, want %r" % (what, got, want))


class Tmp:
    """A temporary working directory, removed at the end unless KEEP=1."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="dagd-run-test-")
        self.state = os.path.join(self.dir, ".dagd")
        return self

    def __exit__(self, *exc):
        if not os.environ.get("KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("kept", self.dir)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run(self, *args, rc=None, timeout=120):
        """dagd run ARGS in the temp dir; check the exit code if rc is given."""
        p = subprocess.run([DAGD, "run", *args], cwd=self.dir, capture_output=True, text=True,
                           timeout=timeout)
        if rc is not None and p.returncode != rc:
            fail("dagd run %s: exit %d, wanted %d\nstdout:\n%s\nstderr:\n%s"
                 % (" ".join(args), p.returncode, rc, p.stdout, p.stderr))
        return p

    def spawn(self, *args):
        return subprocess.Popen([DAGD, "run", *args], cwd=self.dir, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def db(self):
        c = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.state, "state.db"), uri=True)
        c.row_factory = sqlite3.Row
        return c

    def last_run(self):
        with self.db() as c:
            return c.execute("SELECT * FROM runs ORDER BY created_at DESC, rowid DESC LIMIT 1").fetchone()

    def steps(self, run_id=None):
        run_id = run_id or self.last_run()["run_id"]
        with self.db() as c:
            return {r["step"]: r for r in c.execute("SELECT * FROM steps WHERE run_id = ?", (run_id,))}

    def events(self, run_id=None, step=None, kind=None):
        run_id = run_id or self.last_run()["run_id"]
        q, a = "SELECT * FROM events WHERE run_id = ?", [run_id]
        if step:
            q += " AND step = ?"
            a.append(step)
        if kind:
            q += " AND kind = ?"
            a.append(kind)
        with self.db() as c:
            return list(c.execute(q + " ORDER BY seq", a))

    def wait_for(self, cond, what, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            try:
                if cond():
                    return
            except sqlite3.Error:
                pass
            time.sleep(0.02)
        fail("timed out waiting for " + what)
