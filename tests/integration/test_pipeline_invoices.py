#!/usr/bin/python3
"""pipelines/invoices.yaml through `dagd run` (SEEDS.md "invoices"):

  1. the bundled files with as_of=2023-07-15: every table and both CSV
     exports as in data/invoices/expected.json; the rejected rows per table
     as its figures; the check results recorded (2 warnings: the invoice of
     an unknown account, the rejected rows) and the run succeeded;
  2. the same delivery again: no table changes, the CSVs stay;
  3. another earliest_entry_date (a param used inside the SQL models): only
     invoices issued after it are in the marts, and the exports follow.

Exit 0 = pass, 1 = fail, 77 = skipped (no dagd binary)."""
import os
import shutil
import sqlite3
import tempfile

from dagdtest import run_main, seeds


def main():
    exp = seeds.expected('invoices')
    tables = list(exp['tables'])
    as_of = 'as_of=' + exp['params']['as_of']
    tmp = tempfile.mkdtemp(prefix='invoices.')
    try:
        st = os.path.join(tmp, 'state')
        db = os.path.join(st, 'invoices.db')
        out = os.path.join(st, 'invoices')
        r = seeds.run('pipelines/invoices.yaml', st, [as_of])
        errs = seeds.check_tables(db, exp['tables'])
        for name, e in exp['csv'].items():
            errs += seeds.check_csv(os.path.join(out, name), e)
        assert not errs, '\n  '.join(errs)
        with sqlite3.connect(db) as c:
            rejected = dict(c.execute('SELECT table_name, count(*) FROM rejects GROUP BY 1'))
        assert rejected == exp['figures']['rejected_rows'], rejected
        with sqlite3.connect(os.path.join(st, 'state.db')) as c:
            got = dict(c.execute("SELECT name, status FROM checks"))
        warned = sorted(n for n, s in got.items() if s == 'warned')
        assert warned == ['invoices_of_unknown_accounts', 'rejected_rows'], got
        assert all(s in ('passed', 'warned') for s in got.values()), got
        assert 'invoices_of_unknown_accounts' in r.stdout, r.stdout
        print('ok: tables, exports, rejects and checks as expected')

        before = seeds.snapshot(db, tables + ['accounts', 'invoices', 'invoice_line_items',
                                              'skus', 'rejects'])
        csvs = {n: open(os.path.join(out, n), 'rb').read() for n in exp['csv']}
        seeds.run('pipelines/invoices.yaml', st, [as_of, '--force'])
        after = seeds.snapshot(db, tables + ['accounts', 'invoices', 'invoice_line_items',
                                             'skus', 'rejects'])
        assert after == before, 'a re-run changed a table'
        for n, b in csvs.items():
            assert open(os.path.join(out, n), 'rb').read() == b, n
        print('ok: a re-run changes nothing')

        seeds.run('pipelines/invoices.yaml', st, [as_of, 'earliest_entry_date=2022-06-30'])
        with sqlite3.connect(db) as c:
            lo, n = c.execute('SELECT min(date_issued), count(*) FROM fact_sales').fetchone()
            months = c.execute('SELECT min(year * 100 + month) FROM monthly_sales_summary'
                               ).fetchone()[0]
            acc = c.execute('SELECT min(date_issued) FROM account_details').fetchone()[0]
        assert lo > '2022-06-30' and 0 < n < exp['tables']['fact_sales']['count'], (lo, n)
        assert months == 202207 and acc > '2022-06-30', (months, acc)
        with open(os.path.join(out, 'fact_sales.csv')) as f:
            assert sum(1 for _ in f) > 1
        print('ok: earliest_entry_date filters the marts (%d rows from %s)' % (n, lo))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == '__main__':
    run_main(main)
