#!/usr/bin/env python3
"""Report #include loops among the files of the given folders.

Three graphs: files (a .c or .h includes a .h); modules by includes; and
modules by calls (a .c calls a function another .c defines: what the linker
sees). A module is a .c
file with its headers: a header belongs to the .c files that define the
functions it declares (foo.h to foo.c, but also daemon.h to cmd_serve.c when
that is where its functions live), and a module depends on the modules of
the headers it includes, directly or through other headers. A cycle in any
graph is printed; the exit status is 1 when there is one. A loop only in
the include graph is a file that includes a header for a struct it reads
while the header's functions call back into it.

usage: scripts/include-loops.py DIR..."""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
CALLED = re.compile(r'\b(dagd_\w+)\s*\(')
DECLARED = re.compile(r'\b(dagd_\w+)\s*\(')
DEFINED = re.compile(r'^[A-Za-z_][\w \t\*]*?\b(dagd_\w+)\s*\([^;{]*\)\s*\{', re.M)


def scan(dirs):
    files, text = {}, {}
    for d in dirs:
        for name in sorted(os.listdir(d)):
            if name.endswith((".c", ".h")):
                with open(os.path.join(d, name)) as f:
                    text[name] = COMMENT.sub(" ", f.read())
                files[name] = INCLUDE.findall(text[name])
    return files, text


def owners(files, text):
    """header -> the .c files that define what it declares."""
    defined = {}
    for f, t in text.items():
        if f.endswith(".c"):
            for name in DEFINED.findall(t):
                defined.setdefault(name, set()).add(f)
    own = {}
    for h, t in text.items():
        if h.endswith(".h"):
            cs = set()
            for name in DECLARED.findall(t):
                cs |= defined.get(name, set())
            same = h[:-2] + ".c"
            own[h] = cs | ({same} if same in files else set())
    return own


def cycles(graph):
    """Every elementary cycle found by a DFS (one per back edge)."""
    found, state, stack = [], {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                found.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in sorted(graph):
        if n not in state:
            visit(n)
    return found


def main():
    dirs = sys.argv[1:] or ["daemon/serve"]
    files, text = scan(dirs)
    file_graph = {f: {h for h in inc if h in files} for f, inc in files.items()}
    own = owners(files, text)
    # .c files that implement one header are one module (memlimit.c and
    # memlimit_worker.c both implement memlimit.h).
    name = {f: f for f in files if f.endswith(".c")}
    for cs in own.values():
        group = sorted({name[c] for c in cs})
        if len(group) > 1:
            joined = "+".join(sorted(set("+".join(group).split("+"))))
            for c in list(name):
                if name[c] in group:
                    name[c] = joined
    own = {h: {name[c] for c in cs} for h, cs in own.items()}
    modules = {}
    for f, incs in file_graph.items():
        if not f.endswith(".c"):
            continue
        f = name[f]
        deps = modules.setdefault(f, set())
        seen, todo = set(), list(incs)
        while todo:  # every header it reads, also through other headers
            h = todo.pop()
            if h not in seen:
                seen.add(h)
                todo.extend(file_graph.get(h, ()))
        for h in seen:
            deps.update(c for c in own.get(h, ()) if c != f)
    defined = {}
    for f, t in text.items():
        if f.endswith(".c"):
            for fn in DEFINED.findall(t):
                defined[fn] = name[f]
    calls = {}
    for f, t in text.items():
        if f.endswith(".c"):
            deps = calls.setdefault(name[f], set())
            for fn in set(CALLED.findall(t)):
                if fn in defined and defined[fn] != name[f]:
                    deps.add(defined[fn])
    bad = 0
    for kind, graph in (("file", file_graph), ("module (includes)", modules),
                        ("module (calls)", calls)):
        loops = cycles(graph)
        edges = sum(len(v) for v in graph.values())
        print("%s graph: %d nodes, %d edges, %d loops" % (kind, len(graph), edges, len(loops)))
        for c in loops:
            print("  loop: " + " -> ".join(c))
        bad += len(loops)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
