"""Running build/daemon/dagd: one command (dagd, plan), a temporary
directory for `dagd run` tests (Tmp), the sales pipeline unpaced
(fast_sales_yaml), and waiting for a `dagd serve` socket (wait_socket)."""
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time

from .checks import fail, wait_for
from .paths import DAGD, SOURCE
from .state import last_run, run_steps, state_db


def dagd(*args, cwd=None, check_rc=None, timeout=120, env=None):
    """Run dagd; return the CompletedProcess. check_rc: expected exit code."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([DAGD, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=e)
    if check_rc is not None and p.returncode != check_rc:
        fail("dagd %s: exit %d, wanted %d\nstdout:\n%s\nstderr:\n%s"
             % (" ".join(args), p.returncode, check_rc, p.stdout, p.stderr))
    return p


def plan(path, *args, cwd=None):
    """`dagd plan PATH --json ARGS`: step name -> its plan entry."""
    p = dagd("plan", path, "--json", *args, cwd=cwd, check_rc=0)
    return {s["step"]: s for s in json.loads(p.stdout)["steps"]}


def fast_sales_yaml(dest_dir):
    """pipelines/sales.yaml with translate-scrape unpaced (rate: 0), written
    to dest_dir: against a local fakewiki a first run then takes ~1 s instead
    of ~15 s at the default 4 requests/s. The rest of pipelines/ is
    symlinked next to it; run it from SOURCE. Falls back to the shipped file
    if its translate config is not the expected one."""
    with open(os.path.join(SOURCE, "pipelines", "sales.yaml")) as f:
        text = f.read()
    old = 'dictionary: "${translations_dir}"}'
    if text.count(old) != 1:
        return os.path.join(SOURCE, "pipelines", "sales.yaml")
    # What the pipeline finds next to itself (pipelines/sales/models, ...).
    for entry in os.listdir(os.path.join(SOURCE, "pipelines")):
        if entry != "sales.yaml" and not os.path.exists(os.path.join(dest_dir, entry)):
            os.symlink(os.path.join(SOURCE, "pipelines", entry), os.path.join(dest_dir, entry))
    path = os.path.join(dest_dir, "sales.yaml")
    with open(path, "w") as f:
        f.write(text.replace(old, 'dictionary: "${translations_dir}", rate: 0}'))
    return path


def wait_socket(sock, proc, timeout=10):
    """Wait until a dagd serve accepts connections on sock."""
    t0 = time.monotonic()
    while True:
        if proc.poll() is not None:
            fail("dagd serve exited with %s" % proc.returncode)
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(sock)
            s.close()
            return
        except OSError:
            s.close()
        if time.monotonic() - t0 > timeout:
            fail("dagd serve did not accept on %s within %d s" % (sock, timeout))
        time.sleep(0.01)


class Tmp:
    """A temporary working directory for `dagd run`, state in .dagd/ inside
    it; removed at the end unless KEEP=1."""

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
        return state_db(self.state)

    def last_run(self):
        return last_run(self.state)

    def steps(self, run_id=None):
        return run_steps(self.state, run_id or self.last_run()["run_id"])

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
        """wait_for(cond), a state.db being written (sqlite3.Error) counting
        as not yet."""
        def quiet():
            try:
                return cond()
            except sqlite3.Error:
                return False
        wait_for(quiet, timeout, what)
