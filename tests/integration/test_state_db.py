#!/usr/bin/python3
"""state.db as users and other processes see it (DESIGN 5, docs/state.md),
through real `dagd run` processes:

1. the contract: tables, columns, primary keys, WAL mode, schema version,
   epoch-millisecond times, status values, events in seq order with one
   event per step state change;
2. readers during a run (the sqlite3 module and the sqlite3 CLI) never get
   an error or see a step change without its event, and seq only grows;
3. two `dagd run` on the same state directory at once both succeed;
4. a state.db that is not SQLite, or from a newer dagd, is refused with a
   clear message and left untouched."""
import os
import shutil
import sqlite3
import subprocess
import time

from dagdtest import Tmp, check, eq, fail

CONTRACT = {
    "runs": ["run_id", "pipeline", "status", "trigger", "params", "created_at", "started_at",
             "ended_at", "error"],
    "steps": ["run_id", "step", "task", "status", "attempts", "started_at", "ended_at",
              "exit_code", "rows_in", "rows_out", "fingerprint", "error"],
    "events": ["seq", "run_id", "step", "ts", "level", "kind", "message"],
    "ticks": ["name", "kind", "ts", "run_id", "status", "reason"],
}
RUN_STATUS = {"queued", "running", "succeeded", "failed", "canceled"}
STEP_STATUS = {"pending", "running", "succeeded", "failed", "skipped", "canceled"}


def chain(name, n, task="noop", config=""):
    lines = ["pipeline: %s" % name, "steps:"]
    for i in range(n):
        lines.append("  - name: s%03d" % i)
        lines.append("    task: %s" % task)
        if config:
            lines.append("    config: %s" % config)
        if i:
            lines.append("    needs: [s%03d]" % (i - 1))
    return "\n".join(lines) + "\n"


