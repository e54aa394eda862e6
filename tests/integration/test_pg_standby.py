#!/usr/bin/env python3
"""Two daemons, one PostgreSQL history (issue 13's stretch item, the part
that is built): a second `dagd serve --standby` on the same history waits
while the first serves it, and takes over when the first dies: within 5 s
of a SIGKILL it serves dagctl, fails the dead daemon's runs in progress as
orphans, and its schedule goes on from the newest recorded tick: every
second of a per-second schedule ticks exactly once across both daemons
(catchup covers the seconds of the takeover). A leader that comes back
after a standby took over stops (exit 1) instead of writing beside it.
SKIP (77) without PostgreSQL."""
import os
import signal
import subprocess
import time

from dagdtest import NOOP, Daemon, check, fail, need_test_plugins, wait_for
from dagdtest.pg import PgServer

need_test_plugins("noop")
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


def ticks(pg):
    return [(int(ts), status) for ts, status in
            pg.query("SELECT ts, status FROM ticks WHERE name = 'every_second' ORDER BY ts, id",
                     "dagd")]


with PgServer(dbname="dagd") as pg:
    conninfo = pg.conninfo
    a = Daemon({"ticking": TICKING}, args=["--state", conninfo])
    b = Daemon({"ticking": TICKING}, args=["--state", conninfo, "--standby"], start=False)
    with a, b:
        wait_for(lambda: len(ticks(pg)) >= 2, 20, "the leader's ticks")
        b.start(wait=False)
        wait_for(lambda: "Standby: Another daemon uses the run history" in b.logtext(), 20,
                 "the standby to wait")
        time.sleep(1.5)
        check(b.proc.poll() is None, "the standby exited:\n" + b.logtext())
        check(not os.path.exists(b.sock), "the standby listens before it took over")

        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(10)
        t0 = time.monotonic()
        b.wait_ready(10)
        took = time.monotonic() - t0
        check(took < 5, "took over in %.1f s:\n%s" % (took, b.logtext()))
        check("Took over the run history" in b.logtext(), b.logtext())
        print("ok: the standby serves dagctl %.1f s after the leader's SIGKILL" % took)

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
        check(b.stop() == 0, b.logtext())
        a.wait_ready(10)
        check(a.stop() == 0, a.logtext())

    # The leader loses its session (pg_terminate_backend: a network cut) and
    # the standby takes the lock meanwhile: the old leader, on its next
    # statement, finds the history taken and stops (exit 1).
    c = Daemon({"noop": NOOP}, args=["--state", conninfo])
    e = Daemon({"noop": NOOP}, args=["--state", conninfo, "--standby"], start=False)
    with c, e:
        e.start(wait=False)
        wait_for(lambda: "Standby:" in e.logtext(), 20, "the standby to wait")
        killed = pg.query("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = "
                          "'advisory' AND objid = %d AND granted" % HISTORY_LOCK, "dagd")
        check(len(killed) == 1, "the leader's session: %r" % killed)
        e.wait_ready(10)
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
    # connection is made again), and since the restart ended the idle
    # leader's session too, the lock is free: it takes over, and the old
    # leader stops at its next statement.
    c = Daemon({"noop": NOOP}, args=["--state", conninfo])
    e = Daemon({"noop": NOOP}, args=["--state", conninfo, "--standby"], start=False)
    with c, e:
        e.start(wait=False)
        wait_for(lambda: "Standby:" in e.logtext(), 20, "the standby to wait")
        pg.stop()
        time.sleep(1.0)
        check(e.proc.poll() is None, "the standby exited with the server:\n" + e.logtext())
        pg.start()
        e.wait_ready(15)
        check(e.logtext().count("Took over the run history") == 1, e.logtext())
        c.ctl("runs", check_rc=None, timeout=150)
        try:
            rc = c.proc.wait(30)
        except subprocess.TimeoutExpired:
            fail("the old leader did not stop:\n" + c.logtext())
        check(rc == 1, "the old leader's exit status %d:\n%s" % (rc, c.logtext()))
        check(e.stop() == 0, e.logtext())
    print("ok: a standby outlives a server restart and takes over from the idle leader")

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
