#!/usr/bin/env python3
"""Backfill options (issue 12, docs/daemon.md "Partitions and backfills"):
- partitions read from a file next to the pipeline (`partitions: {file:}`);
- `--param k=v` given to every run of a backfill (recorded on the backfill
  and each run, kept by `backfill retry`), a bad one refused before anything
  is recorded;
- `--failed`: a backfill of the partitions whose last run failed only;
- `--priority` and the pipeline's `priority:` on the runs."""
import json

from dagdtest import Daemon, check, eq, need_test_plugins, wait_for

need_test_plugins("flaky")

CUSTOMERS = """pipeline: cust
priority: 3
partitions: {file: customers.txt}
params:
  failures: {default: "1"}
steps:
  - {name: a, task: flaky, config: {failures: "${failures}"}}
"""


def show(d, backfill):
    return json.loads(d.ctl("backfill", "show", backfill, "--json").stdout)


def runs_of(d, backfill):
    with d.db() as c:
        return {r["partition"]: r for r in c.execute(
            "SELECT * FROM runs WHERE backfill_id = ?", (backfill,))}


def main():
    with Daemon({}, start=False) as d:
        with open(d.pipes + "/customers.txt", "w") as f:
            f.write("# one customer a line\nacme\nglobex\n\ninitech\numbrella\n")
        d.write_pipeline("cust", CUSTOMERS)
        d.start()
        parts = json.loads(d.ctl("partitions", "cust", "--json").stdout)
        eq([e["partition"] for e in parts["partitions"]], ["acme", "globex", "initech", "umbrella"],
           "keys from the file, in file order")

        # --param for every run: failures=0 makes them succeed.
        bf = d.ctl("backfill", "cust", "--partitions", "acme,globex,initech,umbrella",
                   "--param", "failures=0").stdout.strip()
        wait_for(lambda: show(d, bf)["status"] == "done", 30, "the backfill")
        s = show(d, bf)
        eq(s["counts"]["succeeded"], 4, "every run got the param: %r" % s["counts"])
        eq(s["params"], {"failures": "0"}, "backfill show params")
        eq(s["priority"], 3, "the pipeline's priority")
        text = d.ctl("backfill", "show", bf).stdout
        check("param failures=0" in text and "priority 3" in text, text)
        for r in runs_of(d, bf).values():
            eq(json.loads(r["params"])["failures"], "0", "the run's params")
            eq(r["priority"], 3, "the run's priority")
        # A bad param is refused and records nothing.
        p = d.ctl("backfill", "cust", "--partitions", "acme", "--param", "nope=1", check_rc=None)
        check(p.returncode == 2 and "nope" in p.stderr, "bad param: %d %s" % (p.returncode,
                                                                               p.stderr))
        p = d.ctl("backfill", "cust", "--partitions", "acme", "--priority", "5000",
                  check_rc=None)
        check(p.returncode == 2 and "priority" in p.stderr, "bad priority: %s" % p.stderr)
        with d.db() as c:
            eq(c.execute("SELECT count(*) FROM backfills").fetchone()[0], 1, "nothing recorded")

        # Two partitions fail in a later run of their own (default failures=1).
        for key in ("globex", "umbrella"):
            run = d.ctl("run", "cust", "--partition", key).stdout.strip()
            d.wait_run(run)
        # --failed alone: exactly those two, and with the param they succeed.
        bf2 = d.ctl("backfill", "cust", "--failed", "--param", "failures=0",
                    "--priority", "-2").stdout.strip()
        wait_for(lambda: show(d, bf2)["status"] == "done", 30, "the --failed backfill")
        eq(sorted(runs_of(d, bf2)), ["globex", "umbrella"], "--failed partitions")
        eq(show(d, bf2)["counts"]["succeeded"], 2, "succeeded")
        eq(show(d, bf2)["priority"], -2, "--priority")
        eq({r["priority"] for r in runs_of(d, bf2).values()}, {-2}, "runs' priority")
        # Nothing failed last any more.
        p = d.ctl("backfill", "cust", "--failed", check_rc=None)
        check(p.returncode != 0 and "failed last run" in p.stderr, "nothing to redo: %s"
              % p.stderr)

        # retry keeps the params of the backfill it retries.
        bf3 = d.ctl("backfill", "cust", "--partitions", "acme,initech",
                    "--param", "failures=1").stdout.strip()
        wait_for(lambda: show(d, bf3)["status"] == "done", 30, "the failing backfill")
        eq(show(d, bf3)["counts"]["failed"], 2, "both fail")
        bf4 = d.ctl("backfill", "retry", bf3).stdout.strip()
        wait_for(lambda: show(d, bf4)["status"] == "done", 30, "the retry")
        eq(show(d, bf4)["params"], {"failures": "1"}, "retry keeps the params")
        eq(show(d, bf4)["counts"]["failed"], 2, "and so fails again")
        # --failed within a range: only the listed ones.
        bf5 = d.ctl("backfill", "cust", "--failed", "--partitions", "initech,globex",
                    "--param", "failures=0").stdout.strip()
        wait_for(lambda: show(d, bf5)["status"] == "done", 30, "the listed --failed backfill")
        eq(sorted(runs_of(d, bf5)), ["initech"], "--failed within a list")

        # dagctl backfills: newest first, with counts; --pipeline, --limit.
        listed = json.loads(d.ctl("backfills", "--json").stdout)["backfills"]
        eq([b["backfill_id"] for b in listed], [bf5, bf4, bf3, bf2, bf], "newest first")
        eq(listed[1]["counts"]["failed"], 2, "counts in the list")
        eq(len(json.loads(d.ctl("backfills", "--limit", "2", "--json").stdout)["backfills"]), 2,
           "--limit")
        eq(json.loads(d.ctl("backfills", "--pipeline", "nope", "--json").stdout)["backfills"], [],
           "--pipeline")
        text = d.ctl("backfills").stdout
        check(text.startswith("BACKFILL") and bf3 in text and "cust" in text, text)
        eq(d.stop(), 0, "daemon exit status")


main()
