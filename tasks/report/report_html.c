/* HTML rendering of the sales report. See report_html.h.
 *
 * Layout: header (title, run id, generation time), key figures, Q1 chart and
 * table, Q2 chart, tiers chart and table, data-quality table, input files.
 * Charts are hand-written SVG: a few rects and texts each, so the file stays
 * small (~100 kB on the full data) and renders without any script. */
#include "report_html.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Tier colours, lowest tier first (ColorBrewer "Blues"/"Oranges" mix that
 * stays readable in grey scale). */
static const char *const tier_colours[] = {
    "#9ecae1", "#4292c6", "#08519c", "#fd8d3c", "#d94801", "#7f2704", "#74c476", "#238b45",
};
#define N_TIER_COLOURS (sizeof(tier_colours) / sizeof(tier_colours[0]))

void dagd_html_escape(FILE *out, const char *s)
{
    if (!s) {
        return;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&#39;", out);
            break;
        default:
            if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f) {
                fputs("\xef\xbf\xbd", out); /* U+FFFD */
            } else {
                fputc(*p, out);
            }
        }
    }
}

char *dagd_report_money(char *buf, size_t size, int64_t cents)
{
    char digits[32];
    bool neg = cents < 0;
    uint64_t a = neg ? (uint64_t)0 - (uint64_t)cents : (uint64_t)cents;
    int n = snprintf(digits, sizeof(digits), "%" PRIu64, a / 100);
    char tmp[48];
    size_t o = 0;
    if (neg) {
        tmp[o++] = '-';
    }
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0) {
            tmp[o++] = ',';
        }
        tmp[o++] = digits[i];
    }
    snprintf(tmp + o, sizeof(tmp) - o, ".%02u", (unsigned)(a % 100));
    snprintf(buf, size, "%s", tmp);
    return buf;
}

static void name_html(FILE *out, const char *zh, const char *en)
{
    fputs("<span class=\"zh\" lang=\"zh-Hans\">", out);
    dagd_html_escape(out, zh);
    fputs("</span>", out);
    if (en && *en) {
        fputs(" <span class=\"en\" lang=\"en\">", out);
        dagd_html_escape(out, en);
        fputs("</span>", out);
    }
}

static void svg_open(FILE *out, const char *id, int w, int h, const char *title)
{
    fprintf(out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"%s\" class=\"chart\" viewBox=\"0 0 %d "
            "%d\" width=\"%d\" height=\"%d\" role=\"img\" aria-labelledby=\"%s-title\">\n"
            "<title id=\"%s-title\">",
            id, w, h, w, h, id, id);
    dagd_html_escape(out, title);
    fputs("</title>\n", out);
}

/* A "nice" axis maximum: 1, 2 or 5 times a power of ten above v. */
static double nice_max(double v)
{
    if (v <= 0) {
        return 1;
    }
    double p = pow(10, floor(log10(v)));
    for (int i = 0; i < 3; i++) {
        static const double steps[] = {1, 2, 5};
        if (steps[i] * p >= v) {
            return steps[i] * p;
        }
    }
    return 10 * p;
}

