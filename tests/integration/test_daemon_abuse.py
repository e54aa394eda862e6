#!/usr/bin/env python3
"""The daemon against a hostile or clumsy client (issue 16): invalid UTF-8
in requests. Each part fails without the change it covers; the limits it
relies on are promised in docs/daemon.md and docs/security.md."""
import json
import os
import socket
import subprocess
import time

from daemonlib import (NOOP, Daemon, call, check, fail, need_test_plugins, read_line, request,
                       wait_for)

need_test_plugins("noop")

PARAMS = """pipeline: params
params:
  greeting: hello
steps:
  - name: only
    task: noop
"""


def invalid_utf8(d):
    """Invalid UTF-8 is refused by the decoder; nothing raw is stored, and
    `dagctl --json runs` stays parseable."""
    s = d.connect()
    bad = [b'{"v":1,"id":1,"method":"run","params":{"pipeline":"params","params":["greeting=\xff\xfe"]}}\n',
           b'{"v":1,"id":2,"method":"run","params":{"pipeline":"params","params":["greeting=\xed\xa0\x80"]}}\n',
           b'{"v":1,"id":3,"method":"run","params":{"pipeline":"params","params":["greeting=a\\u0000b"]}}\n',
           b'{"v":1,"id":4,"method":"run\xc0\xaf","params":{}}\n']
    rest = b""
    for line in bad:
        s.sendall(line)
        out, rest = read_line(s, rest)
        out.decode("utf-8")  # the reply itself is UTF-8
        rep = json.loads(out)
        check(rep["error"]["code"] == "PARSE_ERROR", "invalid UTF-8 accepted: %r" % rep)
    rep = call(s, "run", {"pipeline": "params", "params": ["greeting=gr\u00fc\u00df \u20ac"]}, id=5)
    check("result" in rep, "valid UTF-8 refused: %r" % rep)
    d.wait_run(rep["result"]["run_id"])
    s.close()
    p = d.ctl("runs", json_out=True)
    runs = p.json["runs"]
    check(len(runs) == 1, "only the valid run is recorded: %r" % runs)
    p = d.ctl("show", runs[0]["run_id"], json_out=True)
    check("gr\u00fc\u00df \u20ac" in json.dumps(p.json["run"]["params"], ensure_ascii=False),
          "params: %r" % p.json["run"])


with Daemon({"noop": NOOP, "params": PARAMS}) as d:
    invalid_utf8(d)
    check(d.proc.poll() is None, "daemon died:\n" + d.logtext())
    check(d.stop() == 0, "SIGTERM exit status")

print("ok")
