#!/usr/bin/python3
"""THE sales acceptance test: runs the whole sales pipeline and compares every
contract figure of the warehouse with expected.json.

    test_sales.py [CASE...]      (default: all but full)

Cases:
  reference   tests/tools/sales_expected.py reproduces data/sales-tiny/expected.json
              (the oracle used for generated deliveries is checked first)
  tiny        dagd run on data/sales-tiny: every figure, the summary keys, the
              tiers (when the cluster step ran); a re-run (plain and --force)
              writes no orders row and leaves every warehouse table identical
  full        the same on data/sales (200k rows)
  deliveries  two deliveries (gen_sales.py --profile window2) into one
              warehouse: figures after each, the later row wins, nothing is
              double-counted, a third run of the same delivery changes no row
  nasty       a delivery with every later-delivery problem (--profile nasty)
  rate        --param usd_rate=7.25: USD amounts converted exactly at that rate
  killed      a validate / transform step killed mid-way leaves the warehouse
              exactly as it was

The pipeline runs as `dagd run pipelines/sales.yaml --param data_dir=D
--param wiki_api=URL --state-dir S` from the source tree, with a local
tests/tools/fakewiki.py as the Wikipedia API. Exit 0 = pass, 1 = fail,
77 = skipped.
"""
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from dagdtest import BUILD, DAGD, SOURCE, TOOLS, FakeWiki  # noqa: E402
from dagdtest import sales as sf  # noqa: E402

WH_RUN = os.path.join(BUILD, 'tests', 'unit', 'tasks', 'warehouse-run')
PY = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable
PIPELINE = os.path.join(SOURCE, 'pipelines', 'sales.yaml')
WAREHOUSE_TABLES = ['orders', 'dq_exceptions', 'dq_summary', 'warehouse_meta', 'order_groups',
                    'mart_city_hour_sales', 'mart_top_city_per_hour', 'mart_city_district_avg',
                    'summary', 'city_tiers']


class Skip(Exception):
    pass


