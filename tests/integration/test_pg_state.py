#!/usr/bin/env python3
"""dagd serve --state on a private PostgreSQL server (issue 13, run history):
runs go to PostgreSQL (no state.db), dagctl runs/show read them back, psql
sees the documented tables; the server restarted in the middle of a run
loses nothing, one that stays away past the reconnect timeout stops the
daemon cleanly (exit 1) and the run is failed at the next start; a password in the conninfo, a wrong password and a server
that is down at start each stop the daemon with a clear message that never
shows the password; the config key `state:` works like the option. SKIP
(77) without PostgreSQL."""
import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time

from dagdtest import (CHAIN, FAILING, SOURCE, Daemon, check, dagd, fail, need_test_plugins,
                      state_db, wait_for)
from dagdtest.pg import PgServer

need_test_plugins("noop", "sleep", "fail")

# A run whose middle step outlives a server restart.
LONG = """pipeline: long
steps:
  - name: before
    task: noop
  - name: during
    task: sleep
    needs: [before]
    config: {ms: 4000}
  - name: after
    task: noop
    needs: [during]
"""


def same(got, want):
    check(got == want, "got %r, wanted %r" % (got, want))


class Notify:
    """A fake NOTIFY_SOCKET: (time, message) of every datagram dagd sends."""

    def __init__(self):
        self.path = os.path.join(tempfile.mkdtemp(prefix="dagd-notify-"), "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            m = self.sock.recv(4096).decode(errors="replace")
            self.messages.append((time.monotonic(), m))


def start_fails(args, env=None, config=None, want=""):
    """A daemon that must refuse to start: exit code and log."""
    d = Daemon({"chain": CHAIN}, args=args, env=env, config=config, start=False)
    with d:
        d.start(wait=False)
        try:
            rc = d.proc.wait(30)
        except subprocess.TimeoutExpired:
            fail("dagd serve did not exit:\n" + d.logtext())
        check(rc != 0, "dagd serve should have failed:\n" + d.logtext())
        log = d.logtext()
        check(want in log, "wanted %r in the log:\n%s" % (want, log))
        return log


def sql(pg, query, dbname=None):
    """psql -At-like text of a query: rows joined by newlines, columns by |."""
    return "\n".join("|".join("" if v is None else v for v in row)
                     for row in pg.query(query, dbname))


with PgServer(dbname="dagd") as pg:
    conninfo = pg.conninfo

    notify = Notify()
    # WATCHDOG_USEC=2s: the loop's own timer pings every second; while the
    # loop waits for PostgreSQL only the store's wait hook pings.
    with Daemon({"chain": CHAIN, "failing": FAILING, "long": LONG},
                args=["--state", conninfo],
                env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000"}) as d:
        check("Run history in PostgreSQL" in d.logtext(), d.logtext())
        # libpq is opened when the history is (lib/pq; test_pg_lazy: not before).
        with open("/proc/%d/maps" % d.proc.pid) as f:
            check("/libpq.so.5" in f.read(), "libpq not mapped by a daemon on PostgreSQL")
        # One daemon per history: a second one (own state directory) is refused.
        start_fails(["--state", conninfo], want="Another daemon uses the run history")
        p = d.ctl("run", "chain", "--wait", json_out=True)
        same(p.json["status"], "succeeded")
        chain_id = p.json["run_id"]
        p = d.ctl("run", "failing", "--wait", check_rc=1, json_out=True)
        failed_id = p.json["run_id"]

        # dagctl reads the history back from PostgreSQL.
        runs = d.ctl("runs", json_out=True).json["runs"]
        same(sorted(r["run_id"] for r in runs), sorted([chain_id, failed_id]))
        show = d.ctl("show", chain_id[:14], json_out=True).json
        same({s["step"]: s["status"] for s in show["steps"]},
           {"first": "succeeded", "second": "succeeded", "third": "succeeded"})
        show = d.ctl("show", failed_id, json_out=True).json
        same(show["run"]["status"], "failed")
        logs = d.ctl("logs", chain_id).stdout
        check("step second succeeded" in logs, logs)
        check(not os.path.exists(os.path.join(d.state, "state.db")), "a state.db was created")

        # psql sees the tables of docs/state.md, with the same columns.
        same(sql(pg, "SELECT status FROM runs WHERE run_id = '%s'" % chain_id, "dagd").strip(),
           "succeeded")
        same(sql(pg, "SELECT step, status, attempts FROM steps WHERE run_id = '%s' ORDER BY rowid"
                   % chain_id, "dagd").split(),
           ["first|succeeded|1", "second|succeeded|1", "third|succeeded|1"])
        err = sql(pg, "SELECT exit_code, error FROM steps WHERE run_id = '%s' AND step = 'broken'"
                      % failed_id, "dagd").strip()
        check(err.startswith("3|") and "code 3" in err, err)
        n_events = int(sql(pg, "SELECT count(*) FROM events WHERE run_id = '%s'" % chain_id,
                               "dagd"))
        check(n_events >= 8, "events of the chain run: %d" % n_events)
        # The same schema version as a new state.db (one migration per state/sql file).
        same(sql(pg, "SELECT version FROM dagd_schema", "dagd").strip(),
             str(len(glob.glob(os.path.join(SOURCE, "state", "sql", "0*.sql")))))

        # The server restarts while a step runs: the run finishes, nothing lost.
        result = {}

        def run_long():
            result["p"] = d.ctl("run", "long", "--wait", json_out=True, timeout=120)

        t = threading.Thread(target=run_long)
        t.start()
        wait_for(lambda: sql(pg, "SELECT count(*) FROM steps WHERE step = 'during' "
                                 "AND status = 'running'", "dagd").strip() == "1",
                 20, "the long run's middle step to start")
        pg.stop()
        time.sleep(1.5)
        pg.start()
        t.join(120)
        check(not t.is_alive(), "dagctl run long did not finish")
        p = result["p"]
        same(p.json["status"], "succeeded")
        long_id = p.json["run_id"]
        same(sql(pg, "SELECT step || ':' || status FROM steps WHERE run_id = '%s' ORDER BY rowid"
                   % long_id, "dagd").split(),
           ["before:succeeded", "during:succeeded", "after:succeeded"])
        msgs = sql(pg, "SELECT message FROM events WHERE run_id = '%s' ORDER BY seq" % long_id,
                       "dagd").splitlines()
        for want in ("step during running", "step during succeeded", "step after succeeded",
                     "run succeeded"):
            check(any(m.startswith(want) for m in msgs), "missing event %r: %r" % (want, msgs))
        same(sql(pg, "SELECT count(*) FROM runs", "dagd").strip(), "3")
        # The server goes away while the daemon is idle: a dagctl request
        # fails at once with a clear message (the loop is not paused: it
        # reconnects with a backoff on a timer and keeps the watchdog fed),
        # and is answered again once the server is back.
        pg.stop()
        t0 = time.monotonic()
        back = threading.Timer(3.0, pg.start)
        back.start()
        p = d.ctl("runs", check_rc=None)
        took = time.monotonic() - t0
        check(p.returncode != 0, "dagctl runs answered while the server was down: %r" % p.stdout)
        check(took < 1.5, "dagctl runs took %.1f s to fail while the server was down" % took)
        check("run history unavailable: PostgreSQL at" in p.stderr and "reconnecting" in p.stderr,
              p.stderr)
        check("UNAVAILABLE: " in p.stderr, "the error code of an unreachable history: %r" % p.stderr)
        back.join()
        deadline = time.monotonic() + 20
        while True:
            p = d.ctl("runs", json_out=True, check_rc=None)
            if p.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        same(len(p.json["runs"]), 3)
        waited = time.monotonic() - t0
        check("Lost the connection to the run history" in d.logtext(), d.logtext())
        pings = [t for t, m in notify.messages if "WATCHDOG=1" in m and t0 < t < t0 + waited]
        gaps = [b - a for a, b in zip([t0] + pings, pings + [t0 + waited])]
        check(max(gaps) < 2.5, "watchdog pings while waiting: gaps %r" % gaps)
        # ... and the daemon goes on working on the new connection.
        same(d.ctl("run", "chain", "--wait", "--force", json_out=True).json["status"], "succeeded")
        same(len(d.ctl("runs", json_out=True).json["runs"]), 4)
        same(d.stop(), 0)

    # The config key does the same as the option; the history is kept.
    with Daemon({"chain": CHAIN}, config="state: %s\n" % conninfo) as d:
        same(len(d.ctl("runs", json_out=True).json["runs"]), 4)
        same(d.stop(), 0)

    # dagd state import: a state.db (from dagd run: runs, steps, events, a
    # failure) into a new database, then export back; every table the same.
    tmp = tempfile.mkdtemp(prefix="dagd-pg-copy-")
    src = os.path.join(tmp, "src")
    pipes = os.path.join(tmp, "p")
    os.makedirs(pipes)
    for name, text in (("chain", CHAIN), ("failing", FAILING)):
        with open(os.path.join(pipes, name + ".yaml"), "w") as f:
            f.write(text)
    dagd("run", os.path.join(pipes, "chain.yaml"), "--state-dir", src, "-q", check_rc=0)
    dagd("run", os.path.join(pipes, "chain.yaml"), "--state-dir", src, "-q", check_rc=0)
    dagd("run", os.path.join(pipes, "failing.yaml"), "--state-dir", src, "-q", check_rc=1)
    pg.create_db("imported")
    imported = pg.conninfo_for("imported")
    p = dagd("state", "import", "--state-dir", src, "--state", imported, check_rc=0)
    check("copied" in p.stdout and "dbname=imported" in p.stdout, p.stdout)
    tables = {"runs": "run_id, status, created_at, ended_at, error",
              "steps": "run_id, step, status, attempts, exit_code, fingerprint, error",
              "events": "seq, run_id, step, ts, level, kind, message",
              "file_hashes": "path, hash"}
    with state_db(src) as c:
        lite = {t: [["" if v is None else str(v) for v in row] for row in
                    c.execute("SELECT %s FROM %s ORDER BY 1, 2" % (cols, t))]
                for t, cols in tables.items()}
    for t, cols in tables.items():
        rows = [["" if v is None else v for v in row] for row in
                pg.query("SELECT %s FROM %s ORDER BY 1, 2" % (cols, t), "imported")]
        same((t, rows), (t, lite[t]))
    check(len(lite["events"]) > 10, "events: %r" % lite["events"])
    # New events continue after the imported seqs.
    with Daemon({"chain": CHAIN}, args=["--state", imported]) as d:
        same(len(d.ctl("runs", json_out=True).json["runs"]), 3)
        p = d.ctl("run", "chain", "--wait", "--force", json_out=True)
        last = max(int(r[0]) for r in pg.query("SELECT seq FROM events", "imported"))
        first_new = int(pg.query("SELECT min(seq) FROM events WHERE run_id = '%s'"
                                 % p.json["run_id"], "imported")[0][0])
        check(first_new > int(lite["events"][-1][0]) and last >= first_new, "seq restarted")
        same(d.stop(), 0)
    # The daemon-less readers read it too (read-only session).
    p = dagd("runs", "--state", imported, "--json", check_rc=0)
    ids = [r["run_id"] for r in json.loads(p.stdout)["runs"]]
    same(len(ids), 4)
    p = dagd("show", ids[0][:16], "--state", imported, check_rc=0)
    check("only" in p.stdout or "first" in p.stdout, p.stdout)
    p = dagd("logs", ids[0], "--state", imported, check_rc=0)
    check("run succeeded" in p.stdout, p.stdout)
    # Into a history that is not empty: refused, nothing changed.
    p = dagd("state", "import", "--state-dir", src, "--state", imported, check_rc=1)
    check("not empty" in p.stderr, p.stderr)
    # And back: export into a new state directory, readable by dagd runs.
    back = os.path.join(tmp, "back")
    dagd("state", "export", "--state", imported, "--state-dir", back, check_rc=0)
    with state_db(back) as c:
        same(c.execute("SELECT count(*) FROM runs").fetchone()[0], 4)
        same(c.execute("SELECT count(*) FROM events").fetchone()[0],
             int(pg.query("SELECT count(*) FROM events", "imported")[0][0]))
    check("chain" in dagd("runs", "--state-dir", back, check_rc=0).stdout, "dagd runs")
    shutil.rmtree(tmp)

    # A password in the conninfo: refused, and never printed.
    log = start_fails(["--state", conninfo + " password=pw-in-conninfo"], want="pgpass")
    check("pw-in-conninfo" not in log, log)

    # A role with a password (scram over the socket); a wrong one is refused
    # with libpq's message, the right one from a passfile works.
    pg.add_password_user("dagd_pw", "right-pw")
    pg.create_db("dagd_pw")
    pw_conninfo = pg.conninfo_for("dagd_pw", user="dagd_pw")
    log = start_fails(["--state", pw_conninfo], env={"PGPASSWORD": "wrong-pw-value"},
                      want="password authentication failed")
    check("wrong-pw-value" not in log, log)
    passfile = os.path.join(pg.dir, "pgpass")
    with open(passfile, "w") as f:
        f.write("*:*:*:dagd_pw:right-pw\n")
    os.chmod(passfile, 0o600)
    env = {"PGPASSFILE": passfile}
    with Daemon({"chain": CHAIN}, args=["--state", pw_conninfo], env=env) as d:
        same(d.ctl("run", "chain", "--wait", "--force", json_out=True).json["status"], "succeeded")
        check("right-pw" not in d.logtext(), d.logtext())
        same(d.stop(), 0)

    # The server stays away past the reconnect timeout (2 s here): the daemon
    # stops cleanly, exit status 1 and the reason logged, its step stopped,
    # not paused 2 s per statement forever. Started again once the server
    # is back, it fails that run as an orphan; the earlier runs are intact.
    with Daemon({"long": LONG}, args=["--state", conninfo],
                env={"DAGD_STATE_RECONNECT_TIMEOUT": "2"}) as d:
        long_id = d.ctl("run", "long", json_out=True).json["run_id"]
        wait_for(lambda: sql(pg, "SELECT status FROM steps WHERE run_id = '%s' AND step = "
                                 "'during'" % long_id, "dagd").strip() == "running",
                 20, "the long run's middle step to start")
        pg.stop()
        t0 = time.monotonic()
        try:
            rc = d.proc.wait(60)
        except subprocess.TimeoutExpired:
            fail("dagd serve did not stop with its history gone:\n" + d.logtext())
        took = time.monotonic() - t0
        same(rc, 1)
        log = d.logtext()
        check("unreachable for 2 s" in log and "stopping (exit status 1)" in log, log)
        # The step ends at 4 s and writes; 2 s later the store gives up.
        check(took < 20, "took %.1f s to stop:\n%s" % (took, log))
        pg.start()
    with Daemon({"long": LONG}, args=["--state", conninfo]) as d:
        show = d.ctl("show", long_id, json_out=True).json
        same(show["run"]["status"], "failed")
        check("orphaned" in (show["run"].get("error") or ""), json.dumps(show["run"]))
        same(len(d.ctl("runs", json_out=True).json["runs"]), 5)
        same(d.stop(), 0)

    # The server is down at daemon start: a clear error, at once.
    pg.stop()
    t0 = time.monotonic()
    start_fails(["--state", conninfo], want="Failed to connect to PostgreSQL")
    check(time.monotonic() - t0 < 20, "took %.1f s to fail" % (time.monotonic() - t0))

shutil.rmtree(os.path.dirname(notify.path), ignore_errors=True)
print("ok")