static void chart_q1(FILE *out, const struct dagd_report *r)
{
    const int W = 960, H = 400, L = 90, R = 20, T = 40, B = 90;
    char money[48];
    double max = 0;
    for (size_t i = 0; i < r->n_hours; i++) {
        if ((double)r->hours[i].sales_cents > max) {
            max = (double)r->hours[i].sales_cents;
        }
    }
    max = nice_max(max / 100.0 * 1.1);
    svg_open(out, DAGD_REPORT_ID_Q1, W, H, "Q1: top city per hour (sales RMB)");
    double plot_h = H - T - B, plot_w = W - L - R;
    for (int g = 0; g <= 4; g++) {
        double y = T + plot_h - plot_h * g / 4.0;
        fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"grid\"/>", L, y,
                W - R, y);
        fprintf(out, "<text x=\"%d\" y=\"%.1f\" class=\"axis\" text-anchor=\"end\">%s</text>\n",
                L - 6, y + 4,
                dagd_report_money(money, sizeof(money), (int64_t)(max * g / 4.0 * 100)));
    }
    double slot = r->n_hours ? plot_w / (double)r->n_hours : plot_w;
    for (size_t i = 0; i < r->n_hours; i++) {
        const struct dagd_report_hour *h = &r->hours[i];
        double v = (double)h->sales_cents / 100.0;
        double bh = max > 0 ? plot_h * v / max : 0;
        double x = L + slot * (double)i + slot * 0.15, w = slot * 0.7;
        double y = T + plot_h - bh;
        fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">", x,
                y, w, bh, tier_colours[2]);
        fprintf(out, "<title>%02d:00 ", h->hour);
        dagd_html_escape(out, h->city);
        fprintf(out, " %s</title></rect>\n",
                dagd_report_money(money, sizeof(money), h->sales_cents));
        fprintf(out,
                "<text x=\"%.1f\" y=\"%.1f\" class=\"value\" text-anchor=\"middle\">%s</text>\n",
                x + w / 2, y - 6, money);
        fprintf(out, "<text x=\"%.1f\" y=\"%d\" class=\"label\" text-anchor=\"middle\">", x + w / 2,
                H - B + 20);
        dagd_html_escape(out, h->city);
        fputs("</text>", out);
        if (h->city_en) {
            fprintf(out, "<text x=\"%.1f\" y=\"%d\" class=\"label en\" text-anchor=\"middle\">",
                    x + w / 2, H - B + 38);
            dagd_html_escape(out, h->city_en);
            fputs("</text>", out);
        }
        fprintf(out,
                "<text x=\"%.1f\" y=\"%d\" class=\"axis\" text-anchor=\"middle\">%02d:00&#8211;"
                "%02d:00</text>\n",
                x + w / 2, H - B + 60, h->hour, h->hour + 1);
    }
    fputs("</svg>\n", out);
}

static void chart_q2(FILE *out, const struct dagd_report *r)
{
    const int W = 960, L = 300, R = 140, T = 20, ROW = 34;
    const int H = T + ROW * (int)(r->n_q2 ? r->n_q2 : 1) + 20;
    char money[48];
    double max = 0;
    for (size_t i = 0; i < r->n_q2; i++) {
        if ((double)r->q2[i].avg_cents > max) {
            max = (double)r->q2[i].avg_cents;
        }
    }
    svg_open(out, DAGD_REPORT_ID_Q2, W, H,
             "Q2: top 10 cities by average sales per district with sales (RMB)");
    for (size_t i = 0; i < r->n_q2; i++) {
        const struct dagd_report_q2 *q = &r->q2[i];
        double y = T + ROW * (double)i;
        double w = max > 0 ? (W - L - R) * (double)q->avg_cents / max : 0;
        fprintf(out, "<text x=\"%d\" y=\"%.1f\" class=\"label\" text-anchor=\"end\">%" PRId64 ". ",
                L - 10, y + ROW * 0.6, q->rank);
        dagd_html_escape(out, q->city);
        if (q->city_en) {
            fputs(" <tspan class=\"en\">", out);
            dagd_html_escape(out, q->city_en);
            fputs("</tspan>", out);
        }
        fputs("</text>", out);
        fprintf(out, "<rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">", L,
                y + 4, w, ROW - 10.0, tier_colours[1]);
        fputs("<title>", out);
        dagd_html_escape(out, q->city);
        fprintf(out, ": %s over %" PRId64 " districts</title></rect>",
                dagd_report_money(money, sizeof(money), q->avg_cents), q->districts);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" class=\"value\">%s</text>\n", L + w + 6,
                y + ROW * 0.6, money);
    }
    fputs("</svg>\n", out);
}

static int cmp_tier_city(const void *a, const void *b)
{
    const struct dagd_report_tier_city *x = *(const struct dagd_report_tier_city *const *)a;
    const struct dagd_report_tier_city *y = *(const struct dagd_report_tier_city *const *)b;
    if (x->total_cents != y->total_cents) {
        return x->total_cents < y->total_cents ? 1 : -1; /* descending */
    }
    return strcmp(x->city ? x->city : "", y->city ? y->city : "");
}

