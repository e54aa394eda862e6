// Benchmark (tests/bench/webui --browser): a run of many steps rendered in
// chromium: navigation to the run page until its graph and Gantt are drawn
// (the page's data-loaded mark, then two animation frames), next to the
// same-run floor: a 50-step run page rendered the same way, interleaved
// with it. The browser's own script/layout times come from the DevTools
// protocol (Performance.getMetrics, deltas per load).
import puppeteer from "puppeteer-core";

const cfg = JSON.parse(process.argv[2]);
const browser = await puppeteer.launch({
    executablePath: cfg.chromium || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const page = await browser.newPage();
await page.setViewport({width: 1280, height: 900});
const cdp = await page.createCDPSession();
await cdp.send("Performance.enable");
const metric = async () => Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((x) => [x.name, x.value]));

async function render(run) {
    await page.goto("about:blank");
    const m0 = await metric();
    const t0 = Date.now();
    await page.goto(cfg.base + "/#/run/" + run, {waitUntil: "domcontentloaded"});
    await page.waitForFunction(() => document.body.hasAttribute("data-loaded"), {timeout: 60000, polling: 20});
    /* Drawn: two animation frames after the DOM is complete (style, layout, paint). */
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    const ms = Date.now() - t0;
    const m1 = await metric();
    const detail = await page.evaluate(() => ({
        loaded: +document.body.getAttribute("data-loaded-ms"),
        api: performance.getEntriesByType("resource").filter((r) => r.name.includes("/api/"))
            .map((r) => [r.name.replace(/^.*\/api\//, ""), Math.round(r.startTime), Math.round(r.duration), r.transferSize]),
    }));
    return {ms: ms, script: (m1.ScriptDuration - m0.ScriptDuration) * 1000,
        layout: (m1.LayoutDuration - m0.LayoutDuration) * 1000,
        style: (m1.RecalcStyleDuration - m0.RecalcStyleDuration) * 1000, detail: detail};
}

const big = [], small = [];
for (let i = 0; i < 5; i++) {
    small.push(await render(cfg.floor_run));
    big.push(await render(cfg.run));
}
console.error(JSON.stringify(big[big.length - 1].detail));
const nodes = await page.$eval("#dag-box", (b) => {
    const c = b.querySelector("[data-nodes]");
    return c ? +c.getAttribute("data-nodes") : b.querySelectorAll(".step-node").length;
});
const bars = await page.$eval("#gantt-box", (b) => {
    const c = b.querySelector("[data-bars]");
    return c ? +c.getAttribute("data-bars") : b.querySelectorAll("rect.bar").length;
});
await browser.close();
const med = (xs, k) => xs.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`browser render, ${cfg.steps}-step run           ` +
    `median ${med(big, "ms")} ms of [${big.map((x) => x.ms).join(", ")}] (${(med(big, "ms") / 1000).toFixed(2)}x of the 1 s target; ` +
    `floor, a ${cfg.floor_steps}-step run page: median ${med(small, "ms")} ms of [${small.map((x) => x.ms).join(", ")}]); ` +
    `${nodes} graph nodes, ${bars} Gantt bars; per load: script ${med(big, "script").toFixed(0)} ms, ` +
    `style ${med(big, "style").toFixed(0)} ms, layout ${med(big, "layout").toFixed(0)} ms ` +
    `(floor: script ${med(small, "script").toFixed(0)}, style ${med(small, "style").toFixed(0)}, layout ${med(small, "layout").toFixed(0)} ms)`);
