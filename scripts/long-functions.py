#!/usr/bin/python3
"""List C functions longer than a limit (default 120 lines, signature to
closing brace), the longest first, as `lines file:line name`.

    scripts/long-functions.py [--max 120] [DIR_OR_FILE ...]   (default: daemon)

Relies on our clang-format layout: a function's `{` and `}` are alone in
column 0, and its name is the identifier before the first `(` of the lines
above the `{`. Exits 1 if any function is longer than --max."""
import argparse
import os
import re
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--max", type=int, default=120)
ap.add_argument("paths", nargs="*", default=["daemon"])
a = ap.parse_args()


def c_files(paths):
    for p in paths:
        if os.path.isfile(p):
            yield p
            continue
        for root, _, files in os.walk(p):
            for f in sorted(files):
                if f.endswith(".c"):
                    yield os.path.join(root, f)


def functions(path):
    with open(path, errors="replace") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        if lines[i] != "{":
            i += 1
            continue
        # The signature: lines above up to a blank line, comment end or `}`.
        s = i - 1
        while s > 0 and lines[s - 1].strip() and not lines[s - 1].startswith(("}", "#")) \
                and not lines[s - 1].rstrip().endswith(("*/", ";")):
            s -= 1
        sig = " ".join(lines[s:i])
        m = re.search(r"([A-Za-z_]\w*)\s*\(", sig)
        e = i + 1
        while e < len(lines) and lines[e] != "}":
            e += 1
        if m:
            yield (e - s + 1, s + 1, m.group(1) if m else "?")
        i = e + 1


rows = []
for path in c_files(a.paths):
    for n, line, name in functions(path):
        if n > a.max:
            rows.append((n, "%s:%d" % (path, line), name))
for n, where, name in sorted(rows, reverse=True):
    print("%5d  %-45s %s" % (n, where, name))
sys.exit(1 if rows else 0)
