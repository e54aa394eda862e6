"""Retries: flaky {failures: 2} with retries: 2 succeeds on attempt 3; with
retries: 1 it fails after 2 attempts; every failed attempt is an event; the
backoff waits (full jitter: at most retry_delay * 2^(n-1))."""
from dagdtest import Tmp, check, eq

with Tmp() as t:
    t.write("p.yaml", """
pipeline: retries
steps:
  - name: flaky_ok
    task: flaky
    config: {failures: 2}
    retries: 2
    retry_delay: 50ms
  - name: flaky_bad
    task: flaky
    config: {failures: 3}
    retries: 1
    retry_delay: 10ms
  - name: downstream
    task: noop
    needs: [flaky_ok]
""")
    t.run("p.yaml", rc=1)
    st = t.steps()
    eq(st["flaky_ok"]["status"], "succeeded", "flaky_ok")
    eq(st["flaky_ok"]["attempts"], 3, "flaky_ok attempts")
    eq(st["flaky_ok"]["error"], None, "no error left on success")
    eq(st["flaky_bad"]["status"], "failed", "flaky_bad")
    eq(st["flaky_bad"]["attempts"], 2, "flaky_bad attempts")
    eq(st["flaky_bad"]["error"], "flaky failure 2 of 3", "flaky_bad error")
    eq(st["downstream"]["status"], "succeeded", "downstream of a retried step")
    retries = [e["message"] for e in t.events(step="flaky_ok", kind="retry")]
    eq(len(retries), 2, "retry events")
    check(retries[0].startswith("attempt 1 failed: flaky failure 1 of 2; retrying in"), retries[0])
    # The log line the plugin writes on its successful attempt.
    logs = [e["message"] for e in t.events(step="flaky_ok", kind="log")]
    eq(logs, ["succeeded on attempt 3"], "plugin log through the host API")
    # State went running -> pending -> running ... -> succeeded.
    seq = [e["message"] for e in t.events(step="flaky_ok", kind="step")]
    eq(seq[0], "step flaky_ok running (attempt 1)", "first state")
    eq(seq[1], "step flaky_ok pending (retry after attempt 1)", "pending between attempts")
    check(seq[-1].startswith("step flaky_ok succeeded"), seq[-1])
print("ok")
