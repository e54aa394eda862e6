#!/usr/bin/env python3
"""The shipped sales pipeline runs from any directory (issue 15): its data
and dictionary are named from ${pipeline_dir}, and a relative data_dir given
with --param is taken from the working directory, which the error names."""
import os
import shutil
import sqlite3
import subprocess
import tempfile

from dagdtest import DAGD, SOURCE, check

tmp = tempfile.mkdtemp(prefix="dagd-elsewhere-")
try:
    sales = os.path.join(SOURCE, "pipelines", "sales.yaml")
    p = subprocess.run([DAGD, "run", sales, "--no-output", "--param", "wiki_api="], cwd=tmp,
                       capture_output=True, text=True, timeout=300)
    check(p.returncode == 0, "sales from %s: exit %d\n%s%s" % (tmp, p.returncode, p.stdout,
                                                             p.stderr))
    db = sqlite3.connect(os.path.join(tmp, ".dagd", "warehouse.db"))
    n = db.execute("SELECT count(*) FROM orders").fetchone()[0]
    check(n > 0, "no orders loaded from the default data_dir")
    db.close()
    # cluster says how well the tiers fit in words, not as a raw SSE like 9.07e+19 (issue 15)
    st = sqlite3.connect(os.path.join(tmp, ".dagd", "state.db"))
    msgs = [m for (m,) in st.execute("SELECT message FROM events WHERE step = 'cluster' "
                                     "AND kind = 'log'")]
    st.close()
    check(any("the tiers explain" in m and "% of the differences" in m for m in msgs)
          and not any("e+" in m for m in msgs), "cluster log: %r" % msgs)
    # The small sample on top of the full one re-maps district ids: a warning with the count,
    # and one city_district_remaps row per changed id (issue 15).
    wh = os.path.join(tmp, ".dagd", "warehouse.db")
    db = sqlite3.connect(wh)
    before = dict((i, (c, d)) for i, c, d in db.execute("SELECT city_district_id, city, district "
                                                       "FROM city_district_map"))
    check(db.execute("SELECT count(*) FROM city_district_remaps").fetchone()[0] == 0,
          "remaps recorded for one delivery")
    db.close()
    tiny = os.path.join(SOURCE, "data", "sales-tiny")
    p = subprocess.run([DAGD, "run", sales, "--param", "wiki_api=", "--param",
                        "data_dir=" + tiny], cwd=tmp, capture_output=True, text=True, timeout=300)
    check(p.returncode == 0, "tiny on top: %s%s" % (p.stdout, p.stderr))
    db = sqlite3.connect(wh)
    after = dict((i, (c, d)) for i, c, d in db.execute("SELECT city_district_id, city, district "
                                                      "FROM city_district_map"))
    changed = sorted(i for i in before if i in after and before[i] != after[i])
    got = sorted(i for (i,) in db.execute("SELECT city_district_id FROM city_district_remaps"))
    db.close()
    check(changed and got == changed, "remaps %d recorded, %d changed" % (len(got), len(changed)))
    want = "maps %d district ids already in the map to another city or district" % len(changed)
    check(want in p.stdout, "no remap warning (%r) in:\n%s" % (want, p.stdout[-2000:]))

    p = subprocess.run([DAGD, "run", sales, "--no-output", "--param", "wiki_api=", "--param",
                        "data_dir=no/such", "--state-dir", "s2"], cwd=tmp, capture_output=True,
                       text=True, timeout=300)
    want = "no file matches 'no/such/dataset1*.xlsx' (relative to '%s')" % os.path.realpath(tmp)
    check(p.returncode == 1 and want in p.stdout, "wanted %r in:\n%s" % (want, p.stdout))
finally:
    shutil.rmtree(tmp, ignore_errors=True)
print("ok")
