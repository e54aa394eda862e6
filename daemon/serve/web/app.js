/* dagd web UI: one page, routed by the URL's hash, reading /api/... only.
 *
 * Every string from the API (pipeline files, params, errors, log lines) is
 * attacker-controlled: the page is built with DOM calls only (textContent,
 * setAttribute on fixed attribute names), never innerHTML, and links are
 * built from encodeURIComponent'd values. The CSP (script-src 'self', no
 * inline code) is the second wall.
 *
 * A page of a run that is not over follows it by Server-Sent Events
 * (follow()), and polls every POLL_MS when the stream cannot be had. */
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const TERMINAL = new Set(["succeeded", "failed", "canceled"]);
const POLL_MS = 1000;
/* Big runs (thousands of steps, tens of thousands of events) would make the
 * browser lay out huge tables: show this many rows, the rest on demand. */
const ROWS_SHOWN = 300;
let generation = 0; /* bumped on every route change: stale polls stop */
let liveStream = null; /* the EventSource of the page, closed on a route change */

/* ---- DOM helpers ---- */

function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
}

function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG, tag);
    setAttrs(e, attrs);
    append(e, children);
    return e;
}

function setAttrs(e, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
        if (v !== null && v !== undefined && v !== false) {
            e.setAttribute(k, String(v));
        }
    }
}

function append(e, children) {
    for (const c of children.flat()) {
        if (c === null || c === undefined || c === false) {
            continue;
        }
        e.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    }
}

function link(hash, text, attrs) {
    return el("a", Object.assign({href: hash}, attrs || {}), text);
}

function badge(status) {
    return el("span", {class: "badge st-" + cls(status)}, status || "?");
}

/* A status as a CSS class suffix: only known words, never raw input. */
function cls(status) {
    return /^[a-z]+$/.test(status || "") ? status : "unknown";
}

function fmtTime(ms) {
    if (!ms) {
        return "";
    }
    return new Date(ms).toISOString().replace("T", " ").slice(0, 19);
}

function fmtDur(ms) {
    if (ms === null || ms === undefined || ms < 0) {
        return "";
    }
    if (ms < 1000) {
        return ms + " ms";
    }
    if (ms < 60000) {
        return (ms / 1000).toFixed(1) + " s";
    }
    const m = Math.floor(ms / 60000);
    return m + " m " + Math.round((ms % 60000) / 1000) + " s";
}

function runDuration(r) {
    if (!r.started_at) {
        return "";
    }
    return fmtDur((r.ended_at || Date.now()) - r.started_at);
}

function runHash(id) {
    return "#/run/" + encodeURIComponent(id);
}

function qs(params) {
    const parts = [];
    for (const [k, v] of Object.entries(params)) {
        if (v !== null && v !== undefined && v !== "") {
            parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(v));
        }
    }
    return parts.length ? "?" + parts.join("&") : "";
}

async function api(path) {
    const r = await fetch(path, {headers: {"Accept": "application/json"}, cache: "no-store"});
    const body = await r.json();
    if (!r.ok) {
        throw new Error((body.error && body.error.message) || ("HTTP " + r.status));
    }
    return body;
}

/* Actions (run, cancel, retry) exist only when the daemon has an
 * http_token_file; the token is typed into the header's field and kept in
 * this tab's sessionStorage, and sent as a header (never a cookie). */
let actionsEnabled = false;

async function initActions() {
    actionsEnabled = (await api("/api/actions")).enabled === true;
    if (!actionsEnabled) {
        return;
    }
    const input = el("input", {type: "password", id: "token", placeholder: "token for actions",
        autocomplete: "off", "aria-label": "token for actions"});
    input.value = sessionStorage.getItem("dagd-token") || "";
    input.addEventListener("change", () => sessionStorage.setItem("dagd-token", input.value));
    document.querySelector("header").appendChild(input);
}

function actionButton(label, path, id) {
    const b = el("button", {type: "button", class: "action", id: id}, label);
    b.addEventListener("click", async () => {
        b.disabled = true;
        try {
            const r = await fetch(path, {method: "POST", cache: "no-store",
                headers: {"Authorization": "Bearer " + (sessionStorage.getItem("dagd-token") || "")}});
            const body = await r.json().catch(() => ({}));
            if (!r.ok) {
                throw new Error((body.error && body.error.message) || (r.status === 403 ? "wrong or missing token" : "HTTP " + r.status));
            }
            location.hash = runHash(body.run_id);
            route();
        } catch (e) {
            b.replaceWith(el("span", {class: "error"}, String(e.message || e)));
        }
    });
    return actionsEnabled ? b : null;
}

function show(...children) {
    const main = document.getElementById("main");
    main.replaceChildren(...children.flat().filter((c) => c));
}

function table(head, rows, attrs) {
    return el("table", attrs || {},
        el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))),
        el("tbody", {}, rows));
}

function navActive(name) {
    for (const a of document.querySelectorAll("nav a")) {
        a.classList.toggle("active", a.id === "nav-" + name);
    }
}

/* ---- pipelines ---- */

