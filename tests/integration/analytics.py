"""Helpers for the analytics integration tests (test_translate.py,
test_report.py): paths, the warehouse fixture, taskhost, fakewiki."""
import json
import os
import socket
import subprocess
import sys
import time

BUILD = os.environ.get("DAGD_BUILD_ROOT") or os.path.join(os.path.dirname(__file__), "..", "..", "build")
SOURCE = os.environ.get("DAGD_SOURCE_ROOT") or os.path.join(os.path.dirname(__file__), "..", "..")
TASKHOST = os.path.join(BUILD, "tests", "integration", "taskhost")
TINY = os.path.join(SOURCE, "data", "sales-tiny")
DICT = os.path.join(SOURCE, "data", "translations")
FAKEWIKI = os.path.join(SOURCE, "tests", "tools", "fakewiki.py")


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def plugin(name):
    return os.path.join(BUILD, "tasks", name, "dagd-task-%s.so" % name)


def expected(data_dir=TINY):
    with open(os.path.join(data_dir, "expected.json"), encoding="utf-8") as f:
        return json.load(f)


def fixture(wh, data_dir=TINY, evil=None):
    """A warehouse with the bronze map and the marts, built without the engine."""
    args = [sys.executable, os.path.join(SOURCE, "tests", "integration", "warehouse_fixture.py"),
            data_dir, wh]
    if evil:
        args += ["--evil-city", evil]
    subprocess.run(args, check=True, timeout=120)


def run_task(name, config, wh, run_id="test-run", timeout=300, expect_rc=0):
    """Run one attempt of a task plugin; returns its stderr (log lines)."""
    p = subprocess.run([TASKHOST, plugin(name), "--config", json.dumps(config),
                        "--param", "warehouse=" + wh, "--step", name, "--run-id", run_id],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    err = p.stderr.decode("utf-8", "replace")
    if p.returncode != expect_rc:
        sys.stderr.write(err)
        fail("%s exited %d, expected %d" % (name, p.returncode, expect_rc))
    return err


class FakeWiki:
    """tests/tools/fakewiki.py on a free port, stopped on exit."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, FAKEWIKI, "--port", "0", "--data", DICT,
                                      "--quiet", "--max-seconds", "600"] + list(args),
                                     stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        if "listening on" not in line:
            self.stop()
            fail("fakewiki did not start: %r" % line)
        self.api = line.split()[-1]
        self.base = self.api.rsplit("/w/api.php", 1)[0]

    def stats(self, reset=False):
        import urllib.request
        with urllib.request.urlopen(self.base + "/stats" + ("?reset=1" if reset else ""), timeout=10) as r:
            return json.loads(r.read().decode("utf-8"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def dead_api():
    """An api URL on a port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "http://127.0.0.1:%d/w/api.php" % port
