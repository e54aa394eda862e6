#!/usr/bin/env python3
"""Live pages by Server-Sent Events (issue 11): GET /api/runs/ID/stream
with a raw HTTP client. A live run's lines arrive as `events` with their
seq as the SSE id, step changes as `run`, the end as `end` and the stream
closes; a finished run's stream sends what is stored and ends at once;
Last-Event-ID resumes; a client that never reads does not grow the
daemon's memory while a step prints 8 MB; clients that disconnect are
forgotten (dagd_http_streams in /metrics), also 200 that come and go at
once; limits.max_http_streams bounds
the streams (the next gets 503, other requests still work); the heartbeat
arrives; the daemon stops promptly with streams open, and each client sees
its stream end."""
import json
import os
import shutil
import socket
import tempfile
import time

from dagdtest import Daemon, check, free_port, need_test_plugins, sanitized, wait_for

need_test_plugins("noop")

MAX_STREAMS = 4
gate_dir = tempfile.mkdtemp(prefix="dagd-sse-")
GATE = os.path.join(gate_dir, "go")
LIVE = """pipeline: live
steps:
  - name: talk
    task: command
    config:
      argv: [sh, -c, 'echo "line 1"; echo "line 2"; n=0; while [ ! -e "$GATE" ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done; echo "line 3"']
      env: {GATE: "%s"}
  - {name: after, task: noop, needs: [talk]}
""" % GATE
# 8 MB of output in 80,000 lines (8 steps, each under the 1 MiB a step's
# output is stored up to) while one client never reads its stream.
CHATTY = "pipeline: chatty\nsteps:\n" + "".join("""  - name: shout%d
    task: command
    config:
      argv: [sh, -c, 'i=0; while [ $i -lt 10000 ]; do echo "%s $i"; i=$((i+1)); done']
""" % (k, "x" * 90) for k in range(8))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return [int(l.split()[1]) for l in f if l.startswith("VmRSS:")][0]


class Stream:
    """A raw HTTP/1.1 client of one stream: the status, the headers, then
    SSE messages as dicts {event, id, data} (comments as {comment})."""

    def __init__(self, port, path, headers=None, rcvbuf=None):
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(20)
        self.s.connect(("127.0.0.1", port))
        extra = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n%s\r\n"
                        % (path, extra)).encode())
        self.buf = b""
        self.text = ""
        self.closed = False

    def head(self):
        while b"\r\n\r\n" not in self.buf:
            self._recv()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
        self.chunked = self.headers.get("transfer-encoding") == "chunked"
        return self.status

    def _recv(self):
        b = self.s.recv(65536)
        if not b:
            self.closed = True
            raise EOFError
        self.buf += b

    def _dechunk(self):
        """Move whole chunks of buf into text."""
        while True:
            if not self.chunked:
                self.text += self.buf.decode()
                self.buf = b""
                return
            if b"\r\n" not in self.buf:
                return
            size_line, rest = self.buf.split(b"\r\n", 1)
            n = int(size_line.split(b";")[0], 16)
            if n == 0:
                self.closed = True
                return
            if len(rest) < n + 2:
                return
            self.text += rest[:n].decode()
            self.buf = rest[n + 2:]

    def messages(self, until, timeout=20):
        """Read messages until until(list of messages) is true or the stream ends."""
        out = []
        end = time.monotonic() + timeout
        self._dechunk()
        while True:
            while "\n\n" in self.text:
                block, self.text = self.text.split("\n\n", 1)
                m = {}
                for line in block.split("\n"):
                    if line.startswith(":"):
                        m["comment"] = line[1:].strip()
                    else:
                        k, _, v = line.partition(": ")
                        m[k] = v
                out.append(m)
                if until(out):
                    return out
            if self.closed or time.monotonic() > end:
                return out
            try:
                self._recv()
            except EOFError:
                pass
            except socket.timeout:
                return out
            self._dechunk()

    def close(self):
        self.s.close()


