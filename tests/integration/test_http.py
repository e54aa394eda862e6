#!/usr/bin/env python3
"""dagd serve --http (issue 11): the listener on TCP and on a Unix socket,
GET /api/runs with the shapes of `dagctl --json runs` and keyset pages that
cover every run once, GET /api/runs/ID as `show` plus the graph, events
after a seq, GET /metrics checked by a strict OpenMetrics grammar with
values equal to state.db's, the security headers, Host checks, methods
refused, and the `http:` config key with its errors."""
import http.client
import json
import os
import socket
import subprocess
import time
import urllib.parse

from dagdtest import (CHAIN, DAGD, FAILING, NOOP, SLOW, Daemon, check, fail, free_port,
                      need_test_plugins, openmetrics, wait_for)

need_test_plugins("noop", "sleep", "fail", "hog")


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


def get(port, path, method="GET", headers=None, unix=None):
    c = UnixHTTPConnection(unix) if unix else http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body


def get_json(port, path):
    status, headers, body = get(port, path)
    check(status == 200, "GET %s: %d %s" % (path, status, body[:300]))
    check(headers["content-type"] == "application/json", "GET %s: %r" % (path, headers))
    return json.loads(body)


def metrics(port):
    status, headers, body = get(port, "/metrics")
    check(status == 200, "GET /metrics: %d" % status)
    check(headers["content-type"].startswith("application/openmetrics-text; version=1.0.0"),
          "metrics content type: %r" % headers["content-type"])
    try:
        return openmetrics.parse(body.decode())
    except ValueError as e:
        fail("/metrics is not valid OpenMetrics: %s\n%s" % (e, body.decode()))


def samples(fams, family, name):
    return {tuple(sorted(l.items())): v for n, l, v in fams[family]["samples"] if n == name}


def check_metrics_match_db(d, port):
    fams = metrics(port)
    with d.db() as c:
        runs = {(p, s): n for p, s, n in c.execute(
            "SELECT pipeline, status, count(*) FROM runs WHERE status NOT IN ('queued','running') "
            "GROUP BY 1, 2")}
        steps = {(p, s): n for p, s, n in c.execute(
            "SELECT pipeline, status, count(*) FROM steps GROUP BY 1, 2")}
        timed = {p: (n, tot) for p, n, tot in c.execute(
            "SELECT pipeline, count(*), sum(ended_at - started_at) FROM steps "
            "WHERE started_at IS NOT NULL AND ended_at IS NOT NULL GROUP BY 1")}
    got = samples(fams, "dagd_runs", "dagd_runs_total")
    for (p, s), n in runs.items():
        check(got.get((("pipeline", p), ("status", s))) == n,
              "dagd_runs_total %s/%s: %r, state.db %d" % (p, s, got, n))
    check(sum(got.values()) == sum(runs.values()), "runs total %r vs %r" % (got, runs))
    got = samples(fams, "dagd_steps", "dagd_steps_total")
    for (p, s), n in steps.items():
        check(got.get((("pipeline", p), ("status", s))) == n,
              "dagd_steps_total %s/%s: %r, state.db %d" % (p, s, got, n))
    check(sum(got.values()) == sum(steps.values()), "steps total %r vs %r" % (got, steps))
    count = samples(fams, "dagd_step_duration_seconds", "dagd_step_duration_seconds_count")
    total = samples(fams, "dagd_step_duration_seconds", "dagd_step_duration_seconds_sum")
    for p, (n, ms) in timed.items():
        check(count[(("pipeline", p),)] == n, "histogram count of %s: %r vs %d" % (p, count, n))
        check(abs(total[(("pipeline", p),)] - ms / 1000.0) < 1e-6,
              "histogram sum of %s: %r vs %d ms" % (p, total, ms))
    return fams


