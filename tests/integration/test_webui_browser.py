#!/usr/bin/env python3
"""The web UI in a real browser (issue 11): a private `dagd serve --http`
with real runs (a chain, a failed run whose params, error and log carry XSS
payloads, a retried step, a step printing lines while the page watches, a
pipeline file whose name and error carry payloads), then
tests/browser/webui.test.mjs drives Debian's chromium through puppeteer-core
over every page: DOM checks, screenshots (kept in the build tree), and a
failure on any console error, CSP violation, failed load or dialog.

Without chromium, node or tests/browser/node_modules (scripts/setup-deps.sh
installs them) this is a SKIP (exit 77), never a pass."""
import atexit
import json
import os
import shutil
import subprocess
import tempfile

from dagdtest import (BUILD, CHAIN, DICT, FAILING, SOURCE, Daemon, check, evil_copy, free_port,
                      need_test_plugins, skip, wait_for)

need_test_plugins("noop", "sleep", "fail", "flaky")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
NODE = shutil.which("node")
BROWSER_DIR = os.path.join(SOURCE, "tests", "browser")
if not os.path.exists(CHROMIUM):
    skip("no chromium at %s" % CHROMIUM)
if not NODE:
    skip("no node")
if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "puppeteer-core")):
    skip("tests/browser/node_modules missing: run scripts/setup-deps.sh (npm ci)")

EVIL = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
LIVE_LINES = 8
LIVE = """pipeline: live
steps:
  - name: talk
    task: command
    config:
      argv: [sh, -c, 'for i in $(seq 1 %d); do echo "line $i"; if [ $i = 3 ]; then n=0; while [ ! -e "$GATE" ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done; fi; sleep 0.1; done']
      env: {GATE: "%s"}
""" % (LIVE_LINES, "GATE_PATH")
RETRY = """pipeline: retry
steps:
  - name: flaky
    task: flaky
    retries: 2
    retry_delay: 100ms
    config: {failures: 2}
"""
SCHEDULED = """pipeline: scheduled
schedules:
  - {name: nightly, cron: "0 3 * * *"}
steps:
  - {name: only, task: noop}
"""
# The tables page: a pipeline whose file path and table name carry payloads.
EVIL_TABLE = "t_<script>alert(6)</script>"
EVIL_TABLES = """pipeline: evil_tables
steps:
  - name: ingest
    task: load
    config: {path: "/nonexistent/<img src=x onerror=alert(5)>.csv", table: "%s", columns: [a]}
  - name: audit
    task: check
    needs: [ingest]
    config: {table: "%s", checks: [{not_null: [a]}]}
""" % (EVIL_TABLE, EVIL_TABLE)
with open(os.path.join(SOURCE, "pipelines", "sales.yaml")) as f:
    SALES = f.read()

# Data-quality checks on the run page: a warn check whose violating row (its
# sample) carries the payload, and one that passes.
CHECKED = """pipeline: checked
params:
  warehouse: ${state_dir}/checked.db
steps:
  - name: audit
    task: check
    config:
      severity: warn
      checks:
        - {name: evil_city, sql: 'SELECT ''%s'' AS city'}
        - {name: nothing, sql: 'SELECT 1 WHERE 0'}
""" % EVIL
# Runs of partitions, made by a backfill: the run page names both.
DAILY = """pipeline: daily
partitions:
  daily: {start: "2024-01-01", timezone: UTC}
steps:
  - {name: day, task: noop}
"""

