#!/usr/bin/env python3
"""Schedules and sensors in dagd serve (DESIGN 3b): a per-second schedule
starts runs with trigger `schedule` and records ticks; catch-up after
downtime; a sensor starts exactly one run per complete file (after close,
not before; moved in), none for names that do not match, and none again
after a restart. Waits are generous and only wait for events; the checks
that nothing happens look after a later event or a quiet period that a
correct daemon cannot fail."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from dagdtest import Daemon, check, fail, need_test_plugins, wait_for  # noqa: E402

SCHED = """pipeline: sched
params: {tag: default}
schedules:
  - name: every_second
    cron: "* * * * * *"
    params: {tag: "from-${pipeline}"}
steps:
  - name: only
    task: noop
"""

SCHED_NONE = """pipeline: sched
params: {tag: default}
steps:
  - name: only
    task: noop
"""

CATCHUP = """pipeline: catchup
concurrency: 1
schedules:
  - name: catchup_tick
    cron: "* * * * * *"
    catchup: 3
steps:
  - name: only
    task: sleep
    config: {ms: 300}
"""

SENSOR = """pipeline: sens
params: {file: none, dir: none, fname: none}
sensors:
  - name: drop
    watch: %s
    pattern: "*data*.json"
    params: {file: "${sensor.path}", dir: "${sensor.dir}", fname: "${sensor.name}"}
steps:
  - name: only
    task: noop
