"""`dagd run --partition KEY` (DESIGN 11): the key is checked, recorded in
runs.partition, seen by tasks as ${partition}, ${partition_start} and
${partition_end}; memoization is per partition (a step that does not name
the partition still runs once per partition, and is memoized on a second
run of the same one); a retry keeps its run's partition; the worked example
docs/examples/daily_sales.yaml runs one New York day as the docs say."""
import os

from dagdtest import SOURCE, Tmp, check, eq

with Tmp() as t:
    t.write("p.yaml", """
pipeline: parts
partitions:
  daily: {start: "2024-03-08", timezone: America/New_York, end: "2024-03-12"}
steps:
  - {name: plain, task: noop}
  - name: show
    task: command
    needs: [plain]
    config: {argv: [echo, "p=${partition} s=${partition_start} e=${partition_end}"]}
""")
    r = t.run("p.yaml", rc=2)
    check("give --partition KEY" in r.stderr, r.stderr)
    r = t.run("p.yaml", "--partition", "2024-03-12", rc=2)
    check("ends after the partitions' end" in r.stderr, r.stderr)
    r = t.run("p.yaml", "--partition", "2024-3-10", rc=2)
    check("is not a daily key (YYYY-MM-DD)" in r.stderr, r.stderr)

    r = t.run("p.yaml", "--partition", "2024-03-10", rc=0)
    check("p=2024-03-10 s=2024-03-10T00:00:00-05:00 e=2024-03-11T00:00:00-04:00" in r.stdout,
          r.stdout)
    eq(t.last_run()["partition"], "2024-03-10", "runs.partition")
    eq(t.steps()["plain"]["status"], "succeeded", "first run of 2024-03-10")

    t.run("p.yaml", "--partition", "2024-03-09", rc=0)
    eq(t.steps()["plain"]["status"], "succeeded", "another partition is not memoized")

    t.run("p.yaml", "--partition", "2024-03-10", rc=0)
    eq({s: r["status"] for s, r in t.steps().items()},
       {"plain": "skipped", "show": "skipped"}, "the same partition again: memoized")
    first = t.last_run()["run_id"]
    t.run("p.yaml", "--retry", first, "--force", rc=0)
    eq(t.last_run()["partition"], "2024-03-10", "a retry keeps the partition")

    # A pipeline without partitions refuses --partition.
    t.write("q.yaml", "pipeline: q\nsteps:\n  - {name: a, task: noop}\n")
    r = t.run("q.yaml", "--partition", "x", rc=2)
    check("has no partitions" in r.stderr, r.stderr)
    eq(t.last_run()["partition"], "2024-03-10", "nothing recorded")

# The worked example of docs/daemon.md and pipelines/README.md: a day in New
# York, the one DST starts, as the docs say the steps see it.
with Tmp() as t:
    with open(os.path.join(SOURCE, "docs", "examples", "daily_sales.yaml")) as f:
        t.write("daily_sales.yaml", f.read())
    t.run("daily_sales.yaml", "--partition", "2024-03-10", rc=0)
    with open(os.path.join(t.dir, "days", "2024-03-10.txt")) as f:
        eq(f.read(), "sales from 2024-03-10T00:00:00-05:00 to 2024-03-11T00:00:00-04:00\n",
           "the example's day")
    eq(t.last_run()["partition"], "2024-03-10", "the example's partition")
    eq({r["status"] for r in t.steps().values()}, {"succeeded"}, "the example's steps")
