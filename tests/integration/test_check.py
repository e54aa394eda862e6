#!/usr/bin/python3
"""The check task through `dagd run`, with the sql task upstream: every
result lands in state.db `checks` (run, step, attempt, check, status,
violating rows, a sample), `dagd run` prints them, `dagd show` shows them
(text and JSON); a failed check of severity error fails the step and skips
what depends on it, one of severity warn does not; a check that cannot run
fails the step. Real files, real SQLite, the real engine."""
import json
import os
import sqlite3
import subprocess

from dagdtest import DAGD, Tmp, check, eq

PIPELINE = """\
pipeline: quality
params:
  warehouse: ${state_dir}/wh.db
  min_total: "0"
defaults: {retries: 0}
steps:
  - name: model
    task: sql
    config: {models: models}
  - name: must
    task: check
    needs: [model]
    config:
      table: totals
      checks:
        - {not_null: [account]}
        - {unique: account}
        - {column: account, relationships: {to: accounts, field: id}}
        - {row_count: {min: 1}}
        - {name: positive, expression: "total >= ${min_total}"}
  - name: should
    task: check
    needs: [model]
    config:
      severity: warn
      checks:
        - {table: totals, column: status, accepted_values: [open, closed]}
        - {name: big, sql: "SELECT * FROM totals WHERE total > 100"}
  - {name: after_must, task: sql, needs: [must], config: {models: models2}}
  - {name: after_should, task: sql, needs: [should], config: {models: models2}}
"""

MODEL = """\
-- index: account
SELECT account, sum(amount) AS total, max(status) AS status FROM sales GROUP BY account
"""


def setup(t, amounts):
    os.makedirs(t.state, exist_ok=True)
    with sqlite3.connect(os.path.join(t.state, "wh.db")) as c:
        c.execute("DROP TABLE IF EXISTS sales")
        c.execute("DROP TABLE IF EXISTS accounts")
        c.execute("CREATE TABLE sales (account INTEGER, amount INTEGER, status TEXT)")
        c.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY)")
        c.executemany("INSERT INTO accounts VALUES (?)", [(1,), (2,)])
        c.executemany("INSERT INTO sales VALUES (?, ?, ?)", amounts)


def checks(t, run_id):
    with t.db() as c:
        return {(r["step"], r["name"]): dict(r) for r in
                c.execute("SELECT * FROM checks WHERE run_id = ? ORDER BY id", (run_id,))}


def show(t, run_id, *extra):
    p = subprocess.run([DAGD, "show", run_id, "--state-dir", t.state, *extra], cwd=t.dir,
                       capture_output=True, text=True, timeout=60)
    eq(p.returncode, 0, "dagd show exit code (%s)" % p.stderr)
    return p.stdout


def main():
    with Tmp() as t:
        t.write("quality.yaml", PIPELINE)
        os.makedirs(os.path.join(t.dir, "models"))
        os.makedirs(os.path.join(t.dir, "models2"))
        t.write("models/totals.sql", MODEL)
        t.write("models2/done.sql", "SELECT 1 AS x")

        # 1. all good except warn-level findings: the run succeeds
        setup(t, [(1, 10, "open"), (1, 5, "open"), (2, 200, "weird")])
        p = t.run("quality.yaml", "--state-dir", t.state, rc=0)
        run = t.last_run()["run_id"]
        got = checks(t, run)
        eq(len(got), 7, "check rows: %r" % list(got))
        for name in ("not_null_totals_account", "unique_totals_account",
                     "relationships_totals_account", "row_count_totals", "positive"):
            eq(got[("must", name)]["status"], "passed", name)
            eq(got[("must", name)]["severity"], "error", name)
            eq(got[("must", name)]["violations"], 0, name)
            eq(got[("must", name)]["attempt"], 1, name)
        acc = got[("should", "accepted_values_totals_status")]
        eq((acc["status"], acc["severity"], acc["violations"]), ("warned", "warn", 1), "accepted")
        eq(json.loads(acc["sample"]), [{"account": 2, "total": 200, "status": "weird"}], "sample")
        eq(got[("should", "big")]["status"], "warned", "big")
        steps = t.steps(run)
        eq(steps["should"]["status"], "succeeded", "warn-only step")
        eq(steps["after_should"]["status"], "succeeded", "downstream of warnings")
        check("accepted_values_totals_status" in p.stdout and "warned" in p.stdout,
              "dagd run prints the checks:\n" + p.stdout)
        text = show(t, run)
        check("should" in text and "big" in text and "warned" in text,
              "dagd show lists the checks:\n" + text)
        js = json.loads(show(t, run, "--json"))
        eq(len(js["checks"]), 7, "show --json checks")
        big = [c for c in js["checks"] if c["check"] == "big"][0]
        eq((big["step"], big["status"], big["violations"]), ("should", "warned", 1), "json check")
        eq(big["sample"], [{"account": 2, "total": 200, "status": "weird"}], "json sample")

        # 2. an error-severity failure fails its step and skips downstream;
        # the sibling warn step and its downstream still run
        setup(t, [(1, 10, "open"), (3, -5, "closed"), (None, 1, "open")])
        p = t.run("quality.yaml", "--state-dir", t.state, "--force", rc=1)
        run = t.last_run()["run_id"]
        got = checks(t, run)
        eq(got[("must", "not_null_totals_account")]["status"], "failed", "not null")
        eq(got[("must", "relationships_totals_account")]["violations"], 1, "fk")
        eq(json.loads(got[("must", "relationships_totals_account")]["sample"]),
           [{"account": 3, "total": -5, "status": "closed"}], "fk sample")
        eq(got[("must", "positive")]["status"], "failed", "expression with a param")
        eq(got[("must", "unique_totals_account")]["status"], "passed", "unique")
        steps = t.steps(run)
        eq(steps["must"]["status"], "failed", "failed checks fail the step")
        check("3 of 5 checks failed" in (steps["must"]["error"] or ""), steps["must"]["error"])
        eq(steps["after_must"]["status"], "skipped", "downstream of a failed check")
        eq(steps["should"]["status"], "succeeded", "warn step")
        eq(steps["after_should"]["status"], "succeeded", "warn step's downstream")
        check("failed" in p.stdout and "positive" in p.stdout, "summary:\n" + p.stdout)

        # 3. a check that cannot run fails the step, whatever its severity
        t.write("quality.yaml", PIPELINE.replace("SELECT * FROM totals WHERE total > 100",
                                                 "SELECT * FROM no_such_table"))
        setup(t, [(1, 10, "open")])
        t.run("quality.yaml", "--state-dir", t.state, "--force", rc=1)
        run = t.last_run()["run_id"]
        eq(checks(t, run)[("should", "big")]["status"], "error", "broken check")
        eq(t.steps(run)["should"]["status"], "failed", "broken warn check fails its step")

        # 4. a bad check is refused when the pipeline loads, naming it
        t.write("bad.yaml", PIPELINE.replace("{unique: account}", "{unique: account, colour: red}"))
        p = t.run("bad.yaml", "--state-dir", t.state)
        check(p.returncode != 0 and "unknown key 'colour'" in p.stderr,
              "bad check config: %d %s" % (p.returncode, p.stderr))
    print("ok")


if __name__ == "__main__":
    main()
