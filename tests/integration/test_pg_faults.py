#!/usr/bin/python3
"""A PostgreSQL warehouse that fails (issue 13), on the restaurants pipeline
(load with archive/errors, then models) against a private server:

  1. a password in the connection string is refused before the run starts
     (exit 2, the fix named, the password neither printed nor stored);
  2. a wrong password (PGPASSWORD): the run fails naming the server (host,
     port, dbname, user), nothing loaded, the files left in incoming, the
     password nowhere in the output or state.db; the right one loads;
  3. the server down: the run fails naming the server, the files left in
     incoming; after a restart they load;
  4. the connection dropped in the middle of a COPY (pg_terminate_backend):
     the run fails naming the file and the server, no row of the file is in
     raw_data, its checkpoint is not written; landed again, it loads once.

Exit 0 = pass, 1 = fail, 77 = skipped (no dagd binary or no PostgreSQL)."""
import glob
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from dagdtest import DAGD, SOURCE, run_main, seeds  # noqa: E402
from dagdtest.pg import PgServer, need_postgres  # noqa: E402

SAMPLES = os.path.join(SOURCE, 'data', 'restaurants', 'incoming')
WRONG, RIGHT = 'Wr0ng-Pw-7c1', 'R1ght-Pw-9d4'


def run(st, wh, env=None):
    e = dict(os.environ)
    e.pop('PGPASSWORD', None)
    e.update(env or {})
    return subprocess.run([DAGD, 'run', 'pipelines/restaurants.yaml', '--state-dir', st,
                           '--param', 'warehouse=' + wh], cwd=SOURCE, capture_output=True,
                          text=True, timeout=600, env=e)


def land(st, files):
    inc = os.path.join(st, 'restaurants', 'incoming')
    os.makedirs(inc, exist_ok=True)
    for f in files:
        shutil.copy(f, inc)


def state_bytes(st):
    """state.db and its WAL, as bytes (a password must be in neither)."""
    out = b''
    for p in glob.glob(os.path.join(st, 'state.db*')):
        with open(p, 'rb') as f:
            out += f.read()
    return out


def count(pg, db, sql):
    return pg.rows(sql, db)[0][0]


def password_in_conninfo(pg, tmp):
    st = os.path.join(tmp, 'p1')
    land(st, sorted(glob.glob(os.path.join(SAMPLES, '*.csv'))))
    r = run(st, pg.conninfo_for('wh') + ' password=' + RIGHT)
    out = r.stdout + r.stderr
    assert r.returncode == 2, 'a password in the conninfo was accepted (%d): %s' % (r.returncode, out)
    assert 'PGPASSWORD' in out and RIGHT not in out, out
    assert RIGHT.encode() not in state_bytes(st), 'the password is in state.db'
    r = run(st, 'postgresql://postgres:%s@/wh?host=%s&port=%d' % (RIGHT, pg.dir, pg.port))
    assert r.returncode == 2 and RIGHT not in r.stdout + r.stderr, r.stdout + r.stderr
    print('ok: a password in the connection string is refused, never printed or stored')


def wrong_password(pg, tmp):
    pg.add_password_user('alice', RIGHT)
    st = os.path.join(tmp, 'p2')
    land(st, sorted(glob.glob(os.path.join(SAMPLES, '*.csv'))))
    wh = pg.conninfo_for('wh', user='alice')
    r = run(st, wh, {'PGPASSWORD': WRONG})
    out = r.stdout + r.stderr
    assert r.returncode == 1, 'the run did not fail (%d): %s' % (r.returncode, out[-2000:])
    assert 'password authentication failed' in out, out[-2000:]
    assert 'host=%s' % pg.dir in out and 'dbname=wh' in out and 'user=alice' in out, \
        'the error does not name the server:\n' + out[-2000:]
    assert WRONG not in out and WRONG.encode() not in state_bytes(st), 'the password leaked'
    assert not pg.rows("SELECT 1 FROM pg_tables WHERE tablename = 'raw_data'", 'wh'), \
        'raw_data created with a wrong password'
    # the files are fine, the server refused: they stay where they landed
    assert len(os.listdir(os.path.join(st, 'restaurants', 'incoming'))) == 3
    print('ok: a wrong password fails the run naming the server; nothing written, nothing leaked')
    r = run(st, wh, {'PGPASSWORD': RIGHT})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert RIGHT.encode() not in state_bytes(st), 'the password is in state.db'
    assert count(pg, 'wh', 'SELECT count(*) FROM raw_data') == 913
    print('ok: the right password (PGPASSWORD) loads the files')


