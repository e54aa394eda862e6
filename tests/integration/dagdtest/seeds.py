"""Checks a warehouse against an expected.json of ../shared/data/seeds (copied
under data/NAME): every contract table's columns, count, rows or digest,
sums, non-NULL counts, value counts, spot rows, rows per file, absent and
non-NULL columns, as data/seeds' README.md defines them. Stdlib only; used by
the pipeline tests (test_pipeline_*.py, test_files_export.py) as dagdtest.seeds."""
import csv
import hashlib
import io
import json
import os
import sqlite3
import subprocess

from .checks import skip
# The tests read seeds.SOURCE and seeds.DAGD.
from .paths import DAGD, SOURCE


def expected(name):
    """data/NAME/expected.json of a seed pipeline. Without a dagd binary to
    run it with, the test is skipped (exit 77) instead."""
    if not os.access(DAGD, os.X_OK):
        skip('no dagd binary')
    with open(os.path.join(SOURCE, 'data', name, 'expected.json')) as f:
        return json.load(f)


def run(pipeline, state_dir, params=(), expect_ok=True):
    """dagd run PIPELINE from the project root; returns the CompletedProcess."""
    cmd = [DAGD, 'run', os.path.join(SOURCE, pipeline), '--state-dir', state_dir]
    for p in params:
        cmd += [p] if p.startswith('--') else ['--param', p]
    r = subprocess.run(cmd, cwd=SOURCE, capture_output=True, text=True, timeout=600)
    if expect_ok and r.returncode != 0:
        raise AssertionError('%s failed (%d):\n%s\n%s' % (pipeline, r.returncode, r.stdout[-4000:], r.stderr[-4000:]))
    return r


def _norm(kind, v):
    if v is None:
        return None
    if kind == 'int':
        if isinstance(v, float) and v == int(v):
            return int(v)
        return v
    if kind == 'text':
        v = v if isinstance(v, str) else str(v)
        return None if v == '' else v
    if kind.startswith('real'):
        return float(v)
    return v


def _digest_value(kind, v):
    if v is None:
        return None
    if kind.startswith('real'):
        return '%.*f' % (int(kind[4:]), v)
    return v


def _close(kind, a, b):
    if a is None or b is None:
        return a is None and b is None
    if kind.startswith('real'):
        n = int(kind[4:])
        return abs(float(a) - float(b)) <= 10 ** -n + 1e-9 and round(float(a), n) == float(a) or \
            abs(float(a) - float(b)) <= 10 ** -n + 1e-9
    return a == b


def table_rows(db, name, columns):
    cols = ', '.join('"%s"' % c for c, _ in columns)
    rows = db.execute('SELECT %s FROM "%s"' % (cols, name)).fetchall()
    return [[_norm(k, v) for (c, k), v in zip(columns, row)] for row in rows]


