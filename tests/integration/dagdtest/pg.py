"""A private PostgreSQL cluster for a test (PgServer), started by the test
and removed after it: `initdb -A trust` into a temporary directory, `pg_ctl`
with the Unix socket in that directory and no TCP listener, both run as the
`postgres` user when the test runs as root (CI does; the server refuses to
run as root). Clients connect with `conninfo` (libpq keywords) or `uri`.
Without the PostgreSQL server binaries the test is skipped (exit 77), never
passed. Stdlib only: queries go through `psql` (query() parses its CSV).

    with PgServer() as pg:                # or PgServer(dbname='wh')
        pg.conninfo                       # 'host=DIR port=P user=postgres dbname=dagd'
        pg.uri                            # 'postgresql://postgres@/dagd?host=DIR&port=P'
        pg.create_db('other')             # another database on the same server
        pg.query('SELECT 1')              # [['1']]: rows of text, None for NULL
        pg.add_password_user('u', 'pw')   # a role that must give a password
        pg.stop(); pg.start()             # a server restart (same directory and port)

Used by the warehouse tests (test_pg_*.py) and the run-history store tests."""
import csv
import glob
import io
import json
import os
import re
import pwd
import shutil
import socket
import subprocess
import tempfile

from .checks import fail, skip

# psql prints this for NULL in query(), so a NULL and an empty text differ.
_NULL = '\x01NULL\x01'


def _bindir():
    """The directory of initdb and pg_ctl: PATH first, then Debian's
    /usr/lib/postgresql/N/bin (the newest N). None if there is none."""
    for name in ('initdb', 'pg_ctl'):
        if not shutil.which(name):
            break
    else:
        return os.path.dirname(shutil.which('initdb'))
    dirs = sorted(glob.glob('/usr/lib/postgresql/*/bin'),
                  key=lambda d: int(d.split('/')[-2]) if d.split('/')[-2].isdigit() else 0)
    for d in reversed(dirs):
        if os.access(os.path.join(d, 'initdb'), os.X_OK) and os.access(os.path.join(d, 'pg_ctl'), os.X_OK):
            return d
    return None


def available():
    """Why a private cluster cannot run here (a string), or None if it can."""
    if _bindir() is None:
        return 'no PostgreSQL server binaries (initdb, pg_ctl)'
    if not shutil.which('psql'):
        return 'no psql'
    if os.geteuid() == 0:
        try:
            pwd.getpwnam('postgres')
        except KeyError:
            return 'running as root and there is no postgres user'
        if not shutil.which('runuser'):
            return 'running as root and there is no runuser'
    return None


def need_postgres():
    """Skip the test (exit 77) unless a private cluster can run here."""
    why = available()
    if why:
        skip(why)


