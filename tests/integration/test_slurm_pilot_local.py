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
  - retries: and timeout: of pilot steps; a lost attempt is not counted
    against retries:;
  - dagd gone silent (SIGSTOP): its pilots stop their attempts and exit;
  - dagctl cancel of a running pilot step: the attempt's process is gone,
    the run canceled;
  - pilots idle for `idle` are released (their process exits);
  - hostile connections to the pilot port (wrong secret, garbage, a huge
    line) are refused with a log line; the daemon keeps running steps;
  - dagd serve stopped (SIGTERM) while a pilot step runs: after the
    shutdown grace the step is recorded canceled, its process and every
    pilot end;
  - dagd serve SIGKILLed mid-step and started again: the step runs again
    as attempt 2, once; the dead daemon's allocations (a queued one too,
    also with no pilot step to resume) are scanceled."""
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dagdtest import Daemon, alive, check, eq, need_test_plugins, run_main, wait_for  # noqa: E402
from dagdtest.fakewiki import free_port  # noqa: E402
from dagdtest.slurm import runs_as  # noqa: E402

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

WIDE = """pipeline: wide
steps:
  - {name: w, task: noop, executor: slurm, slurm: {mode: pilot, cpus: 2}}
"""

RESTART = """pipeline: restart
steps:
  - name: nap
    task: sleep
    executor: slurm
    slurm: {mode: pilot}
    config: {ms: 3000}
  - {name: after, task: noop, needs: [nap]}
"""

RETRY = """pipeline: retry
defaults:
  executor: slurm
  slurm: {mode: pilot}
steps:
  - {name: flaky, task: flaky, retries: 2, retry_delay: 100ms, config: {failures: 2}}
  - {name: slow, task: sleep, timeout: 2s, config: {ms: 60000}}