static void chart_tiers(FILE *out, const struct dagd_report *r,
                        const struct dagd_report_tier_city **sorted, int ntiers)
{
    const int W = 960, H = 380, L = 90, R = 20, T = 30, B = 50;
    char money[48];
    svg_open(out, DAGD_REPORT_ID_TIERS, W, H,
             "City tiers: per-city total sales (RMB, log scale), largest first, coloured by tier");
    double lo = INFINITY, hi = 0;
    for (size_t i = 0; i < r->n_tiers; i++) {
        double v = (double)sorted[i]->total_cents / 100.0;
        if (v > 0 && v < lo) {
            lo = v;
        }
        if (v > hi) {
            hi = v;
        }
    }
    double e0 = isfinite(lo) ? floor(log10(lo)) : 0, e1 = hi > 0 ? ceil(log10(hi)) : 1;
    if (e1 <= e0) {
        e1 = e0 + 1;
    }
    double plot_h = H - T - B, plot_w = W - L - R;
    for (double e = e0; e <= e1; e++) {
        double y = T + plot_h - plot_h * (e - e0) / (e1 - e0);
        fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"grid\"/>", L, y,
                W - R, y);
        fprintf(out, "<text x=\"%d\" y=\"%.1f\" class=\"axis\" text-anchor=\"end\">%s</text>\n",
                L - 6, y + 4, dagd_report_money(money, sizeof(money), (int64_t)(pow(10, e) * 100)));
    }
    double bw = r->n_tiers ? plot_w / (double)r->n_tiers : plot_w;
    for (size_t i = 0; i < r->n_tiers; i++) {
        const struct dagd_report_tier_city *c = sorted[i];
        double v = (double)c->total_cents / 100.0;
        double bh = v > 0 ? plot_h * (log10(v) - e0) / (e1 - e0) : 0;
        if (bh < 1) {
            bh = 1;
        }
        int t = c->tier < 0 ? 0 : c->tier;
        fprintf(out,
                "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\" "
                "class=\"tier%d\"><title>",
                L + bw * (double)i, T + plot_h - bh, bw > 1.5 ? bw - 0.5 : bw, bh,
                tier_colours[(size_t)t % N_TIER_COLOURS], t);
        dagd_html_escape(out, c->city);
        if (c->city_en) {
            fputs(" ", out);
            dagd_html_escape(out, c->city_en);
        }
        fprintf(out, ": %s, tier %d</title></rect>\n",
                dagd_report_money(money, sizeof(money), c->total_cents), c->tier);
    }
    /* Legend. */
    for (int t = 0; t < ntiers; t++) {
        double x = L + 10 + 130.0 * t;
        fprintf(out, "<rect x=\"%.1f\" y=\"%d\" width=\"14\" height=\"14\" fill=\"%s\"/>", x,
                H - B + 20, tier_colours[(size_t)t % N_TIER_COLOURS]);
        fprintf(out, "<text x=\"%.1f\" y=\"%d\" class=\"label\">tier %d%s</text>\n", x + 20,
                H - B + 32, t,
                t == 0            ? " (lowest)"
                : t == ntiers - 1 ? " (highest)"
                                  : "");
    }
    fputs("</svg>\n", out);
}

static void fmt_time(char *buf, size_t size, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm)) {
        snprintf(buf, size, "%" PRId64, ms);
    }
}

static const char *const css =
    "body{font-family:\"Noto Sans CJK SC\",\"Noto Sans SC\",\"Source Han Sans SC\",\"PingFang SC\","
    "\"Hiragino Sans GB\",\"Microsoft YaHei\",\"WenQuanYi Micro Hei\",system-ui,-apple-system,"
    "\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif;margin:24px auto;max-width:1000px;"
    "color:#1b1f24;background:#fff;line-height:1.45}"
    "h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid "
    "#d0d7de;padding-bottom:4px}"
    ".meta{color:#57606a;font-size:13px}.en{color:#57606a}"
    "table{border-collapse:collapse;font-size:14px;margin:8px 0}"
    "th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left}"
    "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}"
    "th{background:#f6f8fa}"
    ".kpi{display:flex;gap:16px;flex-wrap:wrap}.kpi div{border:1px solid #d0d7de;border-radius:6px;"
    "padding:8px 14px;background:#f6f8fa}.kpi b{display:block;font-size:20px}"
    "svg.chart{max-width:100%;height:auto;display:block;margin:8px 0}"
    "svg .grid{stroke:#d0d7de;stroke-width:1}svg text{font-size:13px;fill:#1b1f24}"
    "svg .axis{font-size:11px;fill:#57606a}svg .value{font-size:12px;font-weight:bold}"
    "svg .en{fill:#57606a;font-size:11px}"
    ".na{color:#9a6700}.swatch{display:inline-block;width:12px;height:12px;margin-right:6px;"
    "vertical-align:-1px}";

