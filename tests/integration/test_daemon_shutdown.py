#!/usr/bin/env python3
"""SIGTERM with more runs than job slots (issue 16, item 1; docs/daemon.md
"Shutdown"). dagd_executor_shutdown once read a run's `next` after ending
(and freeing) it: exit 139 in a release build, heap-use-after-free under
ASan (scripts/test.sh runs this test in the sanitized leg too).

1. `limits: {max_jobs: 1}`, two `dagctl run` of a pipeline whose command
   step runs `sleep 20`, SIGTERM: exit 0, both runs canceled, none left
   `running` or `pending`.
2. Default limits and three runs (on two cores the third waits for a slot).
3. 2,000 runs submitted over one connection, all but one waiting for the
   single job slot."""
import json
import signal
import time

from dagdtest import Daemon, call, check, read_line, request, wait_for

NAP = """pipeline: nap
steps:
  - name: nap
    task: command
    config: {argv: [sleep, "20"]}
"""

ENDED = ("succeeded", "failed", "canceled")


def started(d, run_id):
    with d.db() as c:
        row = c.execute("SELECT status FROM steps WHERE run_id = ? AND step = 'nap'",
                        (run_id,)).fetchone()
    return row is not None and row["status"] == "running"


def check_stopped(d, ids, what):
    """SIGTERM, then: exit 0, nothing of the daemon's log says it crashed,
    and every run ended in state.db."""
    t0 = time.monotonic()
    rc = d.stop(signal.SIGTERM, timeout=60)
    log = d.logtext()
    check(rc == 0, "%s: dagd serve exited with %d after SIGTERM:\n%s" % (what, rc, log[-4000:]))
    check("AddressSanitizer" not in log and "runtime error" not in log,
          "%s: sanitizer report:\n%s" % (what, log[-4000:]))
    check(time.monotonic() - t0 < 30, "%s: shutdown took %.1f s" % (what, time.monotonic() - t0))
    with d.db() as c:
        left = c.execute("SELECT count(*) FROM runs WHERE status NOT IN ('succeeded', 'failed', "
                         "'canceled')").fetchone()[0]
        steps_left = c.execute("SELECT count(*) FROM steps WHERE status IN ('running', "
                               "'pending')").fetchone()[0]
        recorded = c.execute("SELECT count(*) FROM runs").fetchone()[0]
    check(left == 0, "%s: %d runs not ended after SIGTERM" % (what, left))
    check(steps_left == 0, "%s: %d steps left running or pending" % (what, steps_left))
    check(recorded == len(ids), "%s: %d runs recorded, %d submitted" % (what, recorded, len(ids)))


# 1. max_jobs: 1, two runs: the second one waits for the slot.
with Daemon({"nap": NAP}, config="limits: {max_jobs: 1}\nshutdown_grace: 1s\n") as d:
    ids = [d.ctl("run", "nap", "--force").stdout.strip() for _ in range(2)]
    wait_for(lambda: started(d, ids[0]), 15, "the first run's step to start")
    check(not started(d, ids[1]), "max_jobs: 1 ran two steps at once")
    check_stopped(d, ids, "max_jobs 1, two runs")
    for i in ids:
        check(d.run_row(i)["status"] == "canceled", "run %s: %s" % (i, d.run_row(i)["status"]))

# 2. Default limits, three runs (max_jobs defaults to the number of CPUs).
with Daemon({"nap": NAP}, config="shutdown_grace: 1s\n") as d:
    ids = [d.ctl("run", "nap", "--force").stdout.strip() for _ in range(3)]
    wait_for(lambda: started(d, ids[0]), 15, "a step to start")
    check_stopped(d, ids, "default limits, three runs")

# 3. 2,000 runs in the executor, one job slot.
N = 2000
with Daemon({"nap": NAP},
            config="limits: {max_jobs: 1, max_concurrent_runs: 100000, max_line_bytes: 1048576}\n"
                   "shutdown_grace: 1s\n") as d:
    s = d.connect()
    s.settimeout(120)
    s.sendall(b"".join(request("run", {"pipeline": "nap", "force": True}, id=k + 1)
                       for k in range(N)))
    ids, buf = [], b""
    while len(ids) < N:
        line, buf = read_line(s, buf)
        check(line is not None, "connection closed after %d replies" % len(ids))
        reply = json.loads(line)
        check("error" not in reply, "run %d refused: %r" % (len(ids), reply))
        ids.append(reply["result"]["run_id"])
    s.close()
    wait_for(lambda: started(d, ids[0]), 30, "the first run's step to start")
    check_stopped(d, ids, "%d runs" % N)
print("ok")
