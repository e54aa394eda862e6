#!/usr/bin/env python3
"""Pools (issue 12, docs/daemon.md "Pools"): the daemon config's `pools:`
give named slot counts; a step with `pool:` (and `slots:`) holds its slots
while an attempt runs, so at most that many run at once over all runs and
pipelines, while steps without a pool go ahead. `dagctl status` shows each
pool's use and waiters. A step naming an unknown pool, or more slots than the
pool has, is refused at submit (exit 2). limits.max_backfill_runs keeps
room for other runs."""
import http.client
import json

from dagdtest import Daemon, check, eq, free_port, need_test_plugins, openmetrics, wait_for

need_test_plugins("sleep", "noop")

HEAVY = """pipeline: heavy
defaults: {pool: db}
steps:
  - {name: a, task: sleep, config: {ms: 300}}
  - {name: b, task: sleep, config: {ms: 300}}
  - {name: c, task: sleep, config: {ms: 300}}
  - {name: free, task: noop, pool: api}
"""
WIDE = """pipeline: wide
steps:
  - {name: big, task: sleep, config: {ms: 200}, pool: db, slots: 2}
"""
NOPOOL = """pipeline: nopool
steps:
  - {name: a, task: noop, pool: nope}
"""
TOOBIG = """pipeline: toobig
steps:
  - {name: a, task: noop, pool: db, slots: 3}
"""
DAILY = """pipeline: daily
partitions:
  daily: {start: "2020-01-01", timezone: UTC}
steps:
  - {name: a, task: sleep, config: {ms: 30}}
"""
# One run with many ready steps in a pool and a newer run wanting it too.
FAN = "pipeline: fan\nsteps:\n" + "".join(
    "  - {name: f%d, task: sleep, config: {ms: 150}, pool: solo}\n" % k for k in range(8))
ONE = """pipeline: one
steps:
  - {name: o, task: sleep, config: {ms: 10}, pool: solo}
"""
CONFIG = """limits:
  max_concurrent_runs: 6
  max_jobs: 8
  max_backfill_runs: 2
pools:
  db: 2
  api: 5
  solo: 1
"""


def max_overlap(spans):
    best = 0
    for s, _ in spans:
        best = max(best, sum(1 for s2, e2 in spans if s2 <= s < e2))
    return best


def metrics(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    body = c.getresponse().read().decode()
    c.close()
    fams = openmetrics.parse(body)
    return {(f, lab["pool"]): v for f in ("dagd_pool_slots", "dagd_pool_slots_used")
            for _, lab, v in fams[f]["samples"]}


def main():
    port = free_port()
    with Daemon({"heavy": HEAVY, "wide": WIDE, "nopool": NOPOOL, "toobig": TOOBIG,
                 "daily": DAILY, "fan": FAN, "one": ONE}, config=CONFIG, args=["--http", "127.0.0.1:%d" % port]) as d:
        m = metrics(port)
        eq((m[("dagd_pool_slots", "db")], m[("dagd_pool_slots", "api")],
            m[("dagd_pool_slots_used", "db")]), (2, 5, 0), "pool metrics")
        p = d.ctl("run", "nopool", check_rc=2)
        check("pool 'nope' is not in the daemon config (pools: db, api, solo)" in p.stderr, p.stderr)
        p = d.ctl("run", "toobig", check_rc=2)
        check("takes 3 slots of pool 'db', which has 2" in p.stderr, p.stderr)

        runs = [d.ctl("run", "heavy").stdout.strip() for _ in range(3)]
        runs.append(d.ctl("run", "wide").stdout.strip())
        seen = {"busy": False, "waiting": False}

        def watch():
            st = d.ctl("status", json_out=True).json
            db = [x for x in st["pools"] if x["name"] == "db"][0]
            check(db["used"] <= 2 and db["slots"] == 2, "pool db: %r" % db)
            seen["busy"] |= db["used"] == 2
            seen["waiting"] |= db["waiting"] > 0
            return all(d.run_row(r)["status"] == "succeeded" for r in runs)
        wait_for(watch, 60, "the runs to finish")
        check(seen["busy"] and seen["waiting"], "status showed the pool full with waiters: %r"
              % seen)
        text = d.ctl("status").stdout
        check("pool db: 0 of 2 slots used" in text and "pool api:" in text, text)

        with d.db() as c:
            rows = c.execute("SELECT s.step, s.started_at, s.ended_at, r.pipeline FROM steps s "
                             "JOIN runs r USING (run_id) WHERE r.run_id IN (%s)"
                             % ",".join("?" * len(runs)), runs).fetchall()
        spans = []
        for step, start, end, pipeline in rows:
            if step == "free":
                continue
            w = 2 if pipeline == "wide" else 1
            spans += [(start, end)] * w
        eq(len(spans), 11, "pool steps")
        over = max_overlap(spans)
        check(over <= 2, "at most 2 db slots held at once, saw %d" % over)
        check(over == 2, "the pool was used to its size: %d" % over)

        # The runs take turns for a pool's slot: a newer run's step gets it
        # after at most one more step of a run with eight ready, not after
        # all eight (the oldest run used to take every freed slot).
        fan = d.ctl("run", "fan").stdout.strip()
        wait_for(lambda: d.ctl("status", json_out=True).json["pools"][2]["used"] == 1, 10,
                 "the fan to hold the solo pool")
        one = d.ctl("run", "one").stdout.strip()
        wait_for(lambda: d.run_row(fan)["status"] == "succeeded" and
                 d.run_row(one)["status"] == "succeeded", 30, "the fan and the one")
        with d.db() as c:
            o_start = c.execute("SELECT started_at FROM steps WHERE run_id = ?",
                                (one,)).fetchone()[0]
            before = c.execute("SELECT count(*) FROM steps WHERE run_id = ? AND started_at < ?",
                               (fan, o_start)).fetchone()[0]
            spans = [tuple(r) for r in c.execute(
                "SELECT started_at, ended_at FROM steps WHERE run_id IN (?, ?)", (fan, one))]
        check(before <= 2, "the newer run's step waited for %d of the fan's 8 steps" % before)
        check(max_overlap(spans) == 1, "pool solo held once at a time: %d" % max_overlap(spans))

        # max_backfill_runs: 2 of the 6 run slots at most go to the backfill.
        bf = d.ctl("backfill", "daily", "--from", "2021-01-01", "--to", "2021-01-20").stdout.strip()

        def bf_ok():
            st = d.ctl("status", json_out=True).json
            check(st["running_backfill"] <= 2, "running backfill runs: %r" % st)
            show = json.loads(d.ctl("backfill", "show", bf, "--json").stdout)
            return show["status"] == "done"
        wait_for(bf_ok, 60, "the backfill")
        with d.db() as c:
            spans = [tuple(r) for r in c.execute(
                "SELECT started_at, ended_at FROM runs WHERE backfill_id = ?", (bf,))]
        check(max_overlap(spans) <= 2, "backfill runs at once: %d" % max_overlap(spans))
        eq(d.stop(), 0, "daemon exit status")


main()
