#!/usr/bin/env python3
"""The one ambiguous moment of a dropped connection (issue 13, run history
on PostgreSQL): the server commits a transaction and the connection dies
before its answer reaches dagd. dagd cannot tell from the connection
whether the COMMIT happened; replaying the transaction would write its rows
twice (a step's event) or fail on a key that exists (and lose the write).
dagd asks the server instead (txid_status of the transaction's id, kept
from its BEGIN) and replays only what did not commit.

A small proxy between dagd and the private server (Unix sockets, the wire
protocol's messages passed through) drops the connection right after the
server's CommandComplete of a COMMIT, without forwarding it. Armed in the
middle of runs, several times: every run succeeds, every step has one row,
no event is written twice. SKIP (77) without PostgreSQL."""
import os
import socket
import struct
import tempfile
import threading
import time

from dagdtest import CHAIN, Daemon, check, need_test_plugins
from dagdtest.pg import PgServer

need_test_plugins("noop", "sleep")


class Proxy:
    """Listens at DIR/.s.PGSQL.PORT, forwards to the server's socket; when
    armed, drops the connection at the next COMMIT's CommandComplete."""

    def __init__(self, target):
        self.target = target
        self.dir = tempfile.mkdtemp(prefix="dagd-pgproxy-")
        self.port = 5999
        self.path = os.path.join(self.dir, ".s.PGSQL.%d" % self.port)
        self.armed = threading.Event()
        self.drops = 0
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lsock.bind(self.path)
        self.lsock.listen(16)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            c, _ = self.lsock.accept()
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.target)
            threading.Thread(target=self._up, args=(c, s), daemon=True).start()
            threading.Thread(target=self._down, args=(s, c), daemon=True).start()

    @staticmethod
    def _close(*socks):
        for x in socks:
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            x.close()

    def _up(self, c, s):
        try:
            while True:
                b = c.recv(65536)
                if not b:
                    break
                s.sendall(b)
        except OSError:
            pass
        self._close(c, s)

    def _down(self, s, c):
        """Server to client: typed messages (a byte, a length that counts
        itself), passed whole."""
        buf = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                buf += b
                out = b""
                while len(buf) >= 5:
                    n = struct.unpack("!I", buf[1:5])[0]
                    if len(buf) < 1 + n:
                        break
                    msg, buf = buf[:1 + n], buf[1 + n:]
                    if msg[:1] == b"C" and msg[5:11] == b"COMMIT" and self.armed.is_set():
                        self.armed.clear()
                        self.drops += 1
                        if out:
                            c.sendall(out)
                        self._close(c, s)
                        return
                    out += msg
                if out:
                    c.sendall(out)
        except OSError:
            pass
        self._close(c, s)


def counts(pg, sql):
    return {tuple(r[:-1]): int(r[-1]) for r in pg.query(sql, "dagd")}


with PgServer(dbname="dagd") as pg:
    proxy = Proxy(os.path.join(pg.dir, ".s.PGSQL.%d" % pg.port))
    conninfo = "host=%s port=%d user=%s dbname=dagd" % (proxy.dir, proxy.port, pg.user)
    with Daemon({"chain": CHAIN}, args=["--state", conninfo]) as d:
        ids = []
        for i in range(6):
            done = {}

            def run():
                done["p"] = d.ctl("run", "chain", "--wait", "--force", json_out=True, timeout=120)

            t = threading.Thread(target=run)
            t.start()
            time.sleep(0.02 * i)  # somewhere in the run: submit, a step's start or end
            proxy.armed.set()
            t.join(120)
            check(not t.is_alive(), "dagctl run did not finish:\n" + d.logtext())
            p = done["p"]
            check(p.json["status"] == "succeeded", "run %d: %r\n%s" % (i, p.json, d.logtext()))
            ids.append(p.json["run_id"])
        proxy.armed.clear()
        check(proxy.drops >= 3, "the proxy dropped %d COMMITs" % proxy.drops)

        steps = counts(pg, "SELECT run_id, step, count(*) FROM steps GROUP BY 1, 2")
        for rid in ids:
            for step in ("first", "second", "third"):
                check(steps.get((rid, step)) == 1, "%s %s: %r" % (rid, step, steps))
        dup = pg.query("SELECT run_id, coalesce(step, '-'), message, count(*) FROM events "
                       "GROUP BY 1, 2, 3 HAVING count(*) > 1", "dagd")
        check(not dup, "events written twice: %r" % dup)
        check(d.stop() == 0, d.logtext())
    print("ok: %d COMMITs whose answer was lost, nothing written twice or lost" % proxy.drops)
