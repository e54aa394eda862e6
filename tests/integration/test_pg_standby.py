#!/usr/bin/env python3
"""Two daemons, one PostgreSQL history (issue 13's stretch item): a second
`dagd serve --standby` on the same history serves dagctl and its HTTP
listener from it while the first leads: status names the leader, runs,
show, logs, ticks and pipelines match the leader's, /api reads and
/metrics answer; run, run --wait, retry and cancel (and the API's POST)
on the standby are relayed to the leader and done there, also when the
leader's LISTEN connection was cut meanwhile, and so are a backfill and a
backfill cancel; logs --follow and the web UI's stream follow the
leader's run; prune and reload work there; its own schedule and sensor
stay silent.
When the leader dies, the standby's same socket leads within 5 s of a
SIGKILL, fails the dead daemon's runs in progress as orphans, and its
schedule goes on from the newest recorded tick: every second of a
per-second schedule ticks exactly once across both daemons (catchup
covers the seconds of the takeover). A leader that comes back after a
standby took over stops (exit 1) instead of writing beside it. Prints
the takeover time and dagctl's latency on both daemons. SKIP (77)
without PostgreSQL."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from dagdtest import (DAGCTL, NOOP, SLOW, Daemon, call, check, fail, free_port,
                      need_test_plugins, wait_for)
from dagdtest.pg import PgServer

need_test_plugins("noop", "sleep")
HISTORY_LOCK = 0x64616768  # state/store-pg.c PG_HISTORY_LOCK ('dagh')

TICKING = """pipeline: ticking
schedules:
  - name: every_second
    cron: "* * * * * *"
    catchup: 10
steps:
  - name: only
    task: noop
"""

PARTS = """pipeline: parts
partitions:
  static: [north, south, east]
steps:
  - name: only
    task: noop
"""

SLOWPARTS = """pipeline: slowparts
partitions:
  static: [x, y]
steps:
  - name: wait
    task: sleep
    config: {ms: 30000}
"""

OWN = """pipeline: own
params: {file: none}
schedules:
  - name: own_second
    cron: "* * * * * *"
sensors:
  - name: own_drop
    watch: %s
    pattern: "*data*.json"
    params: {file: "${sensor.path}"}
steps:
  - name: only
    task: noop
