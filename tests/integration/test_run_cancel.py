"""Cancel: SIGINT to `dagd run` stops the running step (SIGTERM to its
process group), marks pending steps canceled, records the run canceled and
exits 1. SIGTERM does the same."""
import signal

from dagdtest import Tmp, check, eq

with Tmp() as t:
    t.write("p.yaml", """
pipeline: cancel
steps:
  - {name: long, task: sleep, config: {ms: 60000}}
  - {name: after, task: noop, needs: [long]}
""")
    for sig in (signal.SIGINT, signal.SIGTERM):
        proc = t.spawn("p.yaml", "--force")

        def running():
            r = t.last_run()
            return r is not None and r["status"] == "running" and \
                t.steps(r["run_id"])["long"]["status"] == "running"
        t.wait_for(running, "the long step to run")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
        eq(proc.returncode, 1, "exit code after %s (stderr: %s)" % (sig.name, err))
        run = t.last_run()
        eq(run["status"], "canceled", "run status")
        st = t.steps()
        eq(st["long"]["status"], "canceled", "running step")
        eq(st["after"]["status"], "canceled", "pending step")
        check(st["long"]["ended_at"] - st["long"]["started_at"] < 30000, "stopped early")
        # The plugin's cancel callback ran (in the worker's control thread).
        logs = [e["message"] for e in t.events(step="long", kind="log")]
        eq(logs, ["cancel requested"], "cancel callback")
print("ok")
