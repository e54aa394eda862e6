#!/usr/bin/python3
"""cluster + report on a warehouse of data/sales-tiny (DESIGN 6), run by the
real engine: each case writes a small pipeline in the temp dir (extract,
validate, transform, translate (dictionary only), cluster, report;
`params: {warehouse: ...}`) and runs `build/daemon/dagd run FILE --state-dir
DIR`; results come from state.db (run and step status, error, events) and
the warehouse.

1. cluster (k=3) writes city_tiers equal to expected.json `tiers`
   (tier_of_city, sizes), city_en from translations; k: auto and several
   features also succeed (one-step pipelines on the same warehouse) and
   cover every city; k: x is refused at load time (exit 2, FILE:LINE:COL
   of the value, nothing recorded).
2. report writes one self-contained UTF-8 HTML file atomically (no temp file
   left), declared as the step's output (an `output` event), with every
   chart (SVG ids and titles), the DQ table, run id, input files, English
   names beside Chinese ones, and a city named <script>alert(1)</script>
   (a copy of data/sales-tiny with one busy city renamed) escaped.
2b. `dagd run pipelines/sales.yaml` on data/sales-tiny (dictionary only)
   gives the same tiers and a complete report.
3. Headless Chromium renders it to a PNG that is not blank (distinct
   colours counted by decoding the PNG with zlib), and lays it out in a
   390 px frame (a phone): no element runs past the frame's edge, the axes
   have titles with units, bar labels and ticks read like 29.1M (no cents),
   each tier is named in its chart with cities named in it, and the Q1/Q2
   tooltips carry the English name. The report itself stays script-free: the
   probe is a wrapper page that loads the report unchanged in an iframe
   (srcdoc) and measures it from outside. A missing chromium is a SKIP
   (exit 77), never a pass."""
import glob
import html as htmlmod
import json
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dagdtest import (DAGD, DICT, SOURCE, TINY, Pipeline, check, evil_copy, expected,  # noqa: E402
                       state_db, warehouse_steps)

EVIL = "<script>alert(1)</script>"
CHART_IDS = ["chart-q1-top-city-per-hour", "chart-q2-top10-avg-district", "chart-tiers"]


def png_pixels(path):
    """(width, height, set of distinct colours, count of non-white pixels)."""
    with open(path, "rb") as f:
        data = f.read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "PNG signature")
    pos, idat, width = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            check(depth == 8 and ctype in (2, 6) and interlace == 0,
                  "PNG format %d/%d/%d" % (depth, ctype, interlace))
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + n
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    prev = bytearray(stride)
    colours, ink = set(), 0
    for y in range(height):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ft == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif ft == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 255
        elif ft == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif ft == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        # sample every 3rd pixel: plenty for "not blank", 3x cheaper
        for x in range(0, width, 3):
            px = bytes(line[x * bpp:x * bpp + 3])
            colours.add(px)
            if px != b"\xff\xff\xff":
                ink += 1
        prev = line
    return width, height, colours, ink


