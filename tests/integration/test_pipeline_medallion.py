#!/usr/bin/python3
"""pipelines/medallion.yaml through `dagd run` against data/medallion's
expected.json (SEEDS.md "medallion"):

  1. delivery1: every raw_, sta_ and stg_ table as expected;
  2. delivery1 again: every file is skipped (checkpoint by content) and no
     table changes;
  3. delivery2 on top: every table as expected after both (re-sent files
     load once);
  4. a later delivery with one truncated file fails the run naming the file;
     the tables that file feeds stay as they were, gold is not rebuilt, and
     the other file of the delivery loads.

Exit 0 = pass, 1 = fail, 77 = skipped (no dagd binary)."""
import os
import shutil
import sqlite3
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from dagdtest import run_main, seeds  # noqa: E402


def check(db, tables, what):
    errs = seeds.check_tables(db, tables)
    if errs:
        raise AssertionError('%s:\n  %s' % (what, '\n  '.join(errs[:30])))


def main():
    exp = seeds.expected('medallion')
    tmp = tempfile.mkdtemp(prefix='medallion.')
    try:
        st = os.path.join(tmp, 'state')
        db = os.path.join(st, 'medallion.db')
        seeds.run('pipelines/medallion.yaml', st)
        check(db, exp['after_delivery1']['tables'], 'after delivery1')
        print('ok: delivery1 matches expected.json')

        names = list(exp['after_delivery1']['tables'])
        before = seeds.snapshot(db, names + ['rejects', '_dagd_load_files'])
        r = seeds.run('pipelines/medallion.yaml', st, ['data_dir=data/medallion/delivery1'])
        after = seeds.snapshot(db, names + ['rejects', '_dagd_load_files'])
        changed = [t for t in before if before[t] != after[t]]
        assert not changed, 'a re-run of delivery1 changed %s' % changed
        print('ok: re-running delivery1 changes no table')

        seeds.run('pipelines/medallion.yaml', st, ['data_dir=data/medallion/delivery2'])
        check(db, exp['after_delivery2']['tables'], 'after delivery2')
        print('ok: delivery2 on top matches expected.json')

        # delivery 3: a truncated orders file and a good shops file
        d3 = os.path.join(tmp, 'delivery3')
        os.mkdir(d3)
        with open(os.path.join(seeds.SOURCE, 'data', 'medallion', 'delivery2', 'orders_2023_06.csv'), 'rb') as f:
            data = f.read()
        cut = data.index(b'"', len(data) // 2)  # inside a quoted field
        with open(os.path.join(d3, 'orders_2023_07.csv'), 'wb') as f:
            f.write(data[:cut + 2])
        with open(os.path.join(d3, 'shops.csv'), 'wb') as f:
            f.write(b'shop_id,shop_name,city,country\n7,New Shop,Graz,AT\n')
        before = seeds.snapshot(db, names)
        r = seeds.run('pipelines/medallion.yaml', st, ['data_dir=' + d3], expect_ok=False)
        assert r.returncode != 0, 'a truncated file did not fail the run'
        assert 'orders_2023_07.csv' in r.stdout + r.stderr, 'the error does not name the file:\n' + r.stdout
        after = seeds.snapshot(db, names)
        changed = sorted(t for t in before if before[t] != after[t])
        assert changed == ['raw_shops', 'sta_shops'], 'tables changed: %s' % changed
        con = sqlite3.connect(db)
        assert con.execute('SELECT count(*) FROM sta_shops WHERE shop_id = 7').fetchone()[0] == 1
        assert con.execute('SELECT count(*) FROM stg_dim_shops WHERE shop_id = 7').fetchone()[0] == 0, \
            'gold was rebuilt after a failed load'
        con.close()
        print('ok: a truncated file fails the run, its tables and gold unchanged')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == '__main__':
    run_main(main)
