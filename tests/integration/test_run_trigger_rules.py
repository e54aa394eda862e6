"""trigger_rule through dagd run (issue 9): an any_failed step runs when a
need failed and is skipped with its reason when none did; an all_done step
runs whatever happened; the run still fails when a step failed."""
import os

from dagdtest import Tmp, check, eq
from dagdtest.state import last_run, run_steps

PIPELINE = """
pipeline: tr
steps:
  - {name: a, task: command, config: {argv: [sh, -c, "exit %d"]}}
  - {name: b, task: command, needs: [a], config: {argv: ["true"]}}
  - {name: errors, task: command, needs: [a], trigger_rule: any_failed,
     config: {argv: [touch, moved%d]}}
  - {name: cleanup, task: command, needs: [b], trigger_rule: all_done,
     config: {argv: [touch, cleaned%d]}}
"""

with Tmp() as t:
    t.write("fail.yaml", PIPELINE % (3, 1, 1))
    t.run("fail.yaml", rc=1)
    st = t.steps()
    eq(st["a"]["status"], "failed", "a")
    eq(st["b"]["status"], "skipped", "b")
    eq(st["b"]["skip_reason"], "upstream failed: a", "b reason")
    eq(st["errors"]["status"], "succeeded", "errors ran after a failed")
    eq(st["cleanup"]["status"], "succeeded", "cleanup ran below a skipped step")
    check(os.path.exists(os.path.join(t.dir, "moved1")), "errors did not run")
    check(os.path.exists(os.path.join(t.dir, "cleaned1")), "cleanup did not run")

    t.write("ok.yaml", PIPELINE % (0, 2, 2))
    t.run("ok.yaml", "--state-dir", "s2", rc=0)
    s2 = os.path.join(t.dir, "s2")
    st = run_steps(s2, last_run(s2)["run_id"])
    eq(st["errors"]["status"], "skipped", "errors without a failure")
    eq(st["errors"]["skip_reason"], "trigger_rule any_failed: no step it needs failed",
       "errors reason")
    eq(st["cleanup"]["status"], "succeeded", "cleanup")
    check(not os.path.exists(os.path.join(t.dir, "moved2")), "errors ran without a failure")
    check(os.path.exists(os.path.join(t.dir, "cleaned2")), "cleanup did not run")
print("ok")
