"""The one helper module of the integration tests (stdlib only). Every test
imports what it needs from here: `from dagdtest import Daemon, check, ...`
(python3 puts tests/integration, the script's directory, on sys.path).

    paths       BUILD, SOURCE, DAGD, DAGCTL, TEST_PLUGINS, TINY, DICT, MODELS,
                FAKEWIKI, TOOLS, NO_WIKI: where the built binaries and the data are;
                sanitized() (a sanitizer build: no RSS bounds)
    checks      fail, check, eq, skip (exit 77), wait_for, alive (a live pid), run_main (a main()
                whose AssertionError fails the test)
    state       state_db (a state directory's state.db, read-only), last_run,
                last_run_id, run_steps, ran_steps
    commands    dagd (run build/daemon/dagd), plan, Tmp (a temp dir for
                `dagd run`), fast_sales_yaml, wait_socket
    daemon      Daemon (a private `dagd serve` driven by dagctl: ctl, db, steps, events,
                start_run, wait_run), request,
                read_line, call (the JSON-lines protocol), need_test_plugins,
                the test pipelines NOOP, CHAIN, FAILING, SLOW
    analytics   Pipeline and Run (small pipelines through the real engine),
                extract_steps, warehouse_steps, translate_pipeline, expected, evil_copy
    fakewiki    FakeWiki (tests/tools/fakewiki.py on a free port), free_port, dead_api
    sales       figures, compare, compare_summary (dagdtest.sales: the sales
                figures of a warehouse against an expected.json)
    seeds       expected, run, check_tables, snapshot, check_csv (dagdtest.seeds: the
                seed pipelines' warehouses against data/NAME/expected.json)
    openmetrics parse: a strict check of OpenMetrics text (GET /metrics)
    slurm       SlurmCluster (a private one-node Slurm: munged, slurmctld, slurmd
                from a generated slurm.conf), need_slurm (SKIP without it), runs_as;
                import it as dagdtest.slurm
    pg          PgServer (a private PostgreSQL cluster: initdb + pg_ctl as postgres,
                Unix socket only; conninfo, uri, query, stop/start), need_postgres
                (skip, exit 77, without the server binaries); import dagdtest.pg
"""
from .paths import (BUILD, DAGCTL, DAGD, DICT, FAKEWIKI, MODELS, NO_WIKI, SOURCE,  # noqa: F401
                    TEST_PLUGINS, TINY, TOOLS, sanitized)
from .checks import SKIP, alive, check, eq, fail, run_main, skip, wait_for  # noqa: F401
from .state import last_run, last_run_id, ran_steps, run_steps, state_db  # noqa: F401
from .commands import Tmp, dagd, fast_sales_yaml, plan, wait_socket  # noqa: F401
from .daemon import (CHAIN, FAILING, NOOP, SLOW, Daemon, call, need_test_plugins,  # noqa: F401
                     read_line, request)
from .analytics import (Pipeline, Run, evil_copy, expected, extract_steps,  # noqa: F401
                        translate_pipeline, warehouse_steps)
from .fakewiki import FakeWiki, dead_api, free_port  # noqa: F401
from . import openmetrics, sales  # noqa: F401
