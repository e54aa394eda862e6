"""Small pipelines run through the real engine (`build/daemon/dagd run FILE
--state-dir DIR`) on a test's own warehouse, their results read back from
state.db (Pipeline, Run, extract_steps, warehouse_steps), an expected.json,
and input data with a hostile city name (evil_copy)."""
import html
import json
import os
import re
import subprocess
import sys
import zipfile

from .checks import check, fail
from .paths import DAGD, MODELS, TINY
from .state import last_run_id, state_db

WS = " \t\n\r\x0b\x0c\u00a0\u3000"


def expected(data_dir=TINY):
    with open(os.path.join(data_dir, "expected.json"), encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------------------
# pipelines through the real engine

def extract_steps(data_dir, both=True):
    """The load steps of pipelines/sales.yaml on DATA_DIR (dataset1 only: what
    translate-scrape needs, the city_district_map)."""
    steps = [{"name": "extract_dataset1", "task": "extract",
              "config": {"format": "xlsx", "path": os.path.join(data_dir, "dataset1.xlsx"),
                         "source": "dataset1"}}]
    if both:
        steps.append({"name": "extract_dataset2", "task": "extract", "needs": ["extract_dataset1"],
                      "config": {"format": "json", "path": os.path.join(data_dir, "dataset2.json"),
                                 "source": "dataset2"}})
    return steps


def warehouse_steps(data_dir, usd_rate="7.10"):
    """extract, validate, transform: the orders, DQ tables and marts."""
    return extract_steps(data_dir) + [
        {"name": "validate", "task": "validate", "needs": ["extract_dataset1", "extract_dataset2"],
         "config": {"usd_rate": usd_rate}},
        {"name": "transform", "task": "transform", "needs": ["validate"],
         "config": {"models": MODELS}},
    ]


def translate_pipeline(tmp, name, config, data_dir=TINY):
    """extract_dataset1 (the city_district_map) + translate-scrape with
    CONFIG, into its own warehouse (TMP/warehouse-NAME.db) and state
    directory."""
    steps = extract_steps(data_dir, both=False) + [
        {"name": "translate", "task": "translate-scrape", "needs": ["extract_dataset1"],
         "config": config}]
    return Pipeline(tmp, name, steps, os.path.join(tmp, "warehouse-%s.db" % name))


def _scalar(v):
    # JSON scalars are YAML flow scalars; ensure_ascii keeps the file ASCII
    return json.dumps(v)


class Pipeline:
    """A pipeline file written in a test's temp dir, run with `dagd run` into
    its own state directory; `params: {warehouse: WH}` points every step at
    the test's warehouse. Step dicts: name, task, needs, config."""

    def __init__(self, tmp, name, steps, warehouse, state=None):
        self.tmp = tmp
        self.name = name
        self.path = os.path.join(tmp, name + ".yaml")
        self.state = state or os.path.join(tmp, "state-" + name)
        self.warehouse = warehouse
        self.lines = {}  # (step, config key) -> line number in the file
        out = ["pipeline: " + name,
               "params:",
               "  warehouse: " + _scalar(warehouse),
               # a failed attempt fails the step: nothing is hidden by retries
               "defaults: {retries: 0, timeout: 5m}",
               "steps:"]
        for s in steps:
            out.append("  - name: " + s["name"])
            out.append("    task: " + s["task"])
            if s.get("needs"):
                out.append("    needs: [%s]" % ", ".join(s["needs"]))
            if s.get("config"):
                out.append("    config:")
                for k, v in s["config"].items():
                    out.append("      %s: %s" % (k, _scalar(v)))
                    self.lines[(s["name"], k)] = len(out)
        self.steps = [s["name"] for s in steps]
        with open(self.path, "w", encoding="utf-8") as f:
            f.write("\n".join(out) + "\n")

    def run(self, *args, rc=0, timeout=300):
        """dagd run FILE --state-dir STATE ARGS; checks the exit code and, for
        a run that must succeed, that state.db says every step succeeded in
        one attempt (or was memoized) with no error. Returns a Run."""
        cmd = [DAGD, "run", self.path, "--state-dir", self.state] + list(args)
        p = subprocess.run(cmd, cwd=self.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        if p.returncode != rc:
            sys.stderr.write(out[-4000:] + err[-4000:])
            fail("dagd run %s %s: exit %d, expected %d" % (self.name, " ".join(args), p.returncode, rc))
        if rc == 2:
            return Run(self, None, out, err)
        r = Run(self, last_run_id(self.state), out, err)
        if rc == 0:
            check(r.run["status"] == "succeeded" and r.run["error"] is None,
                  "run %s: %s %r" % (self.name, r.run["status"], r.run["error"]))
            for name in self.steps:
                st = r.steps.get(name)
                check(st is not None, "step %s recorded" % name)
                if st["status"] == "skipped":
                    check(st["skip_reason"] in ("memoized", "not selected"),
                          "step %s skipped: %r" % (name, st["skip_reason"]))
                    continue
                check(st["status"] == "succeeded" and st["error"] is None and st["attempts"] == 1,
                      "step %s: %s after %d attempt(s), error %r" %
                      (name, st["status"], st["attempts"], st["error"]))
        return r


class Run:
    """One run as state.db recorded it: run row, step rows, events."""

    def __init__(self, pipeline, run_id, stdout, stderr):
        self.stdout, self.stderr = stdout, stderr
        self.run_id = run_id
        self.run, self.steps, self.events = None, {}, []
        if run_id is None:
            return
        c = state_db(pipeline.state)
        try:
            self.run = c.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            self.steps = {r["step"]: r for r in
                          c.execute("SELECT * FROM steps WHERE run_id = ?", (run_id,))}
            self.events = list(c.execute("SELECT * FROM events WHERE run_id = ? ORDER BY seq",
                                         (run_id,)))
        finally:
            c.close()

    def step_events(self, step, level=None, kind=None):
        return [e for e in self.events if e["step"] == step and (level is None or e["level"] == level)
                and (kind is None or e["kind"] == kind)]

    def log(self, step):
        """The step's events as text, one 'LEVEL KIND: MESSAGE' line each."""
        return "".join("%s %s: %s\n" % (e["level"], e["kind"], e["message"])
                       for e in self.step_events(step))

    def status(self, step):
        return self.steps[step]["status"]


# ---------------------------------------------------------------------------
# input data

def evil_copy(dst, evil, data_dir=TINY):
    """A copy of DATA_DIR in DST where one busy city (the 3rd largest of
    expected.json, so it shows in every chart) is named EVIL in dataset1's
    CITY_DISTRICT_MAP sheet and in dataset2's SHIP_TO_CITY_CD. Returns
    (DST, the renamed city)."""
    totals = expected(data_dir)["city_totals_rmb"]
    victim = sorted(totals, key=lambda c: (-totals[c], c))[2]
    os.makedirs(dst, exist_ok=True)
    renamed = [0]

    def cell(m):
        if html.unescape(m.group(2)).strip(WS) != victim:
            return m.group(0)
        renamed[0] += 1
        return m.group(1) + html.escape(evil, quote=False) + m.group(3)

    with zipfile.ZipFile(os.path.join(data_dir, "dataset1.xlsx")) as zin, \
            zipfile.ZipFile(os.path.join(dst, "dataset1.xlsx"), "w", zipfile.ZIP_DEFLATED) as zout:
        wb = zin.read("xl/workbook.xml").decode("utf-8")
        rels = zin.read("xl/_rels/workbook.xml.rels").decode("utf-8")
        rid = re.search(r'<sheet [^>]*name="CITY_DISTRICT_MAP"[^>]*r:id="([^"]+)"', wb).group(1)
        target = re.search(r'<Relationship [^>]*Id="%s"[^>]*Target="([^"]+)"' % rid, rels)
        if target is None:
            target = re.search(r'<Relationship [^>]*Target="([^"]+)"[^>]*Id="%s"' % rid, rels)
        sheet = "xl/" + target.group(1).lstrip("/").replace("xl/", "", 1)
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == sheet:
                data = re.sub(r'(<c r="B\d+"[^>]*><is><t[^>]*>)([^<]*)(</t></is></c>)', cell,
                              data.decode("utf-8")).encode("utf-8")
            zout.writestr(info, data)
    check(renamed[0] > 0, "evil_copy: %s not found in the map sheet" % victim)
    with open(os.path.join(data_dir, "dataset2.json"), encoding="utf-8") as f:
        data2 = json.load(f)
    for rec in data2:
        if isinstance(rec.get("SHIP_TO_CITY_CD"), str) and rec["SHIP_TO_CITY_CD"].strip(WS) == victim:
            rec["SHIP_TO_CITY_CD"] = evil
    with open(os.path.join(dst, "dataset2.json"), "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in data2) + "\n]\n")
    return dst, victim
