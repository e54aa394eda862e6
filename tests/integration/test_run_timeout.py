"""Timeouts: a step over its timeout gets SIGTERM (its canceled() turns
true and the sleep task returns), the step fails with "timed out after
300ms"; a step that ignores SIGTERM is SIGKILLed after the grace. A timed
out attempt is retried like any failure."""
from dagdtest import Tmp, check, eq

with Tmp() as t:
    t.write("p.yaml", """
pipeline: timeouts
steps:
  - name: slow
    task: sleep
    config: {ms: 60000}
    timeout: 300ms
  - name: slow_retried
    task: sleep
    config: {ms: 60000}
    timeout: 200ms
    retries: 1
    retry_delay: 10ms
  - name: stubborn
    task: command
    config: {argv: [sh, -c, "trap '' TERM; sleep 60"]}
    timeout: 1s
  - name: quick
    task: sleep
    config: {ms: 10}
    timeout: 10s
""")
    t.run("p.yaml", rc=1, timeout=100)
    st = t.steps()
    eq(st["slow"]["status"], "failed", "slow")
    eq(st["slow"]["error"], "timed out after 300ms", "slow error")
    eq(st["slow_retried"]["attempts"], 2, "timeout retried")
    eq(st["slow_retried"]["error"], "timed out after 200ms", "slow_retried error")
    eq(st["stubborn"]["status"], "failed", "stubborn")
    eq(st["stubborn"]["error"], "timed out after 1s", "stubborn error")
    eq(st["quick"]["status"], "succeeded", "quick")
    # Killed, not run to the end: well under the 60 s the steps asked for.
    for s in ("slow", "stubborn"):
        check(st[s]["ended_at"] - st[s]["started_at"] < 30000, s + " was stopped")
print("ok")