"""

LOSTRETRY = """pipeline: lostretry
steps:
  - name: once
    task: command
    executor: slurm
    slurm: {mode: pilot}
    retries: 1
    retry_delay: 100ms
    config:
      argv: [sh, -c, "cd %(tmp)s; if [ ! -e mark1 ]; then touch mark1; exec sleep 30;
                      elif [ ! -e mark2 ]; then touch mark2; exit 3; fi"]
"""

SILENT = """pipeline: silent
steps:
  - name: hush
    task: command
    executor: slurm
    slurm: {mode: pilot}
    config:
      argv: [sh, -c, "cd %(tmp)s; if [ ! -e silent1 ]; then touch silent1; exec sleep 30; fi"]
"""

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
# stands in for sbatch: runs --wrap in the background, its pid is the job id;
# while DIR/hold exists, the job stays "queued" (never started) with an id
# no process has
for a in "$@"; do case "$a" in
  --wrap=*) wrap="${a#--wrap=}";; --output=*) out="${a#--output=}";;
esac; done
if [ -e "%(dir)s/hold" ]; then
  echo x >>"%(dir)s/held.n"
  id=$((900000000 + $(wc -l <"%(dir)s/held.n")))
  echo $id >>"%(dir)s/held"
  echo $id
  exit 0
fi
sh -c "$wrap" >>"$out" 2>&1 </dev/null &
echo $! >>"%(dir)s/pids"
echo $!
"""

SCANCEL = """#!/bin/sh
echo "$@" >>"%(dir)s/scanceled"
for j in "$@"; do kill "$j" 2>/dev/null; done
exit 0
"""


def pilots(tmp):
    try:
        with open(os.path.join(tmp, "pids")) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def test_fan(d, tmp):
    run_id = d.start_run("fan")
    row = d.wait_run(run_id, timeout=60)
    st = d.steps(run_id)
    eq(row["status"], "succeeded", "fan run (steps: %r)" % st)
    for name in st:
        eq(st[name]["status"], "succeeded", "step " + name)
        eq(st[name]["attempts"], 1, "attempts of " + name)
    out = [e["message"] for e in d.events(run_id, "start") if e["kind"] == "stdout"]
    eq(out, ["hello from the pilot"], "the step's stdout came back")
    eq(len(runs_as(d, run_id, "n7")), 1, "n7 ran in a pilot")
    eq(runs_as(d, run_id, "join"), [], "join ran locally")
    check(1 <= len(pilots(tmp)) <= 2, "at most max (2) pilots: %r" % pilots(tmp))


def kill_pilot_of(d, run_id, step, tmp):
    """SIGKILL the pilot running the step's (last) attempt; its allocation."""
    alloc = runs_as(d, run_id, step)[-1].split("runs as pilot ")[1].split()[0]
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
    return alloc


def test_retry_timeout(d, tmp):
    """retries: and timeout: of pilot steps, as for local ones: flaky fails
    twice and succeeds at attempt 3; a step over its timeout is stopped in
    its pilot (its process ends) and fails 'timed out after 2s'."""
    run_id = d.start_run("retry")
    wait_for(lambda: runs_as(d, run_id, "slow"), 30, "slow to start in a pilot")
    pid = int(runs_as(d, run_id, "slow")[0].rsplit("pid ", 1)[1])
    row = d.wait_run(run_id, timeout=60)
    st = d.steps(run_id)
    eq(row["status"], "failed", "run with a timed-out step")
    eq(st["flaky"]["status"], "succeeded", "flaky after retries")
    eq(st["flaky"]["attempts"], 3, "flaky's attempts")
    eq(len(runs_as(d, run_id, "flaky")), 3, "each attempt in a pilot")
    retries = [e["message"] for e in d.events(run_id, "flaky") if e["kind"] == "retry"]
    eq(len(retries), 2, "retry events: %r" % retries)
    check("flaky failure 1 of 2" in retries[0], "the retry names the failure: %r" % retries)
    eq(st["slow"]["status"], "failed", "slow step")
    eq(st["slow"]["attempts"], 1, "slow's attempts")
    eq(st["slow"]["error"], "timed out after 2s", "timeout error")
    wait_for(lambda: not alive(pid), 10, "the timed-out attempt's process to end")


def test_lost_not_counted(d, tmp):
    """A lost attempt is retried apart from `retries:`: with retries: 1, the
    attempt lost with its pilot, then one that fails (exit 3), then one
    that succeeds."""
    run_id = d.start_run("lostretry")
    wait_for(lambda: os.path.exists(os.path.join(tmp, "mark1")), 30, "attempt 1 to run")
    kill_pilot_of(d, run_id, "once", tmp)
    row = d.wait_run(run_id, timeout=60)
    st = d.steps(run_id)
    eq(row["status"], "succeeded", "run (steps %r)" % st)
    eq(st["once"]["attempts"], 3, "attempts: lost, failed, succeeded")
    retries = [e["message"] for e in d.events(run_id, "once") if e["kind"] == "retry"]
    eq(len(retries), 2, "two retry events: %r" % retries)
    check("was lost" in retries[0],
          "the first names the loss: %r" % retries)
    check("was lost" not in retries[1], "the second is the step's own failure: %r" % retries)


def test_daemon_silent(d, tmp):
    """dagd stopped (SIGSTOP: a daemon silent without closing its
    connections, as when its machine dies or the network splits) while a
    pilot step runs: its pilots hear no heartbeat for 2.5 intervals, kill
    their attempts and exit, so nothing runs on when dagd retries it
    elsewhere; continued, dagd counts the pilot lost and the step runs
    again, recorded once."""
    run_id = d.start_run("silent")
    wait_for(lambda: runs_as(d, run_id, "hush"), 30, "hush to start in a pilot")
    pid = int(runs_as(d, run_id, "hush")[0].rsplit("pid ", 1)[1])
    live = [p for p in pilots(tmp) if alive(p)]
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGSTOP)
    try:
        wait_for(lambda: not alive(pid), 10, "the attempt's process to end while dagd is silent")
        wait_for(lambda: not any(alive(p) for p in live), 5, "the pilots to exit")
        took = time.monotonic() - t0
    finally:
        d.proc.send_signal(signal.SIGCONT)
    check(took < 5, "the pilots gave up after about 2.5 heartbeats (2.5 s): %.1f s" % took)
    row = d.wait_run(run_id, timeout=60)
    st = d.steps(run_id)
    eq(row["status"], "succeeded", "the run (steps %r)" % st)
    eq(st["hush"]["attempts"], 2, "attempts: the lost one and its retry")
    retries = [e["message"] for e in d.events(run_id, "hush") if e["kind"] == "retry"]
    check(len(retries) == 1 and "was lost" in retries[0], "one retry, the loss: %r" % retries)
    check("heard nothing from the daemon" in open(os.path.join(d.state, "pilots",
          runs_as(d, run_id, "hush")[0].split("runs as pilot ")[1].split()[0] + ".log")).read(),
          "the pilot's log says why it ended")


