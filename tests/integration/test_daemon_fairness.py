#!/usr/bin/env python3
"""Starvation (issue 12, docs/daemon.md "Runs, queue and limits", Fairness):
a 1,000-partition backfill drains through max_concurrent_runs while a
schedule fires every second and a manual run is submitted. Each of those
runs starts within a bounded number of queue turns: counted from state.db,
as the runs that started between its `run created` event and its own
`run running` event (events.seq orders every write), never from timings.
Before lanes, the manual run waited for every backfill run queued ahead.
Then the same through a pool (through_a_pool): the backfill's and the
schedule's steps share one slot of pool `wh`."""
import json

from dagdtest import Daemon, check, eq, need_test_plugins, wait_for

need_test_plugins("noop", "sleep")

DAILY = """pipeline: daily
partitions:
  daily: {start: "2020-01-01", timezone: UTC}
steps:
  - {name: a, task: sleep, config: {ms: 5}}
"""
TICK = """pipeline: tick
schedules:
  - {name: every_second, cron: "* * * * * *"}
steps:
  - {name: a, task: noop}
"""
ADHOC = """pipeline: adhoc
steps:
  - {name: a, task: noop}
"""
CONFIG = "limits:\n  max_concurrent_runs: 2\n"
LANES = 3  # the backfill, tick's runs, adhoc's runs


def show(d, backfill):
    return json.loads(d.ctl("backfill", "show", backfill, "--json").stdout)


def turns_waited(c, run_id):
    """Runs that started while run_id was queued."""
    created = c.execute("SELECT min(seq) FROM events WHERE run_id = ? AND kind = 'run'",
                        (run_id,)).fetchone()[0]
    started = c.execute("SELECT seq FROM events WHERE run_id = ? AND kind = 'run' AND "
                        "message = 'run running'", (run_id,)).fetchone()[0]
    return c.execute("SELECT count(*) FROM events WHERE kind = 'run' AND "
                     "message = 'run running' AND seq > ? AND seq < ?",
                     (created, started)).fetchone()[0]


def main():
    with Daemon({"daily": DAILY, "tick": TICK, "adhoc": ADHOC}, config=CONFIG) as d:
        bf = d.ctl("backfill", "daily", "--from", "2021-01-01", "--to", "2023-09-27").stdout.strip()
        wait_for(lambda: show(d, bf)["counts"]["succeeded"] >= 50, 60, "the backfill to drain")
        manual = d.ctl("run", "adhoc").stdout.strip()
        wait_for(lambda: show(d, bf)["status"] == "done", 240, "the backfill to finish")
        d.wait_run(manual)
        with d.db() as c:
            last_bf = c.execute("SELECT max(start_seq) FROM runs WHERE backfill_id = ?",
                                (bf,)).fetchone()[0]
            # The runs that competed with the backfill: started before its last run did.
            contenders = [r[0] for r in c.execute(
                "SELECT run_id FROM runs WHERE pipeline IN ('tick', 'adhoc') AND "
                "start_seq < ? ORDER BY start_seq", (last_bf,))]
            check(manual in contenders, "the manual run competed with the backfill")
            ticks = [r for r in contenders if r != manual]
            check(len(ticks) >= 2, "the schedule fired during the backfill: %d runs" % len(ticks))
            waited = {r: turns_waited(c, r) for r in contenders}
            worst = max(waited.values())
            print("backfill runs started after the manual run: %d; worst wait %d turns over %d "
                  "runs" % (last_bf - c.execute("SELECT start_seq FROM runs WHERE run_id = ?",
                                               (manual,)).fetchone()[0], worst, len(waited)))
            check(worst <= LANES, "a run waited %d queue turns (bound %d): %r"
                  % (worst, LANES, waited))
            # Every tick during the backfill started a run (none skipped for a queued one).
            skipped = c.execute("SELECT count(*) FROM ticks WHERE name = 'every_second' AND "
                                "status = 'skipped'").fetchone()[0]
            eq(skipped, 0, "ticks skipped while the backfill drained")
            # The backfill itself ran in its order and each partition once.
            seqs = [r[0] for r in c.execute(
                "SELECT start_seq FROM runs WHERE backfill_id = ? ORDER BY partition", (bf,))]
            eq(len(seqs), 1000, "one run per partition")
            eq(seqs, sorted(seqs), "the backfill's runs started in partition order")
        eq(d.stop(), 0, "daemon exit status")


