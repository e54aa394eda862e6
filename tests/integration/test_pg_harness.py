#!/usr/bin/python3
"""dagdtest.pg, the private PostgreSQL cluster the PostgreSQL tests share:

  1. it starts, answers through conninfo and uri, and query() tells NULL
     from an empty text and keeps quoted commas and quotes;
  2. a password role refuses a missing or wrong password and accepts the
     right one from PGPASSWORD;
  3. stop() and start() restart it on the same socket;
  4. close() removes its directory.

Exit 0 = pass, 1 = fail, 77 = skipped (no PostgreSQL server binaries)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from dagdtest import run_main  # noqa: E402
from dagdtest.pg import PgServer  # noqa: E402


def main():
    with PgServer(dbname='wh') as pg:
        d = pg.dir
        got = pg.query("SELECT 1, NULL, '', 'a,b', 'x\"y', 'line\nbreak'")
        assert got == [['1', None, '', 'a,b', 'x"y', 'line\nbreak']], got
        for c in (pg.conninfo, pg.uri):
            r = subprocess.run(['psql', '-X', '-w', '-At', '-d', c, '-c', 'SELECT current_database()'],
                               capture_output=True, text=True, timeout=60)
            assert r.returncode == 0 and r.stdout.strip() == 'wh', (c, r.stdout, r.stderr)
        print('ok: conninfo and uri reach database wh; NULL and empty text differ')

        pg.add_password_user('alice', 's3cret')
        r = pg.psql('SELECT 1', user='alice', check=False)
        assert r.returncode != 0 and 'password' in r.stderr, r.stderr
        r = pg.psql('SELECT 1', user='alice', check=False, env={'PGPASSWORD': 'wrong'})
        assert r.returncode != 0 and 'password authentication failed' in r.stderr, r.stderr
        r = pg.psql('SELECT 1', user='alice', check=False, env={'PGPASSWORD': 's3cret'})
        assert r.returncode == 0, r.stderr
        print('ok: a password role needs its password')

        pg.psql('CREATE TABLE t(x int); INSERT INTO t VALUES (7)')
        pg.stop()
        r = pg.psql('SELECT 1', check=False)
        assert r.returncode != 0, 'the server answered while stopped'
        pg.start()
        assert pg.query('SELECT x FROM t') == [['7']]
        print('ok: stop and start keep the data and the socket')
    assert not os.path.exists(d), 'the cluster directory was left behind'
    print('ok: close removes the cluster')
    return 0


if __name__ == '__main__':
    run_main(main)
