#!/usr/bin/python3
"""pipelines/memberships.yaml through `dagd run` (SEEDS.md "memberships"):

  1. the three sample files in incoming: table `applications` and the six
     CSV outputs as in data/memberships/expected.json, each output's rows in
     input order, the inputs moved to archive/;
  2. a file whose content was processed before lands again (same name, and
     another name; then the whole first delivery again, whose load step has
     the same inputs as the first run's): archived without being processed,
     no table or output changes;
  3. a run with an empty incoming succeeds.

Exit 0 = pass, 1 = fail, 77 = skipped (no dagd binary)."""
import csv
import hashlib
import os
import shutil
import sqlite3
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from dagdtest import run_main, seeds  # noqa: E402

DATA = os.path.join(seeds.SOURCE, 'data', 'memberships')


def outputs(out):
    res = {}
    for d in ('successful', 'unsuccessful'):
        p = os.path.join(out, d)
        for n in sorted(os.listdir(p)) if os.path.isdir(p) else []:
            with open(os.path.join(p, n), 'rb') as f:
                res[d + '/' + n] = hashlib.sha256(f.read()).hexdigest()
    return res


def main():
    exp = seeds.expected('memberships')
    tmp = tempfile.mkdtemp(prefix='memberships.')
    try:
        st = os.path.join(tmp, 'state')
        out = os.path.join(st, 'memberships')
        inc = os.path.join(out, 'incoming')
        arch = os.path.join(out, 'archive')
        db = os.path.join(st, 'memberships.db')
        os.makedirs(inc)
        names = sorted(os.listdir(os.path.join(DATA, 'incoming')))
        for n in names:
            shutil.copy(os.path.join(DATA, 'incoming', n), inc)
        seeds.run('pipelines/memberships.yaml', st)
        errs = seeds.check_tables(db, exp['tables'])
        for rel, e in exp['csv'].items():
            errs += seeds.check_csv(os.path.join(out, rel), e)
        assert not errs, '\n  '.join(errs)
        # rows in input order: membership_ids (successful) follow `row`
        con = sqlite3.connect(db)
        for n in names:
            want = [r[0] for r in con.execute(
                'SELECT membership_id FROM applications WHERE source_file = ? AND successful '
                'ORDER BY row', (n,))]
            with open(os.path.join(out, 'successful', n), newline='', encoding='utf-8') as f:
                got = [r[0] for r in list(csv.reader(f))[1:]]
            assert got == want, '%s: rows not in input order' % n
        con.close()
        assert os.listdir(inc) == [] and sorted(os.listdir(arch)) == names
        print('ok: applications and the six CSV outputs as expected; inputs archived')

        # the first delivery again, same names and bytes (the load step's
        # inputs are those of the run before): archived, nothing processed
        before = (seeds.snapshot(db, ['applications', 'applications_raw']), outputs(out))
        for n in names:
            shutil.copy(os.path.join(DATA, 'incoming', n), inc)
        seeds.run('pipelines/memberships.yaml', st)
        assert os.listdir(inc) == [], 'a re-delivery stayed in incoming: %s' % os.listdir(inc)
        assert (seeds.snapshot(db, ['applications', 'applications_raw']), outputs(out)) == before
        print('ok: the same delivery again is archived, not processed')

        before = (seeds.snapshot(db, ['applications', 'applications_raw']), outputs(out))
        shutil.copy(os.path.join(DATA, 'incoming', names[1]), inc)
        shutil.copy(os.path.join(DATA, 'incoming', names[2]),
                    os.path.join(inc, 'applications_2022-01-01_1200.csv'))
        seeds.run('pipelines/memberships.yaml', st)
        after = (seeds.snapshot(db, ['applications', 'applications_raw']), outputs(out))
        assert before == after, 'a re-delivered file was processed again'
        assert os.listdir(inc) == [], os.listdir(inc)
        assert 'applications_2022-01-01_1200.csv' in os.listdir(arch)
        print('ok: content processed before is archived, not processed again')

        seeds.run('pipelines/memberships.yaml', st)
        print('ok: an empty incoming succeeds')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == '__main__':
    run_main(main)