POOLED_DAILY = """pipeline: daily
partitions:
  daily: {start: "2020-01-01", timezone: UTC}
steps:
  - {name: a, task: sleep, config: {ms: 5}, pool: wh}
"""
POOLED_TICK = """pipeline: tick
schedules:
  - {name: pooled_second, cron: "* * * * * *"}
steps:
  - {name: a, task: command, config: {argv: [true, "${run_id}"]}, pool: wh}
"""  # ${run_id}: never memoized, so every run's step takes the pool
POOL_CONFIG = "limits:\n  max_concurrent_runs: 4\npools:\n  wh: 1\n"
MAX_RUNS = 4


def pool_turns_waited(c, run_id):
    """Steps of other runs that took the pool while run_id waited: from its
    creation to its step's start."""
    created = c.execute("SELECT min(seq) FROM events WHERE run_id = ? AND kind = 'run'",
                        (run_id,)).fetchone()[0]
    started = c.execute("SELECT seq FROM events WHERE run_id = ? AND kind = 'step' AND "
                        "message LIKE 'step a running%'", (run_id,)).fetchone()[0]
    return c.execute("SELECT count(*) FROM events WHERE kind = 'step' AND message LIKE "
                     "'step a running%' AND seq > ? AND seq < ?", (created, started)).fetchone()[0]


def through_a_pool():
    """The same through a pool: every step of the backfill and of the
    schedule's runs takes the one slot of pool `wh`. The schedule keeps
    firing on time (a tick every second, none skipped, each run created
    within a second of its boundary), and each of its runs gets the pool
    after at most MAX_RUNS - 1 other runs' steps (the running runs take
    turns for the pool's slot, and at most MAX_RUNS runs run) plus its lane turns,
    however many backfill runs wait."""
    with Daemon({"daily": POOLED_DAILY, "tick": POOLED_TICK}, config=POOL_CONFIG) as d:
        bf = d.ctl("backfill", "daily", "--from", "2021-01-01", "--to", "2023-09-27").stdout.strip()
        wait_for(lambda: show(d, bf)["status"] == "done", 240, "the pooled backfill to finish")
        with d.db() as c:
            last_bf = c.execute("SELECT max(start_seq) FROM runs WHERE backfill_id = ?",
                                (bf,)).fetchone()[0]
            ticks = [r[0] for r in c.execute(
                "SELECT run_id FROM runs WHERE pipeline = 'tick' AND start_seq < ? AND "
                "status = 'succeeded' ORDER BY start_seq", (last_bf,))]
            check(len(ticks) >= 3, "the schedule fired during the backfill: %d runs" % len(ticks))
            waited = {r: pool_turns_waited(c, r) for r in ticks}
            worst = max(waited.values())
            print("pooled: %d scheduled runs during the backfill, worst wait %d pool turns"
                  % (len(ticks), worst))
            check(worst <= MAX_RUNS - 1 + 2, "a scheduled run waited %d pool turns: %r"
                  % (worst, waited))
            rows = c.execute("SELECT t.ts, r.created_at FROM ticks t JOIN runs r USING (run_id) "
                             "WHERE t.name = 'pooled_second' ORDER BY t.ts").fetchall()
            late = [(ts, created) for ts, created in rows if created - ts > 1000]
            check(not late, "runs created more than 1 s after their boundary: %r" % late[:5])
            gaps = [b[0] - a[0] for a, b in zip(rows, rows[1:]) if b[0] - a[0] != 1000]
            check(not gaps, "boundaries missed while the backfill drained: %r" % gaps[:5])
            skipped = c.execute("SELECT count(*) FROM ticks WHERE name = 'pooled_second' AND "
                                "status != 'started'").fetchone()[0]
            eq(skipped, 0, "ticks not started while the pooled backfill drained")
        eq(d.stop(), 0, "daemon exit status")


main()
through_a_pool()
