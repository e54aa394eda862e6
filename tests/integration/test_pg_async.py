#!/usr/bin/env python3
"""The run history's PostgreSQL connection on the daemon's loop (issue 13:
writes without waiting in libpq's pipeline mode, reconnect on a timer). The
server stopped for 3 s in the middle of a 20-step run:

- steps keep running and finishing meanwhile: steps whose ended_at lies
  inside the outage window (the synchronous store paused the whole loop
  until the server was back, so no step ended in it);
- `dagctl show RUN` answers within 1 s with "run history unavailable:
  PostgreSQL at ... is down, reconnecting (N writes queued)" (it waited for
  the server before);
- once the server is back the queued writes are replayed in order: the run
  succeeds, every step has one row and each of its events is there once.

Then: a read right after a write sees it (`dagctl run` then `dagctl show`
never says unknown). And past the write queue's bound the daemon stops
cleanly (exit 1), as past the reconnect timeout. SKIP (77) without
PostgreSQL."""
import subprocess
import threading
import time

from dagdtest import Daemon, check, fail, need_test_plugins, wait_for
from dagdtest.pg import PgServer

need_test_plugins("noop", "sleep")

N = 20
STEP_MS = 250
LONG = "pipeline: twenty\nsteps:\n" + "".join(
    "  - name: s%02d\n    task: sleep\n    config: {ms: %d}\n%s" %
    (i, STEP_MS, "    needs: [s%02d]\n" % (i - 1) if i else "") for i in range(N))
QUICK = """pipeline: quick
steps:
  - name: only
    task: noop
"""


def rows(pg, sql):
    return [r for r in pg.query(sql, "dagd")]


with PgServer(dbname="dagd") as pg:
    conninfo = "host=%s port=%d user=%s dbname=dagd" % (pg.dir, pg.port, pg.user)
    with Daemon({"twenty": LONG, "quick": QUICK}, args=["--state", conninfo]) as d:
        # A read right after a write sees it: the status request goes into
        # the pipeline behind the run's writes on the same connection.
        for i in range(20):
            rid = d.ctl("run", "quick", "--force", json_out=True).json["run_id"]
            st = d.ctl("show", rid, json_out=True, check_rc=None)
            check(st.returncode == 0 and rid in st.stdout,
                  "status right after run %d: %r %r" % (i, st.stdout, st.stderr))

        result = {}

        def run_long():
            result["p"] = d.ctl("run", "twenty", "--wait", "--force", json_out=True,
                                timeout=180, check_rc=None)

        t = threading.Thread(target=run_long)
        t.start()
        wait_for(lambda: rows(pg, "SELECT count(*) FROM steps s JOIN runs r USING (run_id) "
                                  "WHERE r.pipeline = 'twenty' AND s.status = 'succeeded'")
                 [0][0] not in ("0", "1", "2"), 30, "three steps of the long run to finish")
        run_id = rows(pg, "SELECT run_id FROM runs WHERE pipeline = 'twenty'")[0][0]
        down_ms = int(time.time() * 1000)
        pg.stop()
        t_down = time.monotonic()
        # dagctl answers at once, with what is going on.
        answers = []
        while time.monotonic() - t_down < 2.5:
            t0 = time.monotonic()
            p = d.ctl("show", run_id, check_rc=None, timeout=30)
            took = time.monotonic() - t0
            answers.append(took)
            check(took < 1.0, "dagctl show took %.2f s during the outage" % took)
            check(p.returncode != 0 and "UNAVAILABLE: " in p.stderr
                  and "run history unavailable: PostgreSQL at" in p.stderr
                  and "reconnecting" in p.stderr and "writes queued" in p.stderr,
                  "dagctl show during the outage: rc %d %r %r" % (p.returncode, p.stdout,
                                                                     p.stderr))
            time.sleep(0.2)
        time.sleep(max(0.0, 3.0 - (time.monotonic() - t_down)))
        up_ms = int(time.time() * 1000)
        pg.start()
        t.join(180)
        check(not t.is_alive(), "dagctl run twenty did not finish:\n" + d.logtext())
        p = result["p"]
        check(p.returncode == 0 and p.json["status"] == "succeeded",
              "the long run: %r %r\n%s" % (p.stdout, p.stderr, d.logtext()))

        # The end was told from memory; the queued writes reach the server
        # once the daemon reconnected (its backoff: at most 2 s).
        wait_for(lambda: rows(pg, "SELECT status FROM runs WHERE run_id = '%s'" % run_id)[0][0]
                 == "succeeded", 20, "the queued writes to be replayed")
        ends = [int(r[1]) for r in rows(pg, "SELECT step, ended_at FROM steps WHERE run_id = '%s'"
                                            % run_id)]
        check(len(ends) == N, "steps of the long run: %d" % len(ends))
        inside = [e for e in ends if down_ms + 100 < e < up_ms - 100]
        check(len(inside) >= 3, "steps that ended during the outage (%d..%d): %r of %r"
              % (down_ms, up_ms, inside, sorted(ends)))
        dup = rows(pg, "SELECT coalesce(step, '-'), message, count(*) FROM events WHERE "
                       "run_id = '%s' GROUP BY 1, 2 HAVING count(*) > 1" % run_id)
        check(not dup, "events written twice: %r" % dup)
        for i in range(N):
            for what in ("running", "succeeded"):
                n = rows(pg, "SELECT count(*) FROM events WHERE run_id = '%s' AND step = 's%02d' "
                             "AND message LIKE 'step s%02d %s%%'" % (run_id, i, i, what))[0][0]
                check(int(n) == 1, "step s%02d %s events: %s" % (i, what, n))
        check("Lost the connection to the run history" in d.logtext(), d.logtext())
        check(d.stop() == 0, d.logtext())
    print("ok: %d of %d steps ended during a 3 s outage; dagctl show answered in at most "
          "%.0f ms meanwhile; every event once" % (len(inside), N, 1000 * max(answers)))

    # The write queue is bounded (DAGD_STATE_QUEUE_MAX statements here, 200,000
    # by default): past it the daemon stops cleanly, as past the reconnect
    # timeout (which is long here), instead of growing without limit.
    with Daemon({"twenty": LONG}, args=["--state", conninfo],
                env={"DAGD_STATE_QUEUE_MAX": "40", "DAGD_STATE_RECONNECT_TIMEOUT": "600"}) as d:
        run_id = d.ctl("run", "twenty", "--force", json_out=True).json["run_id"]
        wait_for(lambda: rows(pg, "SELECT count(*) FROM steps WHERE run_id = '%s' AND status = "
                                  "'succeeded'" % run_id)[0][0] not in ("0", "1"), 30,
                 "two steps of the run")
        pg.stop()
        t0 = time.monotonic()
        try:
            rc = d.proc.wait(60)
        except subprocess.TimeoutExpired:
            fail("dagd serve did not stop past the write queue's bound:\n" + d.logtext())
        took = time.monotonic() - t0
        check(rc == 1, "exit status %d:\n%s" % (rc, d.logtext()))
        log = d.logtext()
        check("statements or 256 MB queued" in log and "stopping (exit status 1)" in log, log)
        pg.start()
    print("ok: past the write queue's bound the daemon stopped cleanly (exit 1) after %.1f s"
          % took)
