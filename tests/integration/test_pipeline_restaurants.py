#!/usr/bin/python3
"""pipelines/restaurants.yaml through `dagd run` (SEEDS.md "restaurants"):

  1. the three sample files landed in incoming: every table as in
     data/restaurants/expected.json, the files moved to archive/;
  2. the broken file (no food_cost column) lands with a re-delivered good
     file under a new name: the run fails naming the broken file, which is
     moved to errors/; the re-delivered file is archived without being
     loaded; no table changes;
  3. a run with nothing in incoming succeeds and changes nothing.

Exit 0 = pass, 1 = fail, 77 = skipped (no dagd binary)."""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from dagdtest import run_main, seeds  # noqa: E402

DATA = os.path.join(seeds.SOURCE, 'data', 'restaurants')


def main():
    exp = seeds.expected('restaurants')
    tmp = tempfile.mkdtemp(prefix='restaurants.')
    try:
        st = os.path.join(tmp, 'state')
        inc = os.path.join(st, 'restaurants', 'incoming')
        arch = os.path.join(st, 'restaurants', 'archive')
        errd = os.path.join(st, 'restaurants', 'errors')
        db = os.path.join(st, 'restaurants.db')
        os.makedirs(inc)
        names = sorted(os.listdir(os.path.join(DATA, 'incoming')))
        for n in names:
            shutil.copy(os.path.join(DATA, 'incoming', n), inc)
        seeds.run('pipelines/restaurants.yaml', st)
        errs = seeds.check_tables(db, exp['tables'])
        assert not errs, '\n  '.join(errs)
        assert os.listdir(inc) == [], 'incoming not emptied: %s' % os.listdir(inc)
        assert sorted(os.listdir(arch)) == names, os.listdir(arch)
        print('ok: three files loaded, modelled and archived as expected')

        tables = list(exp['tables'])
        before = seeds.snapshot(db, tables)
        broken = os.listdir(os.path.join(DATA, 'broken'))[0]
        shutil.copy(os.path.join(DATA, 'broken', broken), inc)
        shutil.copy(os.path.join(DATA, 'incoming', names[0]), os.path.join(inc, 'resent_' + names[0]))
        r = seeds.run('pipelines/restaurants.yaml', st, expect_ok=False)
        assert r.returncode != 0, 'the broken file did not fail the run'
        out = r.stdout + r.stderr
        assert broken in out and 'food_cost' in out, 'the error names neither file nor column:\n' + out[-3000:]
        assert os.listdir(errd) == [broken], os.listdir(errd)
        assert 'resent_' + names[0] in os.listdir(arch), 'the re-delivered file was not archived'
        assert os.listdir(inc) == [], os.listdir(inc)
        assert seeds.snapshot(db, tables) == before, 'a table changed'
        print('ok: the broken file fails the run, goes to errors/, no table changes')

        r = seeds.run('pipelines/restaurants.yaml', st)
        assert seeds.snapshot(db, tables) == before, 'a table changed'
        print('ok: an empty incoming succeeds')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == '__main__':
    run_main(main)
