#!/usr/bin/python3
"""pipelines/covid.yaml through `dagd run` against fakeapi.py (SEEDS.md
"covid"; ../shared/tools/fakeapi.py, a real HTTP server):

  1. through every fault at once (503 with Retry-After, 429 rate limits,
     broken bodies): covid_daily and covid_weekly as in
     data/covid/expected.json, the check step's results recorded;
  2. another page size on the same state: the same tables (days repeated
     across pages, upserted by date);
  3. a feed that breaks half way (--fail-from-page 3): the run fails
     within 2 minutes naming the page, after 8 tries of it, and no table
     changes; on a fresh state no table is created.

Exit 0 = pass, 1 = fail, 77 = skipped (no dagd binary or no fakeapi.py)."""
import concurrent.futures
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

from dagdtest import run_main, seeds

SHARED = os.environ.get('DAGD_SHARED') or os.path.join(seeds.SOURCE, '..', 'shared')
FAKEAPI = os.path.join(SHARED, 'tools', 'fakeapi.py')
DATA = os.path.join(seeds.SOURCE, 'data', 'covid')


class FakeApi:
    def __init__(self, *args):
        self.p = subprocess.Popen([sys.executable, FAKEAPI, '--seed', '1', '--days', '200',
                                   '--quiet', '--max-seconds', '300', *args],
                                  stdout=subprocess.PIPE, text=True)
        self.url = self.p.stdout.readline().split()[-1]

    def stats(self):
        with urllib.request.urlopen(self.url + '/stats') as r:
            return json.load(r)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.p.terminate()
        self.p.wait()


def main():
    if not os.access(seeds.DAGD, os.X_OK) or not os.path.isfile(FAKEAPI):
        print('SKIP: no dagd binary or no %s' % FAKEAPI)
        return 77
    with open(os.path.join(DATA, 'expected.json')) as f:
        exp = json.load(f)
    tables = list(exp['tables'])
    tmp = tempfile.mkdtemp(prefix='covid.')
    try:
        st = os.path.join(tmp, 'state')
        db = os.path.join(st, 'covid.db')
        with FakeApi('--fail-rate', '0.2', '--rate-limit', '20', '--garbage-rate', '0.3') as api:
            r = seeds.run('pipelines/covid.yaml', st, ['api=' + api.url])
            stats = api.stats()
        errs = seeds.check_tables(db, exp['tables'])
        assert not errs, '\n  '.join(errs)
        assert sum(stats['faults'].values()) > 0, 'no fault was injected: %r' % stats
        assert 'no_negative_weeks' in r.stdout, 'checks not in the summary:\n' + r.stdout
        with sqlite3.connect(os.path.join(st, 'state.db')) as c:
            n = c.execute("SELECT count(*) FROM checks WHERE step = 'quality'").fetchone()[0]
        assert n == 4, 'check results recorded: %d' % n
        print('ok: the tables through faults (%r)' % stats['status'])

        with FakeApi('--page-size', '17') as api:
            seeds.run('pipelines/covid.yaml', st, ['api=' + api.url])
        errs = seeds.check_tables(db, exp['tables'])
        assert not errs, '\n  '.join(errs)
        print('ok: page size 17 on top gives the same tables')

        # The two broken feeds wait out their retries' backoff (~35 s each):
        # run them side by side.
        before = seeds.snapshot(db, tables)
        fresh = os.path.join(tmp, 'fresh')
        with FakeApi('--fail-from-page', '3') as api, FakeApi('--fail-from-page', '2') as api2:
            with concurrent.futures.ThreadPoolExecutor(2) as pool:
                t0 = time.monotonic()
                on_fresh = pool.submit(seeds.run, 'pipelines/covid.yaml', fresh,
                                       ['api=' + api2.url], expect_ok=False)
                r = seeds.run('pipelines/covid.yaml', st, ['api=' + api.url], expect_ok=False)
                took = time.monotonic() - t0
                r_fresh = on_fresh.result()
            stats = api.stats()
        assert r.returncode != 0, 'a broken feed must fail the run'
        assert took < 120, 'gave up after %.0f s' % took
        assert 'page=3' in r.stdout + r.stderr and 'gave up after 8 attempts' in r.stdout + r.stderr, \
            r.stdout[-3000:] + r.stderr[-3000:]
        assert stats['pages'].get('3', 0) + stats['status'].get('503', 0) >= 8, stats
        assert seeds.snapshot(db, tables) == before, 'a failed fetch changed a table'
        print('ok: a broken feed fails in %.1f s after 8 tries and changes nothing' % took)

        assert r_fresh.returncode != 0
        with sqlite3.connect(os.path.join(fresh, 'covid.db')) as c:
            got = c.execute("SELECT name FROM sqlite_schema WHERE name LIKE 'covid%'").fetchall()
        assert got == [], 'tables created from a partial fetch: %r' % got
        print('ok: nothing written on a fresh state either')

        r = seeds.run('pipelines/covid.yaml', os.path.join(tmp, 'noapi'), expect_ok=False)
        assert r.returncode != 0 and 'is not an http' in r.stdout + r.stderr, r.stdout + r.stderr
        print('ok: without api the run fails saying so')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == '__main__':
    run_main(main)
