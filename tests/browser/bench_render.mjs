// Benchmark (tests/bench/webui --browser): a run of many steps rendered in
// chromium: navigation to the run page until its graph and Gantt are drawn
// (the page's data-loaded mark), and the browser's own script/layout times
// from the DevTools protocol (Performance.getMetrics).
import puppeteer from "puppeteer-core";

const cfg = JSON.parse(process.argv[2]);
const browser = await puppeteer.launch({
    executablePath: cfg.chromium || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const page = await browser.newPage();
const cdp = await page.createCDPSession();
await cdp.send("Performance.enable");
const times = [];
let metrics = null;
for (let i = 0; i < 3; i++) {
    await page.goto("about:blank");
    const t0 = Date.now();
    await page.goto(cfg.base + "/#/run/" + cfg.run, {waitUntil: "domcontentloaded"});
    await page.waitForFunction(() => document.body.hasAttribute("data-loaded"), {timeout: 60000, polling: 20});
    /* Drawn: two animation frames after the DOM is complete (style, layout, paint). */
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    times.push(Date.now() - t0);
    const detail = await page.evaluate(() => ({
        loaded: +document.body.getAttribute("data-loaded-ms"),
        api: performance.getEntriesByType("resource").filter((r) => r.name.includes("/api/"))
            .map((r) => [r.name.replace(/^.*\/api\//, ""), Math.round(r.startTime), Math.round(r.duration), r.transferSize]),
    }));
    console.error(JSON.stringify(detail));
    const m = Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((x) => [x.name, x.value]));
    metrics = m;
}
const nodes = await page.$$eval("#dag .step-node", (n) => n.length);
const bars = await page.$$eval("#gantt rect.bar", (n) => n.length);
await browser.close();
times.sort((a, b) => a - b);
console.log(`browser render, ${cfg.steps}-step run           ` +
    `median ${times[1]} ms of [${times.join(", ")}] (${(times[1] / 1000).toFixed(2)}x of the 1 s target); ` +
    `${nodes} graph nodes, ${bars} Gantt bars; script ${(metrics.ScriptDuration * 1000).toFixed(0)} ms, ` +
    `layout ${(metrics.LayoutDuration * 1000).toFixed(0)} ms (cumulative over 3 loads)`);