def server_down(pg, tmp):
    pg.create_db('down')
    st = os.path.join(tmp, 'p3')
    land(st, sorted(glob.glob(os.path.join(SAMPLES, '*.csv'))))
    pg.stop()
    try:
        r = run(st, pg.conninfo_for('down'))
    finally:
        pg.start()
    out = r.stdout + r.stderr
    assert r.returncode == 1, 'the run did not fail (%d): %s' % (r.returncode, out[-2000:])
    assert 'cannot connect to the warehouse' in out and 'host=%s' % pg.dir in out \
        and 'dbname=down' in out, 'the error does not name the server:\n' + out[-2000:]
    assert len(os.listdir(os.path.join(st, 'restaurants', 'incoming'))) == 3
    print('ok: a server that is down fails the run naming it; the files stay in incoming')
    r = run(st, pg.conninfo_for('down'))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert count(pg, 'down', 'SELECT count(*) FROM raw_data') == 913
    print('ok: after the restart the same files load')


def big_csv(path, rows):
    rnd = random.Random(13)
    with open(path, 'w') as f:
        f.write('restaurant_names,food_names,first_name,food_cost\n')
        for i in range(rows):
            f.write('R%d,"dish, %d",name%d,%d.%02d\n' % (i % 50, i % 700, rnd.randrange(5000), i % 90,
                                                        i % 100))


def dropped_connection(pg, tmp):
    pg.create_db('drop')
    st = os.path.join(tmp, 'p4')
    big = os.path.join(tmp, 'big_orders.csv')
    big_csv(big, 1500000)
    land(st, [big])
    killed = []

    def killer():
        # terminate the backend that runs the COPY, once it does
        end = time.monotonic() + 120
        while time.monotonic() < end and not killed:
            got = pg.rows("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                          "datname = 'drop' AND query LIKE 'COPY%' AND pid <> pg_backend_pid()",
                          'postgres')
            if got and got[0][0]:
                killed.append(True)
            time.sleep(0.02)
    t = threading.Thread(target=killer)
    t.start()
    r = run(st, pg.conninfo_for('drop'))
    t.join()
    out = r.stdout + r.stderr
    assert killed, 'the COPY finished before it could be dropped:\n' + out[-2000:]
    assert r.returncode == 1, 'the run did not fail (%d): %s' % (r.returncode, out[-2000:])
    assert 'big_orders.csv' in out and 'host=%s' % pg.dir in out, \
        'the error names neither the file nor the server:\n' + out[-2000:]
    n = pg.rows("SELECT count(*) FROM pg_tables WHERE tablename = 'raw_data'", 'drop')[0][0]
    if n:
        assert count(pg, 'drop', 'SELECT count(*) FROM raw_data') == 0, 'rows of the dropped file'
        assert count(pg, 'drop', 'SELECT count(*) FROM _dagd_load_files') == 0, 'checkpoint written'
    print('ok: a connection dropped mid-COPY fails the run naming the file and the server; '
          'nothing of the file written, no checkpoint')
    land(st, [os.path.join(st, 'restaurants', 'errors', 'big_orders.csv')])
    os.unlink(os.path.join(st, 'restaurants', 'errors', 'big_orders.csv'))
    r = run(st, pg.conninfo_for('drop'))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert count(pg, 'drop', 'SELECT count(*) FROM raw_data') == 1500000
    assert count(pg, 'drop', 'SELECT count(*) FROM _dagd_load_files') == 1
    print('ok: landed again, the file loads once')


def main():
    seeds.expected('restaurants')  # skips without dagd
    need_postgres()
    tmp = tempfile.mkdtemp(prefix='pgfaults.')
    try:
        with PgServer(dbname='wh') as pg:
            password_in_conninfo(pg, tmp)
            wrong_password(pg, tmp)
            server_down(pg, tmp)
            dropped_connection(pg, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == '__main__':
    run_main(main)
