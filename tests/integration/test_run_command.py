"""The command task: argv without a shell, env, cwd, exit codes, and stdout
/ stderr captured line by line into events."""
import os

from runlib import Tmp, check, eq

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
    t.run("p.yaml", rc=1)
    st = t.steps()
    eq(st["hello"]["status"], "succeeded", "hello")
    out = [e["message"] for e in t.events(step="hello", kind="stdout")]
    eq(out, ["one hi", "two", os.path.realpath(os.path.join(t.dir, "sub")), "tail"], "stdout lines")
    eq([e["message"] for e in t.events(step="hello", kind="stderr")], ["err"], "stderr lines")
    eq([e["message"] for e in t.events(step="literal", kind="stdout")], ["$HOME; rm -rf /"],
       "no shell")
    eq(st["code"]["status"], "failed", "code")
    eq(st["code"]["error"], "'sh' exited with code 7", "code error")
    eq(st["missing"]["status"], "failed", "missing")
    check("No such file" in st["missing"]["error"], st["missing"]["error"])

    # An empty argv is refused at load time.
    t.write("bad.yaml", """
pipeline: bad
steps:
  - {name: x, task: command, config: {argv: []}}
""")
    p = t.run("bad.yaml", rc=2)
    check("bad.yaml:" in p.stderr, p.stderr)
print("ok")
