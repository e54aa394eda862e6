#!/usr/bin/env python3
"""The durable run queue (issue 12, docs/daemon.md "Runs, queue and limits"):
runs submitted by `dagctl run`, a schedule and a sensor that have to wait are
`queued` rows of state.db before `dagctl run` returns; a kill -9 of the daemon
loses none of them, and after the restart each starts exactly once, with its
params, in its lane's order. A SIGTERM keeps them queued as well."""
import json
import os
import signal

from dagdtest import Daemon, check, eq, need_test_plugins, wait_for

need_test_plugins("noop", "sleep")

BLOCK = """pipeline: block
steps:
  - {name: a, task: sleep, config: {ms: 30000}}
"""
WORK = """pipeline: work
params:
  tag: {default: none}
steps:
  - {name: a, task: noop}
"""
TICK = """pipeline: tick
schedules:
  - {name: every_second, cron: "* * * * * *", params: {tag: ticked}}
params:
  tag: {default: none}
steps:
  - {name: a, task: noop}
"""
DROP = """pipeline: drop
sensors:
  - name: landing
    watch: %s
    pattern: "*.csv"
    params: {file: "${sensor.path}"}
params:
  file: {default: none}
steps:
  - {name: a, task: noop}
"""
CONFIG = "shutdown_grace: 1s\nlimits:\n  max_concurrent_runs: 1\n"


def rows(d, ids):
    with d.db() as c:
        return {r["run_id"]: r for r in c.execute(
            "SELECT * FROM runs WHERE run_id IN (%s)" % ",".join("?" * len(ids)), ids)}


def running_events(d, run_id):
    with d.db() as c:
        return c.execute("SELECT count(*) FROM events WHERE run_id = ? AND kind = 'run' "
                         "AND message = 'run running'", (run_id,)).fetchone()[0]


def first_of(d, pipeline, trigger):
    with d.db() as c:
        r = c.execute("SELECT run_id FROM runs WHERE pipeline = ? AND trigger = ? AND "
                      "status = 'queued' ORDER BY created_at LIMIT 1",
                      (pipeline, trigger)).fetchone()
        return r[0] if r else None


def main():
    with Daemon({"block": BLOCK, "work": WORK}, config=CONFIG, start=False) as d:
        landing = os.path.join(d.tmp, "landing")
        os.makedirs(landing)
        d.write_pipeline("tick", TICK)
        d.write_pipeline("drop", DROP % json.dumps(landing))
        d.start()
        blocker = d.ctl("run", "block").stdout.strip()
        d.wait_run(blocker, ("running",))
        manual = [d.ctl("run", "work", "--force", "--param", "tag=m%d" % i).stdout.strip()
                  for i in range(5)]
        # Rows before the ids were handed out: queued, with the options to start them.
        got = rows(d, manual)
        eq(sorted(got), sorted(manual), "a queued row per submitted run")
        for i, run_id in enumerate(manual):
            r = got[run_id]
            eq(r["status"], "queued", "status of a waiting run")
            opts = json.loads(r["queue_options"])
            eq(opts.get("params"), ["tag=m%d" % i], "queue_options params")
            check(opts.get("force") is True, "queue_options force: %r" % opts)
            eq(json.loads(r["params"])["tag"], "m%d" % i, "the resolved params in the row")
        with open(os.path.join(landing, "a.csv"), "w") as f:
            f.write("x\n")
        sched = wait_for(lambda: first_of(d, "tick", "schedule"), 10, "a queued scheduled run")
        sensed = wait_for(lambda: first_of(d, "drop", "sensor"), 10, "a queued sensor run")
        listed = [r["run_id"] for r in d.ctl("runs", "--limit", "50", json_out=True).json["runs"]]
        eq(len(listed), len(set(listed)), "each queued run listed once")

        d.stop(signal.SIGKILL)
        d.start()
        waiting = manual + [sched, sensed]
        wait_for(lambda: all(r["status"] == "succeeded" for r in rows(d, waiting).values()),
                 60, "the queued runs to run after the restart")
        eq(d.run_row(blocker)["status"], "failed", "the running run is an orphan")
        for run_id in waiting:
            eq(running_events(d, run_id), 1, "run %s started once" % run_id)
        got = rows(d, waiting)
        seqs = [got[i]["start_seq"] for i in manual]
        eq(seqs, sorted(seqs), "manual runs started in their order")
        eq(json.loads(got[manual[3]]["params"])["tag"], "m3", "params kept across the restart")
        eq(json.loads(got[sched]["params"])["tag"], "ticked", "schedule params kept")
        check(json.loads(got[sensed]["params"])["file"].endswith("a.csv"),
              "sensor params kept: %s" % got[sensed]["params"])

        # A SIGTERM keeps the queue too.
        blocker = d.ctl("run", "block").stdout.strip()
        d.wait_run(blocker, ("running",))
        later = d.ctl("run", "work", "--param", "tag=late").stdout.strip()
        eq(d.run_row(later)["status"], "queued", "queued behind the blocker")
        eq(d.stop(), 0, "daemon exit status")
        eq(d.run_row(later)["status"], "queued", "still queued after a stop")
        d.start()
        d.wait_run(later, ("succeeded",))
        eq(running_events(d, later), 1, "started once after the stop")
        # Canceled while queued: never started by the next daemon.
        blocker = d.ctl("run", "block").stdout.strip()
        d.wait_run(blocker, ("running",))
        victim = d.ctl("run", "work").stdout.strip()
        d.ctl("cancel", victim)
        eq(d.run_row(victim)["status"], "canceled", "canceled while queued")
        d.stop(signal.SIGKILL)
        d.start()
        eq(d.run_row(victim)["status"], "canceled", "stays canceled")
        eq(d.run_row(blocker)["status"], "failed", "the killed daemon's run is an orphan")
        eq(d.stop(), 0, "daemon exit status")


main()
