"""dagd validate / graph / tasks as a user runs them (DESIGN 3a): exit codes,
FILE:LINE:COL diagnostics on stderr, DOT on stdout, the task list. Uses the
loader's test plugins in build/tests/unit/plugins. Stdlib only."""
import json
import os
import tempfile

from dagdtest import BUILD, dagd, fail

PLUGINS = os.path.join(BUILD, "tests", "unit", "plugins")


def expect(p, rc, stdout=None, stderr=None, what=""):
    if p.returncode != rc:
        fail("%s: exit %d, wanted %d\nstdout:\n%s\nstderr:\n%s" % (what, p.returncode, rc, p.stdout, p.stderr))
    if stdout is not None and p.stdout != stdout:
        fail("%s: stdout\n%r\nwanted\n%r" % (what, p.stdout, stdout))
    if stderr is not None and p.stderr != stderr:
        fail("%s: stderr\n%r\nwanted\n%r" % (what, p.stderr, stderr))


GOOD = """pipeline: g
params: {dir: data}
steps:
  - {name: a, task: utest, config: {path: "${dir}/x"}}
  - {name: b, task: bare, needs: [a]}
  - {name: c, task: bare, needs: [a, b]}
"""

BAD = """pipeline: g
steps:
  - {name: a, task: utest, config: {path: x, limit: 500}}
  - {name: b, task: bare, needs: [c]}
  - {name: c, task: bare, needs: [b]}
  - {name: d, task: nope, bogus: 1}
"""


def main():
    with tempfile.TemporaryDirectory() as tmp:
        good = os.path.join(tmp, "good.yaml")
        bad = os.path.join(tmp, "bad.yaml")
        open(good, "w").write(GOOD)
        open(bad, "w").write(BAD)
        pd = ["--plugin-dir", PLUGINS]

        expect(dagd("validate", *pd, good), 0, stdout="%s: ok (pipeline 'g', 3 steps)\n" % good,
               stderr="", what="validate good")
        expect(dagd("validate", *pd, "-q", good), 0, stdout="", stderr="", what="validate -q")
        # every error of the bad file, sorted by position; the good one still checked
        expect(dagd("validate", *pd, bad, good), 2,
               stdout="%s: ok (pipeline 'g', 3 steps)\n" % good,
               stderr="".join("%s:%s\n" % (bad, line) for line in [
                   "3:53: error: config key 'limit': 500 is out of range [0, 100]",
                   "4:12: error: dependency cycle: b -> c -> b (each step needs the next)",
                   "6:21: error: unknown task 'nope' (no dagd-task-nope.so in the plugin path; "
                   "`dagd tasks` lists the tasks)",
                   "6:27: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
                   "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, "
                   "slots, executor, slurm)",
               ]), what="validate bad")
        missing = os.path.join(tmp, "missing.yaml")
        expect(dagd("validate", missing), 2,
               stderr="%s:1:1: error: cannot open: No such file or directory\n" % missing,
               what="validate missing")
        expect(dagd("validate"), 2, what="validate without files")
        expect(dagd("validate", "--bogus", good), 2, what="validate unknown option")

        expect(dagd("graph", "--plugin-dir=" + PLUGINS, good), 0, stderr="", stdout="""digraph "g" {
    rankdir=LR;
    node [shape=box, fontname="Helvetica"];
    "a" [label="a\\n(utest)"];
    "b" [label="b\\n(bare)"];
    "c" [label="c\\n(bare)"];
    "a" -> "b";
    "a" -> "c";
    "b" -> "c";
}
""", what="graph")
        # --ascii: levels (1 + the deepest need), tasks and needs, no Graphviz needed.
        expect(dagd("graph", *pd, "--ascii", good), 0, stderr="", stdout="""pipeline g: 3 steps in 3 levels

LEVEL  STEP  TASK   NEEDS
    1  a     utest  -
    2  b     bare   a
    3  c     bare   a, b
""", what="graph --ascii")
        expect(dagd("graph", *pd, bad, "--ascii"), 2, stdout="", what="graph --ascii bad")
        expect(dagd("graph", *pd, bad), 2, stdout="", what="graph bad")
        expect(dagd("graph", *pd, good, good), 2, stdout="", what="graph two files")

        p = dagd("tasks", *pd, "--json")
        expect(p, 0, what="tasks --json")
        tasks = {t["name"]: t for t in json.loads(p.stdout)}
        if "utest" not in tasks or "bare" not in tasks:
            fail("tasks: %s" % sorted(tasks))
        u = tasks["utest"]
        if u["version"] != "1.2" or not u["path"].endswith("/dagd-task-utest.so"):
            fail("tasks utest: %r" % u)
        fields = {f["name"]: f for f in u["schema"]}
        if fields["path"] != {"name": "path", "type": "string", "required": True, "doc": "input glob"}:
            fail("tasks utest path: %r" % fields["path"])
        if fields["limit"]["min"] != 0 or fields["limit"]["max"] != 100:
            fail("tasks utest limit: %r" % fields["limit"])
        if fields["format"]["choices"] != ["xlsx", "json"]:
            fail("tasks utest format: %r" % fields["format"])
        # refused plugins are named with the reason, not listed
        if "badabi" in tasks or "was built for task ABI 99.3" not in p.stderr:
            fail("tasks: badabi not refused clearly: %r" % p.stderr)
        p = dagd("tasks", *pd)
        expect(p, 0, what="tasks")
        if not p.stdout.startswith("bare 1\n") or "utest 1.2\n" not in p.stdout:
            fail("tasks text: %r" % p.stdout)
        # The build tree's test tasks (crash, hog, ...) only with --all (issue 15);
        # the columns line up whatever the key's length.
        p = dagd("tasks")
        expect(p, 0, what="tasks default")
        if "\ncrash 1\n" in p.stdout or "\ncommand 1\n" not in p.stdout:
            fail("tasks lists test tasks: %r" % p.stdout[:400])
        import re
        cols = {m.end(2) for m in re.finditer(r"^(    \S+)( {2,})\S", p.stdout, re.M)}
        cols = {c - p.stdout.rfind("\n", 0, c) for c in cols}
        if len(cols) != 1:
            fail("tasks columns not aligned: %r" % sorted(cols))
        p = dagd("tasks", "--all")
        if "-- test tasks of the build tree" not in p.stdout or "\ncrash 1\n" not in p.stdout:
            fail("tasks --all: %r" % p.stdout[-400:])
    print("ok")


main()
