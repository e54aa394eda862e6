#!/usr/bin/env python3
"""dagd serve driven by dagctl: status, pipelines, run (--wait, exit codes),
runs, show, logs, cancel, retry, reload (dagctl, SIGHUP, directory watch),
run id prefixes, and the daemon-unreachable exit code."""
import json
import os
import signal
import subprocess
import time

from dagdtest import (CHAIN, DAGCTL, FAILING, NOOP, SLOW, Daemon, check, fail, need_test_plugins,
                       read_line, request, wait_for)

need_test_plugins("noop", "sleep", "fail")

# A param default that uses a built-in (checked at submit like the executor does).
BUILTIN = """pipeline: builtin
params:
  where: "${state_dir}/somewhere"
steps:
  - name: only
    task: noop
"""

with Daemon({"noop": NOOP, "chain": CHAIN, "failing": FAILING, "slow": SLOW,
             "builtin": BUILTIN}) as d:
    # status and pipelines
    st = d.ctl("status", json_out=True).json
    check(st["pipelines"] == 5 and st["pipeline_errors"] == 0, "status: %r" % st)
    check(st["running"] == 0 and st["queued"] == 0, "status: %r" % st)
    pl = d.ctl("pipelines", json_out=True).json["pipelines"]
    names = sorted(p["name"] for p in pl)
    check(names == ["builtin", "chain", "failing", "noop", "slow"], "pipelines: %r" % names)
    check(all(p["loaded"] and p["errors"] == [] for p in pl), "pipelines: %r" % pl)
    text = d.ctl("pipelines").stdout
    check("chain" in text and "ok" in text, "pipelines text: " + text)

    # run --wait: success exits 0 and streams every step
    p = d.ctl("run", "chain", "--wait", json_out=True)
    res = p.json
    check(res["status"] == "succeeded", "chain: %r" % res)
    kinds = [e.get("kind") for e in p.events]
    check(kinds[0] == "accepted", "first event: %r" % kinds)
    steps_done = {e["step"] for e in p.events if e.get("kind") == "step" and e["status"] == "succeeded"}
    check(steps_done == {"first", "second", "third"}, "steps streamed: %r" % steps_done)
    chain_id = res["run_id"]
    check(len(chain_id) == 32, "run id: " + chain_id)
    check(d.run_row(chain_id)["status"] == "succeeded", "stored status")

    # an unchanged re-run ends inside submit (all steps memoized): the
    # stream still carries every step, after the accepted event
    p = d.ctl("run", "chain", "--wait", json_out=True)
    check(p.json["status"] == "succeeded", "memoized: %r" % p.json)
    check(p.events[0]["kind"] == "accepted", "memoized first event: %r" % p.events[0])
    skipped = {e["step"] for e in p.events if e.get("kind") == "step" and e["status"] == "skipped"}
    check(skipped == {"first", "second", "third"}, "memoized steps streamed: %r" % p.events)

    # plain (non-terminal) progress lines
    p = d.ctl("run", "chain", "--wait", "--force")
    check("step second: succeeded" in p.stdout and "succeeded" in p.stdout.splitlines()[-1],
          "plain progress: " + p.stdout)

    # --only / --from select steps
    p = d.ctl("run", "chain", "--wait", "--force", "--only", "third", json_out=True)
    show = d.ctl("show", p.json["run_id"], json_out=True).json
    st = {s_["step"]: s_["status"] for s_ in show["steps"]}
    check(st == {"first": "skipped", "second": "skipped", "third": "succeeded"}, "--only: %r" % st)
    p = d.ctl("run", "chain", "--wait", "--force", "--from", "second", json_out=True)
    show = d.ctl("show", p.json["run_id"], json_out=True).json
    st = {s_["step"]: s_["status"] for s_ in show["steps"]}
    check(st == {"first": "skipped", "second": "succeeded", "third": "succeeded"}, "--from: %r" % st)

    # a failing run: exit 1, downstream skipped, error recorded
    p = d.ctl("run", "failing", "--wait", "--param", "msg=custom failure", check_rc=1,
              json_out=True)
    failed_id = p.json["run_id"]
    check(p.json["status"] == "failed", "failing: %r" % p.json)
    show = d.ctl("show", failed_id, json_out=True).json
    st = {s["step"]: s["status"] for s in show["steps"]}
    check(st == {"ok": "succeeded", "broken": "failed", "after": "skipped"}, "steps: %r" % st)
    check(show["run"]["status"] == "failed", "show: %r" % show["run"])

    # built-in params (state_dir) resolve at submit
    p = d.ctl("run", "builtin", "--wait", "--param", "where=${state_dir}/else", json_out=True)
    check(p.json["status"] == "succeeded", "builtin: %r" % p.json)

    # run without --wait returns the id at once
    p = d.ctl("run", "noop")
    rid = p.stdout.strip()
    check(len(rid) == 32, "run id printed: %r" % p.stdout)
    d.wait_run(rid)

    # usage / invalid pipeline: exit 2
    d.ctl("run", "nosuch", check_rc=2)
    d.ctl("run", "chain", "--param", "nosuch=1", check_rc=2)
    d.ctl("run", "chain", "--from", "nosuch", check_rc=2)
    d.ctl("run", check_rc=2)
    d.ctl("frobnicate", check_rc=2)
    d.ctl("show", "zzzz", check_rc=2)

    # runs: newest first, filters
    runs = d.ctl("runs", json_out=True).json["runs"]
    check(runs[0]["run_id"] == rid, "newest first: %r" % [r["run_id"] for r in runs])
    runs = d.ctl("runs", "--pipeline", "chain", json_out=True).json["runs"]
    check(len(runs) == 5 and all(r["pipeline"] == "chain" for r in runs), "filter: %r" % runs)
    runs = d.ctl("runs", "--limit", "1", json_out=True).json["runs"]
    check(len(runs) == 1, "limit: %r" % runs)
    d.ctl("runs", "--limit", "0", check_rc=2)

    # show by unique prefix; an ambiguous prefix is refused
    all_ids = [r["run_id"] for r in d.ctl("runs", json_out=True).json["runs"]]
    plen = 1
    while len({i[:plen] for i in all_ids}) < len(all_ids):
        plen += 1
    show = d.ctl("show", failed_id[:plen], json_out=True).json
    check(show["run"]["run_id"] == failed_id, "prefix show")
    common = os.path.commonprefix(all_ids)
    if len(common) < 32:
        p = d.ctl("show", common or all_ids[0][:1], check_rc=None)
        check(p.returncode == 2 and "AMBIGUOUS" in p.stderr, "ambiguous: " + p.stderr)
    text = d.ctl("show", failed_id).stdout
    check("broken" in text and "failed" in text, "show text: " + text)

    # logs: every stored event of the run, per step too
    logs = d.ctl("logs", failed_id, json_out=True)
    check(len(logs.events) > 0, "logs: no events")
    check(all(e["kind"] == "log" for e in logs.events), "logs events: %r" % logs.events[:3])
    seqs = [e["seq"] for e in logs.events]
    check(seqs == sorted(seqs), "logs in order")
    # "after" resumes from a seq (dagctl uses it when a reply says truncated)
    s_ = d.connect()
    s_.sendall(request("logs", {"run": failed_id, "after": seqs[1]}))
    rest, later = b"", []
    while True:
        line, rest = read_line(s_, rest)
        msg = json.loads(line)
        if "event" in msg:
            later.append(msg["event"]["seq"])
        else:
            break
    s_.close()
    check(later == seqs[2:], "after: %r vs %r" % (later, seqs))
    check(msg["result"]["truncated"] is False and msg["result"]["last_seq"] == seqs[-1],
          "logs result: %r" % msg)
    step_logs = d.ctl("logs", failed_id, "broken", json_out=True)
    check(step_logs.events and all(e.get("step") == "broken" for e in step_logs.events),
          "step logs: %r" % step_logs.events)
    check(len(step_logs.events) < len(logs.events), "step filter")

    # cancel a running run; canceling again is a conflict
    rid = d.ctl("run", "slow").stdout.strip()
    wait_for(lambda: (d.run_row(rid) or {"status": ""})["status"] == "running", 10, "slow running")
    p = d.ctl("cancel", rid[:12], json_out=True)
    check(p.json["run_id"] == rid, "cancel: %r" % p.json)
    row = d.wait_run(rid, timeout=20)
    check(row["status"] == "canceled", "canceled: %r" % dict(row))
    p = d.ctl("cancel", rid, check_rc=1)
    check("CONFLICT" in p.stderr, p.stderr)

    # logs --follow of a running run ends when the run ends
    rid = d.ctl("run", "chain", "--force").stdout.strip()
    p = d.ctl("logs", rid, "--follow", json_out=True)
    check(p.json["status"] == "succeeded", "follow: %r" % p.json)
    check(any(e.get("step") == "third" for e in p.events), "follow saw the last step")

    # retry: a new run, trigger retry, parent recorded, only failed+downstream re-run
    p = d.ctl("retry", failed_id, "--wait", check_rc=1, json_out=True)
    retry_id = p.json["run_id"]
    check(retry_id != failed_id, "retry is a new run")
    row = d.run_row(retry_id)
    check(row["trigger"] == "retry", "trigger: %r" % row["trigger"])
    show = d.ctl("show", retry_id, json_out=True).json
    check(show["run"]["parent_run_id"] == failed_id, "parent: %r" % show["run"])
    retried = {s["step"]: s["status"] for s in show["steps"]}
    check(retried.get("broken") == "failed", "retry re-ran the failed step: %r" % retried)
    check(retried.get("ok") in ("skipped", None), "retry did not re-run ok: %r" % retried)

    # reload: an invalid edit keeps the old version and reports the position
    d.write_pipeline("noop", NOOP + "  - name: second\n    task: noop\n    needs: [nowhere]\n")
    p = d.ctl("reload", json_out=True)
    check(p.json["pipeline_errors"] == 1, "reload: %r" % p.json)
    pl = {p_["file"]: p_ for p_ in d.ctl("pipelines", json_out=True).json["pipelines"]}
    entry = pl[os.path.join(d.pipes, "noop.yaml")]
    check(entry["loaded"] and entry["steps"] == 1, "old version active: %r" % entry)
    check(entry["errors"] and entry["errors"][0]["line"] == 7, "error position: %r" % entry)
    text = d.ctl("pipelines").stdout
    check("noop.yaml:7:13: error:" in text, "pipelines shows FILE:LINE:COL: " + text)
    rid = d.ctl("run", "noop").stdout.strip()
    check(d.wait_run(rid)["status"] == "succeeded", "old version still runs")

    # SIGHUP reloads a fixed file
    d.write_pipeline("noop", NOOP + "  - name: second\n    task: noop\n")
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: {p_["name"]: p_ for p_ in d.ctl("pipelines", json_out=True).json["pipelines"]}
             ["noop"]["steps"] == 2, 10, "SIGHUP reload")

    # a new file in the directory is picked up without any signal
    d.write_pipeline("extra", NOOP.replace("pipeline: noop", "pipeline: extra"))
    wait_for(lambda: "extra" in [p_["name"] for p_ in
                                 d.ctl("pipelines", json_out=True).json["pipelines"]],
             10, "directory watch reload")

    # SIGTERM: exit 0
    check(d.stop() == 0, "exit status after SIGTERM:\n" + d.logtext())

    # daemon unreachable: exit 3
    p = d.ctl("status", check_rc=3)
    check("cannot connect" in p.stderr, p.stderr)
    # a directory or a plain file given as --socket is named as such (issue 15)
    p = subprocess.run([DAGCTL, "--socket", d.tmp, "status"], capture_output=True, text=True)
    check(p.returncode == 3 and "is a directory, not dagd's socket" in p.stderr, p.stderr)
    p = subprocess.run([DAGCTL, "--socket", d.log, "status"], capture_output=True, text=True)
    check(p.returncode == 3 and "is not a socket" in p.stderr, p.stderr)

# dagctl pipelines shows descriptions, schedules and sensors (issue 15)
DESCRIBED = """pipeline: described
description: Loads the nightly files
schedules:
  - {name: nightly, cron: "0 2 * * *"}
steps:
  - name: only
    task: noop
"""
with Daemon({"described": DESCRIBED, "noop": NOOP}) as d:
    text = d.ctl("pipelines").stdout
    line = [l for l in text.splitlines() if l.startswith("described ")]
    check(line and "nightly" in line[0] and "Loads the nightly files" in line[0],
          "pipelines text: " + text)

print("ok")
