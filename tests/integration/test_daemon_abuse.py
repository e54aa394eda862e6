#!/usr/bin/env python3
"""The daemon against a hostile or clumsy client (issue 16): a flood of
queued runs and oversized params; slow readers (memory bounded and given
back); idle connections that would lock others out (blank lines are not
activity, an idle client makes room, per-uid limits, root's reserve); invalid UTF-8 in requests; the socket's group read when a peer connects (after chgrp,
and under socket activation without `socket:`); a truncated or damaged
state.db refused at start. Each part fails without the change it covers; the limits it
relies on are promised in docs/daemon.md and docs/security.md."""
import json
import os
import socket
import sqlite3
import subprocess
import time

from dagdtest import (NOOP, Daemon, call, check, fail, need_test_plugins, read_line, request,
                      sanitized, wait_for)

need_test_plugins("noop", "sleep")

PARAMS = """pipeline: params
params:
  greeting: hello
steps:
  - name: only
    task: noop
"""


def invalid_utf8(d):
    """Invalid UTF-8 is refused by the decoder; nothing raw is stored, and
    `dagctl --json runs` stays parseable."""
    s = d.connect()
    bad = [b'{"v":1,"id":1,"method":"run","params":{"pipeline":"params","params":["greeting=\xff\xfe"]}}\n',
           b'{"v":1,"id":2,"method":"run","params":{"pipeline":"params","params":["greeting=\xed\xa0\x80"]}}\n',
           b'{"v":1,"id":3,"method":"run","params":{"pipeline":"params","params":["greeting=a\\u0000b"]}}\n',
           b'{"v":1,"id":4,"method":"run\xc0\xaf","params":{}}\n']
    rest = b""
    for line in bad:
        s.sendall(line)
        out, rest = read_line(s, rest)
        out.decode("utf-8")  # the reply itself is UTF-8
        rep = json.loads(out)
        check(rep["error"]["code"] == "PARSE_ERROR", "invalid UTF-8 accepted: %r" % rep)
    rep = call(s, "run", {"pipeline": "params", "params": ["greeting=gr\u00fc\u00df \u20ac"]}, id=5)
    check("result" in rep, "valid UTF-8 refused: %r" % rep)
    d.wait_run(rep["result"]["run_id"])
    s.close()
    p = d.ctl("runs", json_out=True)
    runs = p.json["runs"]
    check(len(runs) == 1, "only the valid run is recorded: %r" % runs)
    p = d.ctl("show", runs[0]["run_id"], json_out=True)
    check("gr\u00fc\u00df \u20ac" in json.dumps(p.json["run"]["params"], ensure_ascii=False),
          "params: %r" % p.json["run"])


SLOW_PARAMS = """pipeline: slowp
params:
  note: ""
steps:
  - name: wait
    task: sleep
    config: {ms: 30000}
"""


def check_rss(cond, msg):
    if sanitized():
        print("sanitizer build: not checked: " + msg)
    else:
        check(cond, msg)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return [int(l.split()[1]) for l in f if l.startswith("VmRSS:")][0]


def pipelined(s, reqs):
    """Send requests 16 at a time (the in-flight limit) and read the replies."""
    replies, rest = [], b""
    for i in range(0, len(reqs), 16):
        batch = reqs[i:i + 16]
        s.sendall(b"".join(batch))
        for _ in batch:
            line, rest = read_line(s, rest)
            check(line is not None, "connection closed during the flood")
            replies.append(json.loads(line))
    return replies


