"""The plugin SDK and the installed product (tasks/example/README.md).

1. `meson install --destdir` of the build under test: every file lands where
   the code looks for it (config.h's DAGD_LIBEXECDIR and DAGD_PLUGINDIR), the
   test plugins are not installed, and dagd-task.pc gives `-I${includedir}`.
2. tasks/example, copied out of the tree, built with its plain Makefile
   against the SDK alone (`meson install --tags devel --destdir`: the header
   and the .pc, found through PKG_CONFIG_PATH + PKG_CONFIG_SYSROOT_DIR), then
   `dagd validate` and `dagd run --plugin-dir` on its sample pipeline: output
   file, state.db rows, metrics and logs, memoization on declared inputs,
   config errors from the schema and the validate callback, a run failure.
3. A real install to a temporary prefix (a second, small build: meson setup
   --prefix, -Dtests=false) whose build tree stays in place: the installed
   dagd, run from elsewhere with no DAGD_PLUGIN_PATH, uses only installed
   files (its plugins, its dagd-worker) and finds the example plugin after
   `make install` with no --plugin-dir; the same through the installed
   `dagd serve` and `dagctl run --wait`; and it runs the repo's sales
   pipeline (tiny delivery, offline) with the installed plugins.

A plugin built for another abi_major is refused with a clear message: that is
covered by tests/unit/test_plugin_host.c and test_validate_cli.py.
KEEP=1 keeps the temporary directory."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from dagdtest import check, eq, fail, last_run_id, run_steps, state_db

BUILD = os.path.realpath(os.environ.get("DAGD_BUILD_ROOT")
                         or os.path.join(os.path.dirname(__file__), "..", "..", "build"))
SRC = os.path.realpath(os.environ.get("DAGD_SOURCE_ROOT")
                       or os.path.join(os.path.dirname(__file__), "..", ".."))
DAGD = os.path.join(BUILD, "daemon", "dagd")
EXAMPLE = os.path.join(SRC, "tasks", "example")


def run(argv, rc=0, timeout=600, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if rc is not None and p.returncode != rc:
        fail("%s: exit %d, wanted %d\nstdout:\n%s\nstderr:\n%s"
             % (" ".join(argv), p.returncode, rc, p.stdout[-4000:], p.stderr[-4000:]))
    return p


def config_h(build):
    """The quoted #defines of BUILD/config.h."""
    with open(os.path.join(build, "config.h")) as f:
        return dict(re.findall(r'#define (DAGD_\w+) "(.*)"', f.read()))


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DAGD_PLUGIN", "PKG_CONFIG", "C_INCLUDE", "CPATH"))}
    env.update(extra)
    return env


def counts(path):
    with open(path, "rb") as f:
        data = f.read()
    return data.count(b"\n"), len(data.split()), len(data)


def expected_tsv(files):
    rows, tot = ["file\tlines\twords\tbytes"], [0, 0, 0]
    for f in files:
        c = counts(f)
        rows.append("%s\t%d\t%d\t%d" % ((f,) + c))
        tot = [a + b for a, b in zip(tot, c)]
    rows.append("total\t%d\t%d\t%d" % tuple(tot))
    return "\n".join(rows) + "\n", tot


def last_steps(state):
    rid = last_run_id(state)
    return rid, run_steps(state, rid)


def events(state, rid, step, kind):
    with state_db(state) as c:
        return [r[0] for r in c.execute("SELECT message FROM events WHERE run_id = ? AND step = ? "
                                        "AND kind = ? ORDER BY seq", (rid, step, kind))]


def copy_example(dest):
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns("*.so", "*.o", ".dagd"))
    return dest


# ---- 1. meson install --destdir ---------------------------------------------------------------