async function pagePipelines() {
    navActive("pipelines");
    const [p, t] = await Promise.all([api("/api/pipelines"), api("/api/ticks?limit=0")]);
    const armed = new Map();
    for (const a of t.armed || []) {
        armed.set(a.kind + "\u0000" + a.name, a);
    }
    const rows = p.pipelines.map((x) => {
        const triggers = [];
        for (const s of x.schedules || []) {
            const a = armed.get("schedule\u0000" + s);
            triggers.push(el("div", {class: "trigger"}, "schedule ", el("b", {}, s),
                a && a.cron ? " (" + a.cron + ")" : "",
                a && a.next ? ", next " + fmtTime(a.next) : ""));
        }
        for (const s of x.sensors || []) {
            const a = armed.get("sensor\u0000" + s);
            triggers.push(el("div", {class: "trigger"}, "sensor ", el("b", {}, s),
                a && a.watch ? " watching " + a.watch : ""));
        }
        const errors = (x.errors || []).map((e) =>
            el("div", {class: "error"}, (e.file || "") + ":" + e.line + ":" + e.col + ": " + e.message));
        const last = x.last_run;
        return el("tr", {class: "pipeline"},
            el("td", {}, x.name ? [link("#/runs" + qs({pipeline: x.name}), x.name, {class: "name"}), " ",
                link("#/tables/" + encodeURIComponent(x.name), "tables", {class: "tables-link"})]
                : el("span", {class: "muted"}, "(not loaded)")),
            el("td", {class: "file"}, x.file),
            el("td", {class: "num"}, x.steps),
            el("td", {}, triggers),
            el("td", {}, last ? [badge(last.status), " ", link(runHash(last.run_id), fmtTime(last.created_at))] : ""),
            el("td", {}, errors,
                x.loaded && x.name ? actionButton("Run", "/api/pipelines/" + encodeURIComponent(x.name) + "/run", null) : null));
    });
    show(el("h1", {}, "Pipelines"),
        table(["pipeline", "file", "steps", "schedules and sensors", "last run", "errors"], rows,
            {id: "pipelines"}));
}

/* ---- runs ---- */

/* The runs page's time filter: runs created within this window. */
const SINCE = {
    "1h": {label: "last hour", ms: 3600e3},
    "24h": {label: "last 24 hours", ms: 86400e3},
    "7d": {label: "last 7 days", ms: 7 * 86400e3},
    "30d": {label: "last 30 days", ms: 30 * 86400e3},
};

async function pageRuns(params) {
    navActive("runs");
    const filt = {
        pipeline: params.get("pipeline") || "",
        status: params.get("status") || "",
        trigger: params.get("trigger") || "",
        since: SINCE[params.get("since")] ? params.get("since") : "",
    };
    const before = params.get("before") || "";
    /* The time filter is a window back from now (the URL keeps its name,
     * so a bookmark stays "the last day"); the API takes epoch ms. */
    const since = filt.since ? Date.now() - SINCE[filt.since].ms : "";
    const [runs, pipes] = await Promise.all([
        api("/api/runs" + qs(Object.assign({limit: 50, before: before}, filt, {since: since}))),
        api("/api/pipelines"),
    ]);
    const form = el("form", {id: "filters", class: "filters"});
    const pick = (name, values, labels, any) => {
        const s = el("select", {name: name},
            el("option", {value: ""}, any || "any " + name),
            values.map((v) => el("option", {value: v, selected: v === filt[name] ? "selected" : null},
                labels ? labels[v] : v)));
        s.addEventListener("change", () => go(form));
        return el("label", {}, s);
    };
    const names = pipes.pipelines.filter((x) => x.name).map((x) => x.name);
    append(form, [
        pick("pipeline", names),
        pick("status", ["queued", "running", "succeeded", "failed", "canceled"]),
        pick("trigger", ["cli", "schedule", "sensor", "retry", "backfill"]),
        pick("since", Object.keys(SINCE), Object.fromEntries(Object.entries(SINCE).map(([k, v]) => [k, v.label])),
            "any time"),
    ]);
    function go(f) {
        const o = {};
        for (const s of f.querySelectorAll("select")) {
            o[s.name] = s.value;
        }
        location.hash = "#/runs" + qs(o);
    }
    form.addEventListener("submit", (e) => { e.preventDefault(); go(form); });
    const rows = runs.runs.map((r) => el("tr", {class: "run"},
        el("td", {}, link(runHash(r.run_id), r.run_id.slice(0, 12), {class: "mono"})),
        el("td", {}, r.pipeline),
        el("td", {class: "mono partition"}, r.partition || ""),
        el("td", {}, badge(r.status)),
        el("td", {}, r.trigger),
        el("td", {}, fmtTime(r.created_at)),
        el("td", {class: "num"}, runDuration(r)),
        el("td", {class: "error"}, r.error || "")));
    const pager = el("p", {class: "pager"});
    if (before) {
        append(pager, [link("#/runs" + qs(filt), "« newest"), " "]);
    }
    if (runs.next) {
        append(pager, [link("#/runs" + qs(Object.assign({}, filt, {before: runs.next})), "older »", {id: "older"})]);
    }
    show(el("h1", {}, "Runs"), form,
        rows.length ? table(["run", "pipeline", "partition", "status", "trigger", "created (UTC)", "took", "error"], rows, {id: "runs"})
            : el("p", {class: "muted", id: "runs-empty"}, "No runs."),
        pager);
}

/* ---- a run ---- */

/* Layered layout in O(V + E + V log V): a step's column is the longest
 * chain of needs before it (Kahn's order, no recursion, so a 5,000-step
 * chain cannot overflow the stack), and within a column steps are ordered
 * by the mean row of what they need (one barycentre sweep: fewer crossings,
 * children near their parents). Returns {cols: [[name]], pos: Map(name ->
 * {c, r})}. */
function layout(steps, needs) {
    const names = steps.map((s) => s.step);
    const index = new Map(names.map((n, i) => [n, i]));
    const indeg = new Array(names.length).fill(0);
    const children = names.map(() => []);
    const parents = names.map(() => []);
    names.forEach((n, i) => {
        for (const m of needs[n] || []) {
            const j = index.get(m);
            if (j !== undefined && j !== i) {
                children[j].push(i);
                parents[i].push(j);
                indeg[i]++;
            }
        }
    });
    const depth = new Array(names.length).fill(0);
    const queue = [];
    indeg.forEach((d, i) => { if (d === 0) { queue.push(i); } });
    for (let h = 0; h < queue.length; h++) {
        const i = queue[h];
        for (const k of children[i]) {
            depth[k] = Math.max(depth[k], depth[i] + 1);
            if (--indeg[k] === 0) {
                queue.push(k);
            }
        }
    }
    /* A cycle cannot load, but never loop on one: its steps stay in column 0. */
    const cols = [];
    const row = new Array(names.length).fill(0);
    const order = queue.length === names.length ? queue : names.map((_, i) => i);
    for (const i of order) {
        (cols[depth[i]] = cols[depth[i]] || []).push(i);
    }
    for (let c = 0; c < cols.length; c++) {
        const col = cols[c] || (cols[c] = []);
        if (c > 0) {
            const key = new Map(col.map((i) => {
                const ps = parents[i];
                return [i, ps.length ? ps.reduce((a, j) => a + row[j], 0) / ps.length : Infinity];
            }));
            col.sort((a, b) => key.get(a) - key.get(b) || a - b);
        }
        col.forEach((i, r) => { row[i] = r; });
    }
    const pos = new Map();
    cols.forEach((col, c) => col.forEach((i, r) => pos.set(names[i], {c: c, r: r})));
    return {cols: cols.map((col) => col.map((i) => names[i])), pos: pos};
}

