// The web UI in a real browser: Debian's chromium driven by puppeteer-core
// (never a downloaded browser). Started by tests/integration/test_webui_browser.py,
// which runs a private daemon with real runs and passes their ids as JSON:
//   node webui.test.mjs '{"base": "http://127.0.0.1:PORT", "out": DIR, ...}'
// Every page is loaded, its DOM checked and a screenshot taken; the test fails
// on any console error, page error, failed request, HTTP error, CSP violation
// or dialog (the XSS payloads call alert()).
import fs from "node:fs";
import path from "node:path";
import puppeteer from "puppeteer-core";

const cfg = JSON.parse(process.argv[2]);
const failures = [];
const problems = []; // console errors, CSP violations, dialogs, failed loads

function check(cond, msg) {
    if (!cond) {
        failures.push(msg);
        console.error("FAIL: " + msg);
    }
}

const browser = await puppeteer.launch({
    executablePath: cfg.chromium || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"],
    defaultViewport: {width: 1280, height: 900},
});

async function newPage() {
    const page = await browser.newPage();
    page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning" && /Content.Security.Policy|Refused/.test(m.text())) {
            problems.push("console " + m.type() + ": " + m.text());
        }
    });
    page.on("pageerror", (e) => problems.push("page error: " + e.message));
    page.on("dialog", async (d) => {
        problems.push("dialog (" + d.type() + "): " + d.message());
        await d.dismiss();
    });
    page.on("requestfailed", (r) => {
        // A page closes its event stream when the run ends or the page
        // changes: the browser reports that as an aborted request.
        const why = (r.failure() || {}).errorText;
        if (!(/\/stream(\?|$)/.test(r.url()) && why === "net::ERR_ABORTED")) {
            problems.push("request failed: " + r.url() + " " + why);
        }
    });
    page.on("response", (r) => {
        if (r.status() >= 400) {
            problems.push("HTTP " + r.status() + ": " + r.url());
        }
    });
    // CSP violations as the page sees them, and a canary for injected code.
    await page.evaluateOnNewDocument(() => {
        window.__csp = [];
        document.addEventListener("securitypolicyviolation", (e) => {
            window.__csp.push(e.violatedDirective + " " + e.blockedURI);
        });
    });
    return page;
}

async function load(page, hash, name) {
    const t0 = Date.now();
    await page.goto(cfg.base + "/" + hash, {waitUntil: "networkidle0"});
    await page.waitForFunction(() => document.body.hasAttribute("data-loaded") || document.getElementById("error"),
        {timeout: 15000});
    const err = await page.$eval("#main", (m) => (m.querySelector("#error") || {}).textContent || "");
    check(!err, name + ": the page shows an error: " + err);
    const csp = await page.evaluate(() => window.__csp);
    check(csp.length === 0, name + ": CSP violations: " + JSON.stringify(csp));
    await page.screenshot({path: path.join(cfg.out, name + ".png"), fullPage: true});
    return Date.now() - t0;
}

const text = (page, sel) => page.$$eval(sel, (es) => es.map((e) => e.textContent));

const page = await newPage();
const timings = {};

// Live: the step prints 3 lines, then waits for the gate file this test
// creates once line 2 is on the page and the step shows as running.
const live = await newPage();
await live.goto(cfg.base + "/#/run/" + cfg.live_run, {waitUntil: "domcontentloaded"});
await live.waitForFunction(() => document.body.hasAttribute("data-loaded"), {timeout: 15000});
await live.waitForFunction(() => [...document.querySelectorAll("#events td.msg")].some((t) => t.textContent === "line 2"),
    {timeout: 15000, polling: 100});
const doneEarly = await live.evaluate(() => document.body.hasAttribute("data-run-done"));
check(!doneEarly, "line 2 appeared while the run was still running");
check((await live.evaluate(() => document.body.getAttribute("data-live"))) === "stream",
    "a live run is followed by Server-Sent Events");
const runningNode = await live.$eval('#dag [data-step="talk"]', (n) => n.getAttribute("data-status"));
check(runningNode === "running", "the talking step is running in the DAG: " + runningNode);
await live.screenshot({path: path.join(cfg.out, "run-live.png"), fullPage: true});
fs.writeFileSync(cfg.gate, "go\n");
await live.waitForFunction(() => document.body.hasAttribute("data-run-done"), {timeout: 30000, polling: 200});
const lines = (await text(live, "#events td.msg")).filter((t) => /^line \d+$/.test(t));
check(lines.length === cfg.live_lines, "every live line once, in order: " + JSON.stringify(lines));
check(lines.every((l, i) => l === "line " + (i + 1)), "live lines in order: " + JSON.stringify(lines));
const finalNode = await live.$eval('#dag [data-step="talk"]', (n) => n.getAttribute("data-status"));
check(finalNode === "succeeded", "the talking step ends succeeded: " + finalNode);
await live.close();