def queue_bounds():
    """Queued runs are bounded in count and bytes (QUEUE_FULL beyond), and a
    request's params in count, key and value size (INVALID_PARAMS)."""
    config = "shutdown_grace: 1s\nlimits:\n  max_concurrent_runs: 1\n  max_queued_runs: 5\n"
    with Daemon({"slowp": SLOW_PARAMS}, config=config) as d:
        s = d.connect()
        reps = pipelined(s, [request("run", {"pipeline": "slowp", "params": ["note=%d" % i]}, id=i)
                             for i in range(8)])
        ok = [r for r in reps if "result" in r]
        full = [r for r in reps if r.get("error", {}).get("code") == "QUEUE_FULL"]
        check(len(ok) == 6 and len(full) == 2, "1 running + 5 queued, 2 refused: %r" % reps)
        check("max_queued_runs 5" in full[0]["error"]["message"], "message: %r" % full[0])
        # a slot in the queue frees when a queued run is canceled
        d.ctl("cancel", ok[-1]["result"]["run_id"])
        rep = call(s, "run", {"pipeline": "slowp"}, id=99)
        check("result" in rep, "queue has room again: %r" % rep)
        # params bounds
        for params, what in ((["note=" + "x" * (64 * 1024 + 1)], "value"),
                             (["k" * 129 + "=v"], "key"),
                             (["note=%d" % i for i in range(257)], "count")):
            rep = call(s, "run", {"pipeline": "slowp", "params": params}, id=100)
            check(rep.get("error", {}).get("code") == "INVALID_PARAMS",
                  "oversized params (%s) accepted: %r" % (what, str(rep)[:200]))
        s.close()
        check(d.stop() == 0, "SIGTERM exit status")

    # The flood with the default limits: one connection queueing runs
    # with big params. Before: every one queued (10,000 x 200 KB took 2 GB).
    with Daemon({"slowp": SLOW_PARAMS}, config="shutdown_grace: 1s\nlimits:\n  max_concurrent_runs: 1\n") as d:
        s = d.connect()
        call(s, "run", {"pipeline": "slowp"}, id=0)  # takes the only slot
        before = rss_kb(d.proc.pid)
        big = "note=" + "y" * (60 * 1024)
        reps = pipelined(s, [request("run", {"pipeline": "slowp", "params": [big]}, id=i)
                             for i in range(1, 1201)])
        after = rss_kb(d.proc.pid)
        queued = sum(1 for r in reps if "result" in r)
        full = sum(1 for r in reps if r.get("error", {}).get("code") == "QUEUE_FULL")
        print("flood: %d queued, %d QUEUE_FULL, RSS %d -> %d kB" % (queued, full, before, after))
        check(queued + full == 1200 and full > 0, "the queue has a byte bound: %d queued" % queued)
        check(queued * 60 * 1024 <= 16 * 1024 * 1024, "max_queued_bytes 16 MiB: %d queued" % queued)
        check_rss(after - before < 48 * 1024, "RSS grew %d kB for a bounded queue" % (after - before))
        s.close()
        check(d.stop() == 0, "SIGTERM exit status")


def slow_readers():
    """60 clients pipelining `runs {limit: 3000}` without reading: the
    daemon stops reading each once its replies pile up, and gives the memory
    back when they go. Before: RSS +157 MB at the peak, +205 MB after they
    disconnected."""
    with Daemon({"noop": NOOP}) as d:
        d.stop()
        c = sqlite3.connect(os.path.join(d.state, "state.db"))
        c.executemany(
            "INSERT INTO runs (run_id, pipeline, status, trigger, params, created_at, started_at,"
            " ended_at) VALUES (?, 'noop', 'succeeded', 'cli', ?, ?, ?, ?)",
            [("%032x" % i, '{"state_dir":"/var/lib/dagd","run_id":"%032x"}' % i,
              1700000000000 + i, 1700000000000 + i, 1700000000001 + i) for i in range(3000)])
        c.commit()
        c.close()
        d.start()
        s = d.connect()
        s.sendall(request("runs", {"limit": 3000}))
        line, _ = read_line(s)
        check(len(json.loads(line)["result"]["runs"]) == 3000, "3000 runs listed")
        s.close()
        time.sleep(0.3)
        base = rss_kb(d.proc.pid)
        socks = []
        for _ in range(60):
            s = d.connect()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(b"".join(request("runs", {"limit": 3000}, id=j) for j in range(40)))
            socks.append(s)
        peak = 0
        for _ in range(24):
            time.sleep(0.25)
            peak = max(peak, rss_kb(d.proc.pid))
        t0 = time.monotonic()
        d.ctl("status")  # a client that reads is still served
        served = time.monotonic() - t0
        for s in socks:
            s.close()
        time.sleep(1.5)
        after = rss_kb(d.proc.pid)
        print("slow readers: RSS %d kB, peak %d, after they left %d; status in %.3f s"
              % (base, peak, after, served))
        check_rss(peak - base < 96 * 1024, "slow readers grew the daemon by %d kB" % (peak - base))
        check_rss(after - base < 16 * 1024, "memory kept after they left: %d kB" % (after - base))
        check(d.stop() == 0, "SIGTERM exit status")