port = free_port()
with Daemon({"chain": CHAIN, "failing": FAILING, "noop": NOOP},
            args=["--http", "127.0.0.1:%d" % port]) as d:
    check(("http://127.0.0.1:%d/" % port) in d.logtext(), "log names the URL:\n" + d.logtext())
    ids = [d.ctl("run", "chain", "--wait", json_out=True).json["run_id"]]
    ids.append(d.ctl("run", "failing", "--wait", json_out=True, check_rc=1).json["run_id"])
    for _ in range(5):
        ids.append(d.ctl("run", "noop", "--wait", json_out=True).json["run_id"])

    # Before any scrape: the counters are seeded from state.db.
    check_metrics_match_db(d, port)

    # The same runs, same shapes as dagctl (the API adds `next`).
    api = get_json(port, "/api/runs?limit=100")
    ctl = d.ctl("runs", "--limit", "100", json_out=True).json
    check(api["runs"] == ctl["runs"], "api runs != dagctl runs:\n%r\n%r" % (api, ctl))
    check(api["next"] is None, "one page: %r" % api["next"])

    # Keyset pages of 2 cover every run exactly once, newest first.
    seen, before, pages = [], None, 0
    while True:
        q = "/api/runs?limit=2" + ("&before=" + urllib.parse.quote(before) if before else "")
        page = get_json(port, q)
        seen += [r["run_id"] for r in page["runs"]]
        pages += 1
        before = page["next"]
        if not before:
            break
        check(pages < 10, "paging does not end")
    check(seen == [r["run_id"] for r in ctl["runs"]], "pages %r != %r" % (seen, ctl["runs"]))
    check(len(seen) == len(ids), "all %d runs paged: %d" % (len(ids), len(seen)))

    # Filters.
    f = get_json(port, "/api/runs?pipeline=noop")["runs"]
    check(len(f) == 5 and all(r["pipeline"] == "noop" for r in f), "pipeline filter: %r" % f)
    f = get_json(port, "/api/runs?status=failed")["runs"]
    check([r["run_id"] for r in f] == [ids[1]], "status filter: %r" % f)
    f = get_json(port, "/api/runs?trigger=schedule")["runs"]
    check(f == [], "trigger filter: %r" % f)
    created = ctl["runs"][2]["created_at"]
    f = get_json(port, "/api/runs?since=%d" % created)["runs"]
    check(len(f) == 3, "since filter: %r" % [r["created_at"] for r in f])
    for bad in ("limit=0", "limit=x", "status=bogus", "before=nope", "since=-1"):
        status, _, body = get(port, "/api/runs?" + bad)
        check(status == 400 and json.loads(body)["error"]["code"] == "INVALID_PARAMS",
              "%s: %d %s" % (bad, status, body))

    # A run: `show` plus the graph of its pipeline.
    run = get_json(port, "/api/runs/" + ids[0])
    show = d.ctl("show", ids[0], json_out=True).json
    graph = run.pop("graph")
    check(run == show, "api run != dagctl show:\n%r\n%r" % (run, show))
    check(graph["needs"] == {"first": [], "second": ["first"], "third": ["second"]},
          "graph: %r" % graph)
    for bad in ("/api/runs/" + "0" * 32, "/api/runs/xyz", "/api/runs/" + ids[0] + "/nope", "/api/nope"):
        status, _, _ = get(port, bad)
        check(status == 404, "%s: %d" % (bad, status))

    # Events after a seq, as `logs` streams them; the step filter.
    ev = get_json(port, "/api/runs/%s/events" % ids[1])
    logs = [json.loads(l) for l in d.ctl("logs", ids[1], json_out=True).stdout.splitlines() if l.strip()]
    logs = [e for e in logs if e.get("kind") == "log"]
    check(ev["events"] == logs, "events != dagctl logs:\n%r\n%r" % (ev["events"], logs))
    mid = ev["events"][1]["seq"]
    rest = get_json(port, "/api/runs/%s/events?after=%d" % (ids[1], mid))
    check(rest["events"] == ev["events"][2:], "after=: %r" % rest)
    check(rest["last_seq"] == ev["events"][-1]["seq"], "last_seq: %r" % rest["last_seq"])
    tail = get_json(port, "/api/runs/%s/events?tail=3" % ids[1])
    check(tail["events"] == ev["events"][-3:] and tail["last_seq"] == ev["events"][-1]["seq"],
          "tail=3: %r" % tail)
    br = get_json(port, "/api/runs/%s/events?step=broken" % ids[1])["events"]
    check(br and all(e.get("step") == "broken" for e in br), "step filter: %r" % br)

    # Pipelines: `dagctl pipelines` plus each one's last run.
    pipes = get_json(port, "/api/pipelines")["pipelines"]
    ctlp = d.ctl("pipelines", json_out=True).json["pipelines"]
    last = {p["name"]: p.pop("last_run")["run_id"] for p in pipes}
    check(pipes == ctlp, "api pipelines != dagctl:\n%r\n%r" % (pipes, ctlp))
    check(last == {"chain": ids[0], "failing": ids[1], "noop": ids[-1]}, "last runs: %r" % last)
    ticks = get_json(port, "/api/ticks")
    check(ticks == d.ctl("ticks", "--limit", "50", json_out=True).json, "ticks: %r" % ticks)

    # Runs after the first scrape are counted as they finish.
    d.ctl("run", "chain", "--wait", json_out=True)
    d.ctl("run", "failing", "--wait", json_out=True, check_rc=1)
    fams = check_metrics_match_db(d, port)
    for fam in ("dagd_runs_queued", "dagd_runs_running", "dagd_process_resident_memory_bytes",
                "dagd_http_requests", "dagd_schedule_lag_seconds"):
        check(fam in fams, "metric family %s missing: %r" % (fam, sorted(fams)))
    check(samples(fams, "dagd_runs_queued", "dagd_runs_queued")[()] == 0, "queued")
    ok = samples(fams, "dagd_http_requests", "dagd_http_requests_total")[(("code", "200"),)]
    check(ok >= 10, "http requests counted: %r" % ok)

    # The UI page and its headers.
    status, headers, body = get(port, "/")
    check(status == 200 and headers["content-type"] == "text/html; charset=utf-8", "/: %r" % headers)
    csp = headers["content-security-policy"]
    for part in ("default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"):
        check(part in csp, "CSP lacks %s: %s" % (part, csp))
    check("unsafe" not in csp, "CSP allows unsafe code: " + csp)
    check(headers["x-content-type-options"] == "nosniff", "nosniff: %r" % headers)
    check(b'src="/app.js"' in body, "index loads app.js: %r" % body[:400])
    for path in ("/app.js", "/app.css"):
        status, _, _ = get(port, path)
        check(status == 200, "%s: %d" % (path, status))
    check(get(port, "/nope")[0] == 404, "unknown path")

    # Read-only; loopback listener wants a loopback Host (DNS rebinding).
    for m in ("POST", "PUT", "DELETE"):
        status, headers, _ = get(port, "/api/runs", method=m)
        check(status == 405 and headers.get("allow") == "GET, HEAD", "%s: %d %r" % (m, status, headers))
    check(get(port, "/api/runs", method="HEAD")[0] == 200, "HEAD")
    check(get_json(port, "/api/actions") == {"enabled": False}, "read-only by default")
    check(get(port, "/api/runs", headers={"Host": "evil.example:%d" % port})[0] == 421, "foreign Host")
    check(get(port, "/api/runs", headers={"Host": "localhost:%d" % port})[0] == 200, "localhost Host")
    # A running worker's RSS and CPU: a step holding 64 MiB and spinning.
    d.write_pipeline("hog", "pipeline: hog\nsteps:\n  - {name: spin, task: hog, config: {mb: 64, spin_ms: 20000}}\n")
    d.ctl("reload")
    hog = d.ctl("run", "hog", json_out=True).json["run_id"]
    key = (("pipeline", "hog"), ("step", "spin"))

    def worker_figures():
        fams = metrics(port)
        n = samples(fams, "dagd_workers_running", "dagd_workers_running").get(key)
        rss = samples(fams, "dagd_worker_resident_memory_bytes", "dagd_worker_resident_memory_bytes").get(key)
        cpu = samples(fams, "dagd_worker_cpu_seconds", "dagd_worker_cpu_seconds").get(key)
        check(fams["dagd_worker_resident_memory_bytes"]["unit"] == "bytes", "RSS unit")
        check(fams["dagd_worker_cpu_seconds"]["unit"] == "seconds", "CPU unit")
        return n, rss, cpu

    wait_for(lambda: (worker_figures()[1] or 0) > 64 * 1024 * 1024 and (worker_figures()[2] or 0) > 0.2,
             timeout=20, what="the hog's RSS over 64 MiB and CPU over 0.2 s in /metrics")
    n, rss, cpu = worker_figures()
    check(n == 1, "one hog worker running: %r" % n)
    time.sleep(0.5)
    check(worker_figures()[2] > cpu, "its CPU grows")
    d.ctl("cancel", hog)
    d.wait_run(hog)
    wait_for(lambda: worker_figures() == (None, None, None), timeout=10, what="no hog worker after the cancel")

    check(d.stop() == 0, "daemon exit status")