// Pipelines: every file listed, the broken file's error shown as text.
timings.pipelines = await load(page, "#/pipelines", "pipelines");
const names = await text(page, "#pipelines a.name");
for (const p of cfg.pipelines) {
    check(names.includes(p), "pipelines page lists " + p + ": " + JSON.stringify(names));
}
const errs = (await text(page, "#pipelines .error")).join("\n");
check(errs.includes(cfg.evil_text), "the broken pipeline's error is shown as text: " + errs);

// Read-only daemon: no action button, no token field.
check((await page.$$("button.action, #token")).length === 0, "no actions without http_token_file");

// Runs: every run listed; the status filter.
timings.runs = await load(page, "#/runs", "runs");
const listed = await page.$$eval("#runs a.mono", (as) => as.map((a) => a.getAttribute("href")));
for (const id of cfg.all_runs) {
    check(listed.includes("#/run/" + id), "runs page lists " + id);
}
await load(page, "#/runs?status=failed", "runs-failed");
const failedRows = await text(page, "#runs tr.run .badge");
check(failedRows.length > 0 && failedRows.every((s) => s === "failed"), "status filter: " + failedRows);

// Filters: runs of backfills, each with its partition; the time window.
if (cfg.backfill) {
    await load(page, "#/runs?trigger=backfill", "runs-backfill");
    const parts = await text(page, "#runs tr.run td.partition");
    check(JSON.stringify(parts.sort()) === JSON.stringify(["2024-02-28", "2024-02-29"]),
        "trigger filter lists the backfill's runs with their partitions: " + JSON.stringify(parts));
    const sel = await page.$eval('#filters select[name="trigger"]', (s) => s.value);
    check(sel === "backfill", "the trigger filter shows its value: " + sel);
    await load(page, "#/runs?since=1h", "runs-since");
    const recent = await page.$$eval("#runs a.mono", (as) => as.length);
    check(recent >= cfg.all_runs.length, "runs of the last hour listed: " + recent);
    check((await page.$eval('#filters select[name="since"]', (s) => s.value)) === "1h", "time filter shown");
    await load(page, "#/run/" + cfg.leap_run, "run-partition");
    check((await page.$eval("#run-partition", (e) => e.textContent)) === "2024-02-29", "the run's partition");
    check((await page.$eval("#run-backfill", (e) => e.textContent)) === cfg.backfill, "the run's backfill");
}

// Checks: the run page lists every result, the payload in a sample as text.
if (cfg.checked_run) {
    await load(page, "#/run/" + cfg.checked_run, "run-checks");
    const rows = await page.$$eval("#checks tr.check", (rs) => rs.map((r) =>
        [r.querySelector(".name").textContent, r.querySelector(".badge").textContent, r.querySelector(".sample").textContent]));
    check(rows.length === 2, "both checks listed: " + JSON.stringify(rows));
    check(rows.some(([n, st, sample]) => n === "evil_city" && st === "warned" && sample.includes(cfg.evil_text)),
        "the warned check with its sample as text: " + JSON.stringify(rows));
    check(rows.some(([n, st]) => n === "nothing" && st === "passed"), "the passed check: " + JSON.stringify(rows));
    check((await page.$$("#main img, #main script")).length === 0, "no injected element from a check's sample");
    await load(page, "#/run/" + cfg.ok_run, "run-no-checks");
    check((await page.$("#checks-empty")) !== null, "a run without checks says so");
    const head = await page.$eval("#run-head", (h) => [...h.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent));
    check(head.length === 0, "no stray text in the run's head (a read-only daemon has no button): " + JSON.stringify(head));
}

// A run: the DAG has every step with its status colour, Gantt bars, events.
timings.run = await load(page, "#/run/" + cfg.ok_run, "run-ok");
const nodes = await page.$$eval("#dag g.step-node, #dag a.step-node", (ns) => ns.map((n) => [n.getAttribute("data-step"), n.getAttribute("data-status"), getComputedStyle(n.querySelector("rect")).fill]));
check(nodes.length === cfg.ok_steps.length, "DAG has every step: " + JSON.stringify(nodes));
for (const [step, status, fill] of nodes) {
    check(cfg.ok_steps.includes(step) && status === "succeeded", "DAG node " + step + " " + status);
    check(fill === "rgb(46, 157, 85)", "succeeded node " + step + " is green: " + fill);
}
const edges = await page.$$eval("#dag path.edge", (es) => es.length);
check(edges === cfg.ok_edges, "DAG edges: " + edges + " want " + cfg.ok_edges);
const bars = await page.$$eval("#gantt rect.bar", (bs) => bs.map((b) => [b.getAttribute("data-step"), +b.getAttribute("width")]));
check(bars.length >= cfg.ok_steps.length && bars.every(([, w]) => w >= 2), "Gantt bars: " + JSON.stringify(bars));
check((await page.$$("#events tr.event")).length > 0, "run events listed");

