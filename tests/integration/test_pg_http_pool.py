#!/usr/bin/env python3
"""The web UI's pages of a PostgreSQL run history read off the daemon's loop
(issue 13: GET /api/runs and GET /api/runs/ID/events through the pool of
read-only sessions, daemon/serve/read_pool.h):

- they answer byte for byte what the same requests answer with
  `state_readers: 0` (read on the loop): pages, cursors, filters, tails,
  steps, an unknown run, the 400s;
- they are read by the pool's sessions (none before the first page, some
  after);
- a page the server holds up (the runs and events tables locked by another
  session) does not hold the loop: a `status` request on the control socket
  is answered while both pages still wait, and they come once the lock
  goes; a client that hangs up meanwhile is dropped;
- a daemon stopped while a page waits answers it 503 SHUTTING_DOWN and
  exits cleanly (the read in its thread finishes first).
SKIP (77) without PostgreSQL."""
import json
import select
import socket
import threading
import time

from dagdtest import Daemon, check, free_port, read_line, request
from dagdtest.pg import PgServer

TWO = """pipeline: two
steps:
  - {name: first, task: noop}
  - {name: second, task: noop, needs: [first]}
"""
QUICK = "pipeline: quick\nsteps:\n  - {name: only, task: noop}\n"
READERS = ("SELECT count(*) FROM pg_stat_activity WHERE datname = 'dagd' "
           "AND application_name = 'dagd' AND pid <> pg_backend_pid()")


def http_send(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n"
               % (path, port)).encode())
    return s


def http_read(s):
    """(status, content type, body) of the answer on s, read to its end."""
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    check(lines and lines[0].startswith("HTTP/1.1 "), "no HTTP answer: %r" % data[:200])
    headers = dict(l.split(": ", 1) for l in lines[1:] if ": " in l)
    return int(lines[0].split()[1]), headers.get("Content-Type"), body


def get(port, path):
    return http_read(http_send(port, path))


def pages(port, rid, other):
    """The answers to a set of requests, by request."""
    out = {}
    paths = ["/api/runs", "/api/runs?limit=2", "/api/runs?pipeline=two",
             "/api/runs?status=succeeded&trigger=cli", "/api/runs?since=1",
             "/api/runs?limit=0", "/api/runs?status=bogus", "/api/runs?before=x",
             "/api/runs/%s/events" % rid, "/api/runs/%s/events?after=2" % rid,
             "/api/runs/%s/events?after=1&limit=2" % rid, "/api/runs/%s/events?tail=2" % rid,
             "/api/runs/%s/events?step=second" % rid, "/api/runs/%s/events?limit=0" % rid,
             "/api/runs/%s/events" % ("0" * 32), "/api/runs/%s/events" % other]
    for p in paths:
        out[p] = get(port, p)
    # The keyset pages, followed to the end.
    path = "/api/runs?limit=2"
    while True:
        st, ct, body = out.setdefault(path, get(port, path))
        check(st == 200, "GET %s: %d %r" % (path, st, body))
        nxt = json.loads(body)["next"]
        if nxt is None:
            break
        path = "/api/runs?limit=2&before=" + nxt
    return out


def locked_tables():
    return ("SELECT count(*) FROM pg_locks WHERE relation IN ('runs'::regclass, "
            "'events'::regclass) AND mode = 'AccessExclusiveLock' AND granted")


def hold_lock(pg, seconds):
    """Lock runs and events in another session for `seconds`; returns the
    thread, once the lock is held."""
    t = threading.Thread(target=pg.psql, args=(
        "BEGIN; LOCK TABLE runs, events IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(%d); "
        "COMMIT;" % seconds,))
    t.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if int(pg.query(locked_tables())[0][0]) == 2:
            return t
        time.sleep(0.02)
    check(False, "the lock was not taken")


with PgServer(dbname="dagd") as pg:
    conninfo = "host=%s port=%d user=%s dbname=dagd" % (pg.dir, pg.port, pg.user)
    port = free_port()
    with Daemon({"two": TWO, "quick": QUICK}, config="http: 127.0.0.1:%d\n" % port,
                args=["--state", conninfo]) as d:
        check(int(pg.query(READERS)[0][0]) == 0, "reader sessions before any page")
        rid = d.ctl("run", "two", "--wait", json_out=True).json["run_id"]
        for _ in range(3):
            d.ctl("run", "quick", "--force", "--wait")
        other = d.ctl("run", "two", "--force", "--wait", json_out=True).json["run_id"]
        check(int(pg.query(READERS)[0][0]) == 0, "reader sessions before any page (runs)")
        pooled = pages(port, rid, other)
        n = int(pg.query(READERS)[0][0])
        check(1 <= n <= 2, "reader sessions after the pages: %d, wanted 1 or 2" % n)
        runs = json.loads(pooled["/api/runs"][2])["runs"]
        check(len(runs) == 5, "runs: %r" % runs)
        evs = json.loads(pooled["/api/runs/%s/events" % rid][2])["events"]
        check(len(evs) >= 4, "events: %r" % evs)

        # Pages held up by the server, the loop free meanwhile.
        t = hold_lock(pg, 3)
        a = http_send(port, "/api/runs")
        b = http_send(port, "/api/runs/%s/events" % rid)
        gone = http_send(port, "/api/runs?limit=1")
        time.sleep(0.2)  # let them reach the server (not a timing check: ordering below)
        c = d.connect()
        c.sendall(request("status"))
        line, _ = read_line(c)
        check(line is not None and "result" in json.loads(line), "status: %r" % line)
        ready, _, _ = select.select([a, b], [], [], 0)
        check(not ready, "a page answered while its table was locked, or status waited for "
              "it: the read held the loop")
        gone.close()  # a client gone while its page waits: the answer is dropped
        check(http_read(a) == pooled["/api/runs"], "runs after the lock")
        check(http_read(b) == pooled["/api/runs/%s/events" % rid], "events after the lock")
        t.join()
        check(get(port, "/api/runs") == pooled["/api/runs"], "runs after a client went away")

        # Stopped while a page waits: 503 SHUTTING_DOWN, a clean exit.
        t = hold_lock(pg, 2)
        a = http_send(port, "/api/runs")
        time.sleep(0.2)
        rc = d.stop()
        st, ct, body = http_read(a)
        t.join()
        check(st == 503 and json.loads(body)["error"]["code"] == "SHUTTING_DOWN",
              "stopped while waiting: %d %r" % (st, body))
        check(rc == 0, "exit %r:\n%s" % (rc, d.logtext()))

    # The same requests read on the loop: the same answers, byte for byte.
    port = free_port()
    with Daemon({"two": TWO, "quick": QUICK},
                config="http: 127.0.0.1:%d\nstate_readers: 0\n" % port,
                args=["--state", conninfo]) as d:
        on_loop = pages(port, rid, other)
        check(int(pg.query(READERS)[0][0]) == 0, "reader sessions with state_readers 0")
    check(sorted(on_loop) == sorted(pooled), "requests: %r %r" % (sorted(on_loop), sorted(pooled)))
    for p in sorted(pooled):
        check(pooled[p] == on_loop[p], "GET %s: pooled %r, on the loop %r" % (p, pooled[p],
                                                                               on_loop[p]))
print("ok")
