#!/usr/bin/python3
"""Memoization, end to end with real processes: a pipeline of `copy` steps
(a, b -> c -> d) whose inputs and outputs are files. Change one input: only
the steps depending on it run; change a step's config: that step and its
downstream; touch a file without changing it: nothing runs; --force: all;
delete an output: its step runs. `dagd plan` predicts each run, with the
reasons. A failed run does not spoil the memo."""
import os
import shutil
import tempfile
import time

from dagdtest import check, dagd, fail, last_run, plan, ran_steps, run_steps

PIPELINE = """\
pipeline: memo
params:
  dir: "."
  unused: "x"
steps:
  - name: a
    task: copy
    config: {from: ["${dir}/in_a.txt"], to: "${dir}/mid_a.txt"}
  - name: b
    task: copy
    config: {from: ["${dir}/in_b.txt"], to: "${dir}/mid_b.txt"}
  - name: c
    task: copy
    needs: [a, b]
    config: {from: ["${dir}/mid_a.txt", "${dir}/mid_b.txt"], to: "${dir}/out_c.txt", tag: TAG}
  - name: d
    task: copy
    needs: [c]
    config: {from: ["${dir}/out_c.txt"], to: "${dir}/out_d.txt"}
"""
ALL = {"a", "b", "c", "d"}


