"""A malformed input fails the same way every time, so extract says so
(host no_retry, task ABI 1.3) and the step is not retried whatever its
`retries:` (issue 16 item 15). JSON strings that would not stay whole text
(`\\u0000`, a lone low surrogate) are rejected naming the file and record,
so raw_orders and the silver tables never disagree; nothing of the file is
loaded."""
import os
import sqlite3

from dagdtest import Tmp, check, eq

PIPELINE = """pipeline: extract_bad
params:
  warehouse: {wh}
steps:
  - name: extract
    task: extract
    retries: 2
    retry_delay: 10ms
    config: {{format: json, path: "{path}", source: dataset2}}
"""

CASES = [
    ("syntax.json", '[{"ORDER_ID": 1}, {"ORDER_ID": x}]', "syntax error at record 2"),
    ("nul.json", '[{"ORDER_ID": 1, "CUSTOMER_NAME": "ab\\u0000c"}]', "contains \\u0000"),
    ("surrogate.json", '[{"ORDER_ID": 1}, {"ORDER_ID": 2, "CUSTOMER_NAME": "\\udc00"}]',
     "not valid UTF-8"),
]

for name, text, needle in CASES:
    with Tmp() as t:
        path = t.write(name, text)
        wh = os.path.join(t.dir, "wh.db")
        t.write("p.yaml", PIPELINE.format(wh=wh, path=path))
        t.run("p.yaml", rc=1)
        st = t.steps()["extract"]
        eq(st["status"], "failed", name + ": status")
        eq(st["attempts"], 1, name + ": attempts (a malformed file is not retried)")
        check(needle in (st["error"] or ""), "%s: error %r lacks %r" % (name, st["error"], needle))
        check(name in (st["error"] or ""), "%s: error %r names no file" % (name, st["error"]))
        eq(len(t.events(step="extract", kind="retry")), 0, name + ": retry events")
        logs = [e["message"] for e in t.events(step="extract", kind="log")]
        check(any("not retried" in (m or "") for m in logs), "%s: no 'not retried' log: %r" % (name, logs))
        if os.path.exists(wh):
            with sqlite3.connect(wh) as c:
                has = c.execute("SELECT count(*) FROM sqlite_master WHERE name='raw_orders'").fetchone()[0]
                if has:
                    eq(c.execute("SELECT count(*) FROM raw_orders").fetchone()[0], 0,
                       name + ": rows of a rejected file")