# Actions: only with http_token_file, only with the bearer token, and never
# from another origin.
TOKEN = "s3cret-token-0123456789"
port = free_port()
with Daemon({"noop": NOOP, "slow": SLOW, "failing": FAILING}, config="", start=False,
            args=["--http", "127.0.0.1:%d" % port]) as d:
    tf = os.path.join(d.tmp, "token")
    with open(tf, "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(tf, 0o644)
    with open(d.config, "w") as f:
        f.write("http_token_file: %s\n" % tf)
    p = subprocess.run(d.command(), capture_output=True, text=True, timeout=30)
    check(p.returncode != 0 and "must not be readable by others" in p.stderr,
          "world-readable token file: %d %s" % (p.returncode, p.stderr))
    os.chmod(tf, 0o600)
    d.start()
    check(get_json(port, "/api/actions") == {"enabled": True}, "actions enabled")
    auth = {"Authorization": "Bearer " + TOKEN}
    for h in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN},
              dict(auth, Origin="http://evil.example")):
        status, _, _ = get(port, "/api/pipelines/noop/run", method="POST", headers=h)
        check(status == 403, "POST with %r: %d" % (h, status))
    check(get(port, "/api/runs")[0] == 200 and json.loads(get(port, "/api/runs")[2])["runs"] == [],
          "nothing ran without the token")
    status, _, body = get(port, "/api/pipelines/noop/run", method="POST",
                          headers=dict(auth, Origin="http://127.0.0.1:%d" % port))
    check(status == 200, "run: %d %s" % (status, body))
    rid = json.loads(body)["run_id"]
    d.wait_run(rid)
    check(d.run_row(rid)["status"] == "succeeded", "the HTTP run succeeded")
    status, _, body = get(port, "/api/pipelines/nope/run", method="POST", headers=auth)
    check(status == 404, "run of an unknown pipeline: %d %s" % (status, body))
    # cancel a running run; a second cancel conflicts
    status, _, body = get(port, "/api/pipelines/slow/run", method="POST", headers=auth)
    slow = json.loads(body)["run_id"]
    status, _, body = get(port, "/api/runs/%s/retry" % slow, method="POST", headers=auth)
    check(status == 409, "retry of an active run: %d %s" % (status, body))
    status, _, body = get(port, "/api/runs/%s/cancel" % slow, method="POST", headers=auth)
    check(status == 200 and json.loads(body)["status"] in ("canceled", "canceling"), "cancel: %s" % body)
    check(d.wait_run(slow)["status"] == "canceled", "canceled")
    status, _, body = get(port, "/api/runs/%s/cancel" % slow, method="POST", headers=auth)
    check(status == 409, "cancel of an ended run: %d %s" % (status, body))
    # retry a failed run: same declared params, parent recorded
    bad = d.ctl("run", "failing", "--param", "msg=again", "--wait", json_out=True, check_rc=1).json["run_id"]
    status, _, body = get(port, "/api/runs/%s/retry" % bad, method="POST", headers=auth)
    check(status == 200 and json.loads(body)["parent_run_id"] == bad, "retry: %d %s" % (status, body))
    child = d.wait_run(json.loads(body)["run_id"])
    check(child["trigger"] == "retry" and child["parent_run_id"] == bad
          and json.loads(child["params"])["msg"] == "again", "retry row: %r" % dict(child))
    check(get(port, "/api/runs", method="PUT", headers=auth)[1].get("allow") == "GET, HEAD, POST",
          "Allow with actions")
    check(d.stop() == 0, "daemon exit status")