def check_table(db, name, exp):
    """A list of differences between table `name` and its expected entry."""
    errs = []
    have = [r[1] for r in db.execute('PRAGMA table_info("%s")' % name)]
    if not have:
        return ['%s: no such table' % name]
    columns = [tuple(c) for c in exp['columns']]
    missing = [c for c, _ in columns if c not in have]
    if missing:
        return ['%s: missing columns %s (has %s)' % (name, missing, have)]
    for c in exp.get('absent_columns', []):
        if c in have:
            errs.append('%s: column %s must not exist' % (name, c))
    for c in exp.get('nonnull_also', []):
        if c not in have:
            errs.append('%s: column %s missing' % (name, c))
        elif db.execute('SELECT count(*) FROM "%s" WHERE "%s" IS NULL' % (name, c)).fetchone()[0]:
            errs.append('%s: NULL in %s' % (name, c))
    rows = table_rows(db, name, columns)
    if len(rows) != exp['count']:
        errs.append('%s: %d rows, expected %d' % (name, len(rows), exp['count']))
    kinds = [k for _, k in columns]
    if 'rows' in exp:
        got = sorted(rows, key=lambda r: json.dumps(r, ensure_ascii=False))
        want = sorted(([_norm(k, v) for k, v in zip(kinds, r)] for r in exp['rows']),
                      key=lambda r: json.dumps(r, ensure_ascii=False))
        keyidx = [i for i, (c, _) in enumerate(columns) if c in (exp.get('key') or [])]
        gmap = {tuple(r[i] for i in keyidx): r for r in got} if keyidx else None
        bad = 0
        for w in want:
            g = gmap.get(tuple(w[i] for i in keyidx)) if gmap is not None else (w if w in got else None)
            if g is None or not all(_close(k, a, b) for k, a, b in zip(kinds, g, w)):
                bad += 1
                if bad <= 3:
                    errs.append('%s: expected row %s, got %s' % (name, w, g))
        if bad > 3:
            errs.append('%s: %d rows differ' % (name, bad))
    if 'digest' in exp:
        lines = sorted(json.dumps([_digest_value(k, v) for k, v in zip(kinds, r)], ensure_ascii=False,
                                  separators=(',', ':')) for r in rows)
        d = hashlib.sha256('\n'.join(lines).encode()).hexdigest()
        if d != exp['digest']:
            errs.append('%s: digest differs' % name)
    for c, s in exp.get('sums', {}).items():
        got = db.execute('SELECT total("%s") FROM "%s"' % (c, name)).fetchone()[0]
        if got != s:
            errs.append('%s: sum(%s) = %s, expected %s' % (name, c, got, s))
    for c, n in exp.get('nonnull', {}).items():
        got = db.execute("SELECT count(*) FROM \"%s\" WHERE \"%s\" IS NOT NULL AND \"%s\" != ''" % (name, c, c)).fetchone()[0]
        if got != n:
            errs.append('%s: %d non-NULL %s, expected %d' % (name, got, c, n))
    for c, counts in exp.get('value_counts', {}).items():
        got = {str(v): n for v, n in db.execute('SELECT "%s", count(*) FROM "%s" WHERE "%s" IS NOT NULL GROUP BY 1' % (c, name, c))}
        if got != {str(k): v for k, v in counts.items()}:
            errs.append('%s: value counts of %s differ: %s' % (name, c, got))
    if 'spot' in exp and exp.get('key'):
        keyidx = [i for i, (c, _) in enumerate(columns) if c in exp['key']]
        gmap = {}
        for r in rows:
            gmap.setdefault(tuple(r[i] for i in keyidx), r)
        for w in exp['spot']:
            w = [_norm(k, v) for k, v in zip(kinds, w)]
            g = gmap.get(tuple(w[i] for i in keyidx))
            if g is None or not all(_close(k, a, b) for k, a, b in zip(kinds, g, w)):
                errs.append('%s: spot row %s, got %s' % (name, w, g))
    for f, (n, last) in exp.get('by_file', {}).items():
        if '_row' in have:
            got = db.execute('SELECT count(*), max(_row) FROM "%s" WHERE _file = ?' % name, (f,)).fetchone()
        else:  # no _row column: the expected last row is 0
            got = (db.execute('SELECT count(*) FROM "%s" WHERE _file = ?' % name, (f,)).fetchone()[0], 0)
        if list(got) != [n, last]:
            errs.append('%s: file %s has %s rows/last _row, expected %s' % (name, f, list(got), [n, last]))
    return errs


def check_tables(db_path, tables):
    db = sqlite3.connect(db_path)
    errs = []
    for name, exp in tables.items():
        errs += check_table(db, name, exp)
    db.close()
    return errs


def snapshot(db_path, tables):
    """Every listed table's rows (sorted), to compare before and after."""
    db = sqlite3.connect(db_path)
    out = {}
    for t in tables:
        try:
            out[t] = sorted(map(repr, db.execute('SELECT * FROM "%s"' % t).fetchall()))
        except sqlite3.OperationalError:
            out[t] = None
    db.close()
    return out


def check_csv(path, exp):
    """Differences between a CSV output and its expected entry: the header
    (the columns in order), the row count and the rows (as a multiset; an
    empty field and null are the same)."""
    if not os.path.exists(path):
        return ['%s: missing' % path]
    with open(path, newline='', encoding='utf-8') as f:
        data = f.read()
    if data.startswith('\ufeff'):
        return ['%s: starts with a BOM' % path]
    rows = list(csv.reader(io.StringIO(data)))
    cols = [c for c, _ in exp['columns']]
    errs = []
    if not rows or rows[0] != cols:
        return ['%s: header %s, expected %s' % (path, rows[0] if rows else None, cols)]
    body = [[None if v == '' else v for v in r] for r in rows[1:]]
    if len(body) != exp['count']:
        errs.append('%s: %d rows, expected %d' % (path, len(body), exp['count']))
    if 'rows' in exp:
        def norm(r):
            return json.dumps([None if v in (None, '') else str(v) for v in r], ensure_ascii=False)
        got = sorted(map(norm, body))
        want = sorted(norm(r) for r in exp['rows'])
        if got != want:
            missing = sorted(set(want) - set(got))[:3]
            extra = sorted(set(got) - set(want))[:3]
            errs.append('%s: rows differ (missing %s, unexpected %s)' % (path, missing, extra))
    return errs
