#!/usr/bin/env python3
"""The leader's LISTEN connection (the standbys' requests, issue 13) never
holds the daemon's loop while it connects: its session is killed while the
server accepts connections but does not answer them (the postmaster
stopped with SIGSTOP: the kernel completes the connect, nobody speaks),
and the daemon keeps answering `dagctl status` and running runs through
its own, still open, connection. Once the server answers again the
listener is back ("Listening for the standbys' requests again"), and a
listener stuck connecting for longer than its timeout is dropped and
tried again. SKIP (77) without PostgreSQL."""
import os
import signal
import time

from dagdtest import Daemon, check, wait_for
from dagdtest.pg import PgServer

QUICK = "pipeline: quick\nsteps:\n  - {name: only, task: noop}\n"


def listener_pid(pg):
    rows = pg.query("SELECT pid FROM pg_stat_activity WHERE application_name = 'dagd listener'",
                    "dagd")
    return int(rows[0][0]) if rows else None


with PgServer(dbname="dagd") as pg:
    conninfo = "host=%s port=%d user=%s dbname=dagd" % (pg.dir, pg.port, pg.user)
    with Daemon({"quick": QUICK}, args=["--state", conninfo],
                env={"DAGD_LISTEN_CONNECT_TIMEOUT": "2"}) as d:
        backend = wait_for(lambda: listener_pid(pg), 10, "the leader's LISTEN session")
        with open(os.path.join(pg.data, "postmaster.pid")) as f:
            postmaster = int(f.readline())
        os.kill(postmaster, signal.SIGSTOP)
        try:
            os.kill(backend, signal.SIGTERM)  # the listener's session ends
            wait_for(lambda: "taking the standbys' requests up again" in d.logtext(), 10,
                     "the leader noticing its LISTEN session gone")
            # It connects again every second; each attempt stays unanswered.
            for _ in range(4):
                time.sleep(0.6)
                st = d.ctl("status", json_out=True, timeout=10, check_rc=None)
                check(st.returncode == 0, "status while the listener connects: %r" % st.stderr)
            rid = d.ctl("run", "quick", "--wait", "--force", json_out=True, timeout=20).json
            check(rid["status"] == "succeeded", "a run while the listener connects: %r" % rid)
            wait_for(lambda: "connecting for more than" in d.logtext(), 10,
                     "the stuck attempt given up after its timeout")
        finally:
            os.kill(postmaster, signal.SIGCONT)
        wait_for(lambda: "Listening for the standbys' requests again" in d.logtext(), 15,
                 "the listener back")
        wait_for(lambda: listener_pid(pg), 10, "a new LISTEN session")
print("ok")