def write(path, text, mtime=None):
    with open(path, "w") as f:
        f.write(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def step(work, want_ran, want_reasons=None, *args):
    """Plan, check the prediction, run, check what ran."""
    p = plan("memo.yaml", "--state-dir", "state", *args, cwd=work)
    predicted = {s for s, v in p.items() if v["action"] == "run"}
    check(predicted == want_ran, "plan predicted %s, wanted %s (%s)"
          % (sorted(predicted), sorted(want_ran), {s: v["reason"] for s, v in p.items()}))
    for s, reason in (want_reasons or {}).items():
        check(p[s]["reason"] == reason, "plan reason of %s: %r, wanted %r" % (s, p[s]["reason"], reason))
    r = dagd("run", "memo.yaml", "--state-dir", "state", *args, cwd=work)
    check(r.returncode == 0, "dagd run failed: %s" % r.stderr)
    state = os.path.join(work, "state")
    run = last_run(state)
    check(run["status"] == "succeeded", "run status %s" % run["status"])
    ran = ran_steps(state)
    check(ran == want_ran, "ran %s, wanted %s" % (sorted(ran), sorted(want_ran)))
    steps = run_steps(state, run["run_id"])
    for s in ALL - want_ran:
        check(steps[s]["status"] == "skipped" and steps[s]["skip_reason"] == "memoized",
              "step %s: %s/%s, wanted skipped/memoized" % (s, steps[s]["status"], steps[s]["skip_reason"]))
    for s in want_ran:
        check(steps[s]["fingerprint"] and len(steps[s]["fingerprint"]) == 32,
              "step %s has no fingerprint" % s)
    return steps


def downstream(graph_dot, start):
    """start and every step downstream of it, from `dagd graph` output."""
    import re
    edges = re.findall(r'"?([A-Za-z0-9_.-]+)"?\s*->\s*"?([A-Za-z0-9_.-]+)"?', graph_dot)
    out, todo = {start}, [start]
    while todo:
        n = todo.pop()
        for a, b in edges:
            if a == n and b not in out:
                out.add(b)
                todo.append(b)
    return out


def sales(work):
    """The same promises on the sales pipeline and data/sales-tiny: change
    dataset2.json and only extract_dataset2 and the steps downstream of it
    run; touch dataset1.xlsx and nothing runs."""
    from dagdtest import BUILD, SOURCE, FakeWiki, fast_sales_yaml
    if not os.path.exists(os.path.join(BUILD, "tasks", "extract")) or \
            not os.path.exists(os.path.join(BUILD, "tasks", "report")):
        print("sales part skipped: the sales tasks are not built")
        return
    data = os.path.join(work, "delivery")
    os.makedirs(data)
    old = time.time() - 3600
    for f in ("dataset1.xlsx", "dataset2.json"):
        shutil.copy(os.path.join(SOURCE, "data", "sales-tiny", f), os.path.join(data, f))
        os.utime(os.path.join(data, f), (old, old))
    yaml = fast_sales_yaml(work)
    with FakeWiki() as wiki:
        sales_runs(work, data, yaml, wiki.api, old)


def sales_runs(work, data, yaml, url, old):
    import sqlite3
    from dagdtest import SOURCE
    state = os.path.join(work, "sales-state")
    args = [yaml, "--state-dir", state, "--param", "data_dir=" + data, "--param", "wiki_api=" + url]
    dot = dagd("graph", yaml, cwd=SOURCE, check_rc=0).stdout
    dagd("run", *args, cwd=SOURCE, check_rc=0)
    all_steps = set(run_steps(state, last_run(state)["run_id"]))
    dagd("run", *args, cwd=SOURCE, check_rc=0)
    check(ran_steps(state) == set(), "sales re-run ran %s" % sorted(ran_steps(state)))

    # Same orders, new bytes: a trailing newline.
    with open(os.path.join(data, "dataset2.json"), "a") as f:
        f.write("\n")
    os.utime(os.path.join(data, "dataset2.json"), (old + 10, old + 10))
    want = downstream(dot, "extract_dataset2")
    p = plan(*args, cwd=SOURCE)
    check(p["extract_dataset2"]["reason"].startswith("input ") and
          p["extract_dataset2"]["reason"].endswith("dataset2.json changed"),
          "plan reason of extract_dataset2: %r" % p["extract_dataset2"]["reason"])
    dagd("run", *args, cwd=SOURCE, check_rc=0)
    check(ran_steps(state) == want, "after changing dataset2.json ran %s, wanted %s (of %s)"
          % (sorted(ran_steps(state)), sorted(want), sorted(all_steps)))

    os.utime(os.path.join(data, "dataset1.xlsx"), (old + 20, old + 20))
    dagd("run", *args, cwd=SOURCE, check_rc=0)
    check(ran_steps(state) == set(), "after touching dataset1.xlsx ran %s" % sorted(ran_steps(state)))

    # A new file matching a step's glob is a new input: that step and its
    # downstream run (a second delivery file loaded on top).
    shutil.copy(os.path.join(data, "dataset2.json"), os.path.join(data, "dataset2_002.json"))
    os.utime(os.path.join(data, "dataset2_002.json"), (old + 30, old + 30))
    p = plan(*args, cwd=SOURCE)
    check(p["extract_dataset2"]["reason"].endswith("dataset2_002.json added"),
          "plan reason of extract_dataset2: %r" % p["extract_dataset2"]["reason"])
    dagd("run", *args, cwd=SOURCE, check_rc=0)
    check(ran_steps(state) == want, "after adding dataset2_002.json ran %s, wanted %s"
          % (sorted(ran_steps(state)), sorted(want)))

    # The warehouse is an implicit output of every step: delete it and
    # everything runs again (instead of skipping against nothing).
    with sqlite3.connect(os.path.join(state, "warehouse.db")) as c:
        before = c.execute("SELECT count(*), sum(amount_rmb_cents) FROM orders").fetchone()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(os.path.join(state, "warehouse.db" + suffix)):
            os.unlink(os.path.join(state, "warehouse.db" + suffix))
    p = plan(*args, cwd=SOURCE)
    check(all(v["action"] == "run" for v in p.values()) and
          p["extract_dataset1"]["reason"].endswith("warehouse.db missing"),
          "plan after deleting the warehouse: %s" % {k: v["reason"] for k, v in p.items()})
    dagd("run", *args, cwd=SOURCE, check_rc=0)
    check(ran_steps(state) == all_steps, "after deleting the warehouse ran %s" % sorted(ran_steps(state)))
    with sqlite3.connect(os.path.join(state, "warehouse.db")) as c:
        after = c.execute("SELECT count(*), sum(amount_rmb_cents) FROM orders").fetchone()
    check(before == after, "rebuilt warehouse: %s, before %s" % (after, before))


def daemon(work):
    """The same through `dagd serve` and `dagctl`: runs are memoized, and
    `dagctl plan` answers like `dagd plan`."""
    import json
    import subprocess
    from dagdtest import BUILD
    dagctl = os.path.join(BUILD, "daemon", "dagctl")
    d = os.path.join(work, "served")
    os.makedirs(os.path.join(d, "pipelines"))
    old = time.time() - 3600
    # A glob in a: the plugin expands it at plan time, which must happen in
    # the daemon's work_dir (where steps run), not in its cwd (/ here).
    write(os.path.join(d, "pipelines", "memo.yaml"),
          PIPELINE.replace("TAG", "one").replace('in_a.txt"]', 'in_a*.txt"]'))
    write(os.path.join(d, "dagd.yaml"), "work_dir: %s\n" % d)
    write(os.path.join(d, "in_a.txt"), "alpha\n", old)
    write(os.path.join(d, "in_b.txt"), "beta\n", old)
    sock = os.path.join(d, "s.sock")
    srv = subprocess.Popen([os.path.join(BUILD, "daemon", "dagd"), "serve", "--config",
                            os.path.join(d, "dagd.yaml"), "--socket", sock,
                            "--state-dir", os.path.join(d, "state"), "--pipelines",
                            os.path.join(d, "pipelines")], cwd="/",
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def ctl(*args, rc=0):
        p = subprocess.run([dagctl, "--socket", sock, *args], cwd=d, capture_output=True,
                           text=True, timeout=60)
        check(p.returncode == rc, "dagctl %s: exit %d (%s)" % (" ".join(args), p.returncode, p.stderr))
        return p.stdout

    try:
        from dagdtest import wait_socket
        wait_socket(sock, srv)
        ctl("run", "memo", "--wait")
        plan_all = json.loads(ctl("--json", "plan", "memo"))
        check(plan_all["run"] == 0, "dagctl plan after a run: %s" % plan_all)
        ctl("run", "memo", "--wait")
        steps = run_steps(os.path.join(d, "state"), last_run(os.path.join(d, "state"))["run_id"])
        check(all(r["skip_reason"] == "memoized" for r in steps.values()),
              "a served re-run did not skip: %s" % {k: r["status"] for k, r in steps.items()})
        write(os.path.join(d, "in_b.txt"), "beta 2\n", old + 10)
        p = {s["step"]: s for s in json.loads(ctl("--json", "plan", "memo"))["steps"]}
        check(p["b"]["reason"] == "input ./in_b.txt changed" and p["a"]["action"] == "skip",
              "dagctl plan after a change: %s" % {k: v["reason"] for k, v in p.items()})
        check(p["a"]["inputs"] == ["./in_a.txt"], "a's glob expanded to %s" % p["a"]["inputs"])
        write(os.path.join(d, "in_a.txt"), "alpha 2\n", old + 10)
        p = {s["step"]: s for s in json.loads(ctl("--json", "plan", "memo"))["steps"]}
        check(p["a"]["reason"] == "input ./in_a.txt changed",
              "dagctl plan after changing a globbed input: %s" % p["a"]["reason"])
        out = ctl("plan", "memo")
        check("input ./in_b.txt changed" in out and "4 to run, 0 up to date" in out,
              "dagctl plan table: %s" % out)
        ctl("plan", "nosuch", rc=2)
        ctl("plan", "memo", "--param", "nosuch=1", rc=2)
    finally:
        srv.terminate()
        srv.communicate(timeout=30)


def main():
    work = tempfile.mkdtemp(prefix="dagd-memo-")
    try:
        old = time.time() - 3600  # not "racy": the hash cache may keep it
        write(os.path.join(work, "memo.yaml"), PIPELINE.replace("TAG", "one"))
        write(os.path.join(work, "in_a.txt"), "alpha\n", old)
        write(os.path.join(work, "in_b.txt"), "beta\n", old)

        step(work, ALL, {s: "never succeeded" for s in ALL})
        step(work, set(), {s: "up to date" for s in ALL})

        # One input changes: its step and everything downstream, nothing else.
        write(os.path.join(work, "in_b.txt"), "beta 2\n", old + 10)
        step(work, {"b", "c", "d"}, {"a": "up to date", "b": "input ./in_b.txt changed",
                                     "c": "upstream b will run", "d": "upstream c will run"})

        # Touch without a change: a cache miss, a rehash, the same hash.
        os.utime(os.path.join(work, "in_a.txt"), (old + 100, old + 100))
        step(work, set())

        # Same size, new content, new mtime: noticed.
        write(os.path.join(work, "in_a.txt"), "ALPHA\n", old + 200)
        step(work, {"a", "c", "d"}, {"a": "input ./in_a.txt changed"})

        # A step's config: that step and its downstream.
        write(os.path.join(work, "memo.yaml"), PIPELINE.replace("TAG", "two"))
        step(work, {"c", "d"}, {"c": "config changed", "d": "upstream c will run"})

        # How a step runs is not what it produces: retries, timeout and
        # memory change nothing.
        write(os.path.join(work, "memo.yaml"), PIPELINE.replace("TAG", "two").replace(
            "  - name: a\n", "  - name: a\n    retries: 3\n    timeout: 1m\n    memory: 512M\n"))
        step(work, set())
        write(os.path.join(work, "memo.yaml"), PIPELINE.replace("TAG", "two"))

        # A param every step can see, even if no config uses it.
        step(work, ALL, {s: "params changed" for s in ALL}, "--param", "unused=y")
        step(work, set(), None, "--param", "unused=y")
        step(work, ALL, None)

        # --force runs everything.
        step(work, ALL, {s: "forced" for s in ALL}, "--force")

        # A missing declared output reruns its step only.
        os.unlink(os.path.join(work, "out_d.txt"))
        step(work, {"d"}, {"d": "output ./out_d.txt missing"})

        # A failed run: b's input is gone. b fails, c and d do not run.
        os.rename(os.path.join(work, "in_b.txt"), os.path.join(work, "in_b.keep"))
        r = dagd("run", "memo.yaml", "--state-dir", "state", cwd=work)
        check(r.returncode == 1, "run with a missing input: exit %d, wanted 1" % r.returncode)
        state = os.path.join(work, "state")
        steps = run_steps(state, last_run(state)["run_id"])
        check(steps["b"]["status"] == "failed", "b: %s, wanted failed" % steps["b"]["status"])
        check(steps["a"]["status"] == "skipped", "a: %s, wanted skipped" % steps["a"]["status"])
        # Put it back unchanged: the last success still matches, nothing runs.
        os.rename(os.path.join(work, "in_b.keep"), os.path.join(work, "in_b.txt"))
        step(work, set())

        # The plan never writes the state database.
        before = os.stat(os.path.join(state, "state.db")).st_mtime_ns
        plan("memo.yaml", "--state-dir", "state", cwd=work)
        check(os.stat(os.path.join(state, "state.db")).st_mtime_ns == before, "dagd plan wrote state.db")
        # Nor creates a state directory.
        plan("memo.yaml", "--state-dir", "nostate", cwd=work)
        check(not os.path.exists(os.path.join(work, "nostate")), "dagd plan created a state dir")

        daemon(work)
        sales(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("ok")


if __name__ == "__main__":
    main()
