#!/usr/bin/env python3
"""`dagd runs`, `dagd show RUN` and `dagd logs RUN [STEP]` on a state
directory without a daemon (issue 15): they print exactly what `dagctl
runs/show/logs` print for the same history (text and --json), read a
directory a daemon is using, take run id prefixes, and fail with a clear
message and exit status for a missing history, a bad id or bad usage."""
import json
import os
import subprocess

from dagdtest import CHAIN, DAGD, FAILING, Daemon, check, need_test_plugins

need_test_plugins("noop", "sleep", "fail")

ENV = dict(os.environ, TZ="UTC")


def dagd(*args, rc=0):
    p = subprocess.run([DAGD] + list(args), capture_output=True, text=True, timeout=60, env=ENV)
    check(p.returncode == rc, "dagd %s: exit %d, wanted %d\n%s%s"
          % (" ".join(args), p.returncode, rc, p.stdout, p.stderr))
    return p


with Daemon({"chain": CHAIN, "failing": FAILING}, env={"TZ": "UTC"}) as d:
    ok = d.ctl("run", "chain", "--wait", json_out=True).json["run_id"]
    bad = d.ctl("run", "failing", "--wait", json_out=True, check_rc=1).json["run_id"]
    st = ["--state-dir", d.state]

    # The same bytes as dagctl, with the daemon still up (read-only beside it).
    for args in (["runs"], ["runs", "--pipeline", "chain"], ["runs", "--limit", "1"],
                 ["show", ok], ["show", bad], ["logs", ok], ["logs", bad, "broken"]):
        for js in (False, True):
            ctl = d.ctl(*((["--json"] if js else []) + args), check_rc=None).stdout
            mine = dagd(*(args + st + (["--json"] if js else []))).stdout
            check(ctl == mine, "dagd %s%s differs from dagctl:\n--- dagctl\n%s--- dagd\n%s"
                  % (" ".join(args), " --json" if js else "", ctl, mine))
    # A re-run: every step memoized.
    memo = d.ctl("run", "chain", "--wait", json_out=True).json["run_id"]
    d.stop()

    # After the daemon: prefixes, filters, the failed step's error, step logs.
    runs = json.loads(dagd("runs", *st, "--json").stdout)["runs"]
    check([r["run_id"] for r in runs] == [memo, bad, ok], "runs newest first: %r" % runs)
    # Skipped steps show no duration ("-", as dagd run's summary), never "0us" (issue 15).
    text = dagd("show", memo, *st).stdout
    rows = [l.split() for l in text.splitlines() if l.split()[:1] in (["first"], ["second"],
                                                                      ["third"])]
    check(len(rows) == 3 and all(r[2] == "skipped" and r[4] == "-" for r in rows)
          and "0us" not in text, "memoized run:\n" + text)
    show = json.loads(dagd("show", bad[:16], *st, "--json").stdout)
    check(show["run"]["status"] == "failed", "show: %r" % show["run"])
    steps = {s["step"]: s for s in show["steps"]}
    check(steps["broken"]["status"] == "failed" and steps["broken"]["exit_code"] == 3
          and steps["broken"]["error"],
          "broken step: %r" % steps["broken"])
    check(steps["after"]["status"] == "skipped", "after: %r" % steps["after"])
    text = dagd("show", bad, *st).stdout
    check("status:   failed" in text and steps["broken"]["error"] in text, "show text:\n" + text)
    logs = dagd("logs", ok, "second", *st).stdout.splitlines()
    check(logs and all(" second " in line for line in logs), "step logs:\n%s" % "\n".join(logs))

    # Errors: a clear message on stderr and exit 1; usage mistakes exit 2.
    p = dagd("runs", "--state-dir", os.path.join(d.tmp, "nope"), rc=1)
    check("no run history in" in p.stderr and "nope" in p.stderr, "missing history: " + p.stderr)
    p = dagd("show", "zz", *st, rc=1)
    check("'zz' is not a run id" in p.stderr, "bad id: " + p.stderr)
    p = dagd("show", "0" * 32, *st, rc=1)
    check("no run '" in p.stderr, "unknown run: " + p.stderr)
    dagd("show", *st, rc=2)
    dagd("logs", *st, rc=2)
    dagd("runs", "--limit", "0", *st, rc=2)
    dagd("show", ok, "--pipeline", "x", *st, rc=2)

print("ok")