# The wrapper page: the report, unchanged, in a 390 px iframe; the wrapper's
# script measures it once laid out and prints what it found into its own DOM
# (read back with --dump-dom). It says it is UTF-8: the report's own <meta
# charset> does not count inside srcdoc, and a file:// page without one is
# decoded by guess (a CI run got windows-1252: mojibake city names).
PROBE_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><iframe id="f" width="%d" height="900" srcdoc="%s">
</iframe><script>
document.getElementById('f').onload = function () {
  var d = this.contentDocument, vw = d.documentElement.clientWidth, bad = [];
  d.querySelectorAll('body *').forEach(function (e) {
    var r = e.getBoundingClientRect();
    if (r.width > 0 && (r.right > vw + 1 || r.left < -1))
      bad.push(e.tagName + '#' + e.id + '.' + e.getAttribute('class') + ' ' +
               Math.round(r.left) + '..' + Math.round(r.right));
  });
  function texts(sel) {
    return Array.prototype.map.call(d.querySelectorAll(sel), function (e) {
      return e.textContent; });
  }
  var out = {vw: vw, scroll_width: d.documentElement.scrollWidth, bad: bad,
    axis_titles: texts('svg .axis-title'),
    ticks: texts('svg .axis'),
    q1_values: texts('#chart-q1-top-city-per-hour .value'),
    q2_values: texts('#chart-q2-top10-avg-district .value'),
    q1_tips: texts('#chart-q1-top-city-per-hour rect > title'),
    q2_tips: texts('#chart-q2-top10-avg-district rect > title'),
    tier_names: Array.prototype.map.call(d.querySelectorAll('#chart-tiers .tier-name'),
      function (e) { return e.firstChild.textContent; }),
    tier_labels: texts('#chart-tiers text'),
    q1_note: texts('#q1-note'), dq_note: texts('#dq-note')};
  var p = document.createElement('pre');
  p.id = 'probe';
  p.textContent = JSON.stringify(out);
  document.body.appendChild(p);
};
</script></body></html>"""


def probe_layout(chromium, tmp, report, width):
    """What the report looks like laid out WIDTH px wide (see PROBE_PAGE)."""
    with open(report, encoding="utf-8") as f:
        src = f.read()
    page = os.path.join(tmp, "probe-%d.html" % width)
    with open(page, "w", encoding="utf-8") as f:
        f.write(PROBE_PAGE % (width, htmlmod.escape(src, quote=True)))
    p = subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--no-first-run", "--virtual-time-budget=10000",
                        "--user-data-dir=" + os.path.join(tmp, "chromium-probe"),
                        "--dump-dom", "file://" + page],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    m = re.search(r'<pre id="probe">(.*?)</pre>', p.stdout.decode("utf-8", "replace"), re.S)
    check(m, "the layout probe printed nothing: %s" % p.stderr.decode("utf-8", "replace")[-2000:])
    return json.loads(htmlmod.unescape(m.group(1)))


def check_layout(chromium, tmp, report):
    """The report at a phone's width, read as a sales manager would."""
    got = probe_layout(chromium, tmp, report, 390)
    print("layout at 390 px: viewport %d, scroll width %d, %d elements past the edge" %
          (got["vw"], got["scroll_width"], len(got["bad"])))
    check(not got["bad"] and got["scroll_width"] <= got["vw"],
          "elements wider than a 390 px screen: %r" % got["bad"][:10])
    titles = got["axis_titles"]
    check("Sales (RMB)" in titles, "Q1 y axis title: %r" % titles)
    check(any(t.startswith("Hour of the order (PST") for t in titles), "Q1 x axis title: %r" % titles)
    check("Average sales per district with sales (RMB)" in titles, "Q2 axis title: %r" % titles)
    short = re.compile(r"^-?\d{1,3}(\.\d)?[KMBT]?$")
    for what in ("q1_values", "q2_values", "ticks"):
        odd = [v for v in got[what] if not short.match(v) and not re.match(r"^\d\d:00$", v)]
        check(got[what] and not odd, "%s not in 29.1M form: %r" % (what, odd or got[what]))
    check(all(re.match(r"^\d+(\.\d)?[KM]$", v) for v in got["q1_values"]),
          "Q1 bar labels in K/M (data/sales-tiny sells 58K to 439K an hour): %r" % got["q1_values"])
    check(got["tier_names"] == ["Tier 2 (highest)", "Tier 1", "Tier 0 (lowest)"],
          "tier names in the chart: %r" % got["tier_names"])
    check(any(t.startswith("上海") for t in got["tier_labels"]) and
          any(t.startswith("Largest: ") for t in got["tier_labels"]),
          "cities named in the tiers chart: %r" % got["tier_labels"][:20])
    check(any("(Shanghai)" in t or "(Beijing)" in t for t in got["q1_tips"]),
          "English names in Q1 tooltips: %r" % got["q1_tips"])
    check(any("(Shanghai)" in t for t in got["q2_tips"]), "English in Q2 tooltips: %r" % got["q2_tips"])
    check(got["q1_note"] and "PST" in got["q1_note"][0] and "hours that have sales" in got["q1_note"][0],
          "Q1 says which hours and which time zone: %r" % got["q1_note"])
    check(got["dq_note"] and "Flagged is not rejected" in got["dq_note"][0],
          "DQ says flagged versus rejected: %r" % got["dq_note"])