def check_destdir_install(tmp):
    dd = os.path.join(tmp, "destdir")
    run(["meson", "install", "-C", BUILD, "--no-rebuild", "--quiet", "--destdir", dd])
    conf = config_h(BUILD)
    with open(os.path.join(BUILD, "meson-info", "intro-buildoptions.json")) as f:
        opts = {o["name"]: o["value"] for o in json.load(f)}
    prefix = opts["prefix"]

    def at(*parts):
        return dd + os.path.join(*parts)

    for exe in ("dagd", "dagctl"):
        check(os.access(at(prefix, opts["bindir"], exe), os.X_OK), "%s not installed" % exe)
    # Where executor.c's find_worker() looks for it in an installed dagd.
    check(os.access(at(conf["DAGD_LIBEXECDIR"], "dagd-worker"), os.X_OK),
          "dagd-worker not installed in DAGD_LIBEXECDIR %s" % conf["DAGD_LIBEXECDIR"])
    plugindir = at(conf["DAGD_PLUGINDIR"])
    installed = sorted(os.listdir(plugindir)) if os.path.isdir(plugindir) else []
    shipped = sorted("dagd-task-%s.so" % d for d in os.listdir(os.path.join(SRC, "tasks"))
                     if os.path.isfile(os.path.join(SRC, "tasks", d, "meson.build")))
    eq(installed, shipped, "plugins installed in DAGD_PLUGINDIR")
    check("dagd-task-wordcount.so" not in installed and "dagd-task-noop.so" not in installed,
          "example or test plugins installed")
    check(os.path.isfile(at(prefix, opts["includedir"], "dagd", "task.h")), "dagd/task.h")
    pcdir = at(prefix, opts["libdir"], "pkgconfig")
    check(os.path.isfile(os.path.join(pcdir, "dagd-task.pc")), "dagd-task.pc in %s" % pcdir)
    for unit in ("dagd.service", "dagd.socket"):
        check(os.path.isfile(at(prefix, "lib", "systemd", "system", unit)), unit)
    sysconf = opts["sysconfdir"]
    sysconf = sysconf if sysconf.startswith("/") else os.path.join(prefix, sysconf)
    check(os.path.isfile(at(sysconf, "dagd", "dagd.yaml")), "example config dagd.yaml")
    with open(at(prefix, "lib", "systemd", "system", "dagd.service")) as f:
        unit = f.read()
    check("ExecStart=%s serve" % os.path.join(prefix, opts["bindir"], "dagd") in unit,
          "dagd.service ExecStart does not name the installed dagd")
    doc = re.search(r"^Documentation=file://(\S+)", unit, re.M)
    check(doc and os.path.isfile(dd + doc.group(1)),
          "dagd.service Documentation= names a file not installed: %s" % (doc and doc.group(1)))

    # The .pc: the header's directory, and where `make install` puts a plugin.
    env = clean_env(PKG_CONFIG_PATH=pcdir, PKG_CONFIG_SYSROOT_DIR=dd)
    cflags = run(["pkg-config", "--cflags", "dagd-task"], env=env).stdout.split()
    want = "-I" + at(prefix, opts["includedir"])
    if os.path.join(prefix, opts["includedir"]) != "/usr/include":  # pkg-config drops that one
        eq(cflags, [want], "pkg-config --cflags dagd-task")
    env = clean_env(PKG_CONFIG_PATH=pcdir)
    eq(run(["pkg-config", "--variable=plugindir", "dagd-task"], env=env).stdout.strip(),
       conf["DAGD_PLUGINDIR"], "plugindir in dagd-task.pc")

    # The SDK alone (`--tags devel`, what a -dev package holds): the header and the .pc.
    sdk = os.path.join(tmp, "sdk-destdir")
    run(["meson", "install", "-C", BUILD, "--no-rebuild", "--quiet", "--destdir", sdk,
         "--tags", "devel"])
    got = sorted(os.path.relpath(os.path.join(d, n), sdk) for d, _, ns in os.walk(sdk) for n in ns)
    want = sorted(os.path.relpath(sdk + os.path.join(prefix, *p), sdk) for p in
                  ((opts["includedir"], "dagd", "task.h"), (opts["libdir"], "pkgconfig",
                                                            "dagd-task.pc")))
    eq(got, want, "files of meson install --tags devel")
    return sdk, sdk + os.path.join(prefix, opts["libdir"], "pkgconfig")


