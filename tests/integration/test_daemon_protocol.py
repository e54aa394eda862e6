#!/usr/bin/env python3
"""The socket protocol under abuse: malformed JSON, wrong version, a 2 MiB
line, a line sent one byte at a time, 20 concurrent clients, a client that
disconnects during run --wait, an idle client, an unauthorized peer (another
uid) and a socket path too long for sun_path. The daemon must answer or close
the connection, and keep serving everyone else."""
import json
import os
import socket
import subprocess
import threading
import time

from dagdtest import (CHAIN, DAGCTL, NOOP, SLOW, Daemon, call, check, fail, need_test_plugins,
                       read_line, request, wait_for)

need_test_plugins("noop", "sleep")

CONFIG = """limits:
  idle_timeout: 2s
"""

with Daemon({"noop": NOOP, "chain": CHAIN, "slow": SLOW}, config=CONFIG) as d:
    # malformed JSON gets an error reply and the connection stays usable
    s = d.connect()
    s.sendall(b'{"v":1,"id":1,"method":"status"\n')
    line, rest = read_line(s)
    rep = json.loads(line)
    check(rep["error"]["code"] == "PARSE_ERROR" and rep["id"] is None, "malformed: %r" % rep)
    s.sendall(b'[1,2,3]\n{"v":1,"method":"status"}\n{"v":1,"id":{},"method":"x"}\n')
    for _ in range(3):
        line, rest = read_line(s, rest)
        rep = json.loads(line)
        check(rep["error"]["code"] == "INVALID_REQUEST", "invalid: %r" % rep)
    s.sendall(b'{"v":2,"id":5,"method":"status"}\n')
    line, rest = read_line(s, rest)
    rep = json.loads(line)
    check(rep["error"]["code"] == "VERSION_MISMATCH" and rep["id"] == 5, "version: %r" % rep)
    s.sendall(b'{"v":1,"id":"x","method":"nosuch"}\n')
    line, rest = read_line(s, rest)
    rep = json.loads(line)
    check(rep["error"]["code"] == "UNKNOWN_METHOD" and rep["id"] == "x", "unknown: %r" % rep)
    s.sendall(request("run", {"pipeline": 7}, id=6))
    line, rest = read_line(s, rest)
    rep = json.loads(line)
    check(rep["error"]["code"] == "INVALID_PARAMS", "params: %r" % rep)
    check("\n" not in rep["error"]["message"], "one-line message")
    # run and plan check their "params" overrides alike, before the pipeline
    for method in ("run", "plan"):
        for bad in ("k=v", ["k=v", 3], ["novalue"], ["=v"]):
            s.sendall(request(method, {"pipeline": "nosuch", "params": bad}, id=8))
            line, rest = read_line(s, rest)
            rep = json.loads(line)
            check(rep["error"]["code"] == "INVALID_PARAMS" and
                  rep["error"]["message"] == "'params' must be a list of \"key=value\" strings",
                  "%s params %r: %r" % (method, bad, rep))
        s.sendall(request(method, {"pipeline": "nosuch", "params": ["k=v"]}, id=9))
        line, rest = read_line(s, rest)
        rep = json.loads(line)
        check(rep["error"]["code"] == "NOT_FOUND", "%s good params: %r" % (method, rep))
    s.sendall(request("status", id=7))
    line, rest = read_line(s, rest)
    check(json.loads(line)["result"]["pipelines"] == 3, "still usable after errors")
    s.close()

    # a 2 MiB line: LINE_TOO_LONG, then the connection is closed
    s = d.connect()
    big = b'{"v":1,"id":1,"method":"status","params":{"x":"' + b"a" * (2 * 1024 * 1024) + b'"}}\n'
    try:
        s.sendall(big)
    except (BrokenPipeError, ConnectionResetError):
        pass
    line, rest = read_line(s)
    check(line is not None, "no reply to an oversized line")
    rep = json.loads(line)
    check(rep["error"]["code"] == "LINE_TOO_LONG", "oversize: %r" % rep)
    try:
        end, _ = read_line(s, rest)
    except ConnectionResetError:
        end = None
    check(end is None, "connection not closed after an oversized line")
    s.close()

    # one byte at a time
    s = d.connect()
    for b in request("status", id=42):
        s.send(bytes([b]))
        time.sleep(0.001)
    line, _ = read_line(s)
    rep = json.loads(line)
    check(rep["id"] == 42 and "result" in rep, "byte at a time: %r" % rep)
    s.close()

    # a partial line that never ends does not block anyone else
    stuck = d.connect()
    stuck.sendall(b'{"v":1,"id":1,"method":"sta')
    d.ctl("status")

    # 20 concurrent clients, each running dagctl commands
    errors = []

    def client(i):
        try:
            for _ in range(3):
                p = subprocess.run([DAGCTL, "--socket", d.sock, "--json", "status"],
                                   capture_output=True, text=True, timeout=60)
                if p.returncode != 0:
                    errors.append("status %d: %s" % (i, p.stderr))
            p = subprocess.run([DAGCTL, "--socket", d.sock, "--json", "run", "noop", "--wait"],
                               capture_output=True, text=True, timeout=60)
            if p.returncode != 0:
                errors.append("run %d: %s %s" % (i, p.stdout, p.stderr))
        except Exception as e:  # noqa: BLE001
            errors.append("client %d: %r" % (i, e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, "concurrent clients: %s" % errors[:3])
    with d.db() as c:
        n = c.execute("SELECT count(*) FROM runs WHERE pipeline='noop' AND status='succeeded'").fetchone()[0]
    check(n == 20, "20 runs succeeded, got %d" % n)

    # a client that goes away during run --wait: the run goes on and ends
    s = d.connect()
    s.sendall(request("run", {"pipeline": "chain", "wait": True}, id=1))
    line, _ = read_line(s)
    ev = json.loads(line)
    check(ev.get("event", {}).get("kind") == "accepted", "accepted event: %r" % ev)
    run_id = ev["event"]["run_id"]
    s.close()
    row = d.wait_run(run_id)
    check(row["status"] == "succeeded", "run after the client left: %r" % dict(row))
    d.ctl("status")

    # idle clients are closed after the idle timeout (2 s here)...
    idle = d.connect()
    idle.settimeout(10)
    t0 = time.monotonic()
    try:
        data = idle.recv(100)
    except ConnectionResetError:
        data = b""
    check(data == b"", "idle client got data: %r" % data)
    check(time.monotonic() - t0 < 8, "idle client not closed in time")
    # ...but a client waiting for a long run is not idle
    s = d.connect()
    s.settimeout(15)
    s.sendall(request("run", {"pipeline": "slow", "wait": True}, id=1))
    line, rest = read_line(s)
    run_id = json.loads(line)["event"]["run_id"]
    time.sleep(3)
    d.ctl("cancel", run_id)
    done = None
    while True:
        line, rest = read_line(s, rest)
        check(line is not None, "waiting client dropped while its run was going on")
        msg = json.loads(line)
        if "result" in msg:
            done = msg["result"]
            break
    check(done["status"] == "canceled", "wait result: %r" % done)
    s.close()
    stuck.close()

    # another uid: refused. Through the file mode first (0660, connect fails)...
    def as_nobody():
        os.setgid(65534)
        os.setgroups([])
        os.setuid(65534)

    check(oct(os.stat(d.sock).st_mode & 0o777) == "0o660", "socket mode %o" % os.stat(d.sock).st_mode)
    p = d.ctl("status", check_rc=3, preexec_fn=as_nobody)
    # ...and by the peer credentials check when the file mode would let it in.
    os.chmod(d.sock, 0o666)
    p = d.ctl("status", check_rc=1, preexec_fn=as_nobody)
    check("PERMISSION_DENIED" in p.stderr, "peer check: " + p.stderr)
    os.chmod(d.sock, 0o660)
    d.ctl("status")

    check(d.proc.poll() is None, "daemon died:\n" + d.logtext())
    check(d.stop() == 0, "SIGTERM exit status")

# a socket path longer than sun_path is refused, not truncated
with Daemon({}, start=False) as d:
    longdir = os.path.join(d.tmp, "x" * 120)
    os.makedirs(longdir)
    d.sock = os.path.join(longdir, "dagd.sock")
    proc = d.start(wait=False)
    rc = proc.wait(20)
    check(rc != 0, "a too long socket path was accepted")
    check("too long" in d.logtext(), "log: " + d.logtext())
    check(not any(n.startswith("dagd.s") for n in os.listdir(longdir)), "no truncated socket")

print("ok")