# A Unix socket from the config file; a second daemon on the same socket fails.
with Daemon({"noop": NOOP}, config="http: %s\n" % "/PLACEHOLDER", start=False) as d:
    path = os.path.join(d.tmp, "http.sock")
    with open(d.config, "w") as f:
        f.write("http: %s\n" % path)
    d.start()
    d.ctl("run", "noop", "--wait")
    status, _, body = get(0, "/api/runs", unix=path)
    check(status == 200 and len(json.loads(body)["runs"]) == 1, "unix socket: %d %s" % (status, body))
    check(oct(os.stat(path).st_mode & 0o777) == "0o660", "socket mode")
    check(d.stop() == 0, "daemon exit status")
    check(not os.path.exists(path), "socket removed at exit")

# Bad addresses: from the config (FILE:LINE:COL) and the command line, exit 2.
with Daemon({}, config="http: nowhere\n", start=False) as d:
    p = subprocess.run(d.command(), capture_output=True, text=True, timeout=30)
    check(p.returncode == 2 and "dagd.yaml:1:7: error: 'http' must be ADDR:PORT" in p.stderr,
          "bad http: %d %s" % (p.returncode, p.stderr))
with Daemon({}, start=False, args=["--http", "127.0.0.1:99999"]) as d:
    p = subprocess.run(d.command(), capture_output=True, text=True, timeout=30)
    check(p.returncode == 2 and "--http" in p.stderr, "bad --http: %d %s" % (p.returncode, p.stderr))
# The port taken: the daemon refuses to start (and says why).
busy = socket.socket()
busy.bind(("127.0.0.1", 0))
busy.listen(1)
with Daemon({}, start=False, args=["--http", "127.0.0.1:%d" % busy.getsockname()[1]]) as d:
    p = subprocess.run(d.command(), capture_output=True, text=True, timeout=30)
    check(p.returncode != 0 and "Failed to listen for HTTP" in p.stderr,
          "busy port: %d %s" % (p.returncode, p.stderr))
busy.close()
print("ok")
