#!/usr/bin/env python3
"""The tables page's API and the sales report over HTTP (issue 11): a
private `dagd serve --http` with pipelines/sales.yaml run on a copy of
data/sales-tiny where a busy city is named with an XSS payload.

GET /api/pipelines/sales/tables lists exactly the tables `dagd lineage
--json` finds (same nodes and edges), each with its row count equal to the
warehouse's, the steps that write it and the run that last wrote it;
GET /api/runs/ID/report serves the HTML the report step wrote, with a
sandboxing Content-Security-Policy and the payload escaped; a run without a
report step, an unknown pipeline or run are 404; a report outside the
daemon's state directory is refused (403)."""
import http.client
import json
import os
import sqlite3
import subprocess
import tempfile

from dagdtest import DAGD, DICT, SOURCE, Daemon, check, evil_copy, free_port, need_test_plugins

need_test_plugins("noop")
EVIL = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body


def sales_daemon(tmp, port):
    with open(os.path.join(SOURCE, "pipelines", "sales.yaml")) as f:
        text = f.read()
    d = Daemon({"sales": text, "noop": "pipeline: noop\nsteps:\n  - {name: a, task: noop}\n"},
               start=False, args=["--http", "127.0.0.1:%d" % port])
    # The pipeline finds its SQL models next to its file.
    os.symlink(os.path.join(SOURCE, "pipelines", "sales"), os.path.join(d.pipes, "sales"))
    d.start()
    return d


with tempfile.TemporaryDirectory(prefix="dagd-tables-") as tmp:
    data, victim = evil_copy(os.path.join(tmp, "data"), EVIL)
    port = free_port()
    with sales_daemon(tmp, port) as d:
        params = ["--param", "data_dir=" + data, "--param", "wiki_api=",
                  "--param", "translations_dir=" + DICT]
        run = d.ctl("run", "sales", *params, "--wait", json_out=True, timeout=300).json
        check(run["status"] == "succeeded", "sales run: %r" % run)
        rid = run["run_id"]

        status, headers, body = get(port, "/api/pipelines/sales/tables")
        check(status == 200, "tables: %d %s" % (status, body[:300]))
        t = json.loads(body)
        wh = os.path.join(d.state, "warehouse.db")
        check(t["warehouse"] == wh, "warehouse %r" % t["warehouse"])
        lin = json.loads(subprocess.run(
            [DAGD, "lineage", "--json", "--state-dir", d.state, os.path.join(d.pipes, "sales.yaml")],
            capture_output=True, text=True, check=True, cwd=d.tmp).stdout)
        check(t["lineage"] == lin, "the page's lineage is dagd lineage's:\n%r\n%r" % (t["lineage"], lin))
        want = sorted(n["id"][6:] for n in lin["nodes"] if n["kind"] == "table")
        got = sorted(x["name"] for x in t["tables"])
        check(got == want and len(got) > 5, "tables %r, lineage's %r" % (got, want))
        con = sqlite3.connect("file:%s?mode=ro" % wh, uri=True)
        for x in t["tables"]:
            exists = con.execute("SELECT count(*) FROM sqlite_schema WHERE name = ?", (x["name"],)).fetchone()[0]
            if exists:
                n = con.execute('SELECT count(*) FROM "%s"' % x["name"].replace('"', '""')).fetchone()[0]
                check(x["rows"] == n, "rows of %s: %r, warehouse %d" % (x["name"], x["rows"], n))
            else:
                check(x["rows"] is None, "%s is not in the warehouse: rows %r" % (x["name"], x["rows"]))
            writers = sorted({e["step"] for e in lin["edges"] if e["to"] == "table:" + x["name"]})
            check(sorted(x["written_by"]) == writers, "%s written by %r, want %r" % (x["name"], x["written_by"], writers))
            if writers:
                check(x["last_written"] and x["last_written"]["run_id"] == rid, "%s last written: %r" % (x["name"], x["last_written"]))
        con.close()
        mart = [x for x in t["tables"] if x["name"] == "mart_city_hour_sales"]
        check(mart and mart[0]["rows"] > 0, "the mart counted: %r" % mart)

        # The report: served as HTML in a sandbox, the payload escaped.
        status, headers, body = get(port, "/api/runs/%s/report" % rid)
        check(status == 200, "report: %d %s" % (status, body[:300]))
        check(headers["content-type"] == "text/html; charset=utf-8", "report type %r" % headers)
        csp = headers["content-security-policy"]
        check(csp.startswith("sandbox;") and "script-src" not in csp and "default-src 'none'" in csp, "report CSP %r" % csp)
        html = body.decode()
        with open(os.path.join(d.state, "report.html")) as f:
            check(f.read() == html, "the report file as written")
        check(EVIL not in html and "&lt;script&gt;" in html, "the payload is escaped in the report")

        # 404s: a run without a report step, unknown runs and pipelines.
        other = d.ctl("run", "noop", "--wait", json_out=True).json["run_id"]
        for path in ("/api/runs/%s/report" % other, "/api/runs/%s/report" % ("0" * 32),
                     "/api/pipelines/nope/tables"):
            status, headers, body = get(port, path)
            check(status == 404 and headers["content-type"] == "application/json",
                  "%s: %d %s" % (path, status, body[:200]))
        # A report written outside the state directory is not served.
        outside = os.path.join(tmp, "outside.html")
        r2 = d.ctl("run", "sales", *params, "--param", "report=" + outside, "--wait", json_out=True,
                   timeout=300, check_rc=None)
        check(r2.returncode != 0 or not os.path.exists(outside), "the run itself refuses it")
        # ... and the daemon does not follow a link out of it.
        with open(outside, "w") as f:
            f.write("secret\n")
        link = os.path.join(d.state, "report.html")
        os.unlink(link)
        os.symlink(outside, link)
        status, _, body = get(port, "/api/runs/%s/report" % rid)
        check(status == 403 and b"secret" not in body, "a report linking outside the state dir: %d %s" % (status, body[:200]))
        check(d.stop() == 0, "daemon exit status")
print("ok")