def test_pilot_killed(d, tmp):
    run_id = d.start_run("nap")
    wait_for(lambda: runs_as(d, run_id, "nap"), 30, "nap to start in a pilot")
    alloc = kill_pilot_of(d, run_id, "nap", tmp)
    row = d.wait_run(run_id, timeout=60)
    st = d.steps(run_id)
    eq(row["status"], "succeeded", "run after the pilot was lost (steps %r)" % st)
    eq(st["nap"]["attempts"], 2, "attempts: the lost one and its retry")
    retries = [e["message"] for e in d.events(run_id, "nap") if e["kind"] == "retry"]
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
    run_id = d.start_run("many")
    wait_for(lambda: sum(1 for s in d.steps(run_id).values() if s["status"] == "succeeded") >= 20,
             30, "20 steps done")
    live = wait_for(lambda: [p for p in pilots(tmp) if alive(p)], 10, "a live pilot")
    os.kill(live[0], signal.SIGKILL)
    row = d.wait_run(run_id, timeout=60)
    st = d.steps(run_id)
    eq(row["status"], "succeeded", "run (failed: %r)" % [s for s in st.values()
                                                          if s["status"] != "succeeded"])
    eq(len(st), 100, "100 step rows")
    retries = [e for e in d.events(run_id) if e["kind"] == "retry"]
    extra = sum(s["attempts"] - 1 for s in st.values())
    eq(extra, len(retries), "one retry event per extra attempt")
    check(extra <= 2, "only the killed pilot's attempts were retried: %d" % extra)
    for e in retries:
        check("was lost" in e["message"], "a retry because of the loss: %r" % e["message"])


def test_cancel(d, tmp):
    run_id = d.start_run("long")
    wait_for(lambda: runs_as(d, run_id, "wait"), 30, "wait to start in a pilot")
    pid = int(runs_as(d, run_id, "wait")[0].rsplit("pid ", 1)[1])
    check(alive(pid), "the attempt's process runs")
    d.ctl("cancel", run_id)
    row = d.wait_run(run_id, timeout=30)
    eq(row["status"], "canceled", "canceled run")
    st = d.steps(run_id)
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
    run_id = d.start_run("nap")
    eq(d.wait_run(run_id, timeout=60)["status"], "succeeded", "the daemon still runs pilot steps")


def test_restart(d, tmp):
    """dagd serve SIGKILLed while a pilot step runs: the pilot, its
    connection gone, kills the attempt and exits; the restarted daemon
    resumes the run (a pilot is not adopted) and runs the step again as
    attempt 2 in a new allocation; the step is recorded once, the lost
    attempt never as a success, and the step after it runs."""
    run_id = d.start_run("restart")
    wait_for(lambda: runs_as(d, run_id, "nap"), 30, "nap to start in a pilot")
    pid = int(runs_as(d, run_id, "nap")[0].rsplit("pid ", 1)[1])
    before = set(pilots(tmp))
    # an allocation still queued in Slurm when dagd dies: a step of 2 slots
    # does not fit next to nap, and the stand-in sbatch holds the new job
    hold = os.path.join(tmp, "hold")
    open(hold, "w").close()
    d.start_run("wide")
    held = wait_for(lambda: open(os.path.join(tmp, "held")).read().split()
                    if os.path.exists(os.path.join(tmp, "held")) else None, 30, "a queued allocation")
    pdir = os.path.join(d.state, "pilots")
    wait_for(lambda: any(open(os.path.join(pdir, f)).read().startswith(held[0] + " ")
                         for f in os.listdir(pdir) if f.endswith(".job")),
             10, "the queued allocation's job file")
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    os.unlink(hold)
    stale = sorted(f for f in os.listdir(pdir) if f.endswith((".job", ".secret")))
    wait_for(lambda: not alive(pid), 10, "the attempt's process to end with its pilot's connection")
    wait_for(lambda: not any(alive(p) for p in before), 10, "the dead daemon's pilots to exit")
    d.start()
    row = d.wait_run(run_id, timeout=60)
    st = d.steps(run_id)
    ev = d.events(run_id)
    eq(row["status"], "succeeded", "the resumed run (steps %r)\n%s" % (st, d.logtext()[-3000:]))
    eq(st["nap"]["status"], "succeeded", "nap")
    eq(st["nap"]["attempts"], 2, "attempts of nap: the lost one and its run after the restart")
    eq(st["after"]["status"], "succeeded", "the step after it")
    eq(len(runs_as(d, run_id, "nap")), 2, "two attempts, each in a pilot")
    lost = [e["message"] for e in ev if e["step"] == "nap" and "lost with the daemon" in e["message"]]
    eq(len(lost), 1, "one event says attempt 1 was lost with the daemon: %r" % [e["message"] for e in ev])
    with d.db() as c:
        n = c.execute("SELECT count(*) FROM steps WHERE run_id = ? AND step = 'nap'",
                      (run_id,)).fetchone()[0]
    eq(n, 1, "the step is recorded once")
    # the dead daemon's allocations were scanceled (the queued one too) and
    # their files removed
    canceled = open(os.path.join(tmp, "scanceled")).read().split()
    check(held[0] in canceled, "the queued allocation %s scanceled: %r" % (held[0], canceled))
    left = [f for f in stale if os.path.exists(os.path.join(pdir, f))]
    eq(left, [], "the dead daemon's secret and job files")
    check("of a daemon that died" in d.logtext(), "the daemon logged the cancel")