# Over the page's BIG_GRAPH (400 steps): drawn on canvases.
WIDE_STEPS = 420
WIDE = "pipeline: wide\nsteps:\n" + "".join("  - {name: s%d, task: noop%s}\n" % (
    k, ", needs: [s%d]" % (k // 2) if k else "") for k in range(WIDE_STEPS))
# A pipeline file that does not load, with a payload in its name and error.
BROKEN_NAME = '<svg onload=alert(3)>'
BROKEN = """pipeline: broken
steps:
  - name: '%s'
    task: noop
""" % EVIL


port = free_port()
gate_dir = tempfile.mkdtemp(prefix="dagd-webui-gate-")
atexit.register(shutil.rmtree, gate_dir, ignore_errors=True)  # also when a check fails
GATE = os.path.join(gate_dir, "go")
LIVE = LIVE.replace("GATE_PATH", GATE)
out = os.path.join(BUILD, "tests", "browser-screenshots")
os.makedirs(out, exist_ok=True)
with Daemon({"chain": CHAIN, "failing": FAILING, "live": LIVE, "retry": RETRY,
             "scheduled": SCHEDULED, "wide": WIDE, BROKEN_NAME: BROKEN, "sales": SALES,
             "evil_tables": EVIL_TABLES, "checked": CHECKED, "daily": DAILY},
            args=["--http", "127.0.0.1:%d" % port], start=False) as d:
    # The sales pipeline finds its SQL models next to its file.
    os.symlink(os.path.join(SOURCE, "pipelines", "sales"), os.path.join(d.pipes, "sales"))
    d.start()
    # A sales run on data whose busiest cities include one named with a payload.
    sales_data, _ = evil_copy(os.path.join(gate_dir, "sales-data"), EVIL)
    sales = d.ctl("run", "sales", "--param", "data_dir=" + sales_data, "--param", "wiki_api=",
                  "--param", "translations_dir=" + DICT, "--wait", json_out=True, timeout=300).json
    check(sales["status"] == "succeeded", "sales run: %r" % sales)
    ok = d.ctl("run", "chain", "--wait", json_out=True).json["run_id"]
    bad = d.ctl("run", "failing", "--param", "msg=" + EVIL, "--wait", json_out=True,
                check_rc=1).json["run_id"]
    retry = d.ctl("run", "retry", "--wait", json_out=True).json["run_id"]
    show = d.ctl("show", retry, json_out=True).json
    attempts = [s["attempts"] for s in show["steps"] if s["step"] == "flaky"][0]
    check(attempts == 3, "flaky needed 3 attempts: %r" % show)
    wide = d.ctl("run", "wide", "--wait", json_out=True, timeout=300).json["run_id"]
    checked = d.ctl("run", "checked", "--wait", json_out=True).json["run_id"]
    backfill = d.ctl("backfill", "daily", "--partitions", "2024-02-28,2024-02-29").stdout.strip()
    wait_for(lambda: json.loads(d.ctl("backfill", "show", backfill, "--json").stdout)["status"]
               == "done", 30, "the backfill")
    with d.db() as c:
        leap = c.execute("SELECT run_id FROM runs WHERE backfill_id = ? AND partition = "
                         "'2024-02-29'", (backfill,)).fetchone()[0]
    live = d.ctl("run", "live", json_out=True).json["run_id"]
    cfg = {
        "base": "http://127.0.0.1:%d" % port,
        "out": out,
        "chromium": CHROMIUM,
        "pipelines": ["chain", "failing", "live", "retry", "scheduled", "wide", "sales", "evil_tables",
                      "checked", "daily"],
        "checked_run": checked,
        "backfill": backfill,
        "leap_run": leap,
        "all_runs": [ok, bad, retry, live],
        "wide_run": wide,
        "sales_run": sales["run_id"],
        "evil_table": EVIL_TABLE,
        "wide_steps": WIDE_STEPS,
        "ok_run": ok,
        "ok_steps": ["first", "second", "third"],
        "ok_edges": 2,
        "failed_run": bad,
        "retry_run": retry,
        "retry_attempts": 3,
        "live_run": live,
        "live_lines": LIVE_LINES,
        "gate": GATE,
        "evil_text": EVIL,
        "schedule": "nightly",
    }
    env = dict(os.environ, PUPPETEER_SKIP_DOWNLOAD="1")
    port2 = free_port()
    token = "browser-token-0123456789"
    with open(os.path.join(gate_dir, "token"), "w") as f:
        f.write(token + "\n")
    os.chmod(os.path.join(gate_dir, "token"), 0o600)
    # No event streams on this one: its run pages must poll.
    gate2 = os.path.join(gate_dir, "go2")
    waiter = LIVE.replace("pipeline: live", "pipeline: waiter").replace(GATE, gate2)
    d2 = Daemon({"chain": CHAIN, "waiter": waiter}, config="http_token_file: %s\nlimits:\n  max_http_streams: 0\n"
                % os.path.join(gate_dir, "token"),
                args=["--http", "127.0.0.1:%d" % port2])
    cfg["actions"] = {"base": "http://127.0.0.1:%d" % port2, "token": token,
                      "waiting_run": d2.ctl("run", "waiter", json_out=True).json["run_id"],
                      "gate": gate2}
    p = subprocess.run([NODE, os.path.join(BROWSER_DIR, "webui.test.mjs"), json.dumps(cfg)],
                       capture_output=True, text=True, timeout=180, cwd=BROWSER_DIR, env=env)
    print(p.stdout)
    d2_log = d2.logtext()
    d2.stop()
    d2.__exit__(None, None, None)
    check(p.returncode == 0, "browser test failed (exit %d):\n%s\n%s\ndaemon log:\n%s"
          % (p.returncode, p.stdout, p.stderr, d.logtext()[-3000:] + d2_log[-2000:]))
    check(d.stop() == 0, "daemon exit status")
print("screenshots in " + out)
print("ok")
