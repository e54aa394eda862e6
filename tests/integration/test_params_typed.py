#!/usr/bin/env python3
"""Typed params (issue 16 items 2 and 3), as the reports tried them: through
`dagctl run` on a private daemon and through `dagd run`. A trigger-time value
that breaks a declaration is refused before anything runs (exit 2, nothing
recorded, no file touched): the shipped sales pipeline's outputs never reach
state.db, the warehouse or a file outside the state directory; the README's
hello pipeline never runs a param as shell code. `dagd validate` warns about
a param spliced into `sh -c`."""
import os
import shutil
import subprocess
import tempfile

from dagdtest import DAGD, SOURCE, Daemon, check

SALES = open(os.path.join(SOURCE, "pipelines", "sales.yaml")).read()
HELLO = open(os.path.join(SOURCE, "docs", "examples", "hello.yaml")).read()

with Daemon({"sales": SALES, "hello": HELLO}) as d:
    before = open(os.path.join(d.state, "state.db"), "rb").read()
    outside = os.path.join(d.tmp, "precious.txt")
    with open(outside, "w") as f:
        f.write("keep me\n")
    os.chmod(outside, 0o600)
    for param, why in [
        ("report=${state_dir}/state.db", "is dagd's own state"),
        ("report=${warehouse}", "is the file of output parameter 'warehouse' too"),
        ("warehouse=${state_dir}/state.db-wal", "is dagd's own state"),
        ("report=" + outside, "is outside the state directory"),
        ("report=${state_dir}/../precious.txt", "is outside the state directory"),
        ("report=/nonexistent-dir/sub/r.html", "is outside the state directory"),
        ("usd_rate=7.1; drop table orders", "is not a number"),
        ("wiki_api=file:///etc/passwd", "does not match the pattern"),
    ]:
        p = d.ctl("run", "sales", "--param", param, "--wait", check_rc=2)
        check(why in p.stderr and "--param" in p.stderr,
              "%s: wanted %r in:\n%s" % (param, why, p.stderr))
    p = d.ctl("run", "hello", "--param", "greeting=$(id>%s/x); y" % d.tmp, check_rc=2)
    check("does not match the pattern" in p.stderr, "hello injection: " + p.stderr)
    check(not os.path.exists(os.path.join(d.tmp, "x")), "the injected command ran")
    check(d.db().execute("SELECT count(*) FROM runs").fetchone()[0] == 0,
          "a refused run was recorded")
    check(open(outside).read() == "keep me\n" and os.stat(outside).st_mode & 0o777 == 0o600,
          "the file outside was touched")
    # A fine value still runs, and the step sees it as text.
    p = d.ctl("run", "hello", "--param", "greeting=it's fine!", "--wait")
    d.stop()

# dagd run: the same checks, exit 2 before a run starts.
tmp = tempfile.mkdtemp(prefix="dagd-typed-")
try:
    hello = os.path.join(tmp, "hello.yaml")
    with open(hello, "w") as f:
        f.write(HELLO)
    p = subprocess.run([DAGD, "run", hello, "--param", "greeting=`touch pwned`"], cwd=tmp,
                       capture_output=True, text=True, timeout=60)
    check(p.returncode == 2 and "--param: error:" in p.stderr, "dagd run: %r" % (p,))
    check(not os.path.exists(os.path.join(tmp, "pwned")), "dagd run ran the param")
    p = subprocess.run([DAGD, "run", hello, "--param", "nope=1"], cwd=tmp, capture_output=True,
                       text=True, timeout=60)
    check(p.returncode == 2 and "unknown parameter 'nope'" in p.stderr and "greeting" in p.stderr,
          "unknown param lists the declared ones: " + p.stderr)
    # validate warns (exit 0) about an unchecked param in sh -c, not about a narrowed one.
    risky = os.path.join(tmp, "risky.yaml")
    with open(risky, "w") as f:
        f.write("pipeline: risky\nparams:\n  who: world\n  n: {default: '1', type: int}\n"
                "steps:\n  - name: a\n    task: command\n"
                "    config: {argv: [sh, -c, 'echo ${who} ${n}']}\n")
    p = subprocess.run([DAGD, "validate", risky, hello], capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == 0, "validate: %r" % (p,))
    warns = [l for l in p.stderr.splitlines() if ": warning: " in l]
    check(len(warns) == 1 and "parameter 'who' is spliced into a shell script" in warns[0]
          and warns[0].startswith(risky + ":8:"), "warnings: %r" % warns)
finally:
    shutil.rmtree(tmp, ignore_errors=True)
print("ok")
