#!/usr/bin/env python3
"""The run queue: `run` returns an id at once; at most max_concurrent_runs
runs at a time; a pipeline with `concurrency: 1` runs one at a time; a
queued run starts when a slot frees; a queued run can be shown and
canceled."""
import time

from dagdtest import Daemon, check, need_test_plugins, wait_for

need_test_plugins("sleep", "noop")

NAP = """pipeline: nap
steps:
  - name: nap
    task: sleep
    config: {ms: 1500}
"""
SOLO = """pipeline: solo
concurrency: 1
steps:
  - name: nap
    task: sleep
    config: {ms: 500}
"""

def statuses(d, ids):
    out = {}
    with d.db() as c:
        for i in ids:
            r = c.execute("SELECT status FROM runs WHERE run_id = ?", (i,)).fetchone()
            out[i] = r["status"] if r else "queued"
    return out

def overlaps(d, ids):
    """The largest number of runs whose [started_at, ended_at) overlap."""
    with d.db() as c:
        spans = [tuple(c.execute("SELECT started_at, ended_at FROM runs WHERE run_id = ?",
                                 (i,)).fetchone()) for i in ids]
    best = 0
    for s, _ in spans:
        best = max(best, sum(1 for s2, e2 in spans if s2 <= s < e2))
    return best

with Daemon({"nap": NAP, "solo": SOLO},
            config="limits:\n  max_concurrent_runs: 2\n") as d:
    t0 = time.monotonic()
    ids = [d.ctl("run", "nap", "--force").stdout.strip() for _ in range(5)]
    check(time.monotonic() - t0 < 5, "run did not return at once")
    check(len(set(ids)) == 5 and all(len(i) == 32 for i in ids), "ids: %r" % ids)
    st = d.ctl("status", json_out=True).json
    check(st["running"] <= 2 and st["running"] + st["queued"] >= 3, "status: %r" % st)
    # a queued run is visible and can be canceled
    queued = [i for i, s in statuses(d, ids).items() if s == "queued"]
    check(queued, "no queued run")
    victim = queued[-1]
    show = d.ctl("show", victim, json_out=True).json
    check(show["run"]["status"] == "queued", "show queued: %r" % show["run"])
    runs = [r["run_id"] for r in d.ctl("runs", json_out=True).json["runs"]]
    check(victim in runs, "runs lists queued runs")
    p = d.ctl("cancel", victim, json_out=True)
    check(p.json["status"] == "canceled", "cancel queued: %r" % p.json)
    rest = [i for i in ids if i != victim]
    for i in rest:
        check(d.wait_run(i, timeout=30)["status"] == "succeeded", "run %s" % i)
    check(d.run_row(victim)["status"] == "canceled", "the canceled queued run is recorded")
    check(overlaps(d, rest) <= 2, "more than max_concurrent_runs at once")
    check(overlaps(d, rest) == 2, "the two slots were not both used")

    # concurrency: 1 serializes one pipeline even with free slots
    solo = [d.ctl("run", "solo", "--force").stdout.strip() for _ in range(3)]
    for i in solo:
        check(d.wait_run(i, timeout=30)["status"] == "succeeded", "solo run %s" % i)
    check(overlaps(d, solo) == 1, "concurrency: 1 runs overlapped")

    # run --wait on a queued run streams it from the queue to the end
    blockers = [d.ctl("run", "nap", "--force").stdout.strip() for _ in range(2)]
    p = d.ctl("run", "nap", "--wait", "--force", json_out=True)
    check(p.json["status"] == "succeeded", "wait through the queue: %r" % p.json)
    check(p.events[0]["status"] == "queued", "accepted while queued: %r" % p.events[0])
    check(d.stop() == 0, "exit status")

print("ok")
