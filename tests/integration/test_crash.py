#!/usr/bin/python3
"""Crash tests with real processes (docs/reliability.md, DESIGN 5 and 6).

1. kill -9 the worker of a step at ~20 random moments during extract and
   transform of data/sales-tiny, run again after each kill, and compare the
   warehouse with a clean run's: same rows, same sums, no ORDER_ID twice,
   no run left `running`.
2. kill -9 `dagd run` itself in the middle of a run: the next `dagd run`
   on the state directory fails the orphan (nothing left `running`) and
   succeeds, with the same warehouse again.
3. kill -9 `dagd run` at 6 random moments of a run: every next start fails
   the orphan, and the last run rebuilds the same warehouse.
4. Two `dagd run` on one state directory: the second must not take the
   first one's live run for an orphan.

Total time is bounded (~90 s): each kill waits at most a few seconds for its
moment. Translations come from a local fakewiki, unpaced."""
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

from dagdtest import DAGD, SOURCE, FakeWiki, check, fail, fast_sales_yaml, state_db

TARGETS = ["extract_dataset1", "extract_dataset2", "transform"]
TRIALS = int(os.environ.get("DAGD_CRASH_TRIALS", "20"))
BUDGET_S = 80

# Warehouse figures compared between the clean and the crashed runs. Each
# query returns rows that must be equal as lists.
QUERIES = [
    "SELECT count(*), count(DISTINCT order_id), sum(amount_rmb_cents), sum(qty) FROM orders",
    "SELECT status, count(*), sum(amount_rmb_cents) FROM orders GROUP BY status ORDER BY status",
    "SELECT order_id, source, order_time, city, district, amount_rmb_cents, currency, qty, status "
    "FROM orders ORDER BY order_id",
    "SELECT source, rule, rows FROM dq_summary ORDER BY source, rule",
    "SELECT count(*) FROM dq_exceptions",
    "SELECT city, hour, sales_rmb_cents, orders FROM mart_city_hour_sales ORDER BY city, hour",
    "SELECT hour, city, sales_rmb_cents, margin_rmb_cents FROM mart_top_city_per_hour ORDER BY hour",
    "SELECT rank, city, districts_with_sales, city_total_rmb_cents, avg_district_sales_rmb_cents "
    "FROM mart_city_district_avg ORDER BY rank",
    "SELECT key, value FROM summary WHERE key IN ('total_sales_rmb_cents', 'rows_loaded', "
    "'rows_included') ORDER BY key",
]


