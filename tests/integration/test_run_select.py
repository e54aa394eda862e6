"""--from, --only and --retry (re-run failed and downstream steps only)."""
from dagdtest import Tmp, check, eq

with Tmp() as t:
    t.write("p.yaml", """
pipeline: sel
params: {fail_b: "0"}
steps:
  - {name: a, task: noop}
  - {name: b, task: flaky, needs: [a], config: {failures: "${fail_b}"}}
  - {name: c, task: noop, needs: [b]}
  - {name: d, task: noop, needs: [a]}
""")
    t.run("p.yaml", "--only", "b", rc=0)
    st = t.steps()
    eq({s: r["status"] for s, r in st.items()},
       {"a": "skipped", "b": "succeeded", "c": "skipped", "d": "skipped"}, "--only b")
    eq(st["a"]["skip_reason"], "not selected", "not selected reason")

    t.run("p.yaml", "--from", "b", "--force", rc=0)
    st = t.steps()
    eq({s: r["status"] for s, r in st.items()},
       {"a": "skipped", "b": "succeeded", "c": "succeeded", "d": "skipped"}, "--from b")

    # A failed run, then a retry of it: only b and c run again.
    t.run("p.yaml", "--force", "--param", "fail_b=5", rc=1)
    failed = t.last_run()["run_id"]
    st = t.steps(failed)
    eq(st["b"]["status"], "failed", "b failed")
    eq(st["c"]["status"], "skipped", "c skipped")
    t.run("p.yaml", "--retry", failed, "--force", rc=0)
    run = t.last_run()
    eq(run["trigger"], "retry", "trigger")
    eq(run["parent_run_id"], failed, "parent")
    st = t.steps()
    eq(st["a"]["status"], "skipped", "a not re-run")
    check(st["a"]["skip_reason"].startswith("succeeded in run"), st["a"]["skip_reason"])
    eq(st["d"]["status"], "skipped", "d not re-run")
    eq(st["b"]["status"], "succeeded", "b re-run")
    eq(st["c"]["status"], "succeeded", "c re-run")
print("ok")
