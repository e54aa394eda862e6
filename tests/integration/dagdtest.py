"""Small helpers shared by the reliability integration tests (test_memo,
test_limits, test_crash, test_prune): paths of the built binaries, running
dagd, and reading a state directory's database. Stdlib only."""
import os
import sqlite3
import subprocess
import sys

BUILD = os.environ.get("DAGD_BUILD_ROOT") or os.path.join(os.path.dirname(__file__), "..", "..", "build")
SOURCE = os.environ.get("DAGD_SOURCE_ROOT") or os.path.join(os.path.dirname(__file__), "..", "..")
DAGD = os.path.join(BUILD, "daemon", "dagd")
# A Wikipedia API that refuses connections at once: translate-scrape falls
# back to its dictionary in about a second, but then marks its result
# no_memo (it is asked again next run).
NO_WIKI = "http://127.0.0.1:1/w/api.php"


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


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


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


def db(state_dir):
    c = sqlite3.connect("file:%s?mode=ro" % os.path.join(state_dir, "state.db"), uri=True)
    c.row_factory = sqlite3.Row
    return c


def last_run(state_dir):
    with db(state_dir) as c:
        return c.execute("SELECT * FROM runs ORDER BY created_at DESC, rowid DESC LIMIT 1").fetchone()


def run_steps(state_dir, run_id):
    with db(state_dir) as c:
        return {r["step"]: r for r in c.execute("SELECT * FROM steps WHERE run_id = ?", (run_id,))}


def ran_steps(state_dir, run_id=None):
    """Names of the steps that executed (succeeded) in a run (default: the last)."""
    run_id = run_id or last_run(state_dir)["run_id"]
    return {s for s, r in run_steps(state_dir, run_id).items() if r["status"] == "succeeded"}


def plan(path, *args, cwd=None):
    import json
    p = dagd("plan", path, "--json", *args, cwd=cwd, check_rc=0)
    return {s["step"]: s for s in json.loads(p.stdout)["steps"]}


class FakeWiki:
    """tests/tools/fakewiki.py on a free port (data/translations), stopped
    on exit: `with FakeWiki() as url: ...`."""

    def __enter__(self):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(SOURCE, "tests", "tools", "fakewiki.py"), "--port", "0",
             "--data", os.path.join(SOURCE, "data", "translations"), "--quiet", "--max-seconds", "600"],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if "listening" not in line:
            self.proc.kill()
            fail("fakewiki did not start: %r" % line)
        return line.split()[-1]

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()
        return False


def wait_socket(sock, proc, timeout=10):
    """Wait until a dagd serve accepts connections on sock."""
    import socket
    import time
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