def run_as(uid, gid, n, hold):
    """A child process as uid:gid (member of GROUP) opening n connections,
    each sending `status`; prints one result per connection ("ok" or the
    error code), then keeps them open until its stdin closes."""
    code = r"""
import json, socket, sys
res, socks = [], []
for i in range(%d):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(%r)
    s.settimeout(10)
    try:
        s.sendall(b'{"v":1,"id":1,"method":"status"}\n')
    except OSError:
        pass  # refused: the BUSY line is there to read
    buf = b""
    while b"\n" not in buf:
        try:
            chunk = s.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            break
        buf += chunk
    rep = json.loads(buf.split(b"\n")[0]) if buf else {}
    res.append("ok" if "result" in rep else rep.get("error", {}).get("code", "closed"))
    socks.append(s)
print(json.dumps(res), flush=True)
sys.stdin.read()
""" % (n, hold)

    def drop():
        os.setgid(gid)
        os.setgroups([GROUP])
        os.setuid(uid)
    p = subprocess.Popen(["python3", "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, preexec_fn=drop)
    return p, json.loads(p.stdout.readline())


def client_limits():
    """Idle connections sending blank lines do not lock others out."""
    # 64 connections that only send blank lines: a new client still gets in
    # (one of them, idle, makes room), root's dagctl included
    with Daemon({"noop": NOOP}) as d:
        idle = [d.connect() for _ in range(64)]
        for _ in range(3):
            for s in idle:
                s.sendall(b"\n")
            time.sleep(0.5)
        p = d.ctl("status", check_rc=None)
        check(p.returncode == 0, "locked out by 64 idle connections: %s" % p.stderr)
        closed = 0
        for s in idle:
            s.settimeout(0.2)
            try:
                closed += s.recv(100) == b""
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed += 1
            s.close()
        check(closed >= 1, "no idle connection made room")
        check(d.stop() == 0, "SIGTERM exit status")
    # blank lines do not keep a connection alive past the idle timeout
    with Daemon({"noop": NOOP}, config="limits:\n  idle_timeout: 2s\n") as d:
        s = d.connect()
        t0, data = time.monotonic(), None
        s.settimeout(0.5)
        while time.monotonic() - t0 < 8:
            try:
                s.sendall(b"\n")
                data = s.recv(100)
                if data == b"":
                    break
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                data = b""
                break
        check(data == b"" and time.monotonic() - t0 < 5,
              "a client sending blank lines was not closed after the idle timeout")
        s.close()
        check(d.stop() == 0, "SIGTERM exit status")
    if os.geteuid() != 0:
        print("SKIP part: per-uid limits (needs root to switch uid)")
        return
    # per uid, and root's reserve: with max_clients 16, other uids share 12
    config = "limits:\n  max_clients: 16\n  max_clients_per_uid: 8\n"
    with Daemon({"noop": NOOP}, config=config) as d:
        os.chown(d.sock, -1, GROUP)
        a, res_a = run_as(65534, 65534, 10, d.sock)
        check(res_a == ["ok"] * 8 + ["BUSY"] * 2, "per-uid limit 8: %r" % res_a)
        b, res_b = run_as(65533, 65533, 6, d.sock)
        check(res_b == ["ok"] * 4 + ["BUSY"] * 2, "root's reserve of 4 (12 for others): %r" % res_b)
        for _ in range(4):  # root gets in, up to max_clients
            check("result" in call(d.connect(), "status"), "root refused with its reserve free")
        for p in (a, b):
            p.stdin.close()
            p.wait(10)
        check(d.stop() == 0, "SIGTERM exit status")


GROUP = 4242  # a group nobody is in but the test's client


def as_group_member():
    os.setgid(65534)
    os.setgroups([GROUP])
    os.setuid(65534)


def socket_group(d):
    """After `chgrp`, members of the new group may connect (the group is
    read when a peer connects, not once at bind)."""
    if os.geteuid() != 0:
        print("SKIP part: socket group (needs root to chgrp and switch uid)")
        return
    p = d.ctl("status", check_rc=None, preexec_fn=as_group_member)
    check(p.returncode != 0, "not a member of the socket's group, yet served")
    os.chown(d.sock, -1, GROUP)
    p = d.ctl("status", json_out=True, check_rc=None, preexec_fn=as_group_member)
    check(p.returncode == 0, "member of the socket's new group refused: %s" % p.stderr)
    # back to root's group, with a mode that lets anyone reach the peer check
    os.chown(d.sock, -1, 0)
    os.chmod(d.sock, 0o666)
    p = d.ctl("status", check_rc=1, preexec_fn=as_group_member)
    check("PERMISSION_DENIED" in p.stderr, "after chgrp back: " + p.stderr)
    os.chmod(d.sock, 0o660)


def activated_socket_group():
    """Socket activation without `socket:`: the socket file's group counts,
    not the daemon's own gid."""
    if os.geteuid() != 0:
        print("SKIP part: activated socket group (needs root)")
        return
    with Daemon({"noop": NOOP}, start=False) as d:
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(d.sock)
        lsock.listen(16)
        os.chmod(d.sock, 0o660)
        os.chown(d.sock, -1, GROUP)
        fd = 9  # away from 3, where the daemon expects it (dash: one digit)
        os.dup2(lsock.fileno(), fd)
        cmd = ["sh", "-c", 'LISTEN_FDS=1 LISTEN_PID=$$ exec "$@" 3<&%d %d<&-' % (fd, fd), "sh",
               d.command()[0], "serve", "--state-dir", d.state, "--pipelines", d.pipes]
        d.logf = open(d.log, "a")
        d.proc = subprocess.Popen(cmd, stdout=d.logf, stderr=d.logf, env=d.env, cwd=d.tmp,
                                  pass_fds=(fd,))
        lsock.close()
        os.close(fd)
        d.wait_ready()
        check("socket passed by systemd" in d.logtext(), "not activated: " + d.logtext())
        p = d.ctl("status", json_out=True, check_rc=None, preexec_fn=as_group_member)
        check(p.returncode == 0, "activated: member of the socket's group refused: %s\n%s"
              % (p.stderr, d.logtext()))
        check(d.stop() == 0, "SIGTERM exit status")


with Daemon({"noop": NOOP, "params": PARAMS}) as d:
    invalid_utf8(d)
    socket_group(d)
    check(d.proc.poll() is None, "daemon died:\n" + d.logtext())
    check(d.stop() == 0, "SIGTERM exit status")


def damaged_history():
    """A zero-byte state.db is not recreated empty, and a corrupt page is
    found at start: dagd serve refuses to start and leaves the file as it
    was."""
    with Daemon({"noop": NOOP}, start=False) as d:
        os.makedirs(d.state)
        db = os.path.join(d.state, "state.db")
        open(db, "w").close()
        p = d.start(wait=False)
        check(p.wait(20) != 0, "dagd serve started on a zero-byte state.db")
        check("is empty (0 bytes)" in d.logtext(), "log: " + d.logtext())
        check(os.path.getsize(db) == 0, "the truncated file was rewritten")
    with Daemon({"noop": NOOP}) as d:
        for _ in range(40):
            d.ctl("run", "noop")
        wait_for(lambda: len(d.ctl("runs", "--limit", "100", json_out=True).json["runs"]) == 40 and
                 all(r["status"] == "succeeded" for r in
                     d.ctl("runs", "--limit", "100", json_out=True).json["runs"]), 30, "40 runs")
        check(d.stop() == 0, "SIGTERM exit status")
        db = os.path.join(d.state, "state.db")
        c = sqlite3.connect(db)
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        # a leaf page of the events table: no query at start reads it
        page = c.execute("SELECT max(pageno) FROM dbstat WHERE name = 'events'").fetchone()[0]
        c.close()
        with open(db, "r+b") as f:
            f.seek((page - 1) * 4096)
            f.write(b"\x5a" * 512)
        with open(db, "rb") as f:
            before = f.read()
        p = d.start(wait=False)
        check(p.wait(20) != 0, "dagd serve started on a corrupt state.db")
        check("is corrupt (quick_check:" in d.logtext(), "log: " + d.logtext())
        with open(db, "rb") as f:
            check(f.read() == before, "the damaged file was changed")


queue_bounds()
slow_readers()
client_limits()
activated_socket_group()
damaged_history()
print("ok")