"""


def ticks(pg):
    return [(int(ts), status) for ts, status in
            pg.query("SELECT ts, status FROM ticks WHERE name = 'every_second' ORDER BY ts, id",
                     "dagd")]


TOKEN = "standby-token-0123456789"


def http_get(port, path, method="GET", headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def run_status(pg, run_id):
    rows = pg.query("SELECT status FROM runs WHERE run_id = '%s'" % run_id, "dagd")
    return rows[0][0] if rows else None


def role(d):
    p = d.ctl("status", json_out=True, check_rc=None)
    return p.json.get("role") if p.returncode == 0 else None


def median_ms(fn, n=15):
    times = []
    for _ in range(n):
        t = time.monotonic()
        fn()
        times.append((time.monotonic() - t) * 1000)
    times.sort()
    return times[len(times) // 2]


with PgServer(dbname="dagd") as pg:
    conninfo = pg.conninfo
    a = Daemon({"ticking": TICKING, "slow": SLOW, "parts": PARTS, "slowparts": SLOWPARTS},
               args=["--state", conninfo])
    port = free_port()
    b = Daemon({"ticking": TICKING, "slow": SLOW, "parts": PARTS, "slowparts": SLOWPARTS},
               config="", start=False,
               args=["--state", conninfo, "--standby", "--http", "127.0.0.1:%d" % port])
    with a, b:
        token = os.path.join(b.tmp, "token")
        with open(token, "w") as f:
            f.write(TOKEN + "\n")
        os.chmod(token, 0o600)
        with open(b.config, "w") as f:
            f.write("http_token_file: %s\n" % token)
        wait_for(lambda: len(ticks(pg)) >= 2, 20, "the leader's ticks")
        b.start(wait=False)
        wait_for(lambda: "Standby: Another daemon uses the run history" in b.logtext(), 20,
                 "the standby to wait")
        # The standby serves dagctl on its own socket, from the shared history.
        b.wait_ready(10)
        check(role(b) == "standby" and role(a) == "leader", b.logtext())
        st = b.ctl("status", json_out=True).json
        leader = st.get("leader") or {}
        check("dagd serve pid %d on " % a.proc.pid in leader.get("application", ""),
              "the standby names its leader: %r" % st)
        check(st["history"] == a.ctl("status", json_out=True).json["history"], repr(st))
        out = b.ctl("status").stdout
        check("role: standby for the run history" in out and
              "leader: dagd serve pid %d on " % a.proc.pid in out, out)
        check("role: leader of the run history" in a.ctl("status").stdout, "leader's status")
        sa = a.ctl("status", json_out=True).json
        check([s["application"] for s in sa["standbys"]] ==
              [leader["application"].replace("pid %d" % a.proc.pid, "pid %d" % b.proc.pid)] and
              st["standbys"] == [], "the leader lists its standby: %r / %r" % (sa, st))
        check("standby: dagd serve pid %d on " % b.proc.pid in a.ctl("status").stdout,
              a.ctl("status").stdout)
        print("ok: the standby's status names its leader: %s" % leader["application"])

        # `status` answers from memory: each daemon lists the sessions
        # (pg_stat_activity, pg_locks) at most once a second, however often
        # it is asked (history_sessions.h), and again once the listing is a
        # second old; what it lists stays right.
        pg.psql("ALTER SYSTEM SET log_statement = 'all'")
        pg.psql("SELECT pg_reload_conf()")
        time.sleep(1.1)
        mark = len(pg.log())
        t0 = time.monotonic()
        for d, want in ((a, "standbys"), (b, "leader")):
            sock = d.connect()
            for i in range(40):
                res = call(sock, "status", id=i + 1).get("result") or {}
                check(res.get(want), "status of %s: %r" % (want, res))
            sock.close()
        took = time.monotonic() - t0
        pg.psql("ALTER SYSTEM RESET log_statement")
        pg.psql("SELECT pg_reload_conf()")
        logged = pg.log()[mark:]
        n_standbys = logged.count("left(a.application_name")
        n_leader = logged.count("l.pid <> pg_backend_pid() LIMIT 1")
        most = 2 * (int(took) + 2)
        check(2 <= n_standbys <= most and 1 <= n_leader <= most,
              "80 status requests in %.2f s listed the standbys %d times and the leader %d times "
              "(at least 2 and 1, at most %d each)" % (took, n_standbys, n_leader, most))
        print("ok: 80 status requests in %.2f s asked the server %d + %d times"
              % (took, n_standbys, n_leader))

        wait_for(lambda: len(ticks(pg)) >= 4, 20, "more of the leader's ticks")
        runs_a = a.ctl("runs", json_out=True).json
        runs_b = b.ctl("runs", json_out=True).json
        ended = [r for r in runs_b["runs"] if r["status"] == "succeeded"]
        check(ended, "the standby lists the leader's runs: %r" % runs_b)
        check({r["run_id"] for r in ended} <= {r["run_id"] for r in runs_a["runs"]} |
              {r["run_id"] for r in ended}, repr(runs_b))
        rid = ended[0]["run_id"]
        show_b = b.ctl("show", rid, json_out=True).json
        show_a = a.ctl("show", rid, json_out=True).json
        check(show_b == show_a, "show differs:\n%r\n%r" % (show_a, show_b))
        check(show_b["run"]["status"] == "succeeded" and show_b["steps"], repr(show_b))
        logs_b = b.ctl("logs", rid).stdout
        check(logs_b == a.ctl("logs", rid).stdout and logs_b.strip(), "logs differ: " + logs_b)
        # Ticks come from the history; the standby arms no schedule.
        tick_b = b.ctl("ticks", "every_second", json_out=True).json
        tick_a = a.ctl("ticks", "every_second", "--limit", "100", json_out=True).json
        check(tick_b["ticks"] and tick_b["schedules"] == 0 and not tick_b["armed"],
              repr(tick_b))
        check(tick_a["schedules"] == 1 and tick_a["armed"], repr(tick_a))
        check(all(t in tick_a["ticks"] for t in tick_b["ticks"]), "%r\n%r" % (tick_a, tick_b))
        check("ticking" in b.ctl("pipelines").stdout, "pipelines")
        print("ok: runs, show, logs, ticks and pipelines on the standby match the leader's")

        # Writes from the standby: a run, a retry and a cancel are relayed to
        # the leader (recorded in the durable queue, pg_notify), which runs
        # them; backfills and prune stay the leader's (refused, naming it).
        t0 = time.monotonic()
        p = b.ctl("run", "ticking", json_out=True)
        check(p.json["status"] == "queued", p.stdout)
        relayed = p.json["run_id"]
        wait_for(lambda: run_status(pg, relayed) == "succeeded", 10, "the relayed run")
        relay_s = time.monotonic() - t0
        check(pg.query("SELECT trigger FROM runs WHERE run_id = '%s'" % relayed, "dagd") ==
              [["cli"]], "trigger")
        check("submitted through a standby" in a.logtext(), a.logtext())
        p = b.ctl("run", "ticking", "--wait", json_out=True)
        check(p.json["status"] == "succeeded", p.stdout)
        kinds = [e.get("kind") for e in p.events]
        check(kinds[0] == "accepted" and "started" in kinds and
              any(e.get("kind") == "step" and e.get("step") == "only" for e in p.events),
              "run --wait's events on the standby: %s" % p.stdout)
        p = b.ctl("retry", relayed, json_out=True)
        retried = p.json["run_id"]
        wait_for(lambda: run_status(pg, retried) == "succeeded", 10, "the relayed retry")
        check(pg.query("SELECT parent_run_id FROM runs WHERE run_id = '%s'" % retried, "dagd") ==
              [[relayed]], "retry's parent")
        slow = b.ctl("run", "slow", json_out=True).json["run_id"]
        wait_for(lambda: run_status(pg, slow) == "running", 10, "the slow run to start")
        b.ctl("retry", slow, check_rc=1)  # still running on the leader: CONFLICT
        follow = subprocess.Popen([DAGCTL, "--socket", b.sock, "logs", slow, "--follow"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sse = socket.create_connection(("127.0.0.1", port), timeout=10)
        sse.sendall(("GET /api/runs/%s/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Accept: text/event-stream\r\n\r\n" % slow).encode())
        time.sleep(0.5)
        check(follow.poll() is None, "logs --follow on the standby ended while the run runs")
        p = b.ctl("cancel", slow, json_out=True)
        check(p.json["status"] == "canceling", p.stdout)
        wait_for(lambda: run_status(pg, slow) == "canceled", 10, "the relayed cancel")
        out, err = follow.communicate(timeout=10)
        got = b""
        while b"event: end" not in got:
            chunk = sse.recv(65536)
            if not chunk:
                break
            got += chunk
        sse.close()
        check(b"event: end" in got and b'"status":"canceled"' in got and b"event: events" in got,
              "the web UI's stream of the leader's run on the standby: %r" % got[-2000:])
        check("cancel requested" in out and "run canceled" in out,
              "logs --follow on the standby: %d %s %s" % (follow.returncode, out, err))
        # Backfills from the standby: the leader runs their runs, cancels
        # them; prune and reload work on the standby itself.
        bf = b.ctl("backfill", "parts", "--partitions", "north,south,east", json_out=True)
        bf_id = bf.json["backfill_id"]
        wait_for(lambda: pg.query("SELECT count(*) FROM runs WHERE backfill_id = '%s' AND "
                                  "status = 'succeeded'" % bf_id, "dagd") == [["3"]], 15,
                 "the backfill's runs on the leader")
        wait_for(lambda: b.ctl("backfill", "show", bf_id, json_out=True).json["status"] ==
                 "done", 10, "backfill show on the standby to say done")
        bf2 = b.ctl("backfill", "slowparts", "--partitions", "x,y", json_out=True).json
        wait_for(lambda: pg.query("SELECT count(*) FROM runs WHERE backfill_id = '%s' AND "
                                  "status = 'running'" % bf2["backfill_id"], "dagd") == [["2"]],
                 15, "the slow backfill's runs to start")
        b.ctl("backfill", "cancel", bf2["backfill_id"])
        wait_for(lambda: pg.query("SELECT count(*) FROM runs WHERE backfill_id = '%s' AND "
                                  "status = 'canceled'" % bf2["backfill_id"], "dagd") == [["2"]],
                 15, "the slow backfill's runs canceled by the leader")
        check(b.ctl("prune", "--older-than", "30d", json_out=True).json["deleted"] == 0, "prune")
        b.ctl("reload")
        print("ok: run, run --wait, retry, cancel, backfill and backfill cancel from the standby "
              "ran on the leader (run relayed and done in %.2f s); logs --follow and the web "
              "UI's stream followed; prune and reload on the standby" % relay_s)

        # A notification lost while the leader's LISTEN connection is down:
        # it reads the durable queue again when it is back.
        killed = pg.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                          "application_name = 'dagd listener'", "dagd")
        check(killed == [["t"]], "the leader's LISTEN session: %r" % killed)
        lost = b.ctl("run", "ticking", json_out=True).json["run_id"]
        wait_for(lambda: run_status(pg, lost) == "succeeded", 10, "the run whose notice was lost")
        check("Listening for the standbys' requests again" in a.logtext(), a.logtext())
        print("ok: a run relayed while the leader did not listen ran once it listened again")

        # Its HTTP listener: the web UI, the API's reads and /metrics from
        # the history; the API's POSTs refused like the socket's.
        status, body = http_get(port, "/")
        check(status == 200 and b"<html" in body.lower(), "GET /: %d" % status)
        status, body = http_get(port, "/api/runs/%s" % rid)
        check(status == 200 and json.loads(body)["run"]["run_id"] == rid, body[:300])
        status, body = http_get(port, "/api/runs")
        check(status == 200 and rid in [r["run_id"] for r in json.loads(body)["runs"]] +
              [rid] and json.loads(body)["runs"], body[:300])
        status, body = http_get(port, "/metrics")
        check(status == 200 and b'dagd_runs_total{pipeline="ticking",status="succeeded"}' in body,
              body[:2000])
        status, body = http_get(port, "/api/pipelines/ticking/run", "POST",
                                {"Authorization": "Bearer " + TOKEN})
        check(status == 200 and json.loads(body)["status"] == "queued", "POST run: %d %s"
              % (status, body))
        posted = json.loads(body)["run_id"]
        wait_for(lambda: run_status(pg, posted) == "succeeded", 10, "the POSTed run")
        print("ok: the standby's web UI, /api reads and /metrics; a POSTed run ran on the leader")

        lat = {}
        for name, d in (("leader", a), ("standby", b)):
            lat[name] = (median_ms(lambda: d.ctl("status")), median_ms(lambda: d.ctl("runs")),
                         median_ms(lambda: d.ctl("run", "ticking", "--wait"), 5))
        print("figure: dagctl status / runs / run --wait median ms: leader %.1f / %.1f / %.1f, "
              "standby %.1f / %.1f / %.1f" % (lat["leader"] + lat["standby"]))

        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(10)
        t0 = time.monotonic()
        wait_for(lambda: role(b) == "leader", 10, "the standby to lead")
        took = time.monotonic() - t0
        check(took < 5, "took over in %.1f s:\n%s" % (took, b.logtext()))
        check("Took over the run history" in b.logtext(), b.logtext())
        print("ok: the standby's socket serves as leader %.2f s after the leader's SIGKILL" % took)
        b.ctl("run", "ticking", "--wait")

        # The schedule goes on from the standby: every second once.
        n = len(ticks(pg))
        wait_for(lambda: len(ticks(pg)) >= n + 3, 20, "the new leader's ticks")
        got = ticks(pg)
        secs = [ts // 1000 for ts, _ in got]
        check(len(secs) == len(set(secs)), "a tick fired twice: %r" % got)
        check(secs == list(range(secs[0], secs[0] + len(secs))), "a tick is missing: %r" % got)
        # No run is left 'running' by the dead leader.
        running = pg.query("SELECT run_id FROM runs WHERE status IN ('running', 'queued') AND "
                           "created_at < %d" % (int(time.time() * 1000) - 3000), "dagd")
        check(not running, "runs left running by the dead leader: %r" % running)
        print("ok: %d ticks over the takeover, each second once" % len(got))

        # The old leader comes back as a standby, then the new leader stops:
        # it takes over again.
        a.args = ["--state", conninfo, "--standby"]
        a.start(wait=False)
        wait_for(lambda: a.logtext().count("Standby:") >= 1, 20, "the old leader to wait")
        a.wait_ready(10)
        check(role(a) == "standby", a.logtext())
        check(b.stop() == 0, b.logtext())
        wait_for(lambda: role(a) == "leader", 10, "the old leader to lead again")
        check(a.stop() == 0, a.logtext())

    # The leader loses its session (pg_terminate_backend: a network cut)
    # while it cannot reconnect (stopped: a leader reconnects at once on
    # its own, from its loop), and the standby takes the lock meanwhile:
    # the old leader, reconnecting, finds the history taken and stops
    # (exit 1).
    c = Daemon({"noop": NOOP}, args=["--state", conninfo])
    e = Daemon({"noop": NOOP}, args=["--state", conninfo, "--standby"], start=False)
    with c, e:
        e.start(wait=False)
        wait_for(lambda: "Standby:" in e.logtext(), 20, "the standby to wait")
        os.kill(c.proc.pid, signal.SIGSTOP)
        killed = pg.query("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = "
                          "'advisory' AND objid = %d AND granted" % HISTORY_LOCK, "dagd")
        check(len(killed) == 1, "the leader's session: %r" % killed)
        wait_for(lambda: role(e) == "leader", 10, "the standby to lead")
        os.kill(c.proc.pid, signal.SIGCONT)
        c.ctl("runs", check_rc=None)
        try:
            rc = c.proc.wait(20)
        except subprocess.TimeoutExpired:
            fail("the old leader did not stop:\n" + c.logtext())
        check(rc == 1, "the old leader's exit status %d:\n%s" % (rc, c.logtext()))
        check("Gave up the run history: Another daemon uses the run history" in c.logtext(),
              c.logtext())
        check(e.stop() == 0, e.logtext())
    print("ok: a leader whose history was taken over while it was away stops")

    # The server restarts while a standby waits: the standby stays (its
    # connection is made again). The restart ended the leader's session
    # too, so whichever of the two takes the lock first serves: the leader
    # (it reconnects on its own, on a timer, and keeps the history) or the
    # standby (it takes over, and the old leader, finding the history
    # taken when it reconnects, stops with exit 1). Never both.
    c = Daemon({"noop": NOOP}, args=["--state", conninfo])
    e = Daemon({"noop": NOOP}, args=["--state", conninfo, "--standby"], start=False)
    with c, e:
        e.start(wait=False)
        wait_for(lambda: "Standby:" in e.logtext(), 20, "the standby to wait")
        pg.stop()
        time.sleep(1.0)
        check(e.proc.poll() is None, "the standby exited with the server:\n" + e.logtext())
        pg.start()
        winner = None
        deadline = time.monotonic() + 30
        while winner is None and time.monotonic() < deadline:
            if role(e) == "leader":
                winner = "standby"
            elif c.proc.poll() is None and c.ctl("runs", check_rc=None, timeout=20).returncode == 0:
                winner = "leader"
            else:
                time.sleep(0.1)
        check(winner is not None, "nobody serves after the restart:\n%s\n%s"
              % (c.logtext(), e.logtext()))
        if winner == "standby":
            check(e.logtext().count("Took over the run history") == 1, e.logtext())
            c.ctl("runs", check_rc=None, timeout=150)
            try:
                rc = c.proc.wait(30)
            except subprocess.TimeoutExpired:
                fail("the old leader did not stop:\n" + c.logtext())
            check(rc == 1, "the old leader's exit status %d:\n%s" % (rc, c.logtext()))
        else:
            time.sleep(1.0)
            check(role(e) == "standby" and e.proc.poll() is None,
                  "the standby took over beside a leader that serves:\n" + e.logtext())
            check(c.stop() == 0, c.logtext())
            wait_for(lambda: role(e) == "leader", 15, "the standby to lead")
        check(e.stop() == 0, e.logtext())
    print("ok: a standby outlives a server restart; the %s serves after it" % winner)

    # A standby fires nothing: its own pipelines (a per-second schedule and
    # a sensor; the leader has neither) stay silent while it stands by,
    # and fire once it took over.
    watch = tempfile.mkdtemp(prefix="dagd-standby-watch-")
    c = Daemon({"noop": NOOP}, args=["--state", conninfo])
    e = Daemon({"own": OWN % watch}, args=["--state", conninfo, "--standby"], start=False)
    with c, e:
        e.start(wait=False)
        e.wait_ready(10)
        check(role(e) == "standby", e.logtext())
        with open(os.path.join(watch, "x-data-1.json"), "w") as f:
            f.write("{}\n")
        time.sleep(2.5)
        own = "SELECT count(*) FROM %s WHERE %s"
        check(pg.query(own % ("ticks", "name IN ('own_second', 'own_drop')"), "dagd") == [["0"]]
              and pg.query(own % ("runs", "pipeline = 'own'"), "dagd") == [["0"]],
              "the standby fired: %r" % pg.query("SELECT name, kind, status FROM ticks", "dagd"))
        # A second standby stops cleanly while standing by (SIGTERM).
        with Daemon({"noop": NOOP}, args=["--state", conninfo, "--standby"]) as g:
            check(role(g) == "standby", g.logtext())
            check(g.stop() == 0 and "Took over" not in g.logtext(), g.logtext())
        check(c.stop() == 0, c.logtext())
        wait_for(lambda: role(e) == "leader", 10, "the standby to lead")
        with open(os.path.join(watch, "x-data-2.json"), "w") as f:
            f.write("{}\n")
        wait_for(lambda: pg.query(own % ("runs", "pipeline = 'own' AND trigger = 'schedule'"),
                                  "dagd") != [["0"]], 10, "the new leader's schedule")
        wait_for(lambda: pg.query(own % ("runs", "pipeline = 'own' AND trigger = 'sensor'"),
                                  "dagd") != [["0"]], 10, "the new leader's sensor")
        check(e.stop() == 0, e.logtext())
    shutil.rmtree(watch, ignore_errors=True)
    print("ok: a standby fires no schedule or sensor; once it leads, both fire")

    # --standby without a PostgreSQL history is refused.
    d = Daemon({"ticking": TICKING}, args=["--standby"], start=False)
    with d:
        d.start(wait=False)
        try:
            rc = d.proc.wait(20)
        except subprocess.TimeoutExpired:
            fail("dagd serve --standby on state.db did not exit")
        check(rc == 2 and "needs a PostgreSQL run history" in d.logtext(), d.logtext())
print("ok")