def lines_of(msgs):
    out = []
    for m in msgs:
        if m.get("event") == "events":
            out += [e["message"] for e in json.loads(m["data"])["events"]]
    return out


def gauge(port, name):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    for line in data.decode().split("\n"):
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


port = free_port()
config = "limits:\n  max_http_streams: %d\n" % MAX_STREAMS
try:
    with Daemon({"live": LIVE, "chatty": CHATTY, "quick": "pipeline: quick\nsteps:\n  - {name: a, task: noop}\n"},
                config=config, args=["--http", "127.0.0.1:%d" % port]) as d:
        # A finished run: what is stored, then `end`, then the stream closes.
        quick = d.ctl("run", "quick", "--wait", json_out=True).json["run_id"]
        st = Stream(port, "/api/runs/%s/stream" % quick)
        check(st.head() == 200, "stream of a finished run: %d" % st.status)
        check(st.headers.get("content-type", "").startswith("text/event-stream"), "content type: %r" % st.headers)
        check("default-src 'none'" in st.headers.get("content-security-policy", ""), "CSP on a stream")
        msgs = st.messages(lambda ms: any(m.get("event") == "end" for m in ms))
        ends = [m for m in msgs if m.get("event") == "end"]
        check(len(ends) == 1 and json.loads(ends[0]["data"])["status"] == "succeeded", "end of a finished run: %r" % msgs)
        evs = [m for m in msgs if m.get("event") == "events"]
        check(evs and all(int(m["id"]) == json.loads(m["data"])["last_seq"] for m in evs), "ids are seqs: %r" % evs)
        last = int(evs[-1]["id"])
        st.messages(lambda ms: False, timeout=3)
        check(st.closed, "the stream of a finished run closes after end")
        st.close()
        # Last-Event-ID resumes after that seq: only the end is left.
        st = Stream(port, "/api/runs/%s/stream" % quick, {"Last-Event-ID": str(last)})
        st.head()
        msgs = st.messages(lambda ms: any(m.get("event") == "end" for m in ms))
        check(lines_of(msgs) == [], "Last-Event-ID %d: nothing again: %r" % (last, msgs))
        st.close()
        # Unknown runs and bad seqs.
        st = Stream(port, "/api/runs/%s/stream" % ("0" * 32))
        check(st.head() == 404, "unknown run: %d" % st.status)
        st.close()
        st = Stream(port, "/api/runs/%s/stream?after=x" % quick)
        check(st.head() == 400, "bad after: %d" % st.status)
        st.close()

        # A live run: lines 1 and 2 arrive while the step waits for the gate.
        live = d.ctl("run", "live", json_out=True).json["run_id"]
        st = Stream(port, "/api/runs/%s/stream" % live)
        check(st.head() == 200, "live stream: %d" % st.status)
        msgs = st.messages(lambda ms: "line 2" in lines_of(ms))
        check(lines_of(msgs)[-2:] == ["line 1", "line 2"] or "line 2" in lines_of(msgs), "live lines: %r" % msgs)
        check(not any(m.get("event") == "end" for m in msgs), "no end while running")
        check(d.run_row(live)["status"] == "running", "the run is still running")
        # A step-filtered stream of the same run, and one that disconnects.
        st2 = Stream(port, "/api/runs/%s/stream?step=talk" % live)
        st2.head()
        m2 = st2.messages(lambda ms: "line 2" in lines_of(ms))
        check(all(json.loads(m["data"])["events"][0]["step"] == "talk" for m in m2 if m.get("event") == "events"),
              "step= filters: %r" % m2)
        gone = Stream(port, "/api/runs/%s/stream" % live)
        gone.head()
        # The streams are bounded: MAX_STREAMS open (st, st2, gone, and one
        # more), the next gets 503; pages and /metrics still answer.
        extra = Stream(port, "/api/runs/%s/stream" % live)
        check(extra.head() == 200, "fourth stream: %d" % extra.status)
        over = Stream(port, "/api/runs/%s/stream" % live)
        check(over.head() == 503, "over max_http_streams: %d" % over.status)
        over.close()
        check(gauge(port, "dagd_http_streams") == MAX_STREAMS, "dagd_http_streams gauge")
        gone.close()
        extra.close()
        # Many clients in turn: 200 that connect, read the head and hang up
        # at once, some before the end of their request; the daemon stays up.
        for i in range(200):
            c = Stream(port, "/api/runs/%s/stream" % live)
            if i % 2:
                c.head()
            c.close()
        check(d.proc.poll() is None, "the daemon is up after 200 clients came and went")
        # A client gone while its stream is suspended is found by the next
        # write (an event or the heartbeat, at most 15 s).
        wait_for(lambda: gauge(port, "dagd_http_streams") == 2, timeout=20, what="disconnected streams dropped")
        # The heartbeat keeps the open ones alive.
        t0 = time.monotonic()
        hb = st.messages(lambda ms: any("comment" in m for m in ms), timeout=20)
        check(any(m.get("comment") == "keep-alive" for m in hb), "heartbeat within 15 s: %r" % hb)
        # The end: line 3, the step changes and `end`, then the stream closes.
        with open(GATE, "w") as f:
            f.write("go\n")
        msgs = st.messages(lambda ms: any(m.get("event") == "end" for m in ms), timeout=30)
        check("line 3" in lines_of(msgs), "line 3 after the gate: %r" % msgs)
        check(any(m.get("event") == "run" for m in msgs), "a run event for the step changes")
        ends = [json.loads(m["data"])["status"] for m in msgs if m.get("event") == "end"]
        check(ends == ["succeeded"], "end: %r" % ends)
        st.close()
        st2.close()

        # A client that never reads while a step prints 8 MB: the daemon's
        # memory stays bounded (it reads from state.db as the client drains).
        rss0 = rss_kb(d.proc.pid)
        chatty = d.ctl("run", "chatty", json_out=True).json["run_id"]
        slow = Stream(port, "/api/runs/%s/stream" % chatty, rcvbuf=4096)
        slow.head()
        d.wait_run(chatty, timeout=120)
        peak = rss_kb(d.proc.pid)
        msg = "RSS %d -> %d KB with a client that never reads" % (rss0, peak)
        if sanitized():
            print("sanitizer build: not checked: " + msg)  # ASan's quarantine keeps freed memory
        else:
            check(peak - rss0 < 24 * 1024, msg)
            print(msg)
        # It then reads it all, in order.
        msgs = slow.messages(lambda ms: any(m.get("event") == "end" for m in ms), timeout=120)
        got = [l for l in lines_of(msgs) if l.startswith("x")]
        check(len(got) == 80000, "slow client gets every line: %d" % len(got))
        seqs = [e["seq"] for m in msgs if m.get("event") == "events" for e in json.loads(m["data"])["events"]]
        check(seqs == sorted(set(seqs)), "in order, each once")
        slow.close()

        # Stop with streams open: the daemon stops promptly, clients see EOF.
        live2 = d.ctl("run", "quick", json_out=True).json["run_id"]
        os.unlink(GATE)
        live3 = d.ctl("run", "live", json_out=True).json["run_id"]
        opens = []
        for _ in range(3):
            s = Stream(port, "/api/runs/%s/stream" % live3)
            s.head()
            s.messages(lambda ms: "line 2" in lines_of(ms))
            opens.append(s)
        with open(GATE, "w") as f:
            f.write("go\n")
        t0 = time.monotonic()
        check(d.stop() == 0, "daemon exit status")
        check(time.monotonic() - t0 < 20, "stopped in %.1f s" % (time.monotonic() - t0))
        for s in opens:
            s.messages(lambda ms: False, timeout=5)
            check(s.closed, "the stream ended at the daemon's stop")
            s.close()
finally:
    shutil.rmtree(gate_dir, ignore_errors=True)
print("ok")
