"""A failure the input is to blame for fails the same way every time, so the
general-purpose tasks say so (host no_retry, task ABI 1.3) and a step with
`retries: 2` runs once (issue 9): load (bad rows past the limit, a file that
is not UTF-8 or ends inside quotes, a missing required column), sql (a
model with a syntax error), check (violations), export (a query that does
not compile) and http (a 404). The control shows the test can tell: a 503
from the same server is retried (3 attempts)."""
import http.server
import os
import threading

from dagdtest import Tmp, check, eq

LOAD = """pipeline: bad_load
params:
  warehouse: {wh}
steps:
  - name: step
    task: load
    retries: 2
    retry_delay: 10ms
    config:
      path: "{path}"
      table: t
      columns: [{{name: id, type: integer, required: true}}, name]
      {extra}
"""

LOAD_CASES = [
    # name, file text, extra config, needle in the error
    ("bad_row.csv", "id,name\n1,a\nx,b\n", "", "row 2"),
    ("rejects.csv", "id,name\nx,a\ny,b\nz,c\n", "rejects: t_rejects\n      max_rejects: 1",
     "reject"),
    ("latin1.csv", b"id,name\n1,caf\xe9\n", "", "not valid UTF-8"),
    ("quote.csv", 'id,name\n1,"open\n', "", "quote"),
    ("nocol.csv", "name\na\n", "", "missing column 'id'"),
]

SQL = """pipeline: bad_sql
params:
  warehouse: {wh}
steps:
  - name: step
    task: sql
    retries: 2
    retry_delay: 10ms
    config: {{models: "{models}"}}
"""

CHECK = """pipeline: bad_check
params:
  warehouse: {wh}
steps:
  - name: setup
    task: sql
    config: {{models: "{models}"}}
  - name: step
    task: check
    needs: [setup]
    retries: 2
    retry_delay: 10ms
    config:
      table: m
      checks: [{{not_null: [v]}}]
  - name: step2
    task: export
    needs: [setup]
    retries: 2
    retry_delay: 10ms
    config: {{query: "SELEC v FROM m", path: "{out}"}}
"""

HTTP = """pipeline: bad_http
params:
  warehouse: {wh}
steps:
  - name: step
    task: http
    retries: 2
    retry_delay: 10ms
    config:
      url: "{url}"
      table: t
      columns: {{id: INTEGER}}
      max_attempts: 1
"""


def attempts(t, step, wanted, needle, what):
    st = t.steps()[step]
    eq(st["status"], "failed", what + ": status")
    eq(st["attempts"], wanted, what + ": attempts")
    check(needle in (st["error"] or ""), "%s: error %r lacks %r" % (what, st["error"], needle))
    retries = t.events(step=step, kind="retry")
    eq(len(retries), wanted - 1, what + ": retry events")
    if wanted == 1:
        logs = [e["message"] or "" for e in t.events(step=step, kind="log")]
        check(any("not retried" in m for m in logs), "%s: no 'not retried' log: %r" % (what, logs))


for name, text, extra, needle in LOAD_CASES:
    with Tmp() as t:
        path = os.path.join(t.dir, name)
        with open(path, "wb") as f:
            f.write(text if isinstance(text, bytes) else text.encode())
        wh = os.path.join(t.dir, "wh.db")
        t.write("p.yaml", LOAD.format(wh=wh, path=path, extra=extra))
        t.run("p.yaml", rc=1)
        attempts(t, "step", 1, needle, "load " + name)
        check(name in (t.steps()["step"]["error"] or ""), "load %s: the error names no file" % name)

with Tmp() as t:
    os.mkdir(os.path.join(t.dir, "models"))
    t.write("models/m.sql", "SELECT 1 AS v FROM WHERE")
    t.write("p.yaml", SQL.format(wh=os.path.join(t.dir, "wh.db"), models=os.path.join(t.dir, "models")))
    t.run("p.yaml", rc=1)
    attempts(t, "step", 1, "syntax error", "sql syntax error")

with Tmp() as t:
    os.mkdir(os.path.join(t.dir, "models"))
    t.write("models/m.sql", "SELECT NULL AS v")
    t.write("p.yaml", CHECK.format(wh=os.path.join(t.dir, "wh.db"), models=os.path.join(t.dir, "models"),
                                   out=os.path.join(t.dir, "out.csv")))
    t.run("p.yaml", rc=1)
    attempts(t, "step", 1, "1 of 1 checks failed", "check")
    attempts(t, "step2", 1, "syntax error", "export")


class Handler(http.server.BaseHTTPRequestHandler):
    hits = {}

    def do_GET(self):
        Handler.hits[self.path] = Handler.hits.get(self.path, 0) + 1
        code = 404 if self.path.startswith("/missing") else 503
        body = b'{"error": "no"}'
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=srv.serve_forever, daemon=True).start()
base = "http://127.0.0.1:%d" % srv.server_address[1]
try:
    for path, wanted, needle in (("/missing", 1, "HTTP 404"), ("/down", 3, "HTTP 503")):
        with Tmp() as t:
            t.write("p.yaml", HTTP.format(wh=os.path.join(t.dir, "wh.db"), url=base + path))
            t.run("p.yaml", rc=1)
            attempts(t, "step", wanted, needle, "http " + path)
            eq(Handler.hits.get(path), wanted, "http %s: requests" % path)
finally:
    srv.shutdown()
print("ok")