/* Graphs and Gantts above this many steps are drawn on a canvas that only
 * paints what is in view (see bigCanvas): one SVG element per step, edge and
 * bar costs the browser ~0.5 s of style and layout per thousand steps, and
 * the area would pass a canvas's size limit. Smaller ones stay SVG (one
 * element per step: the tests and users can inspect them). */
const BIG_GRAPH = 400;
const DAG = {W: 150, H: 30, GX: 50, GY: 14};

function drawDag(steps, needs) {
    const {W, H, GX, GY} = DAG;
    const lay = layout(steps, needs);
    const xy = (p) => ({x: 10 + p.c * (W + GX), y: 10 + p.r * (H + GY)});
    const rows = lay.cols.reduce((m, col) => Math.max(m, col.length), 0);
    const width = 20 + lay.cols.length * (W + GX) - GX;
    const height = 20 + rows * (H + GY) - GY;
    if (steps.length > BIG_GRAPH) {
        return bigDag(steps, needs, lay, xy, width, height);
    }
    const g = svg("svg", {id: "dag", width: width, height: height, viewBox: "0 0 " + width + " " + height,
        role: "img", "aria-label": "step graph"});
    const edges = svg("g", {class: "edges"});
    for (const s of steps) {
        for (const m of needs[s.step] || []) {
            const pa = lay.pos.get(m), pb = lay.pos.get(s.step);
            if (!pa || !pb || m === s.step) {
                continue;
            }
            const a = xy(pa), b = xy(pb);
            const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
            edges.appendChild(svg("path", {class: "edge",
                d: "M" + x1 + "," + y1 + " C" + mx + "," + y1 + " " + mx + "," + y2 + " " + x2 + "," + y2}));
        }
    }
    g.appendChild(edges);
    for (const s of steps) {
        const p = xy(lay.pos.get(s.step));
        const label = s.step.length > 20 ? s.step.slice(0, 19) + "…" : s.step;
        const node = svg("a", {href: stepHash(s)},
            svg("rect", {class: "node st-" + cls(s.status), x: p.x, y: p.y, width: W, height: H, rx: 5}),
            svg("text", {x: p.x + 8, y: p.y + 19}, label),
            svg("title", {}, s.step + ": " + s.status + (s.attempts > 1 ? " (" + s.attempts + " attempts)" : "")));
        node.setAttribute("class", "step-node");
        node.setAttribute("data-step", s.step);
        node.setAttribute("data-status", s.status);
        g.appendChild(node);
    }
    return g;
}

/* Status colours for canvas drawing: the CSS variables the SVG classes use. */
function statusColours() {
    const css = getComputedStyle(document.documentElement);
    const v = (name) => css.getPropertyValue(name).trim();
    return {succeeded: v("--ok"), failed: v("--fail"), running: v("--run"), skipped: v("--skip"),
        canceled: v("--cancel"), other: v("--pend"), fg: v("--fg"), muted: v("--muted")};
}

/* A scroll box of `width` x `height` whose canvas, the size of the box's
 * view, follows the scroll and repaints only what is visible:
 * paint(ctx, left, top, w, h) draws in content coordinates. hit(x, y)
 * returns {title, href} or null for the tooltip and clicks; `attrs` go on
 * the canvas (counts for tests, its label). The work per
 * frame is bounded by the view, not by the number of steps. */
function bigCanvas(id, width, height, paint, hit, attrs) {
    const box = el("div", {class: "scroll vcanvas", id: id + "-view"});
    const spacer = el("div", {class: "vcanvas-size"});
    spacer.style.width = width + "px";
    spacer.style.height = height + "px";
    const canvas = el("canvas", Object.assign({id: id, role: "img"}, attrs || {}));
    box.append(canvas, spacer);
    let queued = false;
    function frame() {
        queued = false;
        if (!box.isConnected) {
            return;
        }
        const dpr = window.devicePixelRatio || 1;
        const w = Math.min(box.clientWidth, width), h = Math.min(box.clientHeight, height);
        if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
            canvas.width = Math.round(w * dpr);
            canvas.height = Math.round(h * dpr);
            canvas.style.width = w + "px";
            canvas.style.height = h + "px";
        }
        canvas.style.left = box.scrollLeft + "px";
        canvas.style.top = box.scrollTop + "px";
        const ctx = canvas.getContext("2d");
        ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
        ctx.clearRect(0, 0, w, h);
        ctx.translate(-box.scrollLeft, -box.scrollTop);
        paint(ctx, box.scrollLeft, box.scrollTop, w, h);
    }
    function redraw() {
        if (!queued) {
            queued = true;
            requestAnimationFrame(frame);
        }
    }
    const at = (e) => {
        const r = canvas.getBoundingClientRect();
        return hit(e.clientX - r.left + box.scrollLeft, e.clientY - r.top + box.scrollTop);
    };
    box.addEventListener("scroll", redraw, {passive: true});
    canvas.addEventListener("mousemove", (e) => {
        const h = at(e);
        canvas.title = h ? h.title : "";
        canvas.style.cursor = h && h.href ? "pointer" : "";
    });
    canvas.addEventListener("click", (e) => {
        const h = at(e);
        if (h && h.href) {
            location.hash = h.href;
        }
    });
    redraw();
    return box;
}