/* Readable labels for the key summary figures of DESIGN 6. */
static const char *const summary_labels[][2] = {
    {"total_sales_rmb_cents", "Total sales (RMB)"},
    {"rows_loaded", "Rows loaded"},
    {"rows_included", "Rows included"},
    {"rows_rejected", "Rows rejected"},
};
#define N_SUMMARY_LABELS (sizeof(summary_labels) / sizeof(summary_labels[0]))

static const char *summary_label(const char *key)
{
    for (size_t i = 0; key && i < N_SUMMARY_LABELS; i++) {
        if (strcmp(key, summary_labels[i][0]) == 0) {
            return summary_labels[i][1];
        }
    }
    return NULL;
}

/* A summary value: money for *_cents keys (when integral), else as is. */
static void summary_value(FILE *out, const char *key, const char *value)
{
    char money[48];
    if (key && value && *value && strstr(key, "_cents")) {
        char *end;
        errno = 0;
        long long c = strtoll(value, &end, 10);
        if (!*end && errno == 0) {
            fputs(dagd_report_money(money, sizeof(money), c), out);
            return;
        }
    }
    dagd_html_escape(out, value);
}

static void not_available(FILE *out, const char *what)
{
    fputs("<p class=\"na\">", out);
    dagd_html_escape(out, what);
    fputs(": no data in the warehouse.</p>\n", out);
}

