#!/usr/bin/python3
"""Every task plugin the build ships (tasks/*) and the test tasks
(tests/plugins) export exactly one symbol, `dagd_task_entry` (DESIGN 4: a
plugin is a shared object exporting one entry function). Internal helpers
must stay hidden, or two plugins loaded in one process could bind each
other's functions."""
import glob
import os
import subprocess
import sys

from dagdtest import BUILD


def exported(path):
    out = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True, text=True,
                         check=True).stdout
    # Text/data symbols only (T, D, B, R, W, V); sanitizer builds add none of their own here.
    return sorted(l.split()[-1] for l in out.splitlines() if len(l.split()) == 3 and l.split()[1] in "TDBRWVi")


def main():
    plugins = sorted(glob.glob(os.path.join(BUILD, "tasks", "*", "dagd-task-*.so")) +
                     glob.glob(os.path.join(BUILD, "tests", "plugins", "dagd-task-*.so")))
    if len(plugins) < 10:
        print("FAIL: expected the shipped and test plugins, found %r" % plugins)
        sys.exit(1)
    bad = []
    for p in plugins:
        syms = [s for s in exported(p) if not s.startswith(("_init", "_fini", "__"))]
        if syms != ["dagd_task_entry"]:
            bad.append("%s exports %s" % (os.path.relpath(p, BUILD), ", ".join(syms[:12])))
    if bad:
        print("FAIL:\n  " + "\n  ".join(bad))
        sys.exit(1)
    print("ok: %d plugins export only dagd_task_entry" % len(plugins))


if __name__ == "__main__":
    main()