function bigDag(steps, needs, lay, xy, width, height) {
    const {W, H, GX, GY} = DAG;
    const col = statusColours();
    const byName = new Map(steps.map((s) => [s.step, s]));
    /* Edges as flat arrays with their bounding boxes, tested per frame. */
    const ex = [];
    for (const s of steps) {
        for (const m of needs[s.step] || []) {
            const pa = lay.pos.get(m), pb = lay.pos.get(s.step);
            if (pa && pb && m !== s.step) {
                const a = xy(pa), b = xy(pb);
                ex.push(a.x + W, a.y + H / 2, b.x, b.y + H / 2);
            }
        }
    }
    function paint(ctx, left, top, w, h) {
        const right = left + w, bottom = top + h;
        ctx.strokeStyle = "#9aa3b5";
        ctx.lineWidth = 1.2;
        ctx.beginPath(); /* every visible edge in one path: one stroke */
        for (let i = 0; i < ex.length; i += 4) {
            const x1 = ex[i], y1 = ex[i + 1], x2 = ex[i + 2], y2 = ex[i + 3];
            if (x2 < left || x1 > right || Math.max(y1, y2) < top || Math.min(y1, y2) > bottom) {
                continue;
            }
            const mx = (x1 + x2) / 2;
            ctx.moveTo(x1, y1);
            ctx.bezierCurveTo(mx, y1, mx, y2, x2, y2);
        }
        ctx.stroke();
        ctx.font = "12px system-ui, sans-serif";
        const c0 = Math.max(0, Math.floor((left - 10) / (W + GX)));
        const c1 = Math.min(lay.cols.length - 1, Math.floor((right - 10) / (W + GX)));
        const r0 = Math.max(0, Math.floor((top - 10) / (H + GY)));
        const r1 = Math.floor((bottom - 10) / (H + GY));
        for (let c = c0; c <= c1; c++) {
            const names = lay.cols[c];
            for (let r = r0; r <= Math.min(r1, names.length - 1); r++) {
                const s = byName.get(names[r]);
                const p = xy({c: c, r: r});
                ctx.fillStyle = col[s.status] || col.other;
                ctx.fillRect(p.x, p.y, W, H);
                ctx.fillStyle = s.status === "skipped" ? col.fg : "#fff";
                ctx.fillText(s.step.length > 20 ? s.step.slice(0, 19) + "…" : s.step, p.x + 8, p.y + 19);
            }
        }
    }
    function hit(x, y) {
        const c = Math.floor((x - 10) / (W + GX)), r = Math.floor((y - 10) / (H + GY));
        const px = x - 10 - c * (W + GX), py = y - 10 - r * (H + GY);
        const name = lay.cols[c] && lay.cols[c][r];
        if (!name || px > W || py > H) {
            return null;
        }
        const s = byName.get(name);
        return {title: s.step + ": " + s.status, href: stepHash(s)};
    }
    return bigCanvas("dag", width, height, paint, hit, {"aria-label": "step graph",
        "data-nodes": steps.length, "data-edges": ex.length / 4});
}

let currentRun = null;

function stepHash(s) {
    return runHash(currentRun) + "/step/" + encodeURIComponent(s.step);
}

/* Attempts from the step events ("step X running (attempt N)" starts one,
 * the next step event of X ends it); a step without them is one bar. */
function attempts(steps, events) {
    const out = new Map();
    const open = new Map();
    for (const e of events) {
        if (e.type !== "step" || !e.step) {
            continue;
        }
        const list = out.get(e.step) || [];
        out.set(e.step, list);
        const o = open.get(e.step);
        if (o) {
            o.end = e.ts;
            o.status = /succeeded/.test(e.message) ? "succeeded" : /failed/.test(e.message) ? "failed"
                : /canceled/.test(e.message) ? "canceled" : "failed";
            open.delete(e.step);
        }
        if (/ running \(attempt \d+\)$/.test(e.message)) {
            const a = {start: e.ts, end: null, status: "running"};
            list.push(a);
            open.set(e.step, a);
        }
    }
    for (const s of steps) {
        const list = out.get(s.step) || [];
        if (!list.length && s.started_at) {
            list.push({start: s.started_at, end: s.ended_at || null, status: s.status});
        }
        for (const a of list) {
            if (a.end === null) {
                a.end = s.ended_at || Date.now();
                if (TERMINAL.has(s.status)) {
                    a.status = s.status;
                }
            }
        }
        out.set(s.step, list);
    }
    return out;
}

function drawGantt(run, steps, events) {
    const att = attempts(steps, events);
    let t0 = Infinity, t1 = 0;
    for (const list of att.values()) {
        for (const a of list) {
            t0 = Math.min(t0, a.start);
            t1 = Math.max(t1, a.end);
        }
    }
    const LABEL = 180, W = 760, ROW = 18;
    const height = 24 + steps.length * ROW;
    if (!isFinite(t0)) {
        const g = svg("svg", {id: "gantt", width: LABEL + W + 10, height: 24, role: "img", "aria-label": "Gantt chart"});
        g.appendChild(svg("text", {x: 4, y: 16, class: "muted"}, "No step has started yet."));
        return g;
    }
    const span = Math.max(1, t1 - t0);
    const x = (t) => LABEL + ((t - t0) / span) * W;
    if (steps.length > BIG_GRAPH) {
        return bigGantt(steps, att, x, {LABEL: LABEL, W: W, ROW: ROW, height: height, t0: t0, span: span});
    }
    const g = svg("svg", {id: "gantt", width: LABEL + W + 10, height: height,
        viewBox: "0 0 " + (LABEL + W + 10) + " " + height, role: "img", "aria-label": "Gantt chart"});
    g.appendChild(svg("text", {x: LABEL, y: 12, class: "axis"}, fmtTime(t0)));
    g.appendChild(svg("text", {x: LABEL + W, y: 12, class: "axis", "text-anchor": "end"}, "+" + fmtDur(span)));
    steps.forEach((s, i) => {
        const y = 20 + i * ROW;
        const label = s.step.length > 26 ? s.step.slice(0, 25) + "…" : s.step;
        g.appendChild(svg("text", {x: 4, y: y + 12, class: "label"}, label));
        const list = att.get(s.step) || [];
        list.forEach((a, k) => {
            if (k > 0) {
                /* the wait before a retry */
                g.appendChild(svg("line", {class: "wait", x1: x(list[k - 1].end), x2: x(a.start), y1: y + 7, y2: y + 7}));
            }
            g.appendChild(svg("rect", {class: "bar st-" + cls(a.status), "data-step": s.step, "data-attempt": k + 1,
                x: x(a.start), y: y + 1, width: Math.max(2, x(a.end) - x(a.start)), height: ROW - 4},
                svg("title", {}, s.step + " attempt " + (k + 1) + ": " + a.status + ", " + fmtDur(a.end - a.start))));
        });
    });
    return g;
}

