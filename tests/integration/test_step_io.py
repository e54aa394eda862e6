#!/usr/bin/env python3
"""A step's own `inputs:` and `outputs:` (issue 15): inputs (files and globs,
with params) feed the fingerprint, so a changed input reruns the step and a
touched one does not; a missing output reruns it; a new file matching an
input glob reruns it; `dagd plan` agrees."""
import os

from dagdtest import Tmp, check, eq

with Tmp() as t:
    os.mkdir(os.path.join(t.dir, "extra"))
    t.write("src.txt", "a\n")
    t.write("extra/1.txt", "x\n")
    t.write("io.yaml", """
pipeline: io
params: {src: src.txt}
steps:
  - name: build
    task: command
    inputs: ["${src}", "extra/*.txt"]
    outputs: [out.txt]
    config: {argv: [sh, -c, "cat src.txt extra/*.txt > out.txt"]}
  - name: after
    task: noop
    needs: [build]
""")

    def status():
        st = t.steps()
        return st["build"]["status"], st["build"]["skip_reason"]

    t.run("io.yaml", rc=0)
    eq(status(), ("succeeded", None), "first run")
    t.run("io.yaml", rc=0)
    eq(status(), ("skipped", "memoized"), "unchanged")
    os.utime(os.path.join(t.dir, "src.txt"))
    t.run("io.yaml", rc=0)
    eq(status(), ("skipped", "memoized"), "touched input")
    t.write("src.txt", "b\n")
    t.run("io.yaml", rc=0)
    eq(status(), ("succeeded", None), "changed input")
    os.unlink(os.path.join(t.dir, "out.txt"))
    p = t.run("io.yaml", "--no-output", rc=0)
    eq(status(), ("succeeded", None), "missing output")
    t.write("extra/2.txt", "y\n")
    t.run("io.yaml", rc=0)
    eq(status(), ("succeeded", None), "new file in an input glob")
    with open(os.path.join(t.dir, "out.txt")) as f:
        eq(f.read(), "b\nx\ny\n", "output")
    t.write("bad.yaml", "pipeline: bad\nsteps:\n  - {name: a, task: noop, inputs: ['${nope}']}\n")
    p = t.run("bad.yaml", rc=2)
    check("unknown parameter '${nope}'" in p.stderr, p.stderr)
print("ok")