// The failed run: the broken step red, the XSS payload shown as text only.
await load(page, "#/run/" + cfg.failed_run, "run-failed");
const broken = await page.$eval('#dag [data-step="broken"]', (n) => n.getAttribute("data-status"));
check(broken === "failed", "broken step is failed in the DAG: " + broken);
const evText = (await text(page, "#events td.msg")).join("\n") + (await text(page, "#run-head")).join("\n");
check(evText.includes(cfg.evil_text), "the payload is shown as text in the run page");
check((await page.$$("#main img, #main script")).length === 0, "no injected element in the run page");

// Retries: the flaky step has its attempts as separate bars.
if (cfg.retry_run) {
    await load(page, "#/run/" + cfg.retry_run, "run-retries");
    const att = await page.$$eval('#gantt rect.bar[data-step="flaky"]', (bs) => bs.length);
    check(att === cfg.retry_attempts, "Gantt shows " + cfg.retry_attempts + " attempts of flaky: " + att);
}

// A big run (over the page's BIG_GRAPH): graph and Gantt on canvases that
// paint the part in view; every step counted, pixels drawn, a click on the
// first node opens its step.
if (cfg.wide_run) {
    await load(page, "#/run/" + cfg.wide_run, "run-wide");
    const dag = await page.$eval("#dag", (c) => [c.tagName, +c.getAttribute("data-nodes"), +c.getAttribute("data-edges")]);
    check(dag[0] === "CANVAS" && dag[1] === cfg.wide_steps && dag[2] === cfg.wide_steps - 1,
        "big DAG on a canvas with every step and edge: " + JSON.stringify(dag));
    const gantt = await page.$eval("#gantt", (c) => [c.tagName, +c.getAttribute("data-bars")]);
    check(gantt[0] === "CANVAS" && gantt[1] === cfg.wide_steps, "big Gantt on a canvas, a bar per step: " + JSON.stringify(gantt));
    const painted = await page.$eval("#dag", (c) => {
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) { n += d[i] > 0; }
        return n;
    });
    check(painted > 1000, "the big DAG canvas is painted: " + painted + " pixels");
    const svgCount = await page.$$eval("#main svg *", (es) => es.length);
    check(svgCount < 50, "no per-step SVG elements in a big run: " + svgCount);
    const box = await (await page.$("#dag")).boundingBox();
    await page.mouse.click(box.x + 30, box.y + 25);
    await page.waitForFunction(() => /\/step\/s0$/.test(location.hash), {timeout: 5000});
    await page.waitForFunction(() => document.body.hasAttribute("data-loaded"), {timeout: 15000});
}

// A step's log.
await load(page, "#/run/" + cfg.live_run + "/step/talk", "step-log");
check(!(await page.evaluate(() => document.body.hasAttribute("data-live"))), "a finished run is not followed");
const stepLines = (await text(page, "#step-log td.msg")).filter((t) => /^line \d+$/.test(t));
check(stepLines.length === cfg.live_lines, "step log lines: " + JSON.stringify(stepLines));

// The tables a pipeline writes: the sales run's tables with their row
// counts and the run that wrote them, the lineage drawn; the run page
// links the report, which opens in a sandbox with the city payload as text.
if (cfg.sales_run) {
    await load(page, "#/tables/sales", "tables-sales");
    const trs = await page.$$eval("#tables tr.table-row", (rs) => rs.map((r) =>
        [r.querySelector(".name").textContent, r.querySelector(".rows").textContent, (r.querySelector("a") || {}).textContent || ""]));
    check(trs.length > 5, "sales tables listed: " + JSON.stringify(trs));
    check(trs.some(([n, rows, run]) => n === "mart_city_hour_sales" && /^[0-9,]+$/.test(rows) && rows !== "0" && cfg.sales_run.startsWith(run)),
        "mart_city_hour_sales with rows and its run: " + JSON.stringify(trs));
    const lnodes = await page.$$eval("#lineage g.lineage-node", (ns) => ns.length);
    check(lnodes === trs.length, "every table in the lineage graph: " + lnodes);
    await load(page, "#/run/" + cfg.sales_run, "run-sales");
    const href = await page.$eval("#report-link", (a) => a.getAttribute("href"));
    check(href === "/api/runs/" + cfg.sales_run + "/report", "report link: " + href);
    const rep = await newPage();
    await rep.goto(cfg.base + href, {waitUntil: "load"});
    const repText = await rep.evaluate(() => document.body.textContent);
    check(repText.includes(cfg.evil_text), "the report shows the payload city as text");
    check((await rep.$$("img[src=x]")).length === 0, "no injected element in the report");
    await rep.close();
    // The payloads in a pipeline's file path and table name stay text.
    await load(page, "#/tables/evil_tables", "tables-evil");
    const names = await text(page, "#tables .name");
    check(names.includes(cfg.evil_table), "the evil table is listed as text: " + JSON.stringify(names));
    const ids = await page.$$eval("#lineage g.lineage-node", (ns) => ns.map((n) => n.getAttribute("data-id")));
    check(ids.some((i) => i.includes("<img src=x onerror=alert(5)>")), "the evil file node is there: " + JSON.stringify(ids));
    check((await page.$$("#main img, #main script")).length === 0, "no injected element in the tables page");
}