"""


def runs(d, trigger, pipeline=None):
    with d.db() as c:
        q = "SELECT * FROM runs WHERE trigger = ?"
        args = [trigger]
        if pipeline:
            q += " AND pipeline = ?"
            args.append(pipeline)
        return c.execute(q + " ORDER BY created_at", args).fetchall()


def ticks(d, name):
    with d.db() as c:
        return c.execute("SELECT * FROM ticks WHERE name = ? ORDER BY ts, id", (name,)).fetchall()


def test_schedule():
    with Daemon({"sched": SCHED}) as d:
        got = wait_for(lambda: len(runs(d, "schedule")) >= 3 and runs(d, "schedule"), 30,
                       "three scheduled runs")
        for r in got:
            check(r["pipeline"] == "sched", "pipeline of a scheduled run: %r" % r["pipeline"])
            check(json.loads(r["params"]).get("tag") == "from-sched",
                  "schedule params reach the run: %s" % r["params"])
        ids = {r["run_id"] for r in got}
        t = wait_for(lambda: len(ticks(d, "every_second")) >= 3 and ticks(d, "every_second"), 30,
                     "ticks")
        for row in t:
            check(row["kind"] == "schedule", "tick kind %r" % row["kind"])
            check(row["ts"] % 1000 == 0, "tick ts is the boundary: %d" % row["ts"])
        started = [row for row in t if row["status"] == "started"]
        check(len(started) >= 3, "started ticks: %s" % [dict(x) for x in t])
        tick_runs = {row["run_id"] for row in started}
        check(ids <= tick_runs | {row["run_id"] for row in ticks(d, "every_second")},
              "every scheduled run has its tick")
        check(len({row["ts"] for row in t}) == len(t), "one tick per boundary")
        d.wait_run(got[0]["run_id"])

        pl = d.ctl("pipelines", json_out=True).json["pipelines"]
        check(pl[0]["schedules"] == ["every_second"] and pl[0]["sensors"] == [],
              "pipelines lists the schedule: %s" % pl)
        p = d.ctl("ticks", "every_second", "--limit", "2", json_out=True)
        check(len(p.json["ticks"]) == 2, "dagctl ticks --limit: %s" % p.stdout)
        check(p.json["ticks"][0]["ts"] >= p.json["ticks"][1]["ts"], "newest first")
        check(p.json["schedules"] == 1, "one armed schedule: %s" % p.stdout)
        armed = p.json["armed"]
        check(len(armed) == 1 and armed[0]["kind"] == "schedule" and
              armed[0]["pipeline"] == "sched" and armed[0]["name"] == "every_second" and
              armed[0]["cron"] == "* * * * * *" and armed[0]["timezone"] == "UTC",
              "armed schedule: %s" % p.stdout)
        check(armed[0]["next"] % 1000 == 0 and armed[0]["next"] > p.json["ticks"][0]["ts"] - 5000,
              "next boundary: %s" % p.stdout)
        p = d.ctl("ticks")
        check("every_second" in p.stdout and "started" in p.stdout, "dagctl ticks: " + p.stdout)
        d.ctl("ticks", "a", "b", check_rc=2)

        # Reload without the schedule: its timer stops.
        d.write_pipeline("sched", SCHED_NONE)
        d.ctl("reload")
        wait_for(lambda: d.ctl("ticks", json_out=True).json["schedules"] == 0, 10,
                 "the schedule to be removed")
        n = len(ticks(d, "every_second"))
        time.sleep(2.5)
        check(len(ticks(d, "every_second")) == n, "no ticks after the schedule was removed")
        # And back: armed again.
        d.write_pipeline("sched", SCHED)
        d.ctl("reload")
        wait_for(lambda: len(ticks(d, "every_second")) > n, 30, "ticks after re-adding")
        # A changed cron re-arms the timer: a yearly boundary, nothing now.
        d.write_pipeline("sched", SCHED.replace('"* * * * * *"', '"0 0 1 1 *"'))
        d.ctl("reload")
        wait_for(lambda: d.ctl("ticks", json_out=True).json["armed"][0]["cron"] == "0 0 1 1 *",
                 10, "the changed schedule")
        n = len(ticks(d, "every_second"))
        time.sleep(2.5)
        check(len(ticks(d, "every_second")) == n, "no ticks after the cron changed")
        nxt = d.ctl("ticks", json_out=True).json["armed"][0]["next"]
        check(time.gmtime(nxt / 1000)[1:6] == (1, 1, 0, 0, 0), "next is Jan 1 00:00: %s" % nxt)
        check(d.stop() == 0, "dagd serve exits 0")


def test_catchup():
    need_test_plugins("sleep")
    with Daemon({"catchup": CATCHUP}) as d:
        wait_for(lambda: ticks(d, "catchup_tick"), 30, "a first tick")
        check(d.stop() == 0, "dagd serve exits 0")
        before = len(ticks(d, "catchup_tick"))
        time.sleep(4.5)  # at least 4 boundaries pass while it is down
        d.start()
        t = ticks(d, "catchup_tick")[before:]
        caught = [row for row in t if row["reason"] == "catchup"]
        check(len(caught) == 3, "three caught-up ticks: %s" % [dict(x) for x in t])
        for row in caught:
            check(row["status"] == "started" and row["run_id"], "catch-up runs: %s" % dict(row))
            check(d.run_row(row["run_id"])["trigger"] == "schedule", "catch-up trigger")
        skipped = [row for row in t if row["status"] == "skipped" and "missed" in row["reason"]]
        check(len(skipped) == 1, "one skipped row for the rest: %s" % [dict(x) for x in t])
        check(skipped[0]["ts"] < caught[0]["ts"] < caught[1]["ts"] < caught[2]["ts"],
              "order of catch-up ticks")
        # concurrency 1: they wait for each other, and all of them run.
        for row in caught:
            check(d.wait_run(row["run_id"])["status"] == "succeeded", "caught-up run succeeds")


BACKLOG = """pipeline: backlog
concurrency: 1
schedules:
  - name: backlog_tick
    cron: "* * * * * *"
steps:
  - name: slow
    task: sleep
    config: {ms: 8000}
