"""dagd run: exit codes (0 succeeded, 1 failed, 2 usage/invalid), run and
step rows, default state dir ./.dagd, worker crash isolation, skip
propagation next to an independent branch that still succeeds."""
from dagdtest import Tmp, check, eq

with Tmp() as t:
    # Success: exit 0, rows in ./.dagd/state.db.
    t.write("ok.yaml", """
pipeline: ok
steps:
  - {name: a, task: noop}
  - {name: b, task: noop, needs: [a]}
""")
    p = t.run("ok.yaml", rc=0)
    run = t.last_run()
    eq(run["status"], "succeeded", "run status")
    eq(run["trigger"], "cli", "trigger")
    check(run["started_at"] and run["ended_at"] >= run["started_at"], "run times")
    st = t.steps()
    eq({s: r["status"] for s, r in st.items()}, {"a": "succeeded", "b": "succeeded"}, "steps")
    eq(st["a"]["attempts"], 1, "attempts")
    eq(st["a"]["exit_code"], 0, "exit code")
    check(st["b"]["started_at"] >= st["a"]["ended_at"], "b starts after a ends")
    check(st["a"]["max_rss_kb"] and st["a"]["max_rss_kb"] > 0, "max rss recorded")
    check(st["a"]["cpu_usec"] is not None, "cpu time recorded")
    check("STEP" in p.stdout and "succeeded" in p.stdout, "summary table printed:\n" + p.stdout)
    # An unchanged re-run is memoized and ends within the store's millisecond
    # resolution: the summary says "<1ms" or a real figure, never "0us".
    p = t.run("ok.yaml", rc=0)
    check(" 0us" not in p.stdout and " 0us" not in p.stderr,
          "a zero millisecond span printed as 0us:\n" + p.stdout + p.stderr)
    check(" in " in p.stdout.splitlines()[-1], "run line has a duration:\n" + p.stdout)

    # Failures of every kind, skip propagation, an independent branch.
    t.write("bad.yaml", """
pipeline: bad
steps:
  - {name: root, task: noop}
  - {name: boom, task: fail, needs: [root], config: {message: "no luck"}}
  - {name: after_boom, task: noop, needs: [boom]}
  - {name: after_after, task: noop, needs: [after_boom]}
  - {name: segv, task: crash}
  - {name: after_segv, task: noop, needs: [segv]}
  - {name: three, task: fail, config: {exit_code: 3, message: "bye"}}
  - {name: side, task: noop, needs: [root]}
  - {name: side2, task: sleep, needs: [side], config: {ms: 50}}
""")
    p = t.run("bad.yaml", rc=1)
    run = t.last_run()
    eq(run["status"], "failed", "run status")
    st = t.steps()
    eq(st["boom"]["status"], "failed", "boom")
    eq(st["boom"]["error"], "no luck", "fail message")
    eq(st["segv"]["status"], "failed", "crash")
    eq(st["segv"]["error"], "killed by signal SIGSEGV", "crash reason")
    eq(st["three"]["error"], "exited with code 3 without a result", "exit(3) reason")
    eq(st["three"]["exit_code"], 3, "exit(3) code")
    for s, up in (("after_boom", "boom"), ("after_after", "boom"), ("after_segv", "segv")):
        eq(st[s]["status"], "skipped", s)
        eq(st[s]["skip_reason"], "upstream failed: " + up, s + " reason")
        eq(st[s]["attempts"], 0, s + " attempts")
    eq(st["side"]["status"], "succeeded", "independent branch")
    eq(st["side2"]["status"], "succeeded", "independent branch, second step")
    # stderr of the exit(3) step was captured as an event.
    msgs = [e["message"] for e in t.events(step="three", kind="stderr")]
    eq(msgs, ["bye"], "stderr capture")

    # Invalid pipeline: exit 2 with FILE:LINE:COL diagnostics, nothing recorded.
    t.write("invalid.yaml", """
pipeline: invalid
steps:
  - {name: a, task: no_such_task}
""")
    before = t.last_run()["run_id"]
    p = t.run("invalid.yaml", rc=2)
    check("invalid.yaml:" in p.stderr and "error:" in p.stderr, "diagnostics: " + p.stderr)
    eq(t.last_run()["run_id"], before, "no run recorded for an invalid pipeline")

    # Usage errors: exit 2.
    t.run(rc=2)
    t.run("ok.yaml", "--jobs", "zero", rc=2)
    t.run("ok.yaml", "--bogus", rc=2)
    p = t.run("ok.yaml", "--param", "nokey", rc=2)
    # An unknown --param key is an error of the run (2), not a crash.
    t.run("ok.yaml", "--param", "nope=1", rc=2)

    # --state-dir elsewhere.
    t.run("ok.yaml", "--state-dir", "other", rc=0)
    import os
    check(os.path.exists(os.path.join(t.dir, "other", "state.db")), "--state-dir used")
print("ok")
