#!/usr/bin/env python3
"""Partitions under the daemon and one daemon per state directory:
`dagctl run P --partition KEY` records the partition (a bad or missing key
is refused, exit 2, nothing recorded); `dagctl retry` keeps the partition;
a second `dagd serve` on the same state directory exits with an error that
names the first one's PID (with its own socket, so only the state directory
is shared); `dagd run` beside the daemon on the same state directory works."""
import os
import subprocess

from dagdtest import DAGD, Daemon, check, eq, need_test_plugins

need_test_plugins("noop")

DAILY = """pipeline: daily
partitions:
  daily: {start: "2024-01-01", timezone: Europe/Berlin}
steps:
  - {name: a, task: noop}
"""

with Daemon({"daily": DAILY}) as d:
    p = d.ctl("run", "daily", check_rc=2)
    check("give --partition KEY" in p.stderr, p.stderr)
    p = d.ctl("run", "daily", "--partition", "2023-12-31", check_rc=2)
    check("before the first partition" in p.stderr, p.stderr)
    run_id = d.ctl("run", "daily", "--partition", "2024-03-31").stdout.strip()
    row = d.wait_run(run_id)
    eq(row["status"], "succeeded", "status")
    eq(row["partition"], "2024-03-31", "runs.partition")
    with d.db() as c:
        eq(c.execute("SELECT count(*) FROM runs").fetchone()[0], 1, "refused runs not recorded")
    retry = d.ctl("retry", run_id).stdout.strip()
    eq(d.wait_run(retry)["partition"], "2024-03-31", "a retry keeps the partition")

    # A second daemon on the same state directory, with its own socket.
    cmd = [DAGD, "serve", "--socket", os.path.join(d.tmp, "other.sock"), "--state-dir", d.state,
           "--pipelines", d.pipes]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=d.env)
    check(p.returncode != 0, "second daemon exit %d" % p.returncode)
    check("PID %d" % d.proc.pid in p.stderr and "one daemon per state directory" in p.stderr,
          "second daemon: " + p.stderr)
    check(not os.path.exists(os.path.join(d.tmp, "other.sock")), "no second socket")

    # dagd run beside the daemon, same state directory.
    path = os.path.join(d.pipes, "daily.yaml")
    p = subprocess.run([DAGD, "run", path, "--state-dir", d.state, "--partition", "2024-04-01",
                        "-q"], capture_output=True, text=True, timeout=60, env=d.env, cwd=d.tmp)
    check(p.returncode == 0, "dagd run beside the daemon: %s" % p.stderr)
    d.ctl("status")
    check(d.stop() == 0, "daemon exit status")