/* The Gantt of a big run on a canvas: the rows in view only. */
function bigGantt(steps, att, x, g) {
    const col = statusColours();
    let bars = 0;
    for (const list of att.values()) {
        bars += list.length;
    }
    function paint(ctx, left, top, w, h) {
        ctx.font = "11px system-ui, sans-serif";
        ctx.fillStyle = col.muted;
        ctx.fillText(fmtTime(g.t0), g.LABEL, 12);
        ctx.textAlign = "end";
        ctx.fillText("+" + fmtDur(g.span), g.LABEL + g.W, 12);
        ctx.textAlign = "start";
        ctx.font = "12px system-ui, sans-serif";
        const i0 = Math.max(0, Math.floor((top - 20) / g.ROW));
        const i1 = Math.min(steps.length - 1, Math.floor((top + h - 20) / g.ROW));
        ctx.strokeStyle = "#9aa3b5";
        ctx.setLineDash([3, 3]);
        for (let i = i0; i <= i1; i++) {
            const s = steps[i], y = 20 + i * g.ROW;
            ctx.fillStyle = col.fg;
            ctx.fillText(s.step.length > 26 ? s.step.slice(0, 25) + "…" : s.step, 4, y + 12);
            const list = att.get(s.step) || [];
            list.forEach((a, k) => {
                if (k > 0) {
                    ctx.beginPath();
                    ctx.moveTo(x(list[k - 1].end), y + 7);
                    ctx.lineTo(x(a.start), y + 7);
                    ctx.stroke();
                }
                ctx.fillStyle = col[a.status] || col.other;
                ctx.fillRect(x(a.start), y + 1, Math.max(2, x(a.end) - x(a.start)), g.ROW - 4);
            });
        }
        ctx.setLineDash([]);
    }
    function hit(px, py) {
        const i = Math.floor((py - 20) / g.ROW);
        const s = steps[i];
        if (!s) {
            return null;
        }
        const list = att.get(s.step) || [];
        const k = list.findIndex((a) => px >= x(a.start) - 1 && px <= Math.max(x(a.start) + 2, x(a.end)) + 1);
        const a = list[k];
        return {title: a ? s.step + " attempt " + (k + 1) + ": " + a.status + ", " + fmtDur(a.end - a.start) : s.step,
            href: stepHash(s)};
    }
    return bigCanvas("gantt", g.LABEL + g.W + 10, g.height, paint, hit,
        {"aria-label": "Gantt chart", "data-rows": steps.length, "data-bars": bars});
}

/* The data-quality checks of a run (every attempt's results, as `dagctl
 * show` lists them), with the first violating row as a sample. */
function checksTable(checks) {
    if (!checks.length) {
        return el("p", {class: "muted", id: "checks-empty"}, "No checks ran.");
    }
    const rows = checks.slice(0, ROWS_SHOWN).map((c) => el("tr", {class: "check"},
        el("td", {}, link(stepHash({step: c.step}), c.step)),
        el("td", {class: "num"}, c.attempt),
        el("td", {class: "mono name"}, c.check),
        el("td", {}, c.severity),
        el("td", {}, badge(c.status)),
        el("td", {class: "num"}, c.violations),
        el("td", {class: "msg"}, c.detail || ""),
        el("td", {class: "msg sample"}, c.sample && c.sample.length ? JSON.stringify(c.sample[0]) : "")));
    return [checks.length > ROWS_SHOWN ? el("p", {class: "muted"}, "The first " + ROWS_SHOWN + " of " + checks.length + " checks.") : null,
        table(["step", "attempt", "check", "severity", "status", "violations", "detail", "sample"], rows, {id: "checks"})];
}

function eventRow(e) {
    return el("tr", {class: "event lvl-" + cls(e.level)},
        el("td", {class: "mono"}, fmtTime(e.ts)),
        el("td", {}, e.step || ""),
        el("td", {}, e.level),
        el("td", {}, e.type),
        el("td", {class: "msg"}, e.message));
}

/* Append rows for `items` to `body`, keeping only the newest ROWS_SHOWN
 * rows in the page; `note` says how many are left out. */
function appendCapped(body, items, row, note) {
    body.__total = (body.__total || 0) + items.length;
    append(body, items.slice(-ROWS_SHOWN).map(row));
    while (body.childElementCount > ROWS_SHOWN) {
        body.firstElementChild.remove();
    }
    note.textContent = body.__total > ROWS_SHOWN || body.__more
        ? "The last " + ROWS_SHOWN + " events (a step's page has its whole log)." : "";
}

/* Every event after `after`, page by page (the API caps a page). */
async function eventsAfter(runId, after, step) {
    const all = [];
    for (;;) {
        const page = await api("/api/runs/" + encodeURIComponent(runId) + "/events" +
            qs({after: after, step: step, limit: 10000}));
        all.push(...page.events);
        after = page.last_seq;
        if (page.events.length < 10000) {
            return {events: all, last: after};
        }
    }
}

/* Follow a run by Server-Sent Events (GET /api/runs/ID/stream): `events`
 * carries stored events after `after` (of one step), `run` says a step or
 * the run changed, `end` that it is over. On any error (no stream support,
 * the daemon's stream limit, a restart) the stream is closed and h.fail()
 * lets the page poll instead. */
