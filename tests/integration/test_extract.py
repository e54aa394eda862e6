#!/usr/bin/python3
"""Integration test of the `extract` task through `dagd run`: a pipeline with
only the two extract steps.

  1. data/sales-tiny loads the row counts of expected.json (`rows_loaded`)
     into raw_orders, the map into city_district_map, one load_files row
     per file;
  2. a forced re-run skips both files ("already loaded") and changes nothing;
  3. every bad delivery (truncated xlsx, a zip that is not a workbook, a
     workbook without sheet CITY_DISTRICT_MAP, a DATA sheet without column
     ORDER_QTY, a bad cell deep in DATA, JSON syntax error at record N, a
     JSON top level that is not an array, a record that is not an object, a
     truncated JSON file, a glob matching nothing) fails the step with the
     file and the row / record / byte offset in steps.error, and leaves the
     bronze tables exactly as they were;
  4. checkpoint: a spill delivery (dataset1.xlsx + dataset1_002.xlsx) whose
     second workbook is bad keeps the first workbook and nothing of the
     second; once the second is fixed, the re-run skips the first and loads
     the second;
  5. a step stopped by its timeout mid-load keeps only whole files, and the
     re-run completes the delivery.

Exit 0 = pass, 1 = fail, 77 = skipped (no dagd binary).
"""
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import zipfile

from dagdtest import DAGD, SOURCE, TINY

SALES = os.path.join(SOURCE, 'data', 'sales')
BRONZE = ['load_files', 'raw_orders', 'city_district_map']

PIPELINE = """pipeline: extract_only
params:
  data_dir: {data_dir}
  warehouse: {warehouse}
steps:
  - name: extract_dataset1
    task: extract
    retries: 0
    {timeout}
    config: {{format: xlsx, path: "${{data_dir}}/dataset1*.xlsx", source: dataset1}}
  - name: extract_dataset2
    task: extract
    retries: 0
    needs: [extract_dataset1]
    config: {{format: json, path: "${{data_dir}}/dataset2*.json", source: dataset2}}
"""

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print('FAIL: ' + msg, file=sys.stderr)
    return cond


def run_pipeline(tmp, name, data_dir, warehouse, state, timeout='', force=True):
    path = os.path.join(tmp, name + '.yaml')
    with open(path, 'w') as f:
        f.write(PIPELINE.format(data_dir=data_dir, warehouse=warehouse, timeout=timeout))
    args = [DAGD, 'run', path, '--state-dir', state]
    if force:
        args.append('--force')
    p = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=SOURCE)
    with sqlite3.connect(os.path.join(state, 'state.db')) as c:
        run = c.execute('SELECT run_id FROM runs ORDER BY created_at DESC, rowid DESC LIMIT 1').fetchone()
        steps = {r[0]: {'status': r[1], 'error': r[2] or '', 'rows_out': r[3]}
                 for r in c.execute('SELECT step, status, error, rows_out FROM steps WHERE run_id = ?',
                                    (run[0],))}
        logs = [r[0] for r in c.execute("SELECT message FROM events WHERE run_id = ? AND kind = 'log'",
                                        (run[0],))]
    return p, steps, logs


def digest(warehouse):
    """A digest of every bronze table (all columns, in key order)."""
    h = hashlib.sha256()
    with sqlite3.connect(warehouse) as c:
        for t in BRONZE:
            try:
                for row in c.execute('SELECT * FROM %s ORDER BY 1, 2' % t):
                    h.update(repr(row).encode())
            except sqlite3.OperationalError:
                h.update(b'no table ' + t.encode())
            h.update(b'|')
    return h.hexdigest()


def count(warehouse, sql):
    with sqlite3.connect(warehouse) as c:
        return c.execute(sql).fetchone()[0]


# ---------------------------------------------------------------------------
# crafting bad deliveries


