#!/usr/bin/env python3
"""libpq and libcurl are mapped only by a process that uses them (issue 13,
issue 11's idle-RSS target): an idle `dagd serve` on state.db with the
shipped pipelines loaded (their load, sql, check, export, http and
translate-scrape steps make the daemon open those plugins to validate them;
the plugins speak PostgreSQL, and http and translate-scrape HTTP) has no
libpq, no libcurl and none of what they link (GnuTLS, Kerberos, LDAP) in
/proc/PID/maps. libpq is opened by lib/pq when a PostgreSQL history or
warehouse is first used (test_pg_state checks that such a daemon maps it),
libcurl by lib/curl when an http or translate-scrape step first talks HTTP.
Where libpq.so.5 cannot be loaded (here: an empty file of that name first
on LD_LIBRARY_PATH), a PostgreSQL history stops `dagd serve` and a
PostgreSQL warehouse fails its step, both naming the library and the Debian
package; likewise an http step where libcurl.so.4 cannot be loaded, a load
of an xlsx sheet without libzip.so.4 and an SQL model calling sha256()
without libcrypto.so.3. No server is needed for that."""
import os
import shutil
import subprocess
import tempfile
import time

from dagdtest import DAGD, SOURCE, Daemon, check, run_main

WANT = "PostgreSQL needs the client library libpq.so.5 (Debian package libpq5)"
WANT_CURL = "HTTP needs the client library libcurl.so.4 (Debian package libcurl4)"
WANT_ZIP = "reading xlsx needs the library libzip.so.4 (Debian package libzip4)"
WANT_CRYPTO = "sha256() needs the library libcrypto.so.3 (Debian package libssl3)"
XLSX = """pipeline: sheet
params: {warehouse: "${state_dir}/wh.db"}
steps:
  - name: sheet
    task: load
    config: {path: %s, format: xlsx, table: t, columns: [a]}
"""
# What libpq and libcurl link on Debian, libzip (xlsx) and libcrypto (the sql
# task's sha256()): none of it in an idle daemon.
HEAVY = ("libpq.", "libcurl", "libgnutls", "libkrb5", "libldap", "libssh2", "libgssapi",
         "libzip", "libcrypto")


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
        for plugin in ("dagd-task-load.so", "dagd-task-sql.so", "dagd-task-export.so",
                       "dagd-task-http.so", "dagd-task-translate-scrape.so"):
            check(plugin in libs, "%s not mapped (the shipped pipelines not loaded?): %s\n%s"
                  % (plugin, libs, d.logtext()))
        heavy = [lib for lib in libs if lib.startswith(HEAVY)]
        with open("/proc/%d/status" % d.proc.pid) as f:
            rss = [line.split()[1] for line in f if line.startswith("VmRSS:")]
        print("idle dagd serve, shipped pipelines: %d libraries, VmRSS %s kB"
              % (len(libs), rss[0] if rss else "?"))
        check(not heavy, "an idle dagd serve without PostgreSQL or HTTP steps maps %s" % heavy)
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

        # libcurl: the covid pipeline's http step fails naming it (the
        # daemon-less run validated the pipeline with the plugin loaded).
        open(os.path.join(tmp, "libcurl.so.4"), "w").close()
        p = subprocess.run([DAGD, "run", "pipelines/covid.yaml", "--state-dir",
                            os.path.join(tmp, "covid"), "--param", "api=http://127.0.0.1:1"],
                           cwd=SOURCE, env=env, capture_output=True, text=True, timeout=120)
        out = p.stdout + p.stderr
        check(p.returncode != 0 and WANT_CURL in out,
              "an http step without libcurl: rc %d\n%s" % (p.returncode, out))

        # libzip: a load of an xlsx sheet fails naming it (file and library).
        open(os.path.join(tmp, "libzip.so.4"), "w").close()
        with open(os.path.join(tmp, "sheet.yaml"), "w") as f:
            f.write(XLSX % os.path.join(SOURCE, "data", "sales-tiny", "dataset1.xlsx"))
        p = subprocess.run([DAGD, "run", os.path.join(tmp, "sheet.yaml"), "--state-dir",
                            os.path.join(tmp, "sheet")],
                           env=env, capture_output=True, text=True, timeout=120)
        out = p.stdout + p.stderr
        check(p.returncode != 0 and WANT_ZIP in out and "dataset1.xlsx" in out,
              "an xlsx load without libzip: rc %d\n%s" % (p.returncode, out))

        # libcrypto: memberships' model calling sha256() fails naming it and
        # the model; the load before it (no sha256) succeeded.
        open(os.path.join(tmp, "libcrypto.so.3"), "w").close()
        incoming = os.path.join(tmp, "ms", "memberships", "incoming")
        shutil.copytree(os.path.join(SOURCE, "data", "memberships", "incoming"), incoming)
        p = subprocess.run([DAGD, "run", "pipelines/memberships.yaml", "--state-dir",
                            os.path.join(tmp, "ms")],
                           cwd=SOURCE, env=env, capture_output=True, text=True, timeout=120)
        out = p.stdout + p.stderr
        check(p.returncode != 0 and WANT_CRYPTO in out and "applications.sql" in out,
              "sha256() without libcrypto: rc %d\n%s" % (p.returncode, out))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    run_main(main)