# ---- 2. the example, built out of tree against the destdir --------------------------------------

def check_example(tmp, dd, pcdir):
    ex = copy_example(os.path.join(tmp, "example"))
    env = clean_env(PKG_CONFIG_PATH=pcdir, PKG_CONFIG_SYSROOT_DIR=dd)
    run(["make", "-C", ex, "CFLAGS=-O2 -g -Wall -Wextra -Werror"], env=env)
    so = os.path.join(ex, "dagd-task-wordcount.so")
    check(os.path.isfile(so), "make did not build dagd-task-wordcount.so")
    # Only the entry point is exported.
    syms = run(["nm", "-D", "--defined-only", so]).stdout.split("\n")
    eq(sorted(s.split()[-1] for s in syms if s.strip() and not s.split()[-1].startswith("_")),
       ["dagd_task_entry"], "exported symbols")

    yaml = os.path.join(ex, "wordcount.yaml")
    env = clean_env()
    p = run([DAGD, "validate", "--plugin-dir", ex, yaml], env=env)
    check("ok" in p.stdout, "validate: %r" % p.stdout)
    p = run([DAGD, "tasks", "--plugin-dir", ex, "--json"], env=env)
    wc = [t for t in json.loads(p.stdout) if t["name"] == "wordcount"]
    check(wc and wc[0]["path"] == so, "dagd tasks: wordcount from %r" % wc)
    keys = {f["name"]: f for f in wc[0]["schema"]}
    check(keys["files"]["required"] and keys["output"]["required"], "required keys")
    eq((keys["min_words"]["min"], keys["min_words"]["max"]), (0, 1000000000), "min_words bounds")

    work = os.path.join(tmp, "work")
    os.mkdir(work)
    state = os.path.join(work, ".dagd")
    run([DAGD, "run", yaml, "--plugin-dir", ex, "-q"], cwd=work, env=env)
    files = [os.path.join(ex, "data", n) for n in ("alpha.txt", "beta.txt")]
    want, tot = expected_tsv(files)
    with open(os.path.join(state, "wordcount.tsv")) as f:
        eq(f.read(), want, "wordcount.tsv")
    rid, st = last_steps(state)
    eq((st["count"]["status"], st["count"]["attempts"]), ("succeeded", 1), "count step")
    eq((st["count"]["rows_in"], st["count"]["rows_out"]), (tot[0], len(files) + 1), "metrics")
    eq(st["show"]["status"], "succeeded", "show step")
    eq(events(state, rid, "show", "stdout"), want.rstrip("\n").split("\n"), "show stdout")
    logs = events(state, rid, "count", "log")
    eq(len([m for m in logs if "words" in m]), len(files), "one log line per file: %r" % logs)
    check(os.path.isfile(os.path.join(ex, "data", "alpha.txt")), "input intact")

    # Declared inputs drive memoization: unchanged -> skipped, a changed file reruns.
    run([DAGD, "run", yaml, "--plugin-dir", ex, "-q"], cwd=work, env=env)
    rid, st = last_steps(state)
    eq((st["count"]["status"], st["count"]["skip_reason"]), ("skipped", "memoized"), "rerun")
    with open(files[0], "a") as f:
        f.write("three more words\n")
    run([DAGD, "run", yaml, "--plugin-dir", ex, "-q"], cwd=work, env=env)
    rid, st = last_steps(state)
    eq(st["count"]["status"], "succeeded", "count after an input changed")
    with open(os.path.join(state, "wordcount.tsv")) as f:
        eq(f.read(), expected_tsv(files)[0], "wordcount.tsv after an input changed")

    # format: json, with a file name that needs escaping.
    odd = os.path.join(tmp, 'we"ird\\name.txt')
    with open(odd, "w") as f:
        f.write("one two\nthree\n")
    jpipe = os.path.join(ex, "json.yaml")
    with open(jpipe, "w") as f:
        f.write("pipeline: json\nsteps:\n  - name: count\n    task: wordcount\n    config:\n"
                "      files: ['%s', '%s']\n      output: '%s'\n      format: json\n"
                % (files[1], odd, os.path.join(work, "out.json")))
    run([DAGD, "run", jpipe, "--plugin-dir", ex, "-q"], cwd=work, env=env)
    with open(os.path.join(work, "out.json")) as f:
        got = json.load(f)
    rows = [(files[1],) + counts(files[1]), (odd,) + counts(odd)]
    rows.append(("total",) + tuple(a + b for a, b in zip(rows[0][1:], rows[1][1:])))
    eq([(r["file"], r["lines"], r["words"], r["bytes"]) for r in got], rows, "out.json")

    # Config errors: schema (bounds, choices, required) and the validate callback, at their
    # YAML positions.
    bad = os.path.join(ex, "bad.yaml")
    with open(bad, "w") as f:
        f.write("pipeline: bad\nsteps:\n"
                "  - name: a\n    task: wordcount\n"
                "    config: {files: [x.txt], output: y.txt, min_words: -1, format: xml}\n"
                "  - name: b\n    task: wordcount\n"
                "    config:\n      files: [x.txt]\n      output: x.txt\n"
                "  - name: c\n    task: wordcount\n    config: {output: y.txt}\n")
    p = run([DAGD, "validate", "--plugin-dir", ex, bad], rc=2, env=env)
    for want_err in ("bad.yaml:5:56: error: config key 'min_words': -1 is out of range",
                     "bad.yaml:5:68: error: config key 'format': 'xml' is not one of: tsv, json",
                     "bad.yaml:10:15: error: config key 'output': output 'x.txt' is also one of "
                     "the input files",
                     "bad.yaml:13:13: error: missing required config key 'files'"):
        check(want_err in p.stderr, "validate: want %r in\n%s" % (want_err, p.stderr))

    # A run failure: the reason in steps.error, no result or temporary file left.
    big = os.path.join(ex, "big.yaml")
    with open(yaml) as f:
        text = f.read()
    check("min_words: 10\n" in text, "sample pipeline sets min_words")
    with open(big, "w") as f:
        f.write(text.replace("min_words: 10\n", "min_words: 1000000\n"))
    work2 = os.path.join(tmp, "work2")
    os.mkdir(work2)
    run([DAGD, "run", big, "--plugin-dir", ex, "-q"], rc=1, cwd=work2, env=env)
    rid, st = last_steps(os.path.join(work2, ".dagd"))
    eq(st["count"]["status"], "failed", "count with min_words 1000000")
    check("fewer than min_words 1000000" in (st["count"]["error"] or ""), st["count"]["error"])
    eq(st["show"]["status"], "skipped", "show after a failed count")
    left = [n for n in os.listdir(os.path.join(work2, ".dagd")) if n.startswith("wordcount")]
    eq(left, [], "files left by a failed attempt")