/* <head> (title, CSP, inline CSS), the title and the run line. */
static void section_head(FILE *out, const struct dagd_report *r, const char *when)
{
    fputs("<!DOCTYPE html>\n<html lang=\"zh-Hans\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; img-src data:\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
          out);
    dagd_html_escape(out, r->title);
    fprintf(out, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", css);
    dagd_html_escape(out, r->title);
    fputs("</h1>\n<p class=\"meta\">Run <code id=\"run-id\">", out);
    dagd_html_escape(out, r->run_id);
    fprintf(out, "</code> &middot; generated <time id=\"generated-at\">%s</time></p>\n", when);
}

/* Key figures first (the labelled ones, in label order), then every other
 * summary row in a folded table. */
static void section_summary(FILE *out, const struct dagd_report *r)
{
    fputs("<h2 id=\"summary\">Summary</h2>\n<div class=\"kpi\">", out);
    for (size_t l = 0; l < N_SUMMARY_LABELS; l++) {
        for (size_t i = 0; i < r->n_summary; i++) {
            if (r->summary[i].key && strcmp(r->summary[i].key, summary_labels[l][0]) == 0) {
                fputs("<div><b>", out);
                summary_value(out, r->summary[i].key, r->summary[i].value);
                fputs("</b>", out);
                dagd_html_escape(out, summary_labels[l][1]);
                fputs("</div>", out);
            }
        }
    }
    fputs("</div>\n", out);
    size_t others = 0;
    for (size_t i = 0; i < r->n_summary; i++) {
        others += !summary_label(r->summary[i].key);
    }
    if (others) {
        fprintf(out,
                "<details><summary>All %zu summary figures</summary>\n<table "
                "id=\"table-summary\"><tr><th>Key</th><th class=\"num\">Value</th></tr>\n",
                r->n_summary);
        for (size_t i = 0; i < r->n_summary; i++) {
            fputs("<tr><td><code>", out);
            dagd_html_escape(out, r->summary[i].key);
            fputs("</code></td><td class=\"num\">", out);
            summary_value(out, r->summary[i].key, r->summary[i].value);
            fputs("</td></tr>\n", out);
        }
        fputs("</table></details>\n", out);
    }
    if (!r->n_summary) {
        not_available(out, "Summary");
    }
}

static void section_q1(FILE *out, const struct dagd_report *r)
{
    char money[48], m2[48];
    fputs("<h2 id=\"q1\">Q1 &middot; Top city per hour</h2>\n", out);
    if (!r->n_hours) {
        not_available(out, "Q1 (mart_top_city_per_hour)");
        return;
    }
    chart_q1(out, r);
    fputs("<table id=\"table-q1\"><tr><th>Hour</th><th>City</th><th class=\"num\">Sales "
          "(RMB)</th><th class=\"num\">Margin to 2nd (RMB)</th></tr>\n",
          out);
    for (size_t i = 0; i < r->n_hours; i++) {
        const struct dagd_report_hour *h = &r->hours[i];
        fprintf(out, "<tr><td>%02d:00</td><td>", h->hour);
        name_html(out, h->city, h->city_en);
        fprintf(out, "</td><td class=\"num\">%s</td><td class=\"num\">%s</td></tr>\n",
                dagd_report_money(money, sizeof(money), h->sales_cents),
                dagd_report_money(m2, sizeof(m2), h->margin_cents));
    }
    fputs("</table>\n", out);
}

static void section_q2(FILE *out, const struct dagd_report *r)
{
    char money[48], m2[48];
    fputs("<h2 id=\"q2\">Q2 &middot; Top 10 cities by average sales per district</h2>\n", out);
    if (!r->n_q2) {
        not_available(out, "Q2 (mart_city_district_avg)");
        return;
    }
    chart_q2(out, r);
    fputs("<table id=\"table-q2\"><tr><th class=\"num\">Rank</th><th>City</th><th "
          "class=\"num\">Districts with sales</th><th class=\"num\">City total "
          "(RMB)</th><th class=\"num\">Average per district (RMB)</th></tr>\n",
          out);
    for (size_t i = 0; i < r->n_q2; i++) {
        const struct dagd_report_q2 *q = &r->q2[i];
        fprintf(out, "<tr><td class=\"num\">%" PRId64 "</td><td>", q->rank);
        name_html(out, q->city, q->city_en);
        fprintf(out,
                "</td><td class=\"num\">%" PRId64 "</td><td class=\"num\">%s</td><td "
                "class=\"num\">%s</td></tr>\n",
                q->districts, dagd_report_money(money, sizeof(money), q->total_cents),
                dagd_report_money(m2, sizeof(m2), q->avg_cents));
    }
    fputs("</table>\n", out);
}

/* One row of the tier table: count, lowest and highest total, the first 20
 * cities (sorted: largest first). Nothing for an empty tier. */
static void tier_row(FILE *out, const struct dagd_report *r,
                     const struct dagd_report_tier_city *const *sorted, int t)
{
    char money[48], m2[48];
    size_t count = 0, shown = 0;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < r->n_tiers; i++) {
        if (sorted[i]->tier == t) {
            count++;
            lo = sorted[i]->total_cents < lo ? sorted[i]->total_cents : lo;
            hi = sorted[i]->total_cents > hi ? sorted[i]->total_cents : hi;
        }
    }
    if (!count) {
        return;
    }
    fprintf(out,
            "<tr><td><span class=\"swatch\" style=\"background:%s\"></span>%d</td><td "
            "class=\"num\">%zu</td><td class=\"num\">%s</td><td class=\"num\">%s</td><td>",
            tier_colours[(size_t)t % N_TIER_COLOURS], t, count,
            dagd_report_money(money, sizeof(money), lo), dagd_report_money(m2, sizeof(m2), hi));
    for (size_t i = 0; i < r->n_tiers && shown < 20; i++) {
        if (sorted[i]->tier == t) {
            fputs(shown++ ? ", " : "", out);
            name_html(out, sorted[i]->city, sorted[i]->city_en);
        }
    }
    fputs(count > shown ? ", &hellip;</td></tr>\n" : "</td></tr>\n", out);
}

/* The tiers chart and table, highest tier first. -ENOMEM (nothing of the
 * section written but its heading) if the sort array cannot be had. */
