#!/usr/bin/python3
"""The `files` and `export` tasks through `dagd run`:

files
  1. move by glob into a new directory; a re-run (nothing matches) succeeds;
  2. a destination with the same bytes: the source is removed (done before);
     with other bytes: the step fails naming it and both files stay;
  3. copy leaves the source; delete removes the matches.
export
  4. a table to one CSV (header, quoting, NULL as empty, integers), replaced
     atomically on the next run, no temporary file left behind;
  5. split_by into files per value, with split_values giving a header-only
     file; rows of a value that come back after another value fail the step.

Exit 0 = pass, 1 = fail, 77 = skipped (no dagd binary)."""
import os
import shutil
import sqlite3
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from dagdtest import run_main, seeds  # noqa: E402


def pipeline(tmp, name, steps):
    path = os.path.join(tmp, name + '.yaml')
    with open(path, 'w') as f:
        f.write('pipeline: %s\nparams: {warehouse: "%s/w.db"}\nsteps:\n%s' % (name, tmp, steps))
    return path


def run(path, st, ok=True):
    # --force: these steps act on files and tables that change behind dagd's
    # back, so a memoized (skipped) step would test nothing
    r = seeds.run(path, st, ['--force'], expect_ok=ok)
    if not ok:
        assert r.returncode != 0, 'expected a failure:\n' + r.stdout
    return r.stdout + r.stderr


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(data)


def read(path):
    with open(path) as f:
        return f.read()


def main():
    if not os.access(seeds.DAGD, os.X_OK):
        print('SKIP: no dagd binary')
        return 77
    tmp = tempfile.mkdtemp(prefix='files_export.')
    st = os.path.join(tmp, 'state')
    try:
        src, dst = os.path.join(tmp, 'in'), os.path.join(tmp, 'out', 'new')
        for n in ('a.csv', 'b.csv', 'c.txt'):
            write(os.path.join(src, n), 'content of ' + n)
        mv = pipeline(tmp, 'mv', '  - name: mv\n    task: files\n    config: {action: move, path: "%s/*.csv", to: "%s"}\n' % (src, dst))
        run(mv, st)
        assert sorted(os.listdir(dst)) == ['a.csv', 'b.csv'] and os.listdir(src) == ['c.txt']
        run(mv, st)
        print('ok: move by glob, re-run with nothing left succeeds')

        write(os.path.join(src, 'a.csv'), 'content of a.csv')       # same bytes
        run(mv, st)
        assert not os.path.exists(os.path.join(src, 'a.csv'))
        write(os.path.join(src, 'b.csv'), 'other content')           # other bytes
        out = run(mv, st, ok=False)
        assert 'already exists with other content' in out, out[-2000:]
        assert read(os.path.join(src, 'b.csv')) == 'other content'
        assert read(os.path.join(dst, 'b.csv')) == 'content of b.csv'
        print('ok: same content counts as done; other content is never overwritten')

        cp = pipeline(tmp, 'cp', '  - name: cp\n    task: files\n    config: {action: copy, path: "%s/c.txt", to: "%s/copies"}\n' % (src, tmp))
        run(cp, st)
        assert read(os.path.join(tmp, 'copies', 'c.txt')) == read(os.path.join(src, 'c.txt'))
        rm = pipeline(tmp, 'rm', '  - name: rm\n    task: files\n    config: {action: delete, path: "%s/*"}\n' % src)
        run(rm, st)
        assert os.listdir(src) == []
        print('ok: copy and delete')

        db = sqlite3.connect(os.path.join(tmp, 'w.db'))
        db.executescript("""
            CREATE TABLE t (k TEXT, n INTEGER, s TEXT, x REAL);
            INSERT INTO t VALUES ('b', 1, 'plain', 1.5), ('a', 2, 'with, comma', NULL),
                                 ('a', 3, 'say "hi"', 2.0), ('b', 4, NULL, NULL),
                                 ('c', 5, 'two
lines', NULL);""")
        db.commit()
        outcsv = os.path.join(tmp, 'exp', 't.csv')
        ex = pipeline(tmp, 'ex', '  - name: ex\n    task: export\n    config: {table: t, path: "%s"}\n' % outcsv)
        run(ex, st)
        want = 'k,n,s,x\nb,1,plain,1.5\na,2,"with, comma",\na,3,"say ""hi""",2.0\nb,4,,\nc,5,"two\nlines",\n'
        assert read(outcsv) == want, repr(read(outcsv))
        db.execute("UPDATE t SET n = n + 10")
        db.commit()
        run(ex, st)
        assert read(outcsv).startswith('k,n,s,x\nb,11,'), read(outcsv)
        assert os.listdir(os.path.dirname(outcsv)) == ['t.csv'], os.listdir(os.path.dirname(outcsv))
        print('ok: a table to CSV, replaced atomically')

        sp = pipeline(tmp, 'sp', '  - name: sp\n    task: export\n    config:\n'
                      '      query: "SELECT k, n, s FROM t ORDER BY k, n"\n'
                      '      split_by: k\n'
                      '      split_values: "SELECT \'a\' UNION SELECT \'empty\'"\n'
                      '      path: "%s/split/{value}.csv"\n' % tmp)
        run(sp, st)
        d = os.path.join(tmp, 'split')
        assert sorted(os.listdir(d)) == ['a.csv', 'b.csv', 'c.csv', 'empty.csv'], os.listdir(d)
        assert read(os.path.join(d, 'a.csv')) == 'n,s\n12,"with, comma"\n13,"say ""hi"""\n'
        assert read(os.path.join(d, 'empty.csv')) == 'n,s\n'
        bad = pipeline(tmp, 'bad', '  - name: bad\n    task: export\n    config:\n'
                       '      query: "SELECT k, n FROM t ORDER BY n"\n'
                       '      split_by: k\n'
                       '      path: "%s/bad/{value}.csv"\n' % tmp)
        out = run(bad, st, ok=False)
        assert 'ORDER BY the split_by column' in out, out[-2000:]
        print('ok: split by a column, header-only files for split_values, unordered rows fail')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == '__main__':
    run_main(main)