# ---- 3. a real install to a prefix --------------------------------------------------------------

# ---- 3. the example against a build tree (no install) ------------------------------------------

def check_build_tree(tmp):
    """PKG_CONFIG_PATH=BUILD/meson-uninstalled: the source tree's header and the
    build tree's plugin directory (issue 15: that .pc had no Cflags); `make
    clean` needs no SDK at all."""
    ex = copy_example(os.path.join(tmp, "example-buildtree"))
    run(["make", "-C", ex, "clean"], env=clean_env())
    p = run(["make", "-C", ex], rc=2, env=clean_env())
    check("dagd-task.pc not found" in p.stderr and "meson-uninstalled" in p.stderr,
          "make without the SDK: %r" % p.stderr)
    pcdir = os.path.join(BUILD, "meson-uninstalled")
    env = clean_env(PKG_CONFIG_PATH=pcdir)
    eq(run(["pkg-config", "--cflags", "dagd-task"], env=env).stdout.split(),
       ["-I" + os.path.join(SRC, "tasks", "include")], "uninstalled cflags")
    eq(run(["pkg-config", "--variable=plugindir", "dagd-task"], env=env).stdout.strip(),
       os.path.join(BUILD, "tasks"), "uninstalled plugindir")
    run(["make", "-C", ex, "PKG_CONFIG_PATH=" + pcdir, "CFLAGS=-O2 -Wall -Werror"],
        env=clean_env())
    check(os.path.isfile(os.path.join(ex, "dagd-task-wordcount.so")), "no plugin built")
    work = os.path.join(tmp, "work-buildtree")
    os.mkdir(work)
    run([DAGD, "run", os.path.join(ex, "wordcount.yaml"), "--plugin-dir", ex, "-q"], cwd=work,
        env=clean_env())
    check(os.path.getsize(os.path.join(work, ".dagd", "wordcount.tsv")) > 0, "no output")


