#!/usr/bin/env python3
"""Backfills (DESIGN 11, docs/daemon.md "Partitions and backfills"):
- a 1,000-partition backfill of a noop pipeline: one run per partition, each
  succeeds, the backfill is `done`, `backfill show` counts them, `partitions`
  lists them;
- `backfill cancel` stops the rest: no run of it starts afterwards;
  `backfill retry` runs the failed and canceled partitions only, once;
- kill -9 of the daemon in the middle of a backfill, at five moments: after
  the restart every partition has exactly one run, none is left queued or
  running, and the runs started in the queue's order;
- a list of partitions (`--partitions`) and bad keys refused (exit 2)."""
import json
import random
import signal
import time

from dagdtest import Daemon, check, eq, need_test_plugins, wait_for

need_test_plugins("noop", "sleep")

NOOP_DAILY = """pipeline: nd
partitions:
  daily: {start: "2020-01-01", timezone: UTC}
steps:
  - {name: a, task: noop}
"""
SLOW_DAILY = """pipeline: sd
partitions:
  daily: {start: "2020-01-01", timezone: UTC}
steps:
  - {name: a, task: sleep, config: {ms: 40}}
"""
CONFIG = "limits:\n  max_concurrent_runs: 4\n"


def per_partition(d, backfill):
    with d.db() as c:
        return {r[0]: r[1] for r in c.execute(
            "SELECT partition, count(*) FROM runs WHERE backfill_id = ? GROUP BY partition",
            (backfill,))}


def show(d, backfill):
    return json.loads(d.ctl("backfill", "show", backfill, "--json").stdout)


with Daemon({"nd": NOOP_DAILY, "sd": SLOW_DAILY}, config=CONFIG) as d:
    # 1,000 partitions, each exactly once.
    bf = d.ctl("backfill", "nd", "--from", "2021-01-01", "--to", "2023-09-27").stdout.strip()
    check(len(bf) == 32, "backfill id %r" % bf)
    wait_for(lambda: show(d, bf)["status"] == "done", 120, "the backfill to finish")
    s = show(d, bf)
    eq(s["partitions"], 1000, "partitions")
    eq(s["counts"], {"queued": 0, "running": 0, "succeeded": 1000, "failed": 0, "canceled": 0},
       "counts")
    pp = per_partition(d, bf)
    check(len(pp) == 1000 and set(pp.values()) == {1}, "one run per partition")
    text = d.ctl("backfill", "show", bf).stdout
    check("succeeded 1000" in text and "done" in text, text)
    # Each run names its backfill and partition (dagctl show, text and --json).
    with d.db() as c:
        one = c.execute("SELECT run_id FROM runs WHERE backfill_id = ? AND partition = "
                        "'2022-02-28'", (bf,)).fetchone()[0]
    run = json.loads(d.ctl("show", one, "--json").stdout)["run"]
    eq((run["backfill_id"], run["partition"], run["trigger"], run["priority"]),
       (bf, "2022-02-28", "backfill", 0), "show --json")
    text = d.ctl("show", one).stdout
    check("partition: 2022-02-28" in text and "backfill:  " + bf in text, text)
    listed = json.loads(d.ctl("runs", "--pipeline", "nd", "--limit", "1", "--json").stdout)["runs"]
    eq(listed[0]["backfill_id"], bf, "runs --json names the backfill")
    parts = json.loads(d.ctl("partitions", "nd", "--json").stdout)
    have = {e["partition"]: e["last_run"] for e in parts["partitions"]}
    eq(have["2021-01-01"]["status"], "succeeded", "partitions: a backfilled day")
    check(have["2020-01-01"] is None, "partitions: a day never run is missing")
    check(parts["missing"] == len(have) - 1000, "missing count")

    # A list; bad keys are refused and record nothing.
    d.ctl("backfill", "nd", "--partitions", "2020-01-01,2020-13-01", check_rc=2)
    d.ctl("backfill", "nd", "--from", "2019-12-01", "--to", "2019-12-02", check_rc=2)
    bf2 = d.ctl("backfill", "nd", "--partitions", "2020-01-01,2020-01-03").stdout.strip()
    wait_for(lambda: show(d, bf2)["status"] == "done", 30, "the list backfill")
    eq(sorted(per_partition(d, bf2)), ["2020-01-01", "2020-01-03"], "list partitions")

    # Cancel stops the rest.
    bf3 = d.ctl("backfill", "sd", "--from", "2020-01-01", "--to", "2020-12-31").stdout.strip()
    wait_for(lambda: show(d, bf3)["counts"]["succeeded"] >= 8, 30, "some runs of the backfill")
    d.ctl("backfill", "cancel", bf3)
    wait_for(lambda: show(d, bf3)["counts"]["running"] == 0, 30, "the running ones to end")
    s = show(d, bf3)
    eq(s["status"], "canceled", "canceled backfill")
    eq(s["counts"]["queued"], 0, "nothing left queued")
    check(s["counts"]["canceled"] > 200, "the rest canceled: %r" % s["counts"])
    done = s["counts"]["succeeded"]
    time.sleep(0.5)
    eq(show(d, bf3)["counts"]["succeeded"], done, "no run started after the cancel")

    # Retry: a new backfill of the failed and canceled partitions only.
    with d.db() as c:
        redo = {r[0] for r in c.execute("SELECT partition FROM runs WHERE backfill_id = ? AND "
                                        "status IN ('failed', 'canceled')", (bf3,))}
    bf4 = d.ctl("backfill", "retry", bf3).stdout.strip()
    check(bf4 != bf3 and len(bf4) == 32, "retry id %r" % bf4)
    wait_for(lambda: show(d, bf4)["status"] == "done", 60, "the retry backfill")
    eq(set(per_partition(d, bf4)), redo, "the retry covers the unsuccessful partitions only")
    eq(show(d, bf4)["counts"]["succeeded"], len(redo), "all succeeded")
    p = d.ctl("backfill", "retry", bf4, check_rc=None)
    check(p.returncode != 0 and "no failed or canceled run" in p.stderr, "nothing to retry: %s"
          % p.stderr)
    check(d.stop() == 0, "daemon exit status")

# kill -9 in the middle of a backfill, at random moments; restart each time.
rng = random.Random(12)
with Daemon({"sd": SLOW_DAILY}, config=CONFIG) as d:
    bf = d.ctl("backfill", "sd", "--from", "2020-01-01", "--to", "2020-04-09").stdout.strip()
    for k in range(5):
        time.sleep(rng.uniform(0.1, 0.6))
        d.stop(signal.SIGKILL)
        d.start()
    wait_for(lambda: show(d, bf)["counts"]["queued"] + show(d, bf)["counts"]["running"] == 0,
             120, "the backfill to drain after the restarts")
    pp = per_partition(d, bf)
    check(len(pp) == 100 and set(pp.values()) == {1}, "exactly one run per partition: %r"
          % {k: v for k, v in pp.items() if v != 1})
    counts = show(d, bf)["counts"]
    check(counts["succeeded"] >= 100 - 5 * 4 and counts["succeeded"] + counts["failed"] == 100,
          "succeeded, or failed as orphans of a killed daemon: %r" % counts)
    with d.db() as c:
        starts = [r[0] for r in c.execute(
            "SELECT start_seq FROM runs WHERE backfill_id = ? AND start_seq IS NOT NULL "
            "ORDER BY rowid", (bf,))]
    check(all(a < b for a, b in zip(starts, starts[1:])), "runs started in the queue's order")
    eq(show(d, bf)["status"], "done", "done after the restarts")
    check(d.stop() == 0, "daemon exit status")
print("ok")
