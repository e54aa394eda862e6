#!/usr/bin/env python3
"""systemd integration of dagd serve: sd_notify through a fake
NOTIFY_SOCKET (READY=1, STATUS=, WATCHDOG=1, STOPPING=1), socket activation
with systemd-socket-activate, graceful SIGTERM (a running step finishes
within the grace period, the rest is canceled and recorded), kill -9 during a
run followed by a restart (no run stays running), and the unit files
(systemd-analyze verify, security --offline=true <= 2.0)."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from dagdtest import (BUILD, DAGCTL, DAGD, NOOP, SLOW, SOURCE, Daemon, call, check, fail,
                       need_test_plugins, wait_for)

need_test_plugins("noop", "sleep")

SHORT = """pipeline: short
steps:
  - name: nap
    task: sleep
    config: {ms: 1500}
  - name: after
    task: noop
    needs: [nap]
"""

# ---- sd_notify ----
tmp = tempfile.mkdtemp(prefix="dagd-notify-")
try:
    nsock_path = os.path.join(tmp, "notify.sock")
    nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    nsock.bind(nsock_path)
    nsock.settimeout(10)
    messages = []

    def recv_until(pred, timeout=10):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(pred(m) for m in messages):
                return
            try:
                data = nsock.recv(4096).decode()
            except socket.timeout:
                break
            messages.extend(data.split("\n"))
        fail("notify: wanted message not received, got %r" % messages)

    with Daemon({"noop": NOOP},
                env={"NOTIFY_SOCKET": nsock_path, "WATCHDOG_USEC": "200000"}) as d:
        recv_until(lambda m: m == "READY=1")
        check(os.path.exists(d.sock), "READY=1 before the socket exists")
        recv_until(lambda m: m.startswith("STATUS=") and "pipelines" in m)
        n_before = sum(1 for m in messages if m == "WATCHDOG=1")
        recv_until(lambda m: sum(1 for x in messages if x == "WATCHDOG=1") >= n_before + 3, 5)
        d.proc.send_signal(signal.SIGTERM)
        recv_until(lambda m: m == "STOPPING=1")
        check(d.proc.wait(20) == 0, "exit status after SIGTERM")
    nsock.close()
finally:
    shutil.rmtree(tmp, ignore_errors=True)

# ---- socket activation ----
activate = shutil.which("systemd-socket-activate")
if activate is None:
    print("SKIP part: systemd-socket-activate missing")
else:
    with Daemon({"noop": NOOP}, start=False) as d:
        cmd = [activate, "-l", d.sock] + d.command()
        d.logf = open(d.log, "a")
        d.proc = subprocess.Popen(cmd, stdout=d.logf, stderr=d.logf, env=d.env, cwd=d.tmp)
        wait_for(lambda: os.path.exists(d.sock), 10, "systemd-socket-activate socket")
        # Nothing runs dagd until the first connection.
        check("dagd serve ready" not in d.logtext(), "dagd started before the first connection")
        p = d.ctl("status", json_out=True)
        check(p.json["pipelines"] == 1, "status through the activated socket: %r" % p.json)
        check("socket passed by systemd" in d.logtext(), "log: " + d.logtext())
        rid = d.ctl("run", "noop", "--wait", json_out=True).json
        check(rid["status"] == "succeeded", "run through the activated socket")
        check(d.stop() == 0, "activated dagd exit status")

# ---- graceful SIGTERM: the running step finishes, the run is recorded ----
with Daemon({"short": SHORT, "slow": SLOW},
            config="shutdown_grace: 10s\n") as d:
    rid = d.ctl("run", "short").stdout.strip()
    wait_for(lambda: (d.run_row(rid) or {"status": ""})["status"] == "running", 10, "run started")
    early = d.connect()  # connected before SIGTERM
    check("result" in call(early, "status"), "status before SIGTERM")
    d.proc.send_signal(signal.SIGTERM)
    # the socket stops accepting (its file goes away)...
    wait_for(lambda: not os.path.exists(d.sock), 10, "the socket to close")
    d.ctl("status", check_rc=3)
    # ...and a client connected before is refused new work
    rep = call(early, "run", {"pipeline": "short"}, id=2)
    check(rep.get("error", {}).get("code") == "SHUTTING_DOWN", "run while stopping: %r" % rep)
    early.close()
    check(d.proc.wait(30) == 0, "exit status after SIGTERM:\n" + d.logtext())
    with d.db() as c:
        row = c.execute("SELECT status FROM runs WHERE run_id = ?", (rid,)).fetchone()
        steps = {r["step"]: r["status"] for r in
                 c.execute("SELECT step, status FROM steps WHERE run_id = ?", (rid,))}
        running = c.execute("SELECT count(*) FROM runs WHERE status IN ('running','queued')").fetchone()[0]
    check(steps.get("nap") == "succeeded", "the running step finished in the grace: %r" % steps)
    check(row["status"] in ("succeeded", "canceled", "failed"), "run recorded: %r" % row["status"])
    check(running == 0, "no run left running after SIGTERM")

# a step longer than the grace is canceled and recorded
# (and a client waiting on it gets the end of the run, not a dropped connection)
with Daemon({"slow": SLOW}, config="shutdown_grace: 1s\n") as d:
    waiter = subprocess.Popen([DAGCTL, "--socket", d.sock, "--json", "run", "slow", "--wait"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = waiter.stdout.readline()
    rid = json.loads(first)["run_id"]
    wait_for(lambda: (d.run_row(rid) or {"status": ""})["status"] == "running", 10, "run started")
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    check(d.proc.wait(30) == 0, "exit status after SIGTERM:\n" + d.logtext())
    check(time.monotonic() - t0 < 20, "shutdown took too long")
    row = d.run_row(rid)
    check(row["status"] in ("canceled", "failed"), "long run after SIGTERM: %r" % row["status"])
    out, err = waiter.communicate(timeout=30)
    last = json.loads(out.strip().splitlines()[-1])
    check(waiter.returncode == 1 and last.get("status") == row["status"],
          "waiting client: rc %d, %r %s" % (waiter.returncode, last, err))

# ---- kill -9 during a run, then restart: no run stays running ----
with Daemon({"slow": SLOW}) as d:
    rid = d.ctl("run", "slow").stdout.strip()
    wait_for(lambda: (d.run_row(rid) or {"status": ""})["status"] == "running", 10, "run started")
    d.proc.kill()
    d.proc.wait()
    check(d.run_row(rid)["status"] == "running", "precondition: the run looks running")
    t0 = time.monotonic()
    d.start(wait=False)
    row = d.wait_run(rid, statuses=("failed",), timeout=10)
    check(time.monotonic() - t0 < 5, "orphans fixed late")
    check(row["error"], "orphan has a reason")
    d.wait_ready()
    show = d.ctl("show", rid, json_out=True).json
    check(show["run"]["status"] == "failed", "show after restart: %r" % show["run"])
    check(all(s["status"] != "running" for s in show["steps"]), "steps: %r" % show["steps"])
    check(d.stop() == 0, "exit status")

# ---- unit files ----
analyze = shutil.which("systemd-analyze")
if analyze is None:
    print("SKIP part: systemd-analyze missing")
else:
    service = os.path.join(BUILD, "systemd", "dagd.service")
    sock = os.path.join(SOURCE, "systemd", "dagd.socket")
    tmp = tempfile.mkdtemp(prefix="dagd-units-")
    try:
        # verify wants the ExecStart binary to exist: point it at the build.
        with open(service) as f:
            text = re.sub(r"ExecStart=\S+/dagd ", "ExecStart=%s " % DAGD, f.read())
        with open(os.path.join(tmp, "dagd.service"), "w") as f:
            f.write(text)
        shutil.copy(sock, tmp)
        p = subprocess.run([analyze, "verify", os.path.join(tmp, "dagd.service"),
                            os.path.join(tmp, "dagd.socket")], capture_output=True, text=True)
        check(p.returncode == 0 and "dagd" not in p.stderr,
              "systemd-analyze verify: %s %s" % (p.stdout, p.stderr))
        p = subprocess.run([analyze, "security", "--offline=true", service],
                           capture_output=True, text=True)
        m = re.search(r"Overall exposure level for dagd.service: ([0-9.]+)", p.stdout + p.stderr)
        check(m is not None, "security output: %s %s" % (p.stdout[-500:], p.stderr))
        score = float(m.group(1))
        print("systemd-analyze security: %.1f" % score)
        check(score <= 2.0, "exposure %.1f > 2.0" % score)
        with open(service) as f:
            text = f.read()
        for key in ("Type=notify", "StateDirectory=dagd", "RuntimeDirectory=dagd",
                    "Restart=on-failure", "WatchdogSec="):
            check(key in text, "dagd.service lacks " + key)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

print("ok")
