#!/usr/bin/env python3
"""dagd serve --config: every error of a bad file is reported as
FILE:LINE:COL: error: MESSAGE and dagd exits 2; a good file is used (its
socket, limits); command line options win over the file; dagctl exit codes
for usage errors and an unreachable daemon. Needs no task plugin."""
import os
import subprocess
import tempfile

import json

from dagdtest import DAGCTL, DAGD, Daemon, call, check, read_line, wait_for

with tempfile.TemporaryDirectory() as tmp:
    bad = os.path.join(tmp, "bad.yaml")
    with open(bad, "w") as f:
        f.write("socket: /tmp/x.sock\n"
                "limits:\n"
                "  max_jobs: -3\n"
                "  bogus: 1\n"
                "  idle_timeout: forever\n"
                "retention: 30d\n"
                "retention: 1d\n"
                "plugin_dirs: notalist\n")
    p = subprocess.run([DAGD, "serve", "--config", bad], capture_output=True, text=True, timeout=30)
    check(p.returncode == 2, "exit %d for a bad config" % p.returncode)
    want = ["%s:3:13: error: 'max_jobs'" % bad, "%s:4:3: error: unknown key 'bogus'" % bad,
            "%s:5:17: error: 'idle_timeout'" % bad, "%s:7:1: error: duplicate key 'retention'" % bad,
            "%s:8:14: error: 'plugin_dirs'" % bad]
    for w in want:
        check(w in p.stderr, "missing %r in:\n%s" % (w, p.stderr))
    with open(bad, "w") as f:
        f.write("socket: [\n")
    p = subprocess.run([DAGD, "serve", "--config", bad], capture_output=True, text=True, timeout=30)
    check(p.returncode == 2 and "%s:2:1: error:" % bad in p.stderr, "syntax error: " + p.stderr)
    # the bounds of issue 16: wrong values are reported like the others
    with open(bad, "w") as f:
        f.write("limits:\n"
                "  max_queued_runs: -1\n"
                "  max_queued_bytes: lots\n"
                "  max_clients_per_uid: 0\n")
    p = subprocess.run([DAGD, "serve", "--config", bad], capture_output=True, text=True, timeout=30)
    for w in ["%s:2:20: error: 'max_queued_runs'" % bad, "%s:3:21: error: 'max_queued_bytes'" % bad,
              "%s:4:24: error: 'max_clients_per_uid' must be at least 1" % bad]:
        check(p.returncode == 2 and w in p.stderr, "missing %r in:\n%s" % (w, p.stderr))
    p = subprocess.run([DAGD, "serve", "--bogus"], capture_output=True, text=True, timeout=30)
    check(p.returncode == 2, "unknown option: exit %d" % p.returncode)

# a good file: its values are used, the command line wins for the socket
cfg = "socket: /nonexistent/dir/never.sock\nlimits:\n  max_concurrent_runs: 3\n  max_jobs: 2\n"
with Daemon({}, config=cfg) as d:
    st = d.ctl("status", json_out=True).json
    check(st["max_concurrent_runs"] == 3 and st["max_jobs"] == 2, "config values: %r" % st)
    check(st["socket"] == d.sock, "command line socket wins: %r" % st["socket"])
    check(st["pipelines"] == 0, "empty pipelines dir")
    # dagctl usage errors: exit 2; unreachable: exit 3
    for args in (["run"], ["show"], ["runs", "--limit", "x"], ["bogus"], []):
        p = subprocess.run([DAGCTL, "--socket", d.sock] + args, capture_output=True, text=True)
        check(p.returncode == 2, "dagctl %r: exit %d" % (args, p.returncode))
    p = subprocess.run([DAGCTL, "--socket", os.path.join(d.tmp, "nope.sock"), "status"],
                       capture_output=True, text=True)
    check(p.returncode == 3, "unreachable: exit %d" % p.returncode)
    # a second daemon on the same socket is refused, the first goes on
    p = subprocess.run(d.command(), capture_output=True, text=True, timeout=30, env=d.env)
    check(p.returncode != 0 and "Another daemon" in p.stderr, "second daemon: " + p.stderr)
    d.ctl("status")
    check(d.stop() == 0, "exit status")

# max_clients: the connection past the limit gets BUSY and is closed
with Daemon({}, config="limits:\n  max_clients: 2\n") as d:
    # (dagctl's connection from the readiness check may take a moment to go)
    def served():
        s_ = d.connect()
        try:
            if "result" in call(s_, "status"):
                return s_
        except OSError:
            pass
        s_.close()
        return None
    a = wait_for(served, 10, "first client served")
    b = wait_for(served, 10, "second client served")
    c = d.connect()
    line, rest = read_line(c)
    check(line is not None and json.loads(line)["error"]["code"] == "BUSY", "third client: %r" % line)
    end, _ = read_line(c, rest)
    check(end is None, "third client not closed")
    a.close()
    wait_for(lambda: d.ctl("status", check_rc=None).returncode == 0, 10, "a slot to free")
    b.close()
    check(d.stop() == 0, "exit status")

print("ok")
