#!/usr/bin/env python3
"""Pilot mode without Slurm (issue 14, docs/slurm.md "Pilot mode"): dagd
serve with `slurm: sbatch:` pointing at a stand-in that starts the --wrap
command (`dagd-worker --pilot ...`) in the background and prints its pid as
the job id (`scancel`: kill). Everything else is real: the daemon's pilot
listener and authentication, the pilots, the attempts they fork.

  - a fan-out of 30 noop steps and a command step in pilot mode, joined by a
    local step: each recorded once, succeeded, output relayed;
  - a pilot killed with SIGKILL mid-step: its attempt is retried on a new
    allocation (retries: 0, so the retry is the lost pilot's, not the
    step's), the step is recorded once, succeeded at attempt 2;
  - dagctl cancel of a running pilot step: the attempt's process is gone,
    the run canceled;
  - pilots idle for `idle` are released (their process exits);
  - hostile connections to the pilot port (wrong secret, garbage, a huge
    line) are refused with a log line; the daemon keeps running steps;
  - dagd serve stopped (SIGTERM) while a pilot step runs: after the
    shutdown grace the step is recorded canceled, its process and every
    pilot end."""
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dagdtest import Daemon, check, eq, need_test_plugins, run_main, wait_for  # noqa: E402
from dagdtest.fakewiki import free_port  # noqa: E402

FAN = """pipeline: fan
defaults:
  executor: slurm
  slurm: {mode: pilot}
steps:
  - name: start
    task: command
    config: {argv: [sh, -c, "echo hello from the pilot"]}
""" + "".join("  - {name: n%d, task: noop, needs: [start]}\n" % i for i in range(30)) + """\
  - name: join
    task: noop
    executor: local
    needs: [%s]
""" % ", ".join("n%d" % i for i in range(30))

NAP = """pipeline: nap
steps:
  - name: nap
    task: sleep
    executor: slurm
    slurm: {mode: pilot}
    config: {ms: 4000}
"""

MANY = """pipeline: many
defaults:
  executor: slurm
  slurm: {mode: pilot}
steps:
""" + "".join("  - {name: m%d, task: sleep, config: {ms: 20}}\n" % i for i in range(100))

LONG = """pipeline: long
steps:
  - name: wait
    task: sleep
    executor: slurm
    slurm: {mode: pilot}
    config: {ms: 60000}
  - {name: after, task: noop, needs: [wait]}
"""

SBATCH = """#!/bin/sh
# stands in for sbatch: runs --wrap in the background, its pid is the job id
for a in "$@"; do case "$a" in
  --wrap=*) wrap="${a#--wrap=}";; --output=*) out="${a#--output=}";;
esac; done
sh -c "$wrap" >>"$out" 2>&1 </dev/null &
echo $! >>"%(dir)s/pids"
echo $!
"""

SCANCEL = """#!/bin/sh
kill "$1" 2>/dev/null
exit 0
"""


def steps(d, run_id):
    with d.db() as c:
        return {r["step"]: dict(r) for r in
                c.execute("SELECT * FROM steps WHERE run_id = ?", (run_id,))}


def events(d, run_id, step=None):
    with d.db() as c:
        q = "SELECT * FROM events WHERE run_id = ?" + (" AND step = ?" if step else "")
        return [dict(r) for r in c.execute(q + " ORDER BY seq",
                                           (run_id, step) if step else (run_id,))]


def start(d, pipeline):
    return d.ctl("run", pipeline, "--force", json_out=True).json["run_id"]


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def pilots(tmp):
    try:
        with open(os.path.join(tmp, "pids")) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def runs_as(d, run_id, step):
    """The 'runs as pilot ...' events of a step."""
    return [e["message"] for e in events(d, run_id, step) if "runs as pilot " in e["message"]]


def test_fan(d, tmp):
    run_id = start(d, "fan")
    row = d.wait_run(run_id, timeout=60)
    st = steps(d, run_id)
    eq(row["status"], "succeeded", "fan run (steps: %r)" % st)
    for name in st:
        eq(st[name]["status"], "succeeded", "step " + name)
        eq(st[name]["attempts"], 1, "attempts of " + name)
    out = [e["message"] for e in events(d, run_id, "start") if e["kind"] == "stdout"]
    eq(out, ["hello from the pilot"], "the step's stdout came back")
    eq(len(runs_as(d, run_id, "n7")), 1, "n7 ran in a pilot")
    eq(runs_as(d, run_id, "join"), [], "join ran locally")
    check(1 <= len(pilots(tmp)) <= 2, "at most max (2) pilots: %r" % pilots(tmp))


def test_pilot_killed(d, tmp):
    run_id = start(d, "nap")
    wait_for(lambda: runs_as(d, run_id, "nap"), 30, "nap to start in a pilot")
    alloc = runs_as(d, run_id, "nap")[0].split("runs as pilot ")[1].split()[0]
    # the pilot that holds it: the one whose command line names its
    # allocation (the stand-in sbatch lists it just after starting it)
    def find():
        for pid in pilots(tmp):
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if alloc.encode() in f.read():
                        return pid
            except OSError:
                pass
        return None
    victim = wait_for(find, 10, "the pilot of allocation %s" % alloc)
    os.kill(victim, signal.SIGKILL)
    row = d.wait_run(run_id, timeout=60)
    st = steps(d, run_id)
    eq(row["status"], "succeeded", "run after the pilot was lost (steps %r)" % st)
    eq(st["nap"]["attempts"], 2, "attempts: the lost one and its retry")
    retries = [e["message"] for e in events(d, run_id, "nap") if e["kind"] == "retry"]
    eq(len(retries), 1, "one retry event")
    check("was lost" in retries[0], "the retry says the pilot was lost: %r" % retries)
    check("Lost pilot allocation %s" % alloc in d.logtext(), "the daemon logged the loss")
    allocs = [m.split("runs as pilot ")[1].split()[0] for m in runs_as(d, run_id, "nap")]
    eq(len(allocs), 2, "two attempts, each in a pilot: %r" % allocs)
    check(allocs[1] != alloc, "the retry ran elsewhere: %r" % allocs)
    with d.db() as c:
        n = c.execute("SELECT count(*) FROM steps WHERE run_id = ?", (run_id,)).fetchone()[0]
    eq(n, 1, "the step is recorded once")