function follow(runId, step, after, h) {
    const es = new EventSource("/api/runs/" + encodeURIComponent(runId) + "/stream" +
        qs({after: after, step: step}));
    liveStream = es;
    document.body.setAttribute("data-live", "stream");
    es.addEventListener("events", (m) => {
        const b = JSON.parse(m.data);
        h.events(b.events, b.last_seq);
    });
    es.addEventListener("run", () => h.run());
    es.addEventListener("end", () => {
        es.close();
        h.end();
    });
    es.onerror = () => {
        es.close();
        document.body.setAttribute("data-live", "poll");
        h.fail();
    };
    return es;
}

async function pageRun(runId) {
    navActive("runs");
    currentRun = runId;
    const gen = generation;
    let events = [];
    let last = 0;
    let stepsAll = false;
    const logBody = el("tbody", {});
    const logNote = el("p", {class: "muted", id: "events-note"});
    const logTable = el("table", {id: "events"},
        el("thead", {}, el("tr", {}, ["time (UTC)", "step", "level", "type", "message"].map((h) => el("th", {}, h)))),
        logBody);
    const head = el("div", {id: "run-head"});
    const dagBox = el("div", {class: "scroll", id: "dag-box"});
    const ganttBox = el("div", {class: "scroll", id: "gantt-box"});
    const stepsBox = el("div", {id: "steps-box"});
    const checksBox = el("div", {id: "checks-box"});
    show(el("h1", {}, "Run ", el("span", {class: "mono"}, runId)), head,
        el("h2", {}, "Graph"), dagBox, el("h2", {}, "Gantt"), ganttBox,
        el("h2", {}, "Steps"), stepsBox, el("h2", {}, "Checks"), checksBox, el("h2", {}, "Events"), logNote, el("div", {class: "scroll log"}, logTable));

    /* The first load asks for the newest events only; a run of a few
     * hundred steps then reads its whole history for the Gantt's attempts,
     * a bigger one draws one bar per step from the steps' own times (so a
     * 5,000-step run does not ship every event to the page). */
    let first = true;
    let big = false;
    /* "stream" once following by SSE (events arrive by it, a `run` message
     * re-reads the run, at most every RERUN_MS), "poll" after it failed. */
    let mode = null;
    let rerun = null;
    function rereadRun(ms) {
        if (rerun === null && gen === generation) {
            rerun = setTimeout(() => { rerun = null; refresh().catch(fail); }, ms);
        }
    }
    async function refresh() {
        const runUrl = "/api/runs/" + encodeURIComponent(runId);
        let data, ev;
        if (mode === "stream") {
            data = await api(runUrl);
            ev = {events: [], last: last};
        } else if (first) {
            let tail;
            [data, tail] = await Promise.all([api(runUrl), api(runUrl + "/events" + qs({tail: ROWS_SHOWN}))]);
            big = data.steps.length > ROWS_SHOWN;
            ev = !big && tail.events.length === ROWS_SHOWN ? await eventsAfter(runId, 0)
                : {events: tail.events, last: tail.last_seq};
            logBody.__more = tail.events.length === ROWS_SHOWN;
            first = false;
        } else {
            [data, ev] = await Promise.all([api(runUrl), eventsAfter(runId, last)]);
        }
        if (gen !== generation) {
            return;
        }
        const r = data.run;
        if (!big) {
            events.push(...ev.events);
        }
        last = ev.last;
        appendCapped(logBody, ev.events, eventRow, logNote);
        /* replaceChildren() would print a null (no action button on a
         * read-only daemon) as the text "null": append() skips it. */
        head.replaceChildren();
        append(head, [el("dl", {class: "facts"},
            el("dt", {}, "pipeline"), el("dd", {}, link("#/runs" + qs({pipeline: r.pipeline}), r.pipeline)),
            el("dt", {}, "status"), el("dd", {id: "run-status"}, badge(r.status)),
            el("dt", {}, "trigger"), el("dd", {}, r.trigger),
            el("dt", {}, "created"), el("dd", {}, fmtTime(r.created_at)),
            el("dt", {}, "took"), el("dd", {}, runDuration(r)),
            r.parent_run_id ? [el("dt", {}, "retry of"), el("dd", {}, link(runHash(r.parent_run_id), r.parent_run_id))] : null,
            r.partition ? [el("dt", {}, "partition"), el("dd", {class: "mono", id: "run-partition"}, r.partition)] : null,
            r.backfill_id ? [el("dt", {}, "backfill"), el("dd", {class: "mono", id: "run-backfill"}, r.backfill_id)] : null,
            r.priority ? [el("dt", {}, "priority"), el("dd", {}, r.priority)] : null,
            r.error ? [el("dt", {}, "error"), el("dd", {class: "error"}, r.error)] : null,
            el("dt", {}, "params"), el("dd", {class: "mono params"}, r.params || ""),
            data.steps.some((s) => s.task === "report" && s.status === "succeeded")
                ? [el("dt", {}, "report"), el("dd", {}, el("a", {id: "report-link", target: "_blank", rel: "noopener",
                    href: "/api/runs/" + encodeURIComponent(r.run_id) + "/report"}, "the report this run wrote"))] : null,
            el("dt", {}, "tables"), el("dd", {}, link("#/tables/" + encodeURIComponent(r.pipeline), "what " + r.pipeline + " writes"))),
            TERMINAL.has(r.status)
                ? actionButton("Retry", "/api/runs/" + encodeURIComponent(r.run_id) + "/retry", "retry")
                : actionButton("Cancel", "/api/runs/" + encodeURIComponent(r.run_id) + "/cancel", "cancel")]);
        dagBox.replaceChildren(drawDag(data.steps, (data.graph && data.graph.needs) || {}));
        ganttBox.replaceChildren(drawGantt(r, data.steps, events));
        const shownSteps = stepsAll ? data.steps : data.steps.slice(0, ROWS_SHOWN);
        const more = data.steps.length > shownSteps.length
            ? el("p", {}, el("button", {type: "button", id: "all-steps"}, "show all " + data.steps.length + " steps")) : null;
        if (more) {
            more.firstChild.addEventListener("click", () => { stepsAll = true; refresh().catch(fail); });
        }
        stepsBox.replaceChildren(more || "", table(["step", "task", "status", "attempts", "took", "exit", "rows in/out", "cpu", "max rss", "error"],
            shownSteps.map((s) => el("tr", {class: "step"},
                el("td", {}, link(stepHash(s), s.step)),
                el("td", {}, s.task || ""),
                el("td", {}, badge(s.status)),
                el("td", {class: "num"}, s.attempts),
                el("td", {class: "num"}, s.started_at ? fmtDur((s.ended_at || Date.now()) - s.started_at) : ""),
                el("td", {class: "num"}, s.exit_code === null ? "" : s.exit_code),
                el("td", {class: "num"}, (s.rows_in || 0) + " / " + (s.rows_out || 0)),
                el("td", {class: "num"}, s.cpu_usec ? fmtDur(Math.round(s.cpu_usec / 1000)) : ""),
                el("td", {class: "num"}, s.max_rss_kb ? Math.round(s.max_rss_kb / 1024) + " MB" : ""),
                el("td", {class: "error"}, s.error || s.skip_reason || ""))), {id: "steps"}));
        checksBox.replaceChildren(...[checksTable(data.checks || [])].flat().filter((c) => c));
        if (TERMINAL.has(r.status)) {
            document.body.setAttribute("data-run-done", "1");
        } else if (mode === null && window.EventSource) {
            mode = "stream";
            const reread = big ? POLL_MS : POLL_MS / 4;
            follow(runId, null, last, {
                events: (list, seq) => {
                    if (gen !== generation) {
                        return;
                    }
                    if (!big) {
                        events.push(...list);
                    }
                    last = seq;
                    appendCapped(logBody, list, eventRow, logNote);
                    rereadRun(reread); /* the Gantt's attempts and the run's times */
                },
                run: () => rereadRun(reread),
                end: () => rereadRun(0),
                fail: () => { mode = "poll"; rereadRun(POLL_MS); },
            });
        } else if (mode !== "stream") {
            document.body.setAttribute("data-live", "poll");
            setTimeout(() => { if (gen === generation) { refresh().catch(fail); } }, POLL_MS);
        }
    }
    await refresh();
}