def rewrite_zip(src, dst, edit):
    """Copies workbook src to dst, passing each part through edit(name, bytes)
    (return None to drop the part)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w', zipfile.ZIP_DEFLATED) as zout:
        for name in zin.namelist():
            data = edit(name, zin.read(name))
            if data is not None:
                zout.writestr(name, data)


def bad_deliveries(tmp):
    """Yields (name, files {filename: bytes}, step, needles in steps.error)."""
    x1 = os.path.join(TINY, 'dataset1.xlsx')
    j2 = open(os.path.join(TINY, 'dataset2.json'), 'rb').read()
    good_json = j2

    def book(edit):
        out = os.path.join(tmp, 'book.xlsx')
        rewrite_zip(x1, out, edit)
        return open(out, 'rb').read()

    raw = open(x1, 'rb').read()
    yield ('truncated xlsx', {'dataset1.xlsx': raw[:len(raw) // 2], 'dataset2.json': good_json},
           'extract_dataset1', ['dataset1.xlsx', 'truncated'])

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        z.writestr('readme.txt', 'not a workbook')
    yield ('zip that is not a workbook', {'dataset1.xlsx': buf.getvalue(), 'dataset2.json': good_json},
           'extract_dataset1', ['dataset1.xlsx', 'not an xlsx workbook'])

    def drop_map(name, data):
        if name == 'xl/workbook.xml':
            return re.sub(rb'<sheet [^>]*name="CITY_DISTRICT_MAP"[^>]*/>', b'', data)
        return data
    yield ('workbook without sheet CITY_DISTRICT_MAP',
           {'dataset1.xlsx': book(drop_map), 'dataset2.json': good_json},
           'extract_dataset1', ['dataset1.xlsx', "no sheet 'CITY_DISTRICT_MAP'"])

    def drop_col(name, data):
        if name == 'xl/worksheets/sheet1.xml':
            return data.replace(b'<t>ORDER_QTY</t>', b'<t>QTY</t>', 1)
        return data
    yield ('DATA without column ORDER_QTY', {'dataset1.xlsx': book(drop_col), 'dataset2.json': good_json},
           'extract_dataset1', ['dataset1.xlsx', "missing column 'ORDER_QTY'", 'row 1'])

    def bad_cell(name, data):
        if name == 'xl/worksheets/sheet1.xml':
            return data.replace(b'<c r="C1500" t="n">', b'<c r="1500C" t="n">', 1)
        return data
    yield ('bad cell reference at row 1500', {'dataset1.xlsx': book(bad_cell), 'dataset2.json': good_json},
           'extract_dataset1', ['dataset1.xlsx', 'row 1500', 'bad cell reference'])

    lines = j2.split(b'\n')
    # lines[0] is '[', record N is lines[N]
    n = 300
    bad = list(lines)
    bad[n] = bad[n].replace(b'": ', b'" ', 1)
    offset = len(b'\n'.join(lines[:n])) + 1
    yield ('JSON syntax error at record %d' % n,
           {'dataset1.xlsx': raw, 'dataset2.json': b'\n'.join(bad)},
           'extract_dataset2', ['dataset2.json', 'record %d' % n,
                                re.compile(r'byte offset (%s)\b' % '|'.join(
                                    str(o) for o in range(offset, offset + len(bad[n]) + 1)))])
    yield ('JSON top level not an array', {'dataset1.xlsx': raw, 'dataset2.json': lines[1].rstrip(b',')},
           'extract_dataset2', ['dataset2.json', 'not an array'])
    yield ('JSON record not an object',
           {'dataset1.xlsx': raw, 'dataset2.json': b'[\n' + lines[1] + b'\n"x"\n]\n'},
           'extract_dataset2', ['dataset2.json', 'record 2', 'not an object'])
    yield ('truncated JSON', {'dataset1.xlsx': raw, 'dataset2.json': j2[:len(j2) // 2]},
           'extract_dataset2', ['dataset2.json', 'truncated', 'record'])
    yield ('no file matches', {'dataset1.xlsx': raw},
           'extract_dataset2', ['dataset2*.json', 'no file matches'])


def main():
    if not os.path.exists(DAGD):
        print('skip: %s not built' % DAGD)
        return 77
    expected = json.load(open(os.path.join(TINY, 'expected.json')))
    tmp = tempfile.mkdtemp(prefix='test_extract.')
    try:
        state = os.path.join(tmp, 'state')
        wh = os.path.join(tmp, 'warehouse.db')

        # 1. the sample delivery
        p, steps, logs = run_pipeline(tmp, 'tiny', TINY, wh, state, force=False)
        check(p.returncode == 0, 'tiny run: exit %d\n%s%s' % (p.returncode, p.stdout, p.stderr))
        for src in ('dataset1', 'dataset2'):
            got = count(wh, "SELECT count(*) FROM raw_orders WHERE source = '%s'" % src)
            check(got == expected['rows_loaded'][src],
                  'raw_orders %s: %d rows, expected.json says %d' % (src, got, expected['rows_loaded'][src]))
        check(count(wh, 'SELECT count(*) FROM load_files') == 2, 'two load_files rows')
        check(count(wh, 'SELECT sum(rows) FROM load_files') == expected['rows_loaded_total'],
              'load_files.rows sum')
        check(count(wh, 'SELECT count(*) FROM city_district_map') > 0, 'city_district_map loaded')
        check(steps['extract_dataset1']['rows_out'] == expected['rows_loaded']['dataset1'],
              'steps.rows_out of extract_dataset1: %r' % steps['extract_dataset1']['rows_out'])
        baseline = digest(wh)

        # 2. forced re-run: both files skipped, nothing changes
        p, steps, logs = run_pipeline(tmp, 'tiny', TINY, wh, state)
        check(p.returncode == 0, 'forced re-run: exit %d\n%s%s' % (p.returncode, p.stdout, p.stderr))
        check(sum('already loaded' in m and 'skipping' in m for m in logs) == 2,
              'forced re-run logs "already loaded, skipping" twice: %r' % logs)
        check(digest(wh) == baseline, 'forced re-run changed the bronze tables')

        # 3. bad deliveries
        for name, files, step, needles in bad_deliveries(tmp):
            d = os.path.join(tmp, 'bad')
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            for fn, data in files.items():
                with open(os.path.join(d, fn), 'wb') as f:
                    f.write(data)
            p, steps, logs = run_pipeline(tmp, 'bad', d, wh, state)
            check(p.returncode == 1, '%s: exit %d, wanted 1\n%s%s' % (name, p.returncode, p.stdout, p.stderr))
            err = steps.get(step, {}).get('error', '')
            if not err:
                # a plan-time failure (no file matches) is the run's error
                with sqlite3.connect(os.path.join(state, 'state.db')) as c:
                    err = c.execute('SELECT error FROM runs ORDER BY created_at DESC, rowid DESC '
                                    'LIMIT 1').fetchone()[0] or ''
                err += ' ' + p.stdout + p.stderr
            missing = [n for n in needles
                       if (n.search(err) is None if hasattr(n, 'search') else n not in err)]
            check(not missing, '%s: error %r lacks %r' % (name, err, missing))
            check(digest(wh) == baseline, '%s: the bronze tables changed' % name)
            print('ok: %s -> %s' % (name, err.strip().splitlines()[0] if err.strip() else ''))

        # 4. checkpoint and resume over a spill delivery: the second workbook
        # is bad, the first stays loaded; once fixed, the re-run skips the first
        full = json.load(open(os.path.join(SALES, 'expected.json')))
        want = expected['rows_loaded']['dataset1'] + full['rows_loaded']['dataset1']
        d = os.path.join(tmp, 'spill')
        os.makedirs(d)
        shutil.copy(os.path.join(TINY, 'dataset1.xlsx'), os.path.join(d, 'dataset1.xlsx'))
        shutil.copy(os.path.join(TINY, 'dataset2.json'), os.path.join(d, 'dataset2.json'))
        rewrite_zip(os.path.join(SALES, 'dataset1.xlsx'), os.path.join(d, 'dataset1_002.xlsx'),
                    lambda name, data: data.replace(b'<c r="C90000" t="n">', b'<c r="90000C" t="n">', 1)
                    if name == 'xl/worksheets/sheet1.xml' else data)
        state2 = os.path.join(tmp, 'state2')
        wh2 = os.path.join(tmp, 'warehouse2.db')
        p, steps, logs = run_pipeline(tmp, 'spill', d, wh2, state2)
        check(p.returncode == 1, 'spill with a bad second workbook: exit %d' % p.returncode)
        check('dataset1_002.xlsx' in steps['extract_dataset1']['error'] and
              'row 90000' in steps['extract_dataset1']['error'],
              'spill error: %r' % steps['extract_dataset1']['error'])
        check(count(wh2, 'SELECT count(*) FROM load_files') == 1 and
              count(wh2, 'SELECT count(*) FROM raw_orders') == expected['rows_loaded']['dataset1'],
              'after the bad second workbook: only the first is loaded')
        shutil.copy(os.path.join(SALES, 'dataset1.xlsx'), os.path.join(d, 'dataset1_002.xlsx'))
        p, steps, logs = run_pipeline(tmp, 'spill', d, wh2, state2)
        check(p.returncode == 0, 'spill resume: exit %d\n%s%s' % (p.returncode, p.stdout, p.stderr))
        check(any('dataset1.xlsx' in m and 'already loaded' in m for m in logs),
              'resume did not skip the first workbook: %r' % logs)
        got = count(wh2, "SELECT count(*) FROM raw_orders WHERE source = 'dataset1'")
        check(got == want, 'spill delivery: %d dataset1 rows, wanted %d' % (got, want))

        # 5. a step stopped mid-file (its timeout) keeps only whole files, and
        # the re-run completes the delivery (how far it got depends on speed)
        state3 = os.path.join(tmp, 'state3')
        wh3 = os.path.join(tmp, 'warehouse3.db')
        p, steps, logs = run_pipeline(tmp, 'stopped', d, wh3, state3, timeout='timeout: 150ms')
        if os.path.exists(wh3):
            per_file = {}
            with sqlite3.connect(wh3) as c:
                try:
                    per_file = dict(c.execute('SELECT file_id, count(*) FROM raw_orders GROUP BY 1'))
                    files = dict(c.execute('SELECT file_id, rows FROM load_files'))
                except sqlite3.OperationalError:
                    files = {}
            check(per_file == {k: v for k, v in files.items() if v}, 'stopped load left a partial file: '
                  'rows per file %r, load_files %r' % (per_file, files))
        print('stopped run: exit %d (%s)' % (p.returncode, steps.get('extract_dataset1', {}).get('error', '')))
        p, steps, logs = run_pipeline(tmp, 'stopped', d, wh3, state3)
        check(p.returncode == 0, 'resume after stop: exit %d\n%s%s' % (p.returncode, p.stdout, p.stderr))
        got = count(wh3, "SELECT count(*) FROM raw_orders WHERE source = 'dataset1'")
        check(got == want, 'resume after stop: %d dataset1 rows, wanted %d' % (got, want))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print('%d failure(s)' % len(failures))
        return 1
    print('all extract checks passed')
    return 0


if __name__ == '__main__':
    sys.exit(main())