class Failure(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def check_diffs(what, diffs):
    if diffs:
        for d in diffs[:40]:
            log('  ' + d)
        raise Failure('%s: %d figure(s) differ from expected (first ones above)' % (what, len(diffs)))
    log('  %s: every figure matches' % what)


# ---------------------------------------------------------------------------
# running the pipeline

# The translations table of the first pipeline run (schema, rows): seeded into
# the warehouse of every later fresh state directory, so that translate asks
# the fake wiki once per test process (its pacing makes a full lookup ~15 s).
TRANSLATIONS = None


def save_translations(db):
    global TRANSLATIONS
    con = sqlite3.connect(db)
    row = con.execute("SELECT sql FROM sqlite_schema WHERE name = 'translations'").fetchone()
    if row:
        rows = con.execute('SELECT * FROM translations').fetchall()
        if rows:
            TRANSLATIONS = (row[0], rows)
    con.close()


def seed_translations(db):
    if TRANSLATIONS is None or os.path.exists(db):
        return
    con = sqlite3.connect(db)
    con.execute(TRANSLATIONS[0])
    con.executemany('INSERT INTO translations VALUES (%s)' % ','.join('?' * len(TRANSLATIONS[1][0])),
                    TRANSLATIONS[1])
    con.commit()
    con.close()


class Runner:
    """Runs the sales pipeline into a state directory."""

    def __init__(self, state_dir, wiki):
        self.state_dir = state_dir
        os.makedirs(state_dir, exist_ok=True)
        self.wiki = wiki
        self.warehouse = os.path.join(state_dir, 'warehouse.db')
        seed_translations(self.warehouse)

    def run(self, data_dir, force=False, usd_rate=None):
        t0 = time.time()
        args = [DAGD, 'run', PIPELINE, '--param', 'data_dir=' + data_dir, '--param',
                'wiki_api=' + self.wiki.api, '--state-dir', self.state_dir]
        if usd_rate:
            args += ['--param', 'usd_rate=' + usd_rate]
        if force:
            args.append('--force')
        p = subprocess.run(args, cwd=SOURCE, capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            log(p.stdout[-3000:])
            log(p.stderr[-3000:])
        check(p.returncode == 0, 'dagd run %s failed with exit %d' % (data_dir, p.returncode))
        # steps leave their writes in the WAL; dagd checkpoints it in the
        # background and, at the end of the run, into the file (checkpointer.h)
        wal = self.warehouse + '-wal'
        check(not os.path.exists(wal) or os.path.getsize(wal) == 0,
              'dagd run left %d bytes of WAL: not checkpointed' %
              (os.path.getsize(wal) if os.path.exists(wal) else 0))
        if TRANSLATIONS is None:
            save_translations(self.warehouse)
        return time.time() - t0


def table_checksums(db):
    con = sqlite3.connect('file:%s?mode=ro' % db, uri=True)
    out = {}
    for t in WAREHOUSE_TABLES:
        if not con.execute("SELECT 1 FROM sqlite_schema WHERE name = ?", (t,)).fetchone():
            continue
        cols = [r[1] for r in con.execute('PRAGMA table_info("%s")' % t)]
        h = hashlib.sha256()
        order = ', '.join('"%s"' % c for c in cols)
        for row in con.execute('SELECT * FROM "%s" ORDER BY %s' % (t, order)):
            h.update(repr(row).encode())
        out[t] = h.hexdigest()
    con.close()
    return out


def install_write_counter(db):
    """Triggers counting every write to orders (to prove a re-run writes none)."""
    con = sqlite3.connect(db)
    con.executescript('''
        CREATE TABLE IF NOT EXISTS test_orders_writes (n INTEGER NOT NULL);
        DELETE FROM test_orders_writes; INSERT INTO test_orders_writes VALUES (0);
        CREATE TRIGGER IF NOT EXISTS test_ow_i AFTER INSERT ON orders
            BEGIN UPDATE test_orders_writes SET n = n + 1; END;
        CREATE TRIGGER IF NOT EXISTS test_ow_u AFTER UPDATE ON orders
            BEGIN UPDATE test_orders_writes SET n = n + 1; END;
        CREATE TRIGGER IF NOT EXISTS test_ow_d AFTER DELETE ON orders
            BEGIN UPDATE test_orders_writes SET n = n + 1; END;
    ''')
    con.commit()
    con.close()


def orders_writes(db):
    con = sqlite3.connect(db)
    n = con.execute('SELECT n FROM test_orders_writes').fetchone()[0]
    con.close()
    return n


GROUPS_SQL = """
    SELECT city_district_id, hour, status, location_known,
           CASE WHEN location_known = 1 THEN min(city) END, count(*), sum(amount_rmb_cents)
    FROM orders GROUP BY city_district_id, hour, status, location_known"""


def compare_all(what, exp, db):
    # order_groups (written by validate in C) must be exactly this GROUP BY of orders
    con = sqlite3.connect(db)
    extra = con.execute('SELECT count(*) FROM (%s EXCEPT SELECT * FROM order_groups)' % GROUPS_SQL).fetchone()[0]
    missing = con.execute('SELECT count(*) FROM (SELECT * FROM order_groups EXCEPT %s)' % GROUPS_SQL).fetchone()[0]
    con.close()
    check(extra == 0 and missing == 0, '%s: order_groups differs from orders grouped (%d/%d rows)'
          % (what, extra, missing))
    got = sf.figures(db)
    tiers = 'tier_of_city' in got
    if not tiers:
        log('  %s: no city_tiers table (cluster step did not run): tier checks SKIPPED' % what)
    check_diffs(what, sf.compare(exp, got, tiers=tiers) + sf.compare_summary(exp, got['summary']))
    return got


def reference(dirs, out, usd_rate='7.10'):
    p = subprocess.run([PY, os.path.join(TOOLS, 'sales_expected.py'), *dirs, '--out', out,
                        '--usd-rate', usd_rate],
                       capture_output=True, text=True, timeout=600)
    check(p.returncode == 0, 'sales_expected.py failed: %s' % p.stderr[-2000:])
    with open(out, encoding='utf-8') as f:
        return json.load(f)


def gen_sales(args, out):
    p = subprocess.run([PY, os.path.join(TOOLS, 'gen_sales.py'), *args, '--out', out],
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0 and 'No module named' in p.stderr:
        raise Skip('gen_sales.py needs python3-numpy/openpyxl: ' + p.stderr.strip().splitlines()[-1])
    check(p.returncode == 0, 'gen_sales.py failed: %s' % p.stderr[-2000:])


def load_expected(name):
    with open(os.path.join(SOURCE, 'data', name, 'expected.json'), encoding='utf-8') as f:
        return json.load(f)


# ---------------------------------------------------------------------------
# cases

def case_reference(tmp, wiki):
    exp = load_expected('sales-tiny')
    ref = reference([os.path.join(SOURCE, 'data', 'sales-tiny')], os.path.join(tmp, 'ref.json'))
    ref['tier_of_city'] = ref['tiers']['tier_of_city']
    check_diffs('sales_expected.py vs data/sales-tiny/expected.json', sf.compare(exp, ref))


def run_delivery_case(name, tmp, wiki):
    exp = load_expected(name)
    r = Runner(os.path.join(tmp, 'state'), wiki)
    secs = r.run('data/' + name)
    log('  pipeline on data/%s: %.2f s (dagd run)' % (name, secs))
    compare_all('data/' + name, exp, r.warehouse)
    before = table_checksums(r.warehouse)
    install_write_counter(r.warehouse)
    r.run('data/' + name)
    check(orders_writes(r.warehouse) == 0, 're-run wrote %d orders rows' % orders_writes(r.warehouse))
    check(table_checksums(r.warehouse) == before, 're-run changed a warehouse table')
    r.run('data/' + name, force=True)
    check(orders_writes(r.warehouse) == 0, 'forced re-run wrote %d orders rows' % orders_writes(r.warehouse))
    after = table_checksums(r.warehouse)
    check(after == before, 'forced re-run changed tables: %s' %
          [t for t in before if before[t] != after.get(t)])
    log('  re-runs (plain and --force): no orders row written, %d tables identical' % len(before))


def case_tiny(tmp, wiki):
    run_delivery_case('sales-tiny', tmp, wiki)


def case_full(tmp, wiki):
    run_delivery_case('sales', tmp, wiki)


def case_deliveries(tmp, wiki):
    gen = os.path.join(tmp, 'gen')
    gen_sales(['--seed', '7', '--rows1', '2000', '--rows2', '500', '--profile', 'window2'], gen)
    w1, w2 = os.path.join(gen, 'window1'), os.path.join(gen, 'window2')
    exp1 = reference([w1], os.path.join(tmp, 'exp1.json'))
    exp12 = reference([w1, w2], os.path.join(tmp, 'exp12.json'))
    r = Runner(os.path.join(tmp, 'state'), wiki)
    r.run(w1)
    compare_all('window1', exp1, r.warehouse)
    con = sqlite3.connect(r.warehouse)
    before = dict(con.execute('SELECT order_id, amount_rmb_cents FROM orders'))
    con.close()
    r.run(w2)
    compare_all('window1 + window2', exp12, r.warehouse)
    con = sqlite3.connect(r.warehouse)
    n_orders, n_ids = con.execute('SELECT count(*), count(DISTINCT order_id) FROM orders').fetchone()
    changed = con.execute(
        "SELECT count(*) FROM dq_exceptions WHERE rule = 'duplicate_order_id_superseded'"
        " AND file_id IN (SELECT file_id FROM load_files WHERE path LIKE ?)", ('%window1%',)).fetchone()[0]
    after = dict(con.execute('SELECT order_id, amount_rmb_cents FROM orders'))
    con.close()
    check(n_orders == n_ids == exp12['distinct_order_ids'],
          'orders has %d rows for %d ids, expected %d' % (n_orders, n_ids, exp12['distinct_order_ids']))
    check(changed > 0, 'window2 superseded no window1 row: the generator must repeat orders')
    updated = sum(1 for k in before if k in after and before[k] != after[k])
    check(updated > 0, 'no order amount was updated by the second delivery')
    log('  window2 superseded %d window1 rows, updated %d amounts; %d orders, no double counting'
        % (changed, updated, n_orders))
    sums = table_checksums(r.warehouse)
    install_write_counter(r.warehouse)
    r.run(w2)
    r.run(w2, force=True)
    check(orders_writes(r.warehouse) == 0, 'third run of window2 wrote %d orders rows' % orders_writes(r.warehouse))
    check(table_checksums(r.warehouse) == sums, 'third run of window2 changed a table')
    compare_all('window1 + window2 after a third run', exp12, r.warehouse)


def case_nasty(tmp, wiki):
    gen = os.path.join(tmp, 'nasty')
    gen_sales(['--seed', '11', '--rows1', '2000', '--rows2', '500', '--profile', 'nasty'], gen)
    exp = reference([gen], os.path.join(tmp, 'exp.json'))
    # every rule must be exercised, or the comparison proves little
    hit = {k for src in exp['dq_per_source'].values() for k, v in src.items() if v > 0}
    zero = sorted(set(exp['dq_final_rows']) - hit)
    check(not zero, 'nasty delivery: rules never hit: %s' % zero)
    r = Runner(os.path.join(tmp, 'state'), wiki)
    r.run(gen)
    compare_all('nasty delivery', exp, r.warehouse)
    con = sqlite3.connect(r.warehouse)
    for rule in ('currency_unknown', 'amount_not_positive', 'order_id_missing'):
        n = con.execute('SELECT count(*) FROM dq_exceptions WHERE rule = ?', (rule,)).fetchone()[0]
        check(n > 0, 'no dq_exceptions row for %s' % rule)
    con.close()


def case_rate(tmp, wiki):
    """--param usd_rate: USD rows converted at another rate, exactly."""
    tiny = os.path.join(SOURCE, 'data', 'sales-tiny')
    exp = reference([tiny], os.path.join(tmp, 'exp.json'), usd_rate='7.25')
    base = load_expected('sales-tiny')
    check(abs(exp['total_sales_rmb'] - base['total_sales_rmb']) > 1.0,
          'usd_rate 7.25 does not change the tiny total: the case proves nothing')
    r = Runner(os.path.join(tmp, 'state'), wiki)
    r.run('data/sales-tiny', usd_rate='7.25')
    compare_all('data/sales-tiny at usd_rate 7.25', exp, r.warehouse)
    con = sqlite3.connect(r.warehouse)
    bad = con.execute("SELECT count(*) FROM orders WHERE currency = 'USD' AND"
                      " amount_rmb_cents <> (amount_cents * 725 + 50) / 100").fetchone()[0]
    con.close()
    check(bad == 0, '%d USD orders not converted as (usd_cents * 725 + 50) div 100' % bad)


def case_killed(tmp, wiki):
    if not os.path.exists(WH_RUN):
        raise Skip('tests/unit/tasks/warehouse-run not built')
    r = Runner(os.path.join(tmp, 'state'), wiki)
    gen = os.path.join(tmp, 'nasty')
    gen_sales(['--seed', '11', '--rows1', '2000', '--rows2', '500', '--profile', 'nasty'], gen)
    r.run('data/sales-tiny')
    # a second delivery in bronze, not yet validated: what the steps would change
    for step in ('extract_dataset1', 'extract_dataset2'):
        p = subprocess.run([DAGD, 'run', PIPELINE, '--param', 'data_dir=' + gen, '--param',
                            'wiki_api=' + wiki.api, '--state-dir', r.state_dir, '--only', step, '-q'],
                           cwd=SOURCE, capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, 'dagd run --only %s: exit %d\n%s' % (step, p.returncode, p.stderr[-3000:]))
    for stage, args, marker in (('validate', ['--validate', '7.10'], 'validate 3/6'),
                                ('transform', ['--validate', '7.10', '--transform', 'pipelines/sales/models'],
                                 'transform mart_city_district_avg')):
        before = table_checksums(r.warehouse)
        p = subprocess.Popen([WH_RUN, r.warehouse, *args, '--sleep-ms', '3000'], cwd=SOURCE,
                             stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        seen = False
        for line in p.stderr:
            if marker in line:
                seen = True
                break
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        p.stderr.close()
        check(seen, '%s: never reached %r' % (stage, marker))
        after = table_checksums(r.warehouse)
        check(after == before, 'killed %s changed tables: %s' % (stage, [t for t in before if before[t] != after.get(t)]))
        log('  %s killed mid-way (after %r): warehouse unchanged' % (stage, marker))
        if stage == 'validate':
            # the next, uninterrupted run applies the whole delivery
            subprocess.run([WH_RUN, r.warehouse, '--validate', '7.10'], cwd=SOURCE, check=True,
                           capture_output=True, timeout=120)
            check(table_checksums(r.warehouse)['orders'] != before['orders'], 'validate did nothing')


CASES = {'reference': case_reference, 'tiny': case_tiny, 'full': case_full,
         'deliveries': case_deliveries, 'nasty': case_nasty, 'killed': case_killed,
         'rate': case_rate}
DEFAULT = ['reference', 'tiny', 'deliveries', 'nasty', 'rate', 'killed']


def main(argv):
    names = argv or DEFAULT
    failed, skipped = [], []
    wiki = FakeWiki(max_seconds=None)  # the sales cases may take longer than 10 min
    try:
        for name in names:
            tmp = tempfile.mkdtemp(prefix='dagd-sales-%s-' % name)
            log('== %s' % name)
            try:
                CASES[name](tmp, wiki)
                log('PASS %s' % name)
            except Skip as e:
                log('SKIP %s: %s' % (name, e))
                skipped.append(name)
            except Failure as e:
                log('FAIL %s: %s' % (name, e))
                failed.append(name)
            finally:
                if not failed or failed[-1] != name:
                    shutil.rmtree(tmp, ignore_errors=True)
                else:
                    log('  (kept %s)' % tmp)
    finally:
        wiki.stop()
    if failed:
        return 1
    return 77 if len(skipped) == len(names) else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