/* ---- a step's log ---- */

async function pageStep(runId, step) {
    navActive("runs");
    currentRun = runId;
    const gen = generation;
    let last = 0;
    const body = el("tbody", {});
    const state = el("p", {id: "step-state"});
    show(el("h1", {}, "Step ", el("span", {class: "name"}, step)),
        el("p", {}, "of run ", link(runHash(runId), runId, {class: "mono"})), state,
        el("div", {class: "scroll log"}, el("table", {id: "step-log"},
            el("thead", {}, el("tr", {}, ["time (UTC)", "level", "type", "message"].map((h) => el("th", {}, h)))), body)));
    let mode = null; /* as in pageRun: "stream" or "poll" */
    let rerun = null;
    const addRows = (list) => append(body, list.map((e) => el("tr", {class: "event lvl-" + cls(e.level)},
        el("td", {class: "mono"}, fmtTime(e.ts)), el("td", {}, e.level), el("td", {}, e.type),
        el("td", {class: "msg"}, e.message))));
    function rereadRun(ms) {
        if (rerun === null && gen === generation) {
            rerun = setTimeout(() => { rerun = null; refresh().catch(fail); }, ms);
        }
    }
    async function refresh() {
        const runUrl = "/api/runs/" + encodeURIComponent(runId);
        const [data, ev] = mode === "stream" ? [await api(runUrl), {events: [], last: last}]
            : await Promise.all([api(runUrl), eventsAfter(runId, last, step)]);
        if (gen !== generation) {
            return;
        }
        last = ev.last;
        addRows(ev.events);
        const s = data.steps.find((x) => x.step === step);
        state.replaceChildren(s ? badge(s.status) : "unknown step", s && s.error ? el("span", {class: "error"}, " " + s.error) : "");
        if (TERMINAL.has(data.run.status)) {
            document.body.setAttribute("data-run-done", "1");
        } else if (mode === null && window.EventSource) {
            mode = "stream";
            follow(runId, step, last, {
                events: (list, seq) => {
                    if (gen === generation) {
                        last = seq;
                        addRows(list);
                    }
                },
                run: () => rereadRun(POLL_MS), /* only the step's badge changes */
                end: () => rereadRun(0),
                fail: () => { mode = "poll"; rereadRun(POLL_MS); },
            });
        } else if (mode !== "stream") {
            document.body.setAttribute("data-live", "poll");
            setTimeout(() => { if (gen === generation) { refresh().catch(fail); } }, POLL_MS);
        }
    }
    await refresh();
}

/* ---- schedules and sensors ---- */

async function pageTicks() {
    navActive("ticks");
    const t = await api("/api/ticks?limit=200");
    const armed = (t.armed || []).map((a) => el("tr", {class: "armed"},
        el("td", {}, a.kind), el("td", {}, a.name), el("td", {}, a.pipeline),
        el("td", {}, a.kind === "schedule" ? (a.cron || "") + (a.timezone ? " " + a.timezone : "") : (a.watch || "") + (a.pattern ? " " + a.pattern : "")),
        el("td", {}, a.kind === "schedule" ? fmtTime(a.next) : (a.watching ? "watching" : "directory missing"))));
    const ticks = t.ticks.map((k) => el("tr", {class: "tick"},
        el("td", {}, fmtTime(k.ts)), el("td", {}, k.kind), el("td", {}, k.name),
        el("td", {}, badge(k.status)),
        el("td", {}, k.run_id ? link(runHash(k.run_id), k.run_id.slice(0, 12), {class: "mono"}) : ""),
        el("td", {class: "error"}, k.reason || "")));
    show(el("h1", {}, "Schedules and sensors"),
        armed.length ? table(["kind", "name", "pipeline", "when / what", "next / state"], armed, {id: "armed"})
            : el("p", {class: "muted"}, "Nothing armed."),
        el("h2", {}, "Ticks"),
        ticks.length ? table(["time (UTC)", "kind", "name", "status", "run", "reason"], ticks, {id: "ticks"})
            : el("p", {class: "muted"}, "No ticks yet."));
}

