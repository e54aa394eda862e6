#!/usr/bin/python3
"""A degraded result is not memoized (task ABI 1.1 `no_memo`): the sales
pipeline run while the Wikipedia API is down succeeds from the dictionary,
and the next unchanged run runs `translate` again (and what depends on it),
where an ordinary unchanged re-run skips everything. Once the API answers,
the result is memoized as usual."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from dagdtest import NO_WIKI, SOURCE, check, dagd, last_run, ran_steps, run_steps, state_db  # noqa: E402


def run(state, wiki):
    dagd("run", "pipelines/sales.yaml", "--state-dir", state, "--param", "data_dir=data/sales-tiny",
         "--param", "wiki_api=" + wiki, cwd=SOURCE, check_rc=0, timeout=300)
    return last_run(state)["run_id"]


def main():
    with tempfile.TemporaryDirectory(prefix="dagd-nomemo-") as state:
        first = run(state, NO_WIKI)
        check(ran_steps(state, first) >= {"translate", "cluster", "report"}, "first run ran everything")
        with state_db(state) as c:
            msgs = [r[0] for r in c.execute(
                "SELECT message FROM events WHERE run_id = ? AND step = 'translate'", (first,))]
        check(any("not memoized" in m for m in msgs), "no 'not memoized' event: %r" % msgs)
        check(run_steps(state, first)["translate"]["fingerprint"] is None,
              "a degraded success must not record a fingerprint")

        second = run(state, NO_WIKI)
        ran = ran_steps(state, second)
        check("translate" in ran, "translate was memoized after a fallback: %r" % ran)
        check("cluster" in ran and "report" in ran, "downstream of translate did not run: %r" % ran)
        skipped = {s for s, r in run_steps(state, second).items() if r["skip_reason"] == "memoized"}
        check({"extract_dataset1", "extract_dataset2", "validate", "transform"} <= skipped,
              "steps unaffected by the fallback should stay memoized: %r" % skipped)

        wiki = subprocess.Popen([sys.executable, os.path.join(SOURCE, "tests", "tools", "fakewiki.py"),
                                 "--port", "0", "--data", os.path.join(SOURCE, "data", "translations"),
                                 "--quiet", "--max-seconds", "300"], stdout=subprocess.PIPE, text=True)
        try:
            url = wiki.stdout.readline().split()[-1]
            third = run(state, url)
            check("translate" in ran_steps(state, third), "translate did not run with the API back")
            check(run_steps(state, third)["translate"]["fingerprint"] is not None,
                  "a full answer must record a fingerprint")
            fourth = run(state, url)
            check(ran_steps(state, fourth) == set(), "unchanged run after a full answer ran %r"
                  % ran_steps(state, fourth))
        finally:
            wiki.terminate()
            wiki.wait()
    print("ok")


if __name__ == "__main__":
    main()