static int section_tiers(FILE *out, const struct dagd_report *r)
{
    const struct dagd_report_tier_city **sorted = NULL;
    int ntiers = 0;
    fputs("<h2 id=\"tiers\">City tiers</h2>\n", out);
    if (!r->n_tiers) {
        not_available(out, "City tiers (city_tiers)");
        return 0;
    }
    sorted = malloc(r->n_tiers * sizeof(*sorted));
    if (!sorted) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < r->n_tiers; i++) {
        sorted[i] = &r->tiers[i];
        if (r->tiers[i].tier + 1 > ntiers) {
            ntiers = r->tiers[i].tier + 1;
        }
    }
    qsort(sorted, r->n_tiers, sizeof(*sorted), cmp_tier_city);
    chart_tiers(out, r, sorted, ntiers);
    fputs("<table id=\"table-tiers\"><tr><th>Tier</th><th class=\"num\">Cities</th><th "
          "class=\"num\">Lowest total (RMB)</th><th class=\"num\">Highest total "
          "(RMB)</th><th>Cities (largest first, up to 20)</th></tr>\n",
          out);
    for (int t = ntiers - 1; t >= 0; t--) {
        tier_row(out, r, sorted, t);
    }
    fputs("</table>\n", out);
    free(sorted);
    return 0;
}

static void section_dq(FILE *out, const struct dagd_report *r)
{
    fputs("<h2 id=\"dq\">Data quality</h2>\n", out);
    if (!r->n_dq) {
        fprintf(out, "<table id=\"%s\"></table>\n", DAGD_REPORT_ID_DQ);
        not_available(out, "Data quality (dq_summary)");
        return;
    }
    fprintf(out,
            "<table id=\"%s\"><tr><th>Source</th><th>Rule</th><th "
            "class=\"num\">Rows</th></tr>\n",
            DAGD_REPORT_ID_DQ);
    for (size_t i = 0; i < r->n_dq; i++) {
        fputs("<tr><td>", out);
        dagd_html_escape(out, r->dq[i].source);
        fputs("</td><td><code>", out);
        dagd_html_escape(out, r->dq[i].rule);
        fprintf(out, "</code></td><td class=\"num\">%" PRId64 "</td></tr>\n", r->dq[i].rows);
    }
    fputs("</table>\n", out);
}

static void section_inputs(FILE *out, const struct dagd_report *r)
{
    char when[48];
    fputs("<h2 id=\"inputs\">Input files</h2>\n", out);
    fprintf(out,
            "<table id=\"%s\"><tr><th>Source</th><th>Path</th><th class=\"num\">Rows</th>"
            "<th class=\"num\">Bytes</th><th>Loaded</th><th>Content hash</th></tr>\n",
            DAGD_REPORT_ID_FILES);
    for (size_t i = 0; i < r->n_files; i++) {
        const struct dagd_report_file *f = &r->files[i];
        fmt_time(when, sizeof(when), f->loaded_at_ms);
        fputs("<tr><td>", out);
        dagd_html_escape(out, f->source);
        fputs("</td><td><code>", out);
        dagd_html_escape(out, f->path);
        fprintf(out,
                "</code></td><td class=\"num\">%" PRId64 "</td><td class=\"num\">%" PRId64
                "</td><td>%s</td><td><code>",
                f->rows, f->size, when);
        dagd_html_escape(out, f->hash);
        fputs("</code></td></tr>\n", out);
    }
    fputs("</table>\n", out);
    if (!r->n_files) {
        not_available(out, "Input files (load_files)");
    }
}

int dagd_report_render(const struct dagd_report *r, FILE *out)
{
    char when[64];

    fmt_time(when, sizeof(when), r->generated_at_ms);
    section_head(out, r, when);
    section_summary(out, r);
    section_q1(out, r);
    section_q2(out, r);
    int rc = section_tiers(out, r);
    if (rc < 0) {
        return rc;
    }
    section_dq(out, r);
    section_inputs(out, r);
    fprintf(out, "<p class=\"meta\">dagd sales report &middot; run ");
    dagd_html_escape(out, r->run_id);
    fprintf(out, " &middot; %s</p>\n</body>\n</html>\n", when);
    return ferror(out) ? -EIO : 0;
}