def children_of(pid):
    """Direct children of pid, from /proc."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        # comm may contain spaces and parentheses: parse after the last ')'.
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def step_processes(root):
    """Processes running step attempts under `dagd run` (pid root): the
    children of the pre-forked worker template (whose forks share its
    command line), or direct children if there is no template."""
    found = []
    for c in children_of(root):
        if "--template" in cmdline(c):
            found.extend(children_of(c))
        else:
            found.append(c)
    return found


def running_steps(state):
    try:
        with state_db(state) as c:
            return {r[0] for r in c.execute("SELECT step FROM steps WHERE status = 'running'")}
    except sqlite3.Error:
        return set()


def snapshot(warehouse):
    with sqlite3.connect("file:%s?mode=ro" % warehouse, uri=True) as c:
        return [c.execute(q).fetchall() for q in QUERIES]


def compare(clean, got, what):
    for q, a, b in zip(QUERIES, clean, got):
        if a != b:
            fail("%s: warehouse differs from the clean run for\n  %s\n  clean: %s\n  got:   %s"
                 % (what, q, str(a)[:300], str(b)[:300]))
    check(got[0][0][0] == got[0][0][1], "%s: an ORDER_ID appears twice" % what)


def no_running(state, what):
    with state_db(state) as c:
        n = c.execute("SELECT count(*) FROM runs WHERE status IN ('running', 'queued')").fetchone()[0]
        s = c.execute("SELECT count(*) FROM steps WHERE status = 'running'").fetchone()[0]
    check(n == 0 and s == 0, "%s: %d runs and %d steps left running" % (what, n, s))


YAML = None  # the sales pipeline, unpaced (fast_sales_yaml)


def run_args(state, wiki):
    return [DAGD, "run", YAML, "--state-dir", state,
            "--param", "data_dir=data/sales-tiny", "--param", "wiki_api=" + wiki]


def clean_run(work, wiki):
    state = os.path.join(work, "clean")
    p = subprocess.run(run_args(state, wiki), cwd=SOURCE, capture_output=True, text=True, timeout=120)
    check(p.returncode == 0, "clean run failed: %s" % p.stderr[-3000:])
    return snapshot(os.path.join(state, "warehouse.db"))


def kill_worker_trial(state, wiki, rng, deadline):
    """Start a run, wait for a target step to be running, kill -9 its
    process after a random delay, let the run end, run again."""
    target = rng.choice(TARGETS)
    delay = rng.uniform(0, 0.03)
    p = subprocess.Popen(run_args(state, wiki) + ["--force"], cwd=SOURCE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    killed = None
    try:
        while p.poll() is None and time.monotonic() < deadline:
            if target in running_steps(state):
                time.sleep(delay)
                for pid in step_processes(p.pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                        killed = pid
                    except ProcessLookupError:
                        pass
                break
            time.sleep(0.001)
        p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    # Whatever happened (a retry may have saved the run), run again: it must
    # end succeeded and leave the warehouse as a clean run does.
    r = subprocess.run(run_args(state, wiki), cwd=SOURCE, capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, "re-run after killing %s failed: %s" % (target, r.stderr[-3000:]))
    return target, killed


def kill_runner_trial(state, wiki, clean):
    """kill -9 dagd run itself while a step runs; the next start must fail
    the orphan within a second and then succeed."""
    p = subprocess.Popen(run_args(state, wiki) + ["--force"], cwd=SOURCE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 30 and not running_steps(state) and p.poll() is None:
        time.sleep(0.001)
    check(p.poll() is None, "the run ended before it could be killed")
    pids = step_processes(p.pid)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    with state_db(state) as c:
        orphan = c.execute("SELECT run_id FROM runs WHERE status = 'running'").fetchone()
    check(orphan is not None, "killing dagd run left no `running` run to recover (test is void)")
    # Its workers must not outlive it for long (they would hold the lock).
    t0 = time.monotonic()
    while any(os.path.exists("/proc/%d" % pid) and "dagd" in cmdline(pid) for pid in pids):
        if time.monotonic() - t0 > 10:
            fail("step processes of a killed dagd run still alive after 10 s: %s" % pids)
        time.sleep(0.05)

    r = subprocess.run(run_args(state, wiki), cwd=SOURCE, capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, "run after killing dagd run failed: %s" % r.stderr[-3000:])
    with state_db(state) as c:
        st = c.execute("SELECT status, error FROM runs WHERE run_id = ?", (orphan[0],)).fetchone()
    check(st[0] == "failed", "the orphaned run is %s, wanted failed" % st[0])
    no_running(state, "after killing dagd run")
    compare(clean, snapshot(os.path.join(state, "warehouse.db")), "after killing dagd run")


def kill_runner_randomly(state, wiki, clean, rng, n, span):
    """kill -9 `dagd run` at n uniformly random moments of a run (span:
    a clean run's duration), whatever it is doing: planning, writing
    state.db, waiting for a worker. Every start after a kill must fail the
    orphan, and the run after the last kill must rebuild the same
    warehouse."""
    for i in range(n):
        p = subprocess.Popen(run_args(state, wiki) + ["--force"], cwd=SOURCE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, span))
        p.kill()
        p.wait()
    r = subprocess.run(run_args(state, wiki) + ["--force"], cwd=SOURCE, capture_output=True,
                       text=True, timeout=120)
    check(r.returncode == 0, "run after %d random kills of dagd run failed: %s" % (n, r.stderr[-3000:]))
    no_running(state, "after %d random kills of dagd run" % n)
    compare(clean, snapshot(os.path.join(state, "warehouse.db")), "after random kills of dagd run")
    with state_db(state) as c:
        bad = c.execute("SELECT count(*) FROM runs WHERE status NOT IN ('succeeded', 'failed')").fetchone()[0]
    check(bad == 0, "%d runs neither succeeded nor failed after the kills" % bad)


def no_false_orphans(work):
    """A second dagd run on a state directory in use must not take the
    first one's live run for an orphan (the state lock is shared)."""
    d = os.path.join(work, "shared")
    os.makedirs(d)
    with open(os.path.join(d, "slow.yaml"), "w") as f:
        f.write("pipeline: slow\nsteps:\n  - name: nap\n    task: sleep\n    config: {ms: 1500}\n")
    with open(os.path.join(d, "quick.yaml"), "w") as f:
        f.write("pipeline: quick\nsteps:\n  - name: hop\n    task: noop\n")
    state = os.path.join(d, "state")
    a = subprocess.Popen([DAGD, "run", "slow.yaml", "--state-dir", state], cwd=d,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        while "nap" not in running_steps(state):
            check(time.monotonic() - t0 < 10 and a.poll() is None, "the slow run did not start")
            time.sleep(0.005)
        b = subprocess.run([DAGD, "run", "quick.yaml", "--state-dir", state], cwd=d,
                           capture_output=True, text=True, timeout=60)
        check(b.returncode == 0, "second dagd run failed: %s" % b.stderr[-2000:])
        check("nap" in running_steps(state), "a second dagd run failed the first one's live step")
        _, err = a.communicate(timeout=60)
        check(a.returncode == 0, "the first run failed after a second dagd started: %s" % err[-2000:])
    finally:
        if a.poll() is None:
            a.kill()
            a.wait()
    no_running(state, "two dagd runs on one state directory")


def main():
    if not os.path.exists(os.path.join(os.environ.get("DAGD_BUILD_ROOT", ""), "tasks", "extract")):
        print("SKIP: the sales tasks are not built")
        sys.exit(77)
    seed = int(os.environ.get("DAGD_CRASH_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    print("seed %d (DAGD_CRASH_SEED=%d reproduces the kill plan)" % (seed, seed))
    work = tempfile.mkdtemp(prefix="dagd-crash-")
    global YAML
    YAML = fast_sales_yaml(work)
    wiki = FakeWiki()
    try:
        url = wiki.api
        start = time.monotonic()
        t_clean = time.monotonic()
        clean = clean_run(work, url)
        clean_secs = time.monotonic() - t_clean
        state = os.path.join(work, "crash")
        deadline = start + BUDGET_S
        kills = {}
        for i in range(TRIALS):
            if time.monotonic() > deadline - 10:
                print("time budget reached after %d trials" % i)
                break
            target, killed = kill_worker_trial(state, url, rng, deadline)
            kills[target] = kills.get(target, 0) + (killed is not None)
            no_running(state, "trial %d (%s)" % (i, target))
            compare(clean, snapshot(os.path.join(state, "warehouse.db")), "trial %d (%s)" % (i, target))
        print("workers killed per step: %s" % kills)
        check(sum(kills.values()) >= min(TRIALS, 5) // 2, "too few kills landed: %s" % kills)
        kill_runner_trial(os.path.join(work, "runner"), url, clean)
        kill_runner_randomly(os.path.join(work, "runner"), url, clean, rng, 6, clean_secs)
        no_false_orphans(work)
        print("ok in %.1f s" % (time.monotonic() - start))
    finally:
        wiki.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