def tiers_steps(data_dir, k=3):
    """The warehouse, translations from the dictionary only, tiers."""
    return warehouse_steps(data_dir) + [
        {"name": "translate", "task": "translate-scrape", "needs": ["extract_dataset1"],
         "config": {"api": "", "dictionary": DICT}},
        {"name": "cluster", "task": "cluster", "needs": ["transform", "translate"],
         "config": {"k": k}},
    ]


def cluster_only(tmp, name, config, wh):
    """A one-step pipeline: cluster with CONFIG on an existing warehouse."""
    return Pipeline(tmp, name, [{"name": "cluster", "task": "cluster", "config": config}], wh)


def main():
    exp = expected()
    tmp = tempfile.mkdtemp(prefix="dagd-report-")
    try:
        # 1. tiers equal the exact optimum of expected.json
        wh = os.path.join(tmp, "warehouse.db")
        Pipeline(tmp, "tiers", tiers_steps(TINY), wh).run()
        con = sqlite3.connect(wh)
        got = {c: t for c, t in con.execute("SELECT city, tier FROM city_tiers")}
        want = exp["tiers"]["tier_of_city"]
        diff = sorted(c for c in set(got) | set(want) if got.get(c) != want.get(c))
        check(not diff, "tiers differ from expected.json for %s" % diff[:10])
        sizes = [sum(1 for t in got.values() if t == k) for k in range(exp["tiers"]["k"])]
        check(sizes == exp["tiers"]["sizes_low_to_high"], "tier sizes %r" % sizes)
        for city, total in con.execute("SELECT city, total_sales_rmb_cents FROM city_tiers"):
            check(abs(total / 100 - exp["city_totals_rmb"][city]) <= 1.0, "total of %s" % city)
        en = dict(con.execute("SELECT city, city_en FROM city_tiers"))
        check(en["上海"] == "Shanghai" and en["日照"] == "Rizhao", "city_en from translations")
        con.close()
        log = cluster_only(tmp, "tiers-auto", {"k": "auto"}, wh).run().log("cluster")
        check("chose k=" in log, "k auto logs its choice")
        cluster_only(tmp, "tiers-4", {"k": 4, "features": ["total", "orders", "avg_order"]}, wh).run()
        con = sqlite3.connect(wh)
        n, tiers = con.execute("SELECT count(*), count(DISTINCT tier) FROM city_tiers").fetchone()
        check(n == len(want) and tiers == 4, "several features: %d cities in %d tiers" % (n, tiers))
        con.close()
        bad = cluster_only(tmp, "tiers-bad", {"k": "x"}, wh)
        r = bad.run(rc=2)
        where = "%s:%d:" % (bad.path, bad.lines[("cluster", "k")])
        check(where in r.stderr and "error:" in r.stderr and "'k'" in r.stderr,
              "k: x refused at %s...: %r" % (where, r.stderr))
        check(not os.path.exists(os.path.join(bad.state, "state.db")),
              "an invalid pipeline records nothing")

        # 1b. cluster only reads translations (translate-scrape owns it): on a
        # warehouse where translate has not run, no English names and no
        # translations table created
        wh_nt = os.path.join(tmp, "no-translate.db")
        Pipeline(tmp, "no-translate", warehouse_steps(TINY) + [
            {"name": "cluster", "task": "cluster", "needs": ["transform"], "config": {"k": 3}}],
            wh_nt).run()
        con = sqlite3.connect(wh_nt)
        n, n_en = con.execute("SELECT count(*), count(city_en) FROM city_tiers").fetchone()
        has_tr = con.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'translations'").fetchone()[0]
        con.close()
        check(n == len(want) and n_en == 0, "tiers without translate: %d cities, %d English" % (n, n_en))
        check(has_tr == 0, "cluster created translations, which translate-scrape owns")

        # 2. report on a warehouse with a hostile city name
        evil_dir, _ = evil_copy(os.path.join(tmp, "evil-data"), EVIL)
        wh2 = os.path.join(tmp, "evil.db")
        out_dir = os.path.join(tmp, "out")
        out = os.path.join(out_dir, "report.html")
        rp = Pipeline(tmp, "evil", tiers_steps(evil_dir) + [
            {"name": "report", "task": "report", "needs": ["cluster"], "config": {"output": out}}],
            wh2)
        r = rp.run()
        run_id = r.run_id
        outputs = [e["message"] for e in r.step_events("report", kind="output")]
        check("declared output " + out in outputs,
              "the report path is declared as an output: %r" % outputs)
        check(sorted(os.listdir(out_dir)) == ["report.html"], "no temp file left: %s" % os.listdir(out_dir))
        with open(out, "rb") as f:
            html = f.read().decode("utf-8")  # must be UTF-8
        for cid in CHART_IDS:
            check('id="%s"' % cid in html, "chart %s in the report" % cid)
            check('<title id="%s-title">' % cid in html, "chart %s has a title" % cid)
        check(html.count("<svg") == 3, "three charts")
        check('id="table-dq"' in html and "bad_order_time" in html, "DQ table")
        check(run_id in html, "run id")
        check("dataset1.xlsx" in html and "dataset2.json" in html, "input files")
        check("上海" in html and "Shanghai" in html, "English beside Chinese")
        check("<script" not in html.lower(), "no script element")
        check("&lt;script&gt;alert(1)&lt;/script&gt;" in html, "the hostile name is shown escaped")
        for bad in ("http://", "https://", "src=", "href=", "url("):
            check(bad not in html.replace("http://www.w3.org/2000/svg", ""),
                  "no external resource (%s)" % bad)
        check(html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in html, "UTF-8 HTML")

        # a second run replaces the file atomically
        r2 = rp.run("--only", "report", "--force")
        check(r2.status("report") == "succeeded" and r2.run_id != run_id, "report ran again")
        with open(out, encoding="utf-8") as f:
            check(r2.run_id in f.read(), "report replaced")
        check(not glob.glob(out + ".*"), "no temp file left after a rerun")

        # 2b. the whole pipelines/sales.yaml through `dagd run` (dictionary only,
        # translate-scrape against fakewiki is test_translate.py)
        state = os.path.join(tmp, "state")
        p = subprocess.run([DAGD, "run", os.path.join(SOURCE, "pipelines", "sales.yaml"),
                            "--param", "data_dir=" + TINY, "--param", "wiki_api=",
                            "--param", "translations_dir=" + DICT, "--state-dir", state, "-q"],
                           cwd=SOURCE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        check(p.returncode == 0, "dagd run sales.yaml: rc %d\n%s" %
              (p.returncode, p.stderr.decode("utf-8", "replace")[-3000:]))
        con = state_db(state)
        bad = con.execute("SELECT step, status, error FROM steps WHERE status != 'succeeded' OR "
                          "error IS NOT NULL").fetchall()
        runs = con.execute("SELECT status FROM runs").fetchall()
        con.close()
        check([tuple(x) for x in runs] == [("succeeded",)], "sales.yaml run: %r" % runs)
        check(not bad, "sales.yaml steps: %r" % [tuple(x) for x in bad])
        con = sqlite3.connect(os.path.join(state, "warehouse.db"))
        got = dict(con.execute("SELECT city, tier FROM city_tiers"))
        con.close()
        check(got == want, "pipeline tiers differ from expected.json")
        with open(os.path.join(state, "report.html"), encoding="utf-8") as f:
            phtml = f.read()
        for cid in CHART_IDS:
            check('id="%s"' % cid in phtml, "pipeline report has %s" % cid)
        check("dataset1.xlsx" in phtml and "Shanghai" in phtml, "pipeline report content")

        # 3. headless Chromium
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if not chromium:
            print("SKIP: chromium not installed, the screenshot and layout checks did not run")
            sys.exit(77)
        png = os.path.join(tmp, "out.png")
        p = subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                            "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", "--no-first-run",
                            "--user-data-dir=" + os.path.join(tmp, "chromium"),
                            "--window-size=1200,900", "--screenshot=" + png, "file://" + out],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        check(p.returncode == 0 and os.path.exists(png),
              "chromium failed: %s" % p.stderr.decode("utf-8", "replace")[-2000:])
        w, h, colours, ink = png_pixels(png)
        print("screenshot %dx%d: %d distinct colours, %d non-white sampled pixels" %
              (w, h, len(colours), ink))
        check((w, h) == (1200, 900), "screenshot size")
        check(len(colours) >= 20, "the screenshot is blank (%d colours)" % len(colours))
        check(ink >= 0.02 * (w // 3) * h, "too little drawn (%d pixels)" % ink)
        check_layout(chromium, tmp, out)
        print("PASS")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