def _free_port():
    # Only names the socket file (.s.PGSQL.PORT); no TCP listener is opened.
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PgServer:
    """A private cluster, started at once (about 2 s). dbname is created and
    is the database of conninfo/uri. Stopped and removed by close() or at the
    end of a `with` block. Skips the test when the binaries are missing."""

    def __init__(self, dbname='dagd', tmp=None):
        need_postgres()
        self.bindir = _bindir()
        self.owned_tmp = tmp is None
        self.dir = tmp or tempfile.mkdtemp(prefix='dagdpg.')
        self.data = os.path.join(self.dir, 'pg')
        self.port = _free_port()
        self.user = 'postgres'
        self.dbname = dbname
        self.running = False
        self.as_root = os.geteuid() == 0
        if self.as_root:
            # The server refuses root: the directory (socket, data) is postgres's.
            pw = pwd.getpwnam('postgres')
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            os.chmod(self.dir, 0o755)
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name
        try:
            self._as_server([os.path.join(self.bindir, 'initdb'), '-D', self.data, '-A', 'trust',
                             '-U', self.user, '-E', 'UTF8', '--locale=C', '--no-sync'])
            self.start()
            if dbname != 'postgres':
                self.create_db(dbname)
        except BaseException:
            self.close()
            raise

    def _as_server(self, argv, check=True):
        if self.as_root:
            argv = ['runuser', '-u', 'postgres', '--'] + argv
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            fail('%s failed (%d): %s%s' % (' '.join(argv), r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
        return r

    def conninfo_for(self, dbname=None, user=None):
        """libpq keywords for a database of this server (default: dbname)."""
        return 'host=%s port=%d user=%s dbname=%s' % (self.dir, self.port, user or self.user,
                                                      dbname or self.dbname)

    def uri_for(self, dbname=None, user=None):
        """The same as a postgresql:// URI (the socket directory as host=)."""
        return 'postgresql://%s@/%s?host=%s&port=%d' % (user or self.user, dbname or self.dbname,
                                                        self.dir, self.port)

    @property
    def conninfo(self):
        return self.conninfo_for()

    @property
    def uri(self):
        return self.uri_for()

    def start(self):
        """Start the server (again): same directory, same port."""
        opts = "-k %s -p %d -c listen_addresses='' -c fsync=off" % (self.dir, self.port)
        self._as_server([os.path.join(self.bindir, 'pg_ctl'), '-D', self.data, '-o', opts,
                         '-l', os.path.join(self.dir, 'server.log'), '-w', '-t', '60', 'start'])
        self.running = True

    def stop(self, mode='fast'):
        """Stop the server (mode: smart, fast or immediate)."""
        if self.running:
            self._as_server([os.path.join(self.bindir, 'pg_ctl'), '-D', self.data, '-m', mode,
                             '-w', '-t', '60', 'stop'], check=False)
            self.running = False

    def psql(self, sql, dbname=None, user=None, check=True, env=None):
        """Run SQL through psql (ON_ERROR_STOP); returns the CompletedProcess."""
        e = dict(os.environ)
        e.pop('PGPASSWORD', None)
        e.update(env or {})
        r = subprocess.run(['psql', '-X', '-q', '-w', '-v', 'ON_ERROR_STOP=1', '-d',
                            self.conninfo_for(dbname, user), '-c', sql],
                           capture_output=True, text=True, timeout=300, env=e)
        if check and r.returncode != 0:
            fail('psql %r failed: %s' % (sql[:200], r.stderr[-2000:]))
        return r

    def query(self, sql, dbname=None):
        """The rows of one SELECT, as lists of text (None for NULL)."""
        r = subprocess.run(['psql', '-X', '-q', '-w', '--csv', '-t', '-v', 'ON_ERROR_STOP=1',
                            '-P', 'null=' + _NULL, '-d', self.conninfo_for(dbname), '-c', sql],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            fail('psql %r failed: %s' % (sql[:200], r.stderr[-2000:]))
        rows = csv.reader(io.StringIO(r.stdout))
        return [[None if v == _NULL else v for v in row] for row in rows]

    def rows(self, sql, dbname=None):
        """The rows of one SELECT as tuples of typed values (int, float,
        str, None), through row_to_json: what sqlite3's fetchall() gives."""
        r = subprocess.run(['psql', '-X', '-q', '-w', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d',
                            self.conninfo_for(dbname), '-c',
                            'SELECT row_to_json(q) FROM (%s) AS q' % sql],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError('psql %r failed: %s' % (sql[:300], r.stderr[-2000:]))
        return [tuple(json.loads(line).values()) for line in r.stdout.splitlines() if line]

    def sqlite_like(self, dbname=None):
        """A stand-in for a sqlite3 connection to database dbname, enough
        for dagdtest.seeds' checks: execute(sql, params) with `?`
        parameters, `PRAGMA table_info("t")` and SQLite's total()."""
        return _SqliteLike(self, dbname or self.dbname)

    def create_db(self, name):
        self.psql('CREATE DATABASE "%s"' % name, dbname='postgres')

    def add_password_user(self, user, password):
        """A login role that must authenticate with PASSWORD (scram) over
        the socket; every other role stays trusted."""
        self.psql("CREATE ROLE \"%s\" LOGIN SUPERUSER PASSWORD '%s'" % (user, password.replace("'", "''")),
                  dbname='postgres')
        hba = os.path.join(self.data, 'pg_hba.conf')
        with open(hba) as f:
            old = f.read()
        with open(hba, 'w') as f:
            f.write('local all %s scram-sha-256\n' % user + old)
        self._as_server([os.path.join(self.bindir, 'pg_ctl'), '-D', self.data, 'reload'])

    def log(self):
        """The server's log (for failure messages)."""
        try:
            with open(os.path.join(self.dir, 'server.log'), errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def close(self):
        self.stop('immediate')
        if self.owned_tmp:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            shutil.rmtree(self.data, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Cursor:
    def __init__(self, rows):
        self.rows = rows

    def fetchall(self):
        return self.rows

    def fetchone(self):
        return self.rows[0] if self.rows else None

    def __iter__(self):
        return iter(self.rows)


def _literal(v):
    if v is None:
        return 'NULL'
    if isinstance(v, (int, float)):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


class _SqliteLike:
    def __init__(self, pg, dbname):
        self.pg = pg
        self.dbname = dbname

    def execute(self, sql, params=()):
        m = re.match(r'\s*PRAGMA table_info\("?([^")]+)"?\)', sql)
        if m:
            return _Cursor(self.pg.rows(
                "SELECT ordinal_position - 1 AS cid, column_name, data_type FROM "
                "information_schema.columns WHERE table_schema = current_schema() AND "
                "table_name = %s ORDER BY ordinal_position" % _literal(m.group(1)), self.dbname))
        params = list(params)
        sql = re.sub(r'\?', lambda _: _literal(params.pop(0)), sql)
        # SQLite's total() is a float sum that is 0.0, not NULL, over no rows
        sql = re.sub(r'\btotal\(([^)]*)\)', r'coalesce(sum(\1), 0)', sql)
        # SQLite compares a number with '' (never equal); PostgreSQL must cast
        sql = re.sub(r'("[^"]+") != \'\'', r"CAST(\1 AS text) != ''", sql)
        return _Cursor(self.pg.rows(sql, self.dbname))

    def close(self):
        pass


def main(argv):
    """`python3 -m dagdtest.pg CMD ARGS...` (from tests/integration): CMD
    runs with DAGD_TEST_PG set to a private server's conninfo without dbname
    (its tests make their own databases); exits with CMD's status, 77 when
    no cluster can run here. The store's unit tests run on PostgreSQL so."""
    import sys
    if not argv:
        print('usage: python3 -m dagdtest.pg CMD ARGS...', file=sys.stderr)
        return 2
    with PgServer(dbname='postgres') as pg:
        env = dict(os.environ, DAGD_TEST_PG='host=%s port=%d user=%s' % (pg.dir, pg.port, pg.user))
        return subprocess.run(argv, env=env).returncode


if __name__ == '__main__':
    import sys
    sys.exit(main(sys.argv[1:]))
