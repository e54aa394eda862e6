"""tests/tools/fakewiki.py on a free port (FakeWiki), a free port
(free_port) and an API URL nothing listens on (dead_api)."""
import json
import socket
import subprocess
import sys
import urllib.request

from .checks import fail
from .paths import DICT, FAKEWIKI


class FakeWiki:
    """fakewiki serving data/translations, started at once; `api` is its
    api.php URL. Stopped by stop() or at the end of a `with` block. ARGS go
    to fakewiki (--fail-rate, ...); it exits by itself after max_seconds
    (None: never)."""

    def __init__(self, *args, max_seconds=600):
        cmd = [sys.executable, FAKEWIKI, "--port", "0", "--data", DICT, "--quiet"]
        if max_seconds is not None:
            cmd += ["--max-seconds", str(max_seconds)]
        self.proc = subprocess.Popen(cmd + list(args), stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        if "listening on" not in line:
            self.stop()
            fail("fakewiki did not start: %r" % line)
        self.api = line.split()[-1]
        self.base = self.api.rsplit("/w/api.php", 1)[0]

    def stats(self, reset=False):
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
        self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (as of now)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def dead_api():
    """An api URL on a port nothing listens on."""
    return "http://127.0.0.1:%d/w/api.php" % free_port()