// Schedules and sensors with their ticks.
await load(page, "#/ticks", "ticks");
const armed = await text(page, "#armed tr.armed");
check(armed.some((t) => t.includes(cfg.schedule)), "the schedule is armed: " + JSON.stringify(armed));

// Actions, on a second daemon with http_token_file: a wrong token is refused,
// the right one runs the pipeline and retries the run.
if (cfg.actions) {
    const a = await newPage();
    const base = cfg.actions.base;
    await a.goto(base + "/#/pipelines", {waitUntil: "networkidle0"});
    await a.waitForFunction(() => document.body.hasAttribute("data-loaded"), {timeout: 15000});
    check((await a.$("#token")) !== null, "token field shown when actions are enabled");
    await a.type("#token", "wrong-token-0000000000");
    await a.$eval("#token", (i) => i.dispatchEvent(new Event("change")));
    // The 403 is expected here: take it out of the problems after.
    const before = problems.length;
    await a.click("#pipelines button.action");
    await a.waitForFunction(() => document.querySelector("#pipelines .error"), {timeout: 10000});
    const refused = await a.$eval("#pipelines td .error:last-child", (e) => e.textContent);
    check(/token/.test(refused), "wrong token refused: " + refused);
    problems.splice(before, problems.length - before,
        ...problems.slice(before).filter((p) => !/403/.test(p)));
    await a.reload({waitUntil: "networkidle0"});
    await a.waitForFunction(() => document.body.hasAttribute("data-loaded"), {timeout: 15000});
    await a.$eval("#token", (i) => { i.value = ""; });
    await a.type("#token", cfg.actions.token);
    await a.$eval("#token", (i) => i.dispatchEvent(new Event("change")));
    // This daemon allows no event stream (limits.max_http_streams: 0): the
    // run page falls back to polling (the refused stream's 503 and the
    // browser's report of it are expected).
    const beforeRun = problems.length;
    await a.click("#pipelines button.action");
    await a.waitForFunction(() => /^#\/run\/[0-9a-f]{32}$/.test(location.hash) && document.body.hasAttribute("data-run-done"),
        {timeout: 20000, polling: 100});
    problems.splice(beforeRun, problems.length - beforeRun,
        ...problems.slice(beforeRun).filter((p) => !/\/stream|EventSource|status of 503/.test(p)));
    const first = await a.evaluate(() => location.hash);
    check((await a.$eval("#run-status", (e) => e.textContent)) === "succeeded", "the run started from the UI succeeded");
    await a.screenshot({path: path.join(cfg.out, "run-actions.png"), fullPage: true});
    await a.click("#retry");
    await a.waitForFunction((h) => location.hash !== h && document.body.hasAttribute("data-run-done"),
        {timeout: 20000, polling: 100}, first);
    const facts = (await text(a, "#run-head dd")).join(" ");
    check(facts.includes(first.slice(6)), "the retry names its parent: " + facts);
    // The fallback: a live run on this daemon is polled, and still ends.
    const before2 = problems.length;
    await a.goto(base + "/#/run/" + cfg.actions.waiting_run, {waitUntil: "domcontentloaded"});
    await a.waitForFunction(() => document.body.getAttribute("data-live") === "poll", {timeout: 15000, polling: 100});
    await a.waitForFunction(() => [...document.querySelectorAll("#events td.msg")].some((t) => t.textContent === "line 2"),
        {timeout: 15000, polling: 100});
    fs.writeFileSync(cfg.actions.gate, "go\n");
    await a.waitForFunction(() => document.body.hasAttribute("data-run-done"), {timeout: 30000, polling: 200});
    const polled = (await text(a, "#events td.msg")).filter((t) => /^line \d+$/.test(t));
    check(polled.length === cfg.live_lines, "polled page: every line once: " + JSON.stringify(polled));
    problems.splice(before2, problems.length - before2,
        ...problems.slice(before2).filter((p) => !/\/stream|EventSource|status of 503/.test(p)));
    await a.close();
}

await browser.close();
check(problems.length === 0, "console errors, dialogs or failed loads:\n  " + problems.join("\n  "));
console.log(JSON.stringify({timings_ms: timings, failures: failures.length}));
process.exit(failures.length ? 1 : 0);