def test_kill_mid_fan(d, tmp):
    """A pilot killed while a 100-step fan-out runs through two: every
    step succeeds once; the lost attempts (at most its 2 slots) are retried
    and each retry is one more attempt of that step, nothing else."""
    run_id = start(d, "many")
    wait_for(lambda: sum(1 for s in steps(d, run_id).values() if s["status"] == "succeeded") >= 20,
             30, "20 steps done")
    live = wait_for(lambda: [p for p in pilots(tmp) if alive(p)], 10, "a live pilot")
    os.kill(live[0], signal.SIGKILL)
    row = d.wait_run(run_id, timeout=60)
    st = steps(d, run_id)
    eq(row["status"], "succeeded", "run (failed: %r)" % [s for s in st.values()
                                                          if s["status"] != "succeeded"])
    eq(len(st), 100, "100 step rows")
    retries = [e for e in events(d, run_id) if e["kind"] == "retry"]
    extra = sum(s["attempts"] - 1 for s in st.values())
    eq(extra, len(retries), "one retry event per extra attempt")
    check(extra <= 2, "only the killed pilot's attempts were retried: %d" % extra)
    for e in retries:
        check("was lost" in e["message"], "a retry because of the loss: %r" % e["message"])


def test_cancel(d, tmp):
    run_id = start(d, "long")
    wait_for(lambda: runs_as(d, run_id, "wait"), 30, "wait to start in a pilot")
    pid = int(runs_as(d, run_id, "wait")[0].rsplit("pid ", 1)[1])
    check(alive(pid), "the attempt's process runs")
    d.ctl("cancel", run_id)
    row = d.wait_run(run_id, timeout=30)
    eq(row["status"], "canceled", "canceled run")
    st = steps(d, run_id)
    eq(st["wait"]["status"], "canceled", "running step")
    eq(st["after"]["status"], "canceled", "pending step")
    wait_for(lambda: not alive(pid), 10, "the attempt's process to end")


def test_idle_release(d, tmp):
    wait_for(lambda: not any(alive(p) for p in pilots(tmp)), 30, "idle pilots to exit")
    check("Releasing pilot allocation" in d.logtext(), "the daemon logged the release")


def test_hostile(d, tmp, port):
    bad = [b'{"v":1,"t":"hello","alloc":"a1-00000000","secret":"' + b"0" * 64 +
           b'","slots":1}\n', b"\x00\x01garbage\n", b"x" * 100000]
    for payload in bad:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        try:
            s.sendall(payload)
        except OSError:
            pass
        try:
            eq(s.recv(100), b"", "refused: the daemon closed the connection")
        except ConnectionResetError:
            pass
        s.close()
    log = d.logtext()
    check("Refused a pilot connection from 127.0.0.1" in log and "wrong allocation or secret" in log,
          "refusals logged")
    check("first line too long" in log, "the huge line was refused")
    run_id = start(d, "nap")
    eq(d.wait_run(run_id, timeout=60)["status"], "succeeded", "the daemon still runs pilot steps")


def main():
    need_test_plugins("noop", "sleep")
    port = free_port()
    d = Daemon(pipelines={"fan": FAN, "nap": NAP, "long": LONG, "many": MANY}, start=False)
    tmp = d.tmp
    for name, text in (("sbatch", SBATCH % {"dir": tmp}), ("scancel", SCANCEL)):
        p = os.path.join(tmp, name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, 0o755)
    d.config = os.path.join(tmp, "dagd.yaml")
    with open(d.config, "w") as f:
        f.write("""slurm:
  sbatch: %(tmp)s/sbatch
  scancel: %(tmp)s/scancel
  pilot:
    listen: 127.0.0.1:%(port)d
    max: 2
    cpus: 2
    idle: 2s
    heartbeat: 500ms
shutdown_grace: 1s
""" % {"tmp": tmp, "port": port})
    with d:
        d.start()
        for t in (test_fan, test_pilot_killed, test_kill_mid_fan, test_cancel,
                  test_idle_release):
            t0 = time.monotonic()
            t(d, tmp)
            print("%s ok (%.1fs)" % (t.__name__, time.monotonic() - t0))
        test_hostile(d, tmp, port)
        print("test_hostile ok")
        run_id = start(d, "long")
        wait_for(lambda: runs_as(d, run_id, "wait"), 30, "wait to start in a pilot")
        pid = int(runs_as(d, run_id, "wait")[0].rsplit("pid ", 1)[1])
        d.stop()
        st = steps(d, run_id)["wait"]
        eq(st["status"], "canceled", "the running pilot step at shutdown: %r\n%s" % (st, d.logtext()[-3000:]))
        wait_for(lambda: not alive(pid), 10, "the attempt's process to end with dagd")
    wait_for(lambda: not any(alive(p) for p in pilots(tmp)), 15, "every pilot to end with dagd")
    print("test_shutdown ok")
    return 0


if __name__ == "__main__":
    run_main(main)