/* ---- the tables a pipeline writes ---- */

const KIND_CLASS = {table: "k-table", file: "k-file", url: "k-url", check: "k-check"};

/* The lineage graph (`dagd lineage`'s nodes and edges) in the run graph's
 * layered layout: sources on the left, what is derived from them right. */
function drawLineage(lin) {
    const W = 190, H = 26, GX = 46, GY = 10;
    const nodes = lin.nodes.map((n) => ({step: n.id, kind: n.kind}));
    const needs = {};
    for (const e of lin.edges) {
        (needs[e.to] = needs[e.to] || []).push(e.from);
    }
    const lay = layout(nodes, needs);
    const xy = (p) => ({x: 10 + p.c * (W + GX), y: 10 + p.r * (H + GY)});
    const rows = lay.cols.reduce((m, col) => Math.max(m, col.length), 0);
    const width = 20 + lay.cols.length * (W + GX) - GX, height = 20 + rows * (H + GY) - GY;
    const g = svg("svg", {id: "lineage", width: width, height: height, viewBox: "0 0 " + width + " " + height,
        role: "img", "aria-label": "lineage graph"});
    const edges = svg("g", {class: "edges"});
    for (const e of lin.edges) {
        const pa = lay.pos.get(e.from), pb = lay.pos.get(e.to);
        if (!pa || !pb || e.from === e.to) {
            continue;
        }
        const a = xy(pa), b = xy(pb);
        const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
        edges.appendChild(svg("path", {class: "edge", d: "M" + x1 + "," + y1 + " C" + mx + "," + y1 + " " + mx + "," + y2 + " " + x2 + "," + y2},
            svg("title", {}, e.from + " \u2192 " + e.to + " (" + e.step + ")")));
    }
    g.appendChild(edges);
    for (const n of nodes) {
        const p = xy(lay.pos.get(n.step));
        const name = n.step.slice(n.step.indexOf(":") + 1);
        const label = name.length > 26 ? "\u2026" + name.slice(-25) : name;
        g.appendChild(svg("g", {class: "lineage-node " + (KIND_CLASS[n.kind] || "k-other"), "data-id": n.step},
            svg("rect", {x: p.x, y: p.y, width: W, height: H, rx: 4}),
            svg("text", {x: p.x + 7, y: p.y + 17}, label),
            svg("title", {}, n.step)));
    }
    return g;
}

async function pageTables(name) {
    navActive("pipelines");
    const t = await api("/api/pipelines/" + encodeURIComponent(name) + "/tables");
    const rows = t.tables.map((x) => el("tr", {class: "table-row"},
        el("td", {class: "mono name"}, x.name),
        el("td", {class: "num rows"}, x.rows === null ? "" : x.rows.toLocaleString("en")),
        el("td", {}, x.written_by.join(", ")),
        el("td", {}, x.last_written ? [link(runHash(x.last_written.run_id), x.last_written.run_id.slice(0, 12), {class: "mono"}),
            " ", fmtTime(x.last_written.ended_at)]
            : el("span", {class: "muted"}, x.written_by.length ? "not in the last 100 runs" : "no step's config names it as written"))));
    show(el("h1", {}, "Tables of ", el("span", {class: "name"}, t.pipeline)),
        el("p", {}, "warehouse ", el("span", {class: "mono", id: "warehouse"}, t.warehouse || "(none)")),
        t.lineage_error ? el("p", {class: "error"}, t.lineage_error) : null,
        rows.length ? table(["table", "rows", "written by", "last written"], rows, {id: "tables"})
            : el("p", {class: "muted", id: "tables-empty"}, "This pipeline writes no table."),
        el("h2", {}, "Lineage"),
        t.lineage.nodes.length ? el("div", {class: "scroll", id: "lineage-box"}, drawLineage(t.lineage))
            : el("p", {class: "muted"}, "Nothing to draw."));
}

/* ---- routing ---- */

function fail(err) {
    show(el("h1", {}, "Error"), el("p", {class: "error", id: "error"}, String(err && err.message || err)));
}

function route() {
    generation++;
    if (liveStream) {
        liveStream.close();
        liveStream = null;
    }
    document.body.removeAttribute("data-live");
    document.body.removeAttribute("data-run-done");
    const hash = location.hash.replace(/^#/, "") || "/";
    const q = hash.indexOf("?");
    const path = q >= 0 ? hash.slice(0, q) : hash;
    const params = new URLSearchParams(q >= 0 ? hash.slice(q + 1) : "");
    const parts = path.split("/").filter((x) => x).map(decodeURIComponent);
    let p;
    if (parts.length === 0 || parts[0] === "pipelines") {
        p = pagePipelines();
    } else if (parts[0] === "runs") {
        p = pageRuns(params);
    } else if (parts[0] === "run" && parts.length === 2) {
        p = pageRun(parts[1]);
    } else if (parts[0] === "run" && parts.length === 4 && parts[2] === "step") {
        p = pageStep(parts[1], parts[3]);
    } else if (parts[0] === "tables" && parts.length === 2) {
        p = pageTables(parts[1]);
    } else if (parts[0] === "ticks") {
        p = pageTicks();
    } else {
        p = Promise.reject(new Error("no such page"));
    }
    p.then(() => {
        /* Marks for tests and benchmarks: which route finished, and when. */
        document.body.setAttribute("data-loaded-ms", String(Math.round(performance.now())));
        document.body.setAttribute("data-loaded", String(generation));
    }).catch(fail);
}

window.addEventListener("hashchange", route);
initActions().catch(() => {}).finally(route);
