#!/usr/bin/env python3
"""Parallel load steps creating their tables at once on PostgreSQL (issue 13:
the pg-pipelines flake). CREATE TABLE IF NOT EXISTS is not safe against
itself there: two sessions creating the same table (`_dagd_load_files`, a
shared rejects table) race into a unique violation on pg_type. The load
task's DDL takes turns under an advisory lock (tasks/load/load_pg.c
create_locked); this runs 8 load steps at once (--jobs 8), each into its own
table and all into the same checkpoint and rejects tables, on a fresh
database, several rounds: every round succeeds and loads every row.
SKIP (77) without PostgreSQL."""
import os
import subprocess
import tempfile

from dagdtest import DAGD, check
from dagdtest.pg import PgServer

N, ROUNDS = 8, 4


def pipeline(src):
    steps = "".join(
        "  - name: load%d\n    task: load\n    config:\n      path: %s\n      table: t%d\n"
        "      columns: [a, {b: integer}]\n      rejects: rejected\n" % (i, src, i)
        for i in range(N))
    return "pipeline: ddl\nparams:\n  warehouse: unset\nsteps:\n" + steps


with PgServer(dbname="postgres") as pg:
    tmp = tempfile.mkdtemp(prefix="dagd-pg-ddl-")
    src = os.path.join(tmp, "in.csv")
    with open(src, "w") as f:
        f.write("a,b\n" + "".join("x%d,%d\n" % (i, i) for i in range(100)) + "bad,notanumber\n")  # 101 rows
    yml = os.path.join(tmp, "ddl.yaml")
    with open(yml, "w") as f:
        f.write(pipeline(src))
    for r in range(ROUNDS):
        db = "ddl%d" % r
        pg.create_db(db)
        p = subprocess.run([DAGD, "run", yml, "--state-dir", os.path.join(tmp, "st%d" % r),
                            "--jobs", str(N), "-q", "--param",
                            "warehouse=" + pg.conninfo_for(db)],
                           capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, "round %d: rc %d\n%s%s" % (r, p.returncode, p.stdout, p.stderr))
        for i in range(N):
            n = pg.query("SELECT count(*) FROM t%d" % i, db)[0][0]
            check(str(n) == "101", "round %d: t%d has %s rows" % (r, i, n))
        n = pg.query("SELECT count(*) FROM _dagd_load_files", db)[0][0]
        check(str(n) == str(N), "round %d: %s checkpoints" % (r, n))
        # made by all 8 at once (a bad integer is NULL, not a reject)
        n = pg.query("SELECT count(*) FROM rejected", db)[0][0]
        check(str(n) == "0", "round %d: %s rejects" % (r, n))
    print("ok: %d rounds of %d load steps creating their tables at once" % (ROUNDS, N))
