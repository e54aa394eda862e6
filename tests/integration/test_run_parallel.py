"""Parallelism: two independent sleep {ms: 500} steps overlap with --jobs 2
and do not with --jobs 1 (checked on the recorded start/end intervals, not
on wall time); fan-out/fan-in ordering."""
from dagdtest import Tmp, check, eq

with Tmp() as t:
    t.write("p.yaml", """
pipeline: par
steps:
  - {name: a, task: sleep, config: {ms: 500}}
  - {name: b, task: sleep, config: {ms: 500}}
  - {name: join, task: noop, needs: [a, b]}
""")
    t.run("p.yaml", "--jobs", "2", rc=0)
    st = t.steps()
    a, b, j = st["a"], st["b"], st["join"]
    check(a["started_at"] < b["ended_at"] and b["started_at"] < a["ended_at"],
          "a and b overlap with --jobs 2: a=[%d,%d] b=[%d,%d]"
          % (a["started_at"], a["ended_at"], b["started_at"], b["ended_at"]))
    check(j["started_at"] >= max(a["ended_at"], b["ended_at"]), "join after both")

    t.run("p.yaml", "--jobs", "1", "--force", rc=0)
    st = t.steps()
    a, b = st["a"], st["b"]
    check(a["ended_at"] <= b["started_at"], "--jobs 1 runs one at a time (file order: a first)")
print("ok")
