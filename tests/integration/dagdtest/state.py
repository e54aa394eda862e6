"""A state directory's state.db as users see it: read-only, rows by name."""
import os
import sqlite3


def state_db(state_dir):
    c = sqlite3.connect("file:%s?mode=ro" % os.path.join(state_dir, "state.db"), uri=True)
    c.row_factory = sqlite3.Row
    return c


def last_run(state_dir):
    with state_db(state_dir) as c:
        return c.execute("SELECT * FROM runs ORDER BY created_at DESC, rowid DESC LIMIT 1").fetchone()


def last_run_id(state_dir):
    return last_run(state_dir)["run_id"]


def run_steps(state_dir, run_id):
    with state_db(state_dir) as c:
        return {r["step"]: r for r in c.execute("SELECT * FROM steps WHERE run_id = ?", (run_id,))}


def ran_steps(state_dir, run_id=None):
    """Names of the steps that executed (succeeded) in a run (default: the last)."""
    run_id = run_id or last_run(state_dir)["run_id"]
    return {s for s, r in run_steps(state_dir, run_id).items() if r["status"] == "succeeded"}
