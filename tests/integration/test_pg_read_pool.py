#!/usr/bin/env python3
"""Reads of a PostgreSQL run history off the daemon's loop (issue 13: a
small bounded pool; daemon/serve/read_pool.h):

- `runs` and `show` are answered by read-only sessions of the pool: they
  appear in pg_stat_activity, never more than `state_readers` (default 2)
  however many requests come at once, and none with `state_readers: 0`;
- a read right after a write sees it (`dagctl run`, then `dagctl show` on
  another session: the fence behind the run's COMMIT), 20 times in a row;
- a read the server holds up (the runs table locked by another session)
  does not hold the loop: a `status` request on another connection is
  answered while the `runs` request still waits, and the `runs` answer
  comes once the lock goes;
- with the server away, `runs` fails at once with UNAVAILABLE.
SKIP (77) without PostgreSQL."""
import json
import select
import threading
import time

from dagdtest import Daemon, check, read_line, request
from dagdtest.pg import PgServer

QUICK = "pipeline: quick\nsteps:\n  - {name: only, task: noop}\n"
READERS = ("SELECT count(*) FROM pg_stat_activity WHERE datname = 'dagd' "
           "AND application_name = 'dagd' AND pid <> pg_backend_pid()")


def replies(socks):
    out = []
    for s in socks:
        line, _ = read_line(s)
        check(line is not None, "connection closed before a reply")
        out.append(json.loads(line))
    return out


with PgServer(dbname="dagd") as pg:
    conninfo = "host=%s port=%d user=%s dbname=dagd" % (pg.dir, pg.port, pg.user)
    with Daemon({"quick": QUICK}, args=["--state", conninfo]) as d:
        d.ctl("run", "quick", "--wait")
        # Many at once: all answered, by at most two sessions.
        socks = [d.connect() for _ in range(8)]
        for s in socks:
            s.sendall(request("runs", {"limit": 5}))
        for r in replies(socks):
            check("result" in r and len(r["result"]["runs"]) == 1, "runs: %r" % r)
        n = int(pg.query(READERS)[0][0])
        check(1 <= n <= 2, "reader sessions: %d, wanted 1 or 2" % n)

        # Read your writes across sessions.
        for i in range(20):
            rid = d.ctl("run", "quick", "--force", json_out=True).json["run_id"]
            st = d.ctl("show", rid, json_out=True, check_rc=None)
            check(st.returncode == 0 and rid in st.stdout,
                  "show right after run %d: %r %r" % (i, st.stdout, st.stderr))
            st = d.ctl("show", rid[:28], json_out=True, check_rc=None)
            check(st.returncode == 0 and rid in st.stdout, "show by prefix: %r" % st.stderr)
        st = d.ctl("show", "0123456789", check_rc=None)
        check(st.returncode != 0 and "no run '0123456789'" in st.stderr, "unknown: %r" % st.stderr)

        # A read held up by the server, the loop free meanwhile.
        locked = threading.Event()

        def hold_lock():
            pg.psql("BEGIN; LOCK TABLE runs IN ACCESS EXCLUSIVE MODE; "
                    "SELECT pg_sleep(3); COMMIT;")

        t = threading.Thread(target=hold_lock)
        t.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if int(pg.query("SELECT count(*) FROM pg_locks WHERE relation = 'runs'::regclass "
                            "AND mode = 'AccessExclusiveLock' AND granted")[0][0]):
                break
            time.sleep(0.02)
        a, b = d.connect(), d.connect()
        a.sendall(request("runs", {"limit": 5}))
        time.sleep(0.2)  # let it reach the server (not a timing check: ordering below)
        b.sendall(request("status"))
        (st,) = replies([b])
        check("result" in st, "status: %r" % st)
        ready, _, _ = select.select([a], [], [], 0)
        check(not ready, "runs answered while the table was locked, or status waited for it: "
              "the read held the loop")
        (rn,) = replies([a])
        t.join()
        check("result" in rn and len(rn["result"]["runs"]) >= 1, "runs after the lock: %r" % rn)

        # Server away: at once, UNAVAILABLE.
        pg.stop()
        r = d.ctl("runs", check_rc=None)
        check(r.returncode != 0 and "UNAVAILABLE" in r.stderr, "runs, server down: %r" % r.stderr)
        pg.start()

    # No pool: reads on the loop, no reader session.
    with Daemon({"quick": QUICK}, config="state_readers: 0\n", args=["--state", conninfo]) as d:
        d.ctl("run", "quick", "--wait")
        socks = [d.connect() for _ in range(4)]
        for s in socks:
            s.sendall(request("runs", {"limit": 5}))
        for r in replies(socks):
            check("result" in r, "runs without a pool: %r" % r)
        n = int(pg.query(READERS)[0][0])
        check(n == 0, "reader sessions with state_readers 0: %d" % n)
print("ok")
