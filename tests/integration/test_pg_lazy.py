#!/usr/bin/env python3
"""libpq is mapped only by a daemon that uses PostgreSQL (issue 13, issue
11's idle-RSS target): an idle `dagd serve` on state.db with the shipped
pipelines loaded (their load, sql, check, export and http steps make the
daemon open those plugins to validate them, and the plugins speak
PostgreSQL too) has no libpq in /proc/PID/maps. (Kerberos and LDAP may still be there: the http and
translate-scrape plugins link libcurl, which links them.) libpq is opened by lib/pq when a PostgreSQL history or
warehouse is first used; test_pg_state checks that such a daemon maps it.
Where libpq.so.5 cannot be loaded (here: an empty file of that name first
on LD_LIBRARY_PATH), a PostgreSQL history stops `dagd serve` and a
PostgreSQL warehouse fails its step, both naming the library and the Debian
package; no server is needed for that."""
import os
import shutil
import subprocess
import tempfile
import time

from dagdtest import DAGD, SOURCE, Daemon, check, run_main

WANT = "PostgreSQL needs the client library libpq.so.5 (Debian package libpq5)"


def mapped(pid):
    with open("/proc/%d/maps" % pid) as f:
        return sorted({os.path.basename(line.split()[5]) for line in f
                       if len(line.split()) >= 6 and ".so" in line.split()[5]})


def main():
    d = Daemon(start=False)
    with d:
        shutil.copytree(os.path.join(SOURCE, "pipelines"), d.pipes, dirs_exist_ok=True)
        d.start()
        time.sleep(0.5)
        libs = mapped(d.proc.pid)
        # The test means something only if the plugins were opened.
        for plugin in ("dagd-task-load.so", "dagd-task-sql.so", "dagd-task-export.so"):
            check(plugin in libs, "%s not mapped (the shipped pipelines not loaded?): %s\n%s"
                  % (plugin, libs, d.logtext()))
        pq = [lib for lib in libs if lib.startswith("libpq.")]
        check(not pq, "an idle dagd serve without PostgreSQL maps %s" % pq)
        check(d.stop() == 0, d.logtext())

    tmp = tempfile.mkdtemp(prefix="dagd-nopq-")
    try:
        open(os.path.join(tmp, "libpq.so.5"), "w").close()
        env = dict(os.environ, LD_LIBRARY_PATH=tmp)
        p = subprocess.run([DAGD, "serve", "--socket", os.path.join(tmp, "s"), "--state-dir",
                            os.path.join(tmp, "st"), "--state", "host=%s dbname=dagd" % tmp],
                           env=env, capture_output=True, text=True, timeout=30)
        check(p.returncode == 1 and WANT in p.stderr,
              "dagd serve --state without libpq: rc %d\n%s" % (p.returncode, p.stderr))
        # The warehouse: the load step (in a worker) fails with the same words.
        shutil.copytree(os.path.join(SOURCE, "data", "restaurants", "incoming"),
                        os.path.join(tmp, "wh", "restaurants", "incoming"))
        p = subprocess.run([DAGD, "run", "pipelines/restaurants.yaml", "--state-dir",
                            os.path.join(tmp, "wh"), "--param",
                            "warehouse=host=%s dbname=wh" % tmp],
                           cwd=SOURCE, env=env, capture_output=True, text=True, timeout=120)
        out = p.stdout + p.stderr
        check(p.returncode != 0 and WANT in out,
              "a PostgreSQL warehouse without libpq: rc %d\n%s" % (p.returncode, out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    run_main(main)