with Tmp() as t:
    # ---- 1. the contract ------------------------------------------------
    t.write("mixed.yaml", """
pipeline: mixed
steps:
  - {name: a, task: noop}
  - {name: b, task: flaky, needs: [a], retries: 2, retry_delay: 10ms, config: {failures: 1}}
  - {name: c, task: fail, needs: [b], config: {exit_code: 3, message: "boom"}}
  - {name: d, task: noop, needs: [c]}
""")
    before_ms = int(time.time() * 1000)
    t.run("mixed.yaml", rc=1)
    after_ms = int(time.time() * 1000)
    with t.db() as c:
        eq(c.execute("PRAGMA journal_mode").fetchone()[0], "wal", "journal mode")
        check(c.execute("PRAGMA user_version").fetchone()[0] >= 1, "schema version set")
        for table, cols in CONTRACT.items():
            have = {r[1]: r for r in c.execute("SELECT * FROM pragma_table_info(?)", (table,))}
            missing = [col for col in cols if col not in have]
            check(not missing, "%s lacks contract columns %s" % (table, missing))
        pk = [r[1] for r in sorted(c.execute("SELECT * FROM pragma_table_info('steps')"),
                                   key=lambda r: r[5]) if r[5]]
        eq(pk, ["run_id", "step"], "steps primary key")
        eq([r[1] for r in c.execute("SELECT * FROM pragma_table_info('runs')") if r[5]],
           ["run_id"], "runs primary key")
        eq([r[1] for r in c.execute("SELECT * FROM pragma_table_info('events')") if r[5]],
           ["seq"], "events primary key")

    run = t.last_run()
    eq(run["status"], "failed", "run status")
    eq(run["pipeline"], "mixed", "pipeline")
    for col in ("created_at", "started_at", "ended_at"):
        v = run[col]
        check(isinstance(v, int) and before_ms - 5000 <= v <= after_ms + 5000,
              "runs.%s = %r is not epoch ms of this run (%d..%d)" % (col, v, before_ms, after_ms))
    check(run["created_at"] <= run["started_at"] <= run["ended_at"], "run times ordered")
    steps = t.steps()
    eq({s: r["status"] for s, r in steps.items()},
       {"a": "succeeded", "b": "succeeded", "c": "failed", "d": "skipped"}, "step statuses")
    eq(steps["b"]["attempts"], 2, "b attempts")
    eq(steps["c"]["exit_code"], 3, "c exit code")
    for s, r in steps.items():
        check(r["status"] in STEP_STATUS, "step status %r" % r["status"])
        for col in ("started_at", "ended_at"):
            v = r[col]
            check(v is None or (isinstance(v, int) and before_ms - 5000 <= v <= after_ms + 5000),
                  "steps.%s of %s = %r is not epoch ms" % (col, s, v))
    check(steps["d"]["started_at"] is None, "a skipped step never started")
    events = t.events()
    seqs = [e["seq"] for e in events]
    eq(seqs, sorted(set(seqs)), "events in strictly increasing seq")
    for e in events:
        check(before_ms - 5000 <= e["ts"] <= after_ms + 5000, "event ts %r is epoch ms" % e["ts"])
    step_events = [(e["step"], e["message"]) for e in events if e["kind"] == "step"]
    for want in [("a", "step a running (attempt 1)"), ("b", "step b running (attempt 2)"),
                 ("d", "step d skipped: upstream failed: c")]:
        check(want in step_events, "missing step event %r in %r" % (want, step_events))
    check(any(e["step"] == "c" and e["kind"] == "step" and e["level"] == "error"
              and e["message"].startswith("step c failed (attempt 1): ") for e in events),
          "c's failure event (the task's words, one exit code: issue 15)")
    eq([e["message"] for e in events if e["kind"] == "run"][-1], "run failed: " + run["error"],
       "last run event")

    # ---- 2. readers during a run ----------------------------------------
    t.write("slow.yaml", chain("slow", 60, "sleep", "{ms: 20}"))
    proc = t.spawn("slow.yaml")
    db_path = os.path.join(t.state, "state.db")
    reads = cli_reads = 0
    last_seq = 0
    last_done = 0
    deadline = time.time() + 60
    while proc.poll() is None and time.time() < deadline:
        if not os.path.exists(db_path):
            time.sleep(0.01)
            continue
        try:
            c = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=5)
            r = c.execute("SELECT run_id FROM runs WHERE pipeline = 'slow'").fetchone()
            if r is None:
                c.close()
                time.sleep(0.01)
                continue
            run_id = r[0]
            # One read transaction: the step rows and their events are consistent.
            c.execute("BEGIN")
            done = c.execute("SELECT count(*) FROM steps WHERE run_id = ? AND status = 'succeeded'",
                             (run_id,)).fetchone()[0]
            ok_events = c.execute("SELECT count(*) FROM events WHERE run_id = ? AND kind = 'step' "
                                  "AND message LIKE '% succeeded in %'", (run_id,)).fetchone()[0]
            seq = c.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
            c.execute("COMMIT")
            c.close()
        except sqlite3.Error as e:
            proc.kill()
            fail("reader got an error during the run: %s" % e)
        eq(ok_events, done, "succeeded steps and their events (one snapshot)")
        check(seq >= last_seq, "seq went backwards: %d after %d" % (seq, last_seq))
        check(done >= last_done, "succeeded count went backwards")
        last_seq, last_done = seq, done
        reads += 1
        if shutil.which("sqlite3") and reads % 10 == 0:
            p = subprocess.run(["sqlite3", "-readonly", db_path,
                                "SELECT count(*) FROM steps WHERE run_id = '%s'" % run_id],
                               capture_output=True, text=True, timeout=30)
            eq((p.returncode, p.stderr), (0, ""), "sqlite3 CLI during the run")
            eq(p.stdout.strip(), "60", "steps seen by the sqlite3 CLI")
            cli_reads += 1
        time.sleep(0.005)
    out, err = proc.communicate(timeout=60)
    eq(proc.returncode, 0, "slow run exit code (stderr: %s)" % err)
    check(reads >= 5, "the reader ran during the run (%d reads)" % reads)
    eq(t.last_run()["status"], "succeeded", "slow run status")

    # ---- 3. two dagd run on one state directory --------------------------
    t.write("p1.yaml", chain("p1", 80))
    t.write("p2.yaml", chain("p2", 80))
    procs = [t.spawn("p1.yaml", "--force"), t.spawn("p2.yaml", "--force")]
    for p in procs:
        out, err = p.communicate(timeout=120)
        eq(p.returncode, 0, "concurrent dagd run exit code (stderr: %s)" % err)
    with t.db() as c:
        for name in ("p1", "p2"):
            r = c.execute("SELECT run_id, status FROM runs WHERE pipeline = ? "
                          "ORDER BY created_at DESC LIMIT 1", (name,)).fetchone()
            eq(r["status"], "succeeded", "%s status" % name)
            n = c.execute("SELECT count(*) FROM steps WHERE run_id = ? AND status = 'succeeded'",
                          (r["run_id"],)).fetchone()[0]
            eq(n, 80, "%s succeeded steps" % name)
        eq(c.execute("SELECT count(*) FROM runs WHERE status IN ('queued', 'running')").fetchone()[0],
           0, "no unfinished runs")

    # ---- 4. files that are not a dagd state database ---------------------
    bad = os.path.join(t.dir, "bad")
    os.makedirs(bad)
    with open(os.path.join(bad, "state.db"), "w") as f:
        f.write("this is not a database\n" * 100)
    p = t.run("mixed.yaml", "--state-dir", bad)
    check(p.returncode != 0, "a non-SQLite state.db is refused")
    check("not a dagd state database" in p.stderr, "clear message:\n" + p.stderr)
    with open(os.path.join(bad, "state.db")) as f:
        check(f.read().startswith("this is not a database"), "the bad file is left untouched")

    newer = os.path.join(t.dir, "newer")
    t.run("mixed.yaml", "--state-dir", newer)
    c = sqlite3.connect(os.path.join(newer, "state.db"))
    version = c.execute("PRAGMA user_version").fetchone()[0]
    c.execute("PRAGMA user_version = %d" % (version + 1))
    c.close()
    p = t.run("mixed.yaml", "--state-dir", newer)
    check(p.returncode != 0, "a newer schema is refused")
    check("newer than this dagd supports" in p.stderr, "clear message:\n" + p.stderr)
    c = sqlite3.connect(os.path.join(newer, "state.db"))
    eq(c.execute("PRAGMA user_version").fetchone()[0], version + 1, "newer database untouched")
    c.close()

print("ok (%d reads during the run, %d with the sqlite3 CLI)" % (reads, cli_reads))
