"""A private `dagd serve` (temporary socket, state and pipelines
directories) driven with dagctl (Daemon), or through the JSON-lines protocol
directly (request, read_line, call); the test pipelines of the test plugins
(tests/plugins)."""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from .checks import check, fail, skip, wait_for
from .paths import DAGCTL, DAGD, TEST_PLUGINS
from .state import state_db


def need_test_plugins(*names):
    for n in names:
        if not os.path.exists(os.path.join(TEST_PLUGINS, "dagd-task-%s.so" % n)):
            skip("test plugin %s not built (tests/plugins)" % n)


# Pipelines made of the test tasks (DESIGN 3a contract configs).
NOOP = """pipeline: noop
steps:
  - name: only
    task: noop
"""

CHAIN = """pipeline: chain
steps:
  - name: first
    task: noop
  - name: second
    task: sleep
    needs: [first]
    config: {ms: 50}
  - name: third
    task: noop
    needs: [second]
"""

FAILING = """pipeline: failing
params:
  msg: "broken on purpose"
steps:
  - name: ok
    task: noop
  - name: broken
    task: fail
    needs: [ok]
    config: {exit_code: 3, message: "${msg}"}
  - name: after
    task: noop
    needs: [broken]
"""

SLOW = """pipeline: slow
steps:
  - name: wait
    task: sleep
    config: {ms: 30000}
"""


class Daemon:
    """A private dagd serve. Use as a context manager."""

    def __init__(self, pipelines=None, config=None, env=None, start=True, args=()):
        self.tmp = tempfile.mkdtemp(prefix="dagd-daemon-")
        os.chmod(self.tmp, 0o755)
        self.sock = os.path.join(self.tmp, "dagd.sock")
        self.state = os.path.join(self.tmp, "state")
        self.pipes = os.path.join(self.tmp, "pipelines")
        os.makedirs(self.pipes)
        for name, text in (pipelines or {}).items():
            self.write_pipeline(name, text)
        self.config = None
        if config is not None:
            self.config = os.path.join(self.tmp, "dagd.yaml")
            with open(self.config, "w") as f:
                f.write(config)
        self.env = dict(os.environ)
        self.env.pop("NOTIFY_SOCKET", None)
        self.env.pop("LISTEN_FDS", None)
        self.env.update(env or {})
        self.args = list(args)
        self.proc = None
        self.log = os.path.join(self.tmp, "dagd.log")
        if start:
            self.start()

    def write_pipeline(self, name, text):
        path = os.path.join(self.pipes, name + ".yaml")
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)
        return path

    def command(self):
        cmd = [DAGD, "serve", "--socket", self.sock, "--state-dir", self.state,
               "--pipelines", self.pipes]
        if self.config:
            cmd += ["--config", self.config]
        return cmd + self.args

    def start(self, wait=True):
        self.logf = open(self.log, "a")
        self.proc = subprocess.Popen(self.command(), stdout=self.logf, stderr=self.logf,
                                     env=self.env, cwd=self.tmp)
        if wait:
            self.wait_ready()
        return self.proc

    def wait_ready(self, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                fail("dagd serve exited with %d:\n%s" % (self.proc.returncode, self.logtext()))
            if os.path.exists(self.sock):
                p = self.ctl("status", check_rc=None)
                if p.returncode == 0:
                    return
            time.sleep(0.02)
        fail("dagd serve did not become ready:\n" + self.logtext())

    def logtext(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def ctl(self, *args, check_rc=0, timeout=60, json_out=False, env=None, preexec_fn=None):
        cmd = [DAGCTL, "--socket", self.sock] + (["--json"] if json_out else []) + list(args)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env=env or self.env, preexec_fn=preexec_fn)
        if check_rc is not None and p.returncode != check_rc:
            fail("dagctl %s: exit %d, wanted %d\nstdout:\n%s\nstderr:\n%s\ndaemon log:\n%s"
                 % (" ".join(args), p.returncode, check_rc, p.stdout, p.stderr, self.logtext()))
        if json_out and p.returncode in (0, 1) and p.stdout.strip():
            lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
            p.json = lines[-1]
            p.events = lines[:-1]
        return p

    def db(self):
        return state_db(self.state)

    def run_row(self, run_id):
        with self.db() as c:
            return c.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()

    def steps(self, run_id):
        """A run's rows of the steps table, by step name."""
        with self.db() as c:
            return {r["step"]: dict(r) for r in
                    c.execute("SELECT * FROM steps WHERE run_id = ?", (run_id,))}

    def events(self, run_id, step=None):
        """A run's events (of one step, or all), oldest first."""
        with self.db() as c:
            q = "SELECT * FROM events WHERE run_id = ?" + (" AND step = ?" if step else "")
            return [dict(r) for r in c.execute(q + " ORDER BY seq",
                                               (run_id, step) if step else (run_id,))]

    def start_run(self, pipeline):
        """`dagctl run PIPELINE --force`: the new run's id."""
        return self.ctl("run", pipeline, "--force", json_out=True).json["run_id"]

    def wait_run(self, run_id, statuses=("succeeded", "failed", "canceled"), timeout=30):
        def done():
            r = self.run_row(run_id)
            return r if r is not None and r["status"] in statuses else None
        return wait_for(done, timeout, "run %s to reach %s" % (run_id, statuses))

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.sock)
        s.settimeout(10)
        return s

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                fail("dagd serve did not stop on signal %d:\n%s" % (sig, self.logtext()))
        return self.proc.returncode if self.proc else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if getattr(self, "logf", None):
            self.logf.close()
        if exc[0] is None or os.environ.get("DAGD_KEEP_TMP") is None:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return False


def request(method, params=None, id=1):
    return (json.dumps({"v": 1, "id": id, "method": method, "params": params or {}}) + "\n").encode()


def read_line(s, buf=b""):
    """Read one line from socket s; returns (line or None at EOF, rest)."""
    while b"\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            return None, buf
        buf += chunk
    line, _, rest = buf.partition(b"\n")
    return line, rest


def call(sock, method, params=None, id=1):
    sock.sendall(request(method, params, id))
    line, _ = read_line(sock)
    check(line is not None, "connection closed before the reply to " + method)
    return json.loads(line)