def check_prefix_install(tmp):
    build, prefix = os.path.join(tmp, "pbuild"), os.path.join(tmp, "prefix")
    env = clean_env()
    run(["meson", "setup", build, SRC, "--prefix", prefix, "-Dtests=false"], env=env)
    run(["ninja", "-C", build], env=env, timeout=1200)
    run(["meson", "install", "-C", build, "--no-rebuild", "--quiet"], env=env)
    conf = config_h(build)
    check(conf["DAGD_PLUGINDIR"].startswith(prefix + "/"), "DAGD_PLUGINDIR outside the prefix")
    dagd = os.path.join(prefix, "bin", "dagd")
    worker = os.path.join(conf["DAGD_LIBEXECDIR"], "dagd-worker")
    check(os.access(worker, os.X_OK), "no installed worker at %s" % worker)
    # The build tree stays: the installed binaries must not use it.
    check(os.access(os.path.join(build, "daemon", "dagd-worker"), os.X_OK), "build tree worker")

    # The docs keep the source tree's layout: every doc a doc cites is installed (issue 15).
    docdir = os.path.join(prefix, "share", "doc", "dagd")
    cited = set()
    for dp, _, ns in os.walk(docdir):
        for n in ns:
            if n.endswith(".md"):
                with open(os.path.join(dp, n)) as f:
                    cited |= set(re.findall(r"`((?:docs|pipelines|tasks)/[A-Za-z0-9_./-]+\.md)`",
                                            f.read()))
    check(cited, "no doc cites another doc?")
    missing = sorted(c for c in cited if not os.path.exists(os.path.join(docdir, c)))
    check(not missing, "docs cite files that are not installed: %r" % missing)

    # The example as installed under the doc dir, built against the installed SDK and put with
    # `make install` into the plugin dir its .pc names.
    installed_ex = os.path.join(prefix, "share", "doc", "dagd", "tasks", "example")
    check(os.path.isfile(os.path.join(installed_ex, "Makefile")), "example not installed")
    ex = shutil.copytree(installed_ex, os.path.join(tmp, "example-installed"))
    pcs = [os.path.join(dp, n) for dp, _, ns in os.walk(prefix) for n in ns if n == "dagd-task.pc"]
    eq(len(pcs), 1, "installed dagd-task.pc files")
    pcdir = os.path.dirname(pcs[0])
    run(["make", "-C", ex, "install", "CFLAGS=-O2 -Wall -Werror"],
        env=clean_env(PKG_CONFIG_PATH=pcdir))
    check(os.path.isfile(os.path.join(conf["DAGD_PLUGINDIR"], "dagd-task-wordcount.so")),
          "make install did not put the plugin in %s" % conf["DAGD_PLUGINDIR"])

    work = os.path.join(tmp, "installed-run")
    os.mkdir(work)
    p = run([dagd, "tasks", "--json"], cwd=work, env=env)
    paths = {t["name"]: t["path"] for t in json.loads(p.stdout)}
    check("wordcount" in paths and "command" in paths, "installed dagd tasks: %r" % paths)
    for name, path in paths.items():
        check(path.startswith(conf["DAGD_PLUGINDIR"] + "/"),
              "installed dagd loads %s from %s" % (name, path))
    yaml = os.path.join(ex, "wordcount.yaml")
    with open(yaml, "a") as f:
        f.write("  - name: who\n    task: command\n"
                "    config: {argv: [sh, -c, 'readlink /proc/$PPID/exe']}\n")
    run([dagd, "validate", yaml], cwd=work, env=env)
    run([dagd, "run", yaml, "-q"], cwd=work, env=env)
    state = os.path.join(work, ".dagd")
    rid, st = last_steps(state)
    eq({k: v["status"] for k, v in st.items()},
       {"count": "succeeded", "show": "succeeded", "who": "succeeded"}, "installed run")
    eq(events(state, rid, "who", "stdout"), [os.path.realpath(worker)],
       "the worker process of the installed dagd")
    with open(os.path.join(state, "wordcount.tsv")) as f:
        eq(f.read(), expected_tsv([os.path.join(ex, "data", n)
                                   for n in ("alpha.txt", "beta.txt")])[0], "installed result")

    # The repo's sales pipeline on the tiny delivery with the installed plugins only, offline
    # (a refused wiki_api: translate-scrape falls back to the bundled dictionary).
    sales = os.path.join(tmp, "sales-run")
    os.mkdir(sales)
    run([dagd, "run", os.path.join(SRC, "pipelines", "sales.yaml"), "-q",
         "--param", "data_dir=" + os.path.join(SRC, "data", "sales-tiny"),
         "--param", "translations_dir=" + os.path.join(SRC, "data", "translations"),
         "--param", "wiki_api=http://127.0.0.1:9/w/api.php"], cwd=sales, env=env)
    rid, st = last_steps(os.path.join(sales, ".dagd"))
    bad = {k: (v["status"], v["error"]) for k, v in st.items() if v["status"] != "succeeded"}
    eq(bad, {}, "steps of the sales pipeline run by the installed dagd")
    check(os.path.getsize(os.path.join(sales, ".dagd", "report.html")) > 0, "report.html")

    # The installed daemon and dagctl: serve the example's directory, run it through the socket.
    sock, sstate = os.path.join(tmp, "dagd.sock"), os.path.join(tmp, "serve-state")
    serve = subprocess.Popen([dagd, "serve", "--socket", sock, "--state-dir", sstate,
                              "--pipelines", ex], cwd=work, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        dagctl = os.path.join(prefix, "bin", "dagctl")
        for _ in range(1500):
            if os.path.exists(sock) or serve.poll() is not None:
                break
            time.sleep(0.02)
        check(serve.poll() is None and os.path.exists(sock), "installed dagd serve did not start")
        run([dagctl, "--socket", sock, "run", "wordcount", "--wait"], env=env, timeout=120)
        rid, st = last_steps(sstate)
        eq({k: v["status"] for k, v in st.items()},
           {"count": "succeeded", "show": "succeeded", "who": "succeeded"}, "dagctl run")
        eq(events(sstate, rid, "who", "stdout"), [os.path.realpath(worker)],
           "the worker process of the installed dagd serve")
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
    eq(serve.returncode, 0, "installed dagd serve exit status after SIGTERM (stderr: %s)"
       % serve.stderr.read()[-2000:])


def main():
    for tool in ("meson", "ninja", "make", "pkg-config", "cc", "nm"):
        check(shutil.which(tool), "%s not found in PATH" % tool)
    tmp = tempfile.mkdtemp(prefix="dagd-sdk-test-")
    try:
        dd, pcdir = check_destdir_install(tmp)
        check_example(tmp, dd, pcdir)
        check_build_tree(tmp)
        check_prefix_install(tmp)
    finally:
        if os.environ.get("KEEP"):
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("ok")


if __name__ == "__main__":
    main()
