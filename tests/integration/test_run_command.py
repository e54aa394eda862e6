"""The command task: argv without a shell, env, cwd, exit codes, and stdout
/ stderr captured line by line into events."""
import os

from dagdtest import Tmp, check, eq

with Tmp() as t:
    os.mkdir(os.path.join(t.dir, "sub"))
    t.write("p.yaml", """
pipeline: cmd
steps:
  - name: hello
    task: command
    config:
      argv: [sh, -c, 'echo "one $GREETING"; echo two; echo err >&2; pwd; printf tail']
      env: {GREETING: hi}
      cwd: sub
  - name: literal
    task: command
    config: {argv: [echo, "$HOME; rm -rf /"]}
  - name: code
    task: command
    config: {argv: [sh, -c, "exit 7"]}
  - name: missing
    task: command
    config: {argv: [/no/such/program]}
""")
    p = t.run("p.yaml", rc=1)
    st = t.steps()
    # Step output is shown live, prefixed by the step (issue 15).
    lines = p.stdout.splitlines()
    for want in ("hello | one hi", "hello | two", "hello | err", "hello | tail",
                 "literal | $HOME; rm -rf /"):
        check(want in lines, "live output: no %r in\n%s" % (want, p.stdout))
    eq(st["hello"]["status"], "succeeded", "hello")
    out = [e["message"] for e in t.events(step="hello", kind="stdout")]
    eq(out, ["one hi", "two", os.path.realpath(os.path.join(t.dir, "sub")), "tail"], "stdout lines")
    eq([e["message"] for e in t.events(step="hello", kind="stderr")], ["err"], "stderr lines")
    eq([e["message"] for e in t.events(step="literal", kind="stdout")], ["$HOME; rm -rf /"],
       "no shell")
    eq(st["code"]["status"], "failed", "code")
    eq(st["code"]["error"], "'sh' exited with code 7", "code error")
    # One exit code in the event: the task's words, not the worker's code too (issue 15).
    msgs = [e["message"] for e in t.events(step="code", kind="step")]
    check("step code failed (attempt 1): 'sh' exited with code 7" in msgs, "events: %r" % msgs)
    eq(st["missing"]["status"], "failed", "missing")
    check("No such file" in st["missing"]["error"], st["missing"]["error"])

    # --no-output hides it; a failed step then shows the tail of its stderr.
    t.write("tail.yaml", """
pipeline: tail
steps:
  - name: noisy
    task: command
    config: {argv: [sh, -c, 'echo visible; for i in $(seq 1 15); do echo "e$i" >&2; done; exit 3']}
""")
    p = t.run("tail.yaml", "--no-output", "--state-dir", "s2", rc=1)
    check("noisy | visible" not in p.stdout, "--no-output still printed stdout:\n" + p.stdout)
    tail = [l for l in p.stdout.splitlines() if l.startswith("noisy | e")]
    eq(tail, ["noisy | e%d" % i for i in range(6, 16)], "the last 10 stderr lines")
    check("noisy | (the last 10 lines of its stderr)" in p.stdout, p.stdout)
    check("of pipeline tail (1 step)\n" in p.stdout, "plural: " + p.stdout)
    p = t.run("tail.yaml", "--state-dir", "s3", rc=1)
    eq([l for l in p.stdout.splitlines() if l.startswith("noisy | e")],
       ["noisy | e%d" % i for i in range(1, 16)], "live stderr, once")
    check("of its stderr" not in p.stdout, "tail repeated after live output:\n" + p.stdout)
    p = t.run("tail.yaml", "-q", "--state-dir", "s4", rc=1)
    check("noisy | visible" not in p.stdout, "-q printed output:\n" + p.stdout)

    # An empty argv is refused at load time.
    t.write("bad.yaml", """
pipeline: bad
steps:
  - {name: x, task: command, config: {argv: []}}
""")
    p = t.run("bad.yaml", rc=2)
    check("bad.yaml:" in p.stderr, p.stderr)
print("ok")