"""


def test_schedule_backlog():
    """A pipeline slower than its schedule: one run waits, later ticks skip."""
    need_test_plugins("sleep")
    with Daemon({"backlog": BACKLOG}) as d:
        def skipped():
            return [t for t in ticks(d, "backlog_tick") if t["status"] == "skipped"]
        got = wait_for(skipped, 30, "a skipped tick")
        check("still queued" in got[0]["reason"], "skip reason: %s" % dict(got[0]))
        st = d.ctl("status", json_out=True).json
        check(st["queued"] <= 1 and st["running"] <= 1, "no pile-up: %s" % st)
        wait_for(lambda: len(skipped()) >= 3, 30, "more skipped ticks")
        st = d.ctl("status", json_out=True).json
        check(st["queued"] <= 1, "still no pile-up: %s" % st)
        check(d.stop() == 0, "dagd serve exits 0")


def sensor_runs(d):
    return runs(d, "sensor", "sens")


def wait_runs(d, n, what):
    """Wait for n sensor runs; on a timeout say what the sensor saw."""
    end = time.monotonic() + 30
    while time.monotonic() < end:
        got = sensor_runs(d)
        if len(got) >= n:
            return got
        time.sleep(0.02)
    fail("timed out waiting for %s: runs %s\nticks: %s\nlog:\n%s"
         % (what, [json.loads(r["params"])["fname"] for r in sensor_runs(d)],
            [(x["status"], x["reason"]) for x in ticks(d, "drop")], d.logtext()[-4000:]))


def test_sensor():
    with Daemon(start=False) as d:
        inbox = os.path.join(d.tmp, "incoming")
        outside = os.path.join(d.tmp, "outside")
        os.makedirs(inbox)
        os.makedirs(outside)
        # Claimed before the daemon ever starts: found by the start scan.
        with open(os.path.join(inbox, "data0.json"), "w") as f:
            f.write("{}")
        d.write_pipeline("sens", SENSOR % inbox)
        d.start()
        wait_runs(d, 1, "the run of a file present at start")

        # Written slowly: no run while open, exactly one after close.
        path1 = os.path.join(inbox, "data1.json")
        f = open(path1, "w")
        f.write('{"a": ')
        f.flush()
        time.sleep(1.5)
        f.write("1}")
        f.flush()
        time.sleep(1.0)
        check(len(sensor_runs(d)) == 1, "no run while the file is still open")
        f.close()
        got = wait_runs(d, 2, "a run after close")
        params = json.loads(got[1]["params"])
        check(params["file"] == path1, "sensor.path: %s" % params)
        check(params["dir"] == inbox, "sensor.dir: %s" % params)
        check(params["fname"] == "data1.json", "sensor.name: %s" % params)
        d.wait_run(got[1]["run_id"])

        # A name that does not match, then a file moved in.
        with open(os.path.join(inbox, "other.txt"), "w") as f:
            f.write("x")
        # A hidden temp file (rsync writes .NAME.XXXXXX, then renames): as in
        # the shell, a leading dot must be matched explicitly.
        with open(os.path.join(inbox, ".tmp-data2.json"), "w") as f:
            f.write("{}")
        path2 = os.path.join(outside, "data2.json")
        with open(path2, "w") as f:
            f.write("{}")
        os.rename(path2, os.path.join(inbox, "data2.json"))
        got = wait_runs(d, 3, "a run for the moved-in file")
        time.sleep(1.0)
        got = sensor_runs(d)
        check(len(got) == 3, "one run for the moved file, none for other.txt: %s"
              % [r["params"] for r in got])
        check(json.loads(got[2]["params"])["fname"] == "data2.json", "moved file params")

        t = ticks(d, "drop")
        check(all(row["kind"] == "sensor" for row in t), "sensor tick kind")
        started = [row for row in t if row["status"] == "started"]
        check(len(started) == 3, "three started sensor ticks: %s" % [dict(x) for x in t])
        check({row["run_id"] for row in started} == {r["run_id"] for r in got},
              "ticks name the runs")
        check(not any("other.txt" in (row["reason"] or "") for row in t), "other.txt ignored")
        check(not any(".tmp-data2" in (row["reason"] or "") for row in t), "hidden file ignored")
        check(any("moved in" in row["reason"] for row in started), "reason says moved in")
        check(any("closed after writing" in row["reason"] for row in started),
              "reason says closed after writing")
        for r in got:
            d.wait_run(r["run_id"])

        # Restart: the files already seen do not run again; one that came
        # while the daemon was down does.
        check(d.stop() == 0, "dagd serve exits 0")
        with open(os.path.join(inbox, "data3.json"), "w") as f:
            f.write("{}")
        # Still being written while the daemon starts: the start scan must
        # leave it until it is closed.
        f4 = open(os.path.join(inbox, "data4.json"), "w")
        f4.write('{"part": ')
        f4.flush()
        d.start()
        got = wait_runs(d, 4, "the run of a file written while down")
        time.sleep(1.0)
        got = sensor_runs(d)
        check(len(got) == 4, "no second run for the same files after a restart, none for an "
              "open file: %s" % [r["params"] for r in got])
        check(json.loads(got[3]["params"])["fname"] == "data3.json", "data3 ran")
        check(any(row["status"] == "skipped" and "data4.json: still open for writing"
                  in row["reason"] for row in ticks(d, "drop")),
              "the open file is recorded as waiting: %s" % [dict(x) for x in ticks(d, "drop")])
        f4.write("1}")
        f4.close()
        got = wait_runs(d, 5, "the run of the file once closed")
        check(json.loads(got[4]["params"])["fname"] == "data4.json", "data4 ran after close")

        # Moved in while its writer still writes: one run, after the close.
        path5 = os.path.join(outside, "data5.json")
        f5 = open(path5, "w")
        f5.write('{"part": ')
        f5.flush()
        os.rename(path5, os.path.join(inbox, "data5.json"))
        time.sleep(1.0)
        check(len(sensor_runs(d)) == 5, "no run for a moved-in file still being written")
        f5.write("2}")
        f5.close()
        got = wait_runs(d, 6, "the run of the moved file once closed")
        check(json.loads(got[5]["params"])["fname"] == "data5.json", "data5 ran after close")

        # Rewritten file (new size/mtime) is a new version: one more run.
        with open(path1, "w") as f:
            f.write('{"a": 2, "b": 3}')
        wait_runs(d, 7, "a run for the rewritten file")
        time.sleep(1.0)
        names = [json.loads(r["params"])["fname"] for r in sensor_runs(d)]
        check(sorted(names) == ["data%d.json" % i for i in (0, 1, 1, 2, 3, 4, 5)],
              "exactly one run per file version: %s\nticks: %s"
              % (names, [(x["status"], x["reason"]) for x in ticks(d, "drop")]))
        check(d.stop() == 0, "dagd serve exits 0")


def test_sensor_late():
    """A directory that does not exist yet is watched once it appears."""
    with Daemon(start=False) as d:
        inbox = os.path.join(d.tmp, "later")
        d.write_pipeline("sens", SENSOR % inbox)
        d.start()
        t = wait_for(lambda: ticks(d, "drop"), 30, "a tick for the missing directory")
        check(t[0]["status"] == "failed" and "cannot watch" in t[0]["reason"],
              "missing directory tick: %s" % dict(t[0]))
        armed = d.ctl("ticks", json_out=True).json["armed"]
        check(len(armed) == 1 and armed[0]["kind"] == "sensor" and not armed[0]["watching"]
              and armed[0]["watch"] == inbox and armed[0]["pattern"] == "*data*.json",
              "armed sensor, not watching: %s" % armed)
        check("directory missing" in d.ctl("ticks").stdout, "dagctl ticks shows the missing dir")
        os.makedirs(inbox)
        with open(os.path.join(inbox, "data9.json"), "w") as f:
            f.write("{}")
        got = wait_for(lambda: sensor_runs(d), 60, "a run once the directory exists")
        check(json.loads(got[0]["params"])["fname"] == "data9.json", "late file params")
        # Watched from then on.
        with open(os.path.join(inbox, "data10.json"), "w") as f:
            f.write("{}")
        wait_for(lambda: len(sensor_runs(d)) == 2, 30, "a run for the next file")
        check(d.ctl("ticks", json_out=True).json["armed"][0]["watching"], "watching now")
        check(d.stop() == 0, "dagd serve exits 0")


def main():
    need_test_plugins("noop")
    which = sys.argv[1:] or ["schedule", "catchup", "schedule_backlog", "sensor", "sensor_late"]
    for name in which:
        globals()["test_" + name]()
        print("ok - " + name)


if __name__ == "__main__":
    main()