def test_restart_queued(d, tmp):
    """dagd serve SIGKILLed with only an allocation queued in Slurm (the
    run that asked for it canceled): the next daemon, which has no pilot
    step to resume, scancels it as it starts."""
    wait_for(lambda: not any(alive(p) for p in pilots(tmp)), 30, "idle pilots to exit")
    hold = os.path.join(tmp, "hold")
    open(hold, "w").close()
    old = set(open(os.path.join(tmp, "held")).read().split())
    run_id = d.start_run("wide")
    held = wait_for(lambda: [i for i in open(os.path.join(tmp, "held")).read().split()
                             if i not in old], 30, "a queued allocation")[0]
    pdir = os.path.join(d.state, "pilots")
    wait_for(lambda: any(open(os.path.join(pdir, f)).read().startswith(held + " ")
                         for f in os.listdir(pdir) if f.endswith(".job")),
             10, "the queued allocation's job file")
    d.ctl("cancel", run_id)
    eq(d.wait_run(run_id, timeout=30)["status"], "canceled", "the run that asked for it")
    stale = [f for f in os.listdir(pdir) if f.endswith((".job", ".secret"))]
    check(stale, "the queued allocation's files are there")
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait()
    os.unlink(hold)
    d.start()
    wait_for(lambda: held in open(os.path.join(tmp, "scanceled")).read().split(), 10,
             "the queued allocation %s to be scanceled" % held)
    eq([f for f in stale if os.path.exists(os.path.join(pdir, f))], [],
       "the dead daemon's pilot files")


def main():
    need_test_plugins("noop", "sleep", "flaky")
    port = free_port()
    d = Daemon(pipelines={"fan": FAN, "nap": NAP, "long": LONG, "many": MANY,
                          "restart": RESTART, "retry": RETRY,
                          "wide": WIDE}, start=False)
    tmp = d.tmp
    for name, text in (("lostretry", LOSTRETRY), ("silent", SILENT)):
        with open(os.path.join(d.pipes, name + ".yaml"), "w") as f:
            f.write(text % {"tmp": tmp})
    for name, text in (("sbatch", SBATCH % {"dir": tmp}), ("scancel", SCANCEL % {"dir": tmp})):
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
    heartbeat: 1s
shutdown_grace: 1s
""" % {"tmp": tmp, "port": port})
    with d:
        d.start()
        for t in (test_fan, test_pilot_killed, test_kill_mid_fan, test_retry_timeout,
                  test_lost_not_counted, test_daemon_silent, test_cancel, test_idle_release):
            t0 = time.monotonic()
            t(d, tmp)
            print("%s ok (%.1fs)" % (t.__name__, time.monotonic() - t0))
        test_hostile(d, tmp, port)
        print("test_hostile ok")
        t0 = time.monotonic()
        test_restart(d, tmp)
        print("test_restart ok (%.1fs)" % (time.monotonic() - t0))
        t0 = time.monotonic()
        test_restart_queued(d, tmp)
        print("test_restart_queued ok (%.1fs)" % (time.monotonic() - t0))
        run_id = d.start_run("long")
        wait_for(lambda: runs_as(d, run_id, "wait"), 30, "wait to start in a pilot")
        pid = int(runs_as(d, run_id, "wait")[0].rsplit("pid ", 1)[1])
        d.stop()
        st = d.steps(run_id)["wait"]
        eq(st["status"], "canceled", "the running pilot step at shutdown: %r\n%s" % (st, d.logtext()[-3000:]))
        wait_for(lambda: not alive(pid), 10, "the attempt's process to end with dagd")
    wait_for(lambda: not any(alive(p) for p in pilots(tmp)), 15, "every pilot to end with dagd")
    print("test_shutdown ok")
    return 0


if __name__ == "__main__":
    run_main(main)
