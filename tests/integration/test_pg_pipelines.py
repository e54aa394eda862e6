#!/usr/bin/python3
"""The medallion, restaurants, invoices and covid pipelines, unchanged, on both
warehouse engines (issue 13): each runs once on SQLite (the default) and
once on a private PostgreSQL server with one param, `--param
warehouse=<conninfo>`, and

  1. the PostgreSQL tables match data/NAME/expected.json as the SQLite ones
     do (dagdtest.seeds' checks, through pg.sqlite_like());
  2. every contract table (and rejects) is the same on both engines, row by
     row (columns in the same order; _loaded_at, a clock, left out);
  3. medallion: delivery2 on top, on both, still equal and as expected; a
     re-run of delivery1 on PostgreSQL changes no table (checkpoints);
     invoices: the exported CSV files are byte-identical; covid's fetch (the
     http task) and weekly (sql) steps read the same fakeapi.py feed into
     both (skipped without ../shared/tools/fakeapi.py).

Exit 0 = pass, 1 = fail, 77 = skipped (no dagd binary or no PostgreSQL)."""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from dagdtest import run_main, seeds  # noqa: E402
from dagdtest.pg import PgServer, need_postgres  # noqa: E402

CLOCKS = ('_loaded_at', 'loaded_at')


def norm(v):
    """A value as both engines must agree on it: numbers by value (SQLite's
    REAL 12.0 is PostgreSQL's NUMERIC 12), text as text."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float)):
        f = float(v)
        return int(f) if f.is_integer() else round(f, 9)
    return v


def sqlite_table(path, name):
    db = sqlite3.connect(path)
    try:
        cols = [r[1] for r in db.execute('PRAGMA table_info("%s")' % name)]
        keep = [c for c in cols if c not in CLOCKS]
        rows = db.execute('SELECT %s FROM "%s"' % (', '.join('"%s"' % c for c in keep), name)).fetchall()
    finally:
        db.close()
    return cols, keep, rows


def compare(sqlite_path, pg, dbname, tables, what):
    errs = []
    for name in tables:
        cols, keep, srows = sqlite_table(sqlite_path, name)
        pcols = [r[1] for r in pg.sqlite_like(dbname).execute('PRAGMA table_info("%s")' % name)]
        if cols != pcols:
            errs.append('%s: columns %s on SQLite, %s on PostgreSQL' % (name, cols, pcols))
            continue
        prows = pg.rows('SELECT %s FROM "%s"' % (', '.join('"%s"' % c for c in keep), name), dbname)
        a = sorted(repr(tuple(map(norm, r))) for r in srows)
        b = sorted(repr(tuple(map(norm, r))) for r in prows)
        if a != b:
            only_s = sorted(set(a) - set(b))[:3]
            only_p = sorted(set(b) - set(a))[:3]
            errs.append('%s: %d rows on SQLite, %d on PostgreSQL; only SQLite %s; only PostgreSQL %s'
                        % (name, len(a), len(b), only_s, only_p))
    assert not errs, '%s:\n  %s' % (what, '\n  '.join(errs))
    print('ok: %s: %d tables equal on both engines' % (what, len(tables)))


def expected_on_pg(pg, dbname, tables, what):
    db = pg.sqlite_like(dbname)
    errs = []
    for name, exp in tables.items():
        errs += seeds.check_table(db, name, exp)
    assert not errs, '%s on PostgreSQL:\n  %s' % (what, '\n  '.join(errs[:30]))
    print('ok: %s on PostgreSQL matches expected.json' % what)


def medallion(pg, tmp):
    exp = seeds.expected('medallion')
    pg.create_db('medallion')
    wh = 'warehouse=' + pg.conninfo_for('medallion')
    s_st, p_st = os.path.join(tmp, 'm_sqlite'), os.path.join(tmp, 'm_pg')
    s_db = os.path.join(s_st, 'medallion.db')
    names = list(exp['after_delivery1']['tables'])

    seeds.run('pipelines/medallion.yaml', s_st)
    seeds.run('pipelines/medallion.yaml', p_st, [wh])
    expected_on_pg(pg, 'medallion', exp['after_delivery1']['tables'], 'medallion delivery1')
    compare(s_db, pg, 'medallion', names + ['rejects'], 'medallion delivery1')

    before = {t: sorted(map(repr, pg.rows('SELECT * FROM "%s"' % t, 'medallion')))
              for t in names + ['_dagd_load_files']}
    r = seeds.run('pipelines/medallion.yaml', p_st, [wh, 'data_dir=data/medallion/delivery1'])
    after = {t: sorted(map(repr, pg.rows('SELECT * FROM "%s"' % t, 'medallion'))) for t in before}
    changed = [t for t in before if before[t] != after[t]]
    assert not changed, 'a re-run of delivery1 on PostgreSQL changed %s' % changed
    print('ok: medallion: re-running delivery1 on PostgreSQL changes no table')

    d2 = 'data_dir=data/medallion/delivery2'
    seeds.run('pipelines/medallion.yaml', s_st, [d2])
    seeds.run('pipelines/medallion.yaml', p_st, [wh, d2])
    expected_on_pg(pg, 'medallion', exp['after_delivery2']['tables'], 'medallion delivery2')
    compare(s_db, pg, 'medallion', names + ['rejects'], 'medallion delivery2')
    return r


def restaurants(pg, tmp):
    exp = seeds.expected('restaurants')
    pg.create_db('restaurants')
    wh = 'warehouse=' + pg.conninfo_for('restaurants')
    src = os.path.join(seeds.SOURCE, 'data', 'restaurants', 'incoming')
    sts = []
    for kind in ('r_sqlite', 'r_pg'):
        st = os.path.join(tmp, kind)
        inc = os.path.join(st, 'restaurants', 'incoming')
        os.makedirs(inc)
        for n in sorted(os.listdir(src)):
            shutil.copy(os.path.join(src, n), inc)
        sts.append(st)
    seeds.run('pipelines/restaurants.yaml', sts[0])
    seeds.run('pipelines/restaurants.yaml', sts[1], [wh])
    assert sorted(os.listdir(os.path.join(sts[1], 'restaurants', 'archive'))) == sorted(os.listdir(src))
    expected_on_pg(pg, 'restaurants', exp['tables'], 'restaurants')
    compare(os.path.join(sts[0], 'restaurants.db'), pg, 'restaurants', list(exp['tables']),
            'restaurants')


def invoices(pg, tmp):
    exp = seeds.expected('invoices')
    pg.create_db('invoices')
    as_of = 'as_of=' + exp['params']['as_of']
    s_st, p_st = os.path.join(tmp, 'i_sqlite'), os.path.join(tmp, 'i_pg')
    seeds.run('pipelines/invoices.yaml', s_st, [as_of])
    seeds.run('pipelines/invoices.yaml', p_st, [as_of, 'warehouse=' + pg.conninfo_for('invoices')])
    expected_on_pg(pg, 'invoices', exp['tables'], 'invoices')
    compare(os.path.join(s_st, 'invoices.db'), pg, 'invoices', list(exp['tables']) + ['rejects'],
            'invoices')
    for name, e in exp['csv'].items():
        errs = seeds.check_csv(os.path.join(p_st, 'invoices', name), e)
        assert not errs, '\n'.join(errs)
        with open(os.path.join(s_st, 'invoices', name), 'rb') as a, \
                open(os.path.join(p_st, 'invoices', name), 'rb') as b:
            assert a.read() == b.read(), '%s differs between the engines' % name
    print('ok: invoices: the exported CSV files are as expected and byte-identical')


def covid(pg, tmp):
    shared = os.environ.get('DAGD_SHARED') or os.path.join(seeds.SOURCE, '..', 'shared')
    fakeapi = os.path.join(shared, 'tools', 'fakeapi.py')
    if not os.path.isfile(fakeapi):
        print('skip: covid: no %s' % fakeapi)
        return
    exp = seeds.expected('covid')
    pg.create_db('covid')
    api = subprocess.Popen([sys.executable, fakeapi, '--seed', '1', '--days', '200', '--quiet',
                            '--max-seconds', '300', '--page-size', '17'], stdout=subprocess.PIPE,
                           text=True)
    try:
        url = 'api=' + api.stdout.readline().split()[-1]
        s_st, p_st = os.path.join(tmp, 'c_sqlite'), os.path.join(tmp, 'c_pg')
        seeds.run('pipelines/covid.yaml', s_st, [url])
        # fetch (http) and weekly (sql) only: the quality step's real_dates
        # check is an expression in SQLite's SQL (date(date) = date), and a
        # check's SQL is the warehouse engine's (docs/postgresql.md)
        wh = 'warehouse=' + pg.conninfo_for('covid')
        for step in ('fetch', 'weekly'):
            r = subprocess.run([seeds.DAGD, 'run', 'pipelines/covid.yaml', '--state-dir', p_st,
                                '--param', url, '--param', wh, '--only', step],
                               cwd=seeds.SOURCE, capture_output=True, text=True, timeout=300)
            assert r.returncode == 0, 'covid --only %s on PostgreSQL failed:\n%s\n%s' % (
                step, r.stdout[-3000:], r.stderr[-3000:])
    finally:
        api.terminate()
        api.wait()
    expected_on_pg(pg, 'covid', exp['tables'], 'covid')
    compare(os.path.join(s_st, 'covid.db'), pg, 'covid', list(exp['tables']), 'covid')


def main():
    seeds.expected('medallion')  # skips without dagd
    need_postgres()
    tmp = tempfile.mkdtemp(prefix='pgpipelines.')
    try:
        with PgServer() as pg:
            restaurants(pg, tmp)
            invoices(pg, tmp)
            medallion(pg, tmp)
            covid(pg, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == '__main__':
    run_main(main)
