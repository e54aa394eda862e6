/* HTML rendering of the sales report. See report_html.h.
 *
 * Layout: header (title, run id, generation time), key figures, Q1 chart and
 * table, Q2 chart and table, tiers chart and table, data-quality table,
 * input files. Charts are hand-written SVG: a few rects and texts each, so
 * the file stays small (~100 kB on the full data) and renders without any
 * script. Written for a sales manager: axes have titles and units, money
 * reads as RMB ("29.1M"), codes come with words, and every English name
 * from translations stands beside the Chinese one, tooltips included. */
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

/* The colour of the text drawn on a tier's segments (dark on the light
 * colours). */
static const char *tier_ink(int t)
{
    size_t i = (size_t)t % N_TIER_COLOURS;
    return i == 0 || i == 3 || i == 6 ? "#1b1f24" : "#ffffff";
}

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

char *dagd_report_money_short(char *buf, size_t size, int64_t cents)
{
    static const struct {
        double unit;
        const char *suffix;
    } units[] = {{1e12, "T"}, {1e9, "B"}, {1e6, "M"}, {1e3, "K"}};
    double v = fabs((double)cents / 100.0);
    const char *sign = cents < 0 ? "-" : "";
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        /* 999,960 rounds to 1000.0K: that is 1M */
        if (v >= units[i].unit * 0.99995) {
            double x = round(v / units[i].unit * 10) / 10;
            if (x == floor(x)) {
                snprintf(buf, size, "%s%.0f%s", sign, x, units[i].suffix);
            } else {
                snprintf(buf, size, "%s%.1f%s", sign, x, units[i].suffix);
            }
            return buf;
        }
    }
    snprintf(buf, size, "%s%.0f", sign, round(v));
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

/* "上海 (Shanghai)" for tooltips, which hold plain text only. */
static void name_text(FILE *out, const char *zh, const char *en)
{
    dagd_html_escape(out, zh);
    if (en && *en) {
        fputs(" (", out);
        dagd_html_escape(out, en);
        fputs(")", out);
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

/* A tick step for an axis from 0 to v with about `n` steps: 1, 2, 2.5 or 5
 * times a power of ten (so ticks read 10M, 20M, ... not 7.3M, 14.6M). */
static double nice_step(double v, int n)
{
    if (v <= 0 || n < 1) {
        return 1;
    }
    double raw = v / n;
    double p = pow(10, floor(log10(raw)));
    static const double steps[] = {1, 2, 2.5, 5, 10};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (steps[i] * p >= raw) {
            return steps[i] * p;
        }
    }
    return 10 * p;
}

/* A rough width in px of `s` drawn at `px` font size: CJK characters are
 * square, Latin ones about 0.6 em. Used to decide whether a name fits. */
static double text_width(const char *s, double px)
{
    double w = 0;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p < 0x80) {
            w += 0.6 * px;
        } else if (*p >= 0xe0) {
            w += px; /* lead byte of a 3- or 4-byte sequence: CJK */
        } else if (*p >= 0xc0) {
            w += 0.6 * px;
        }
    }
    return w;
}

/* Write `s` escaped, cut at a character boundary with an ellipsis when it is
 * wider than `maxw` at `px` (text_width's estimate): chart labels stay in
 * their place; the tooltip and the table give the whole name. */
static void fit_label(FILE *out, const char *s, double maxw, double px)
{
    if (!s || text_width(s, px) <= maxw) {
        dagd_html_escape(out, s);
        return;
    }
    /* the longest prefix of whole characters that leaves room for "..." */
    double w = 0;
    size_t cut = 0;
    for (size_t i = 0; s[i];) {
        size_t n = 1;
        while (s[i + n] && ((unsigned char)s[i + n] & 0xc0) == 0x80) {
            n++;
        }
        char ch[8] = {0};
        memcpy(ch, s + i, n < sizeof(ch) ? n : sizeof(ch) - 1);
        w += text_width(ch, px);
        if (w + px > maxw) {
            break;
        }
        i += n;
        cut = i;
    }
    char *tmp = strndup(s, cut);
    if (!tmp) {
        return;
    }
    dagd_html_escape(out, tmp);
    fputs("&#8230;", out);
    free(tmp);
}

/* Q1: one bar per hour with sales; y axis in RMB with readable ticks. */
static void chart_q1(FILE *out, const struct dagd_report *r)
{
    const int W = 960, H = 420, L = 80, R = 20, T = 30, B = 110;
    char money[48], full[48];
    double max = 0;
    for (size_t i = 0; i < r->n_hours; i++) {
        if ((double)r->hours[i].sales_cents > max) {
            max = (double)r->hours[i].sales_cents;
        }
    }
    double step = nice_step(max / 100.0 * 1.08, 4);
    double top = step * ceil(max / 100.0 * 1.08 / step);
    if (top <= 0) {
        top = step;
    }
    svg_open(out, DAGD_REPORT_ID_Q1, W, H,
             "Q1: top city per hour, sales in RMB, hours in PST as delivered");
    double plot_h = H - T - B, plot_w = W - L - R;
    for (double v = 0; v <= top + step / 2; v += step) {
        double y = T + plot_h - plot_h * v / top;
        fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" class=\"grid\"/>", L, y,
                W - R, y);
        fprintf(out, "<text x=\"%d\" y=\"%.1f\" class=\"axis\" text-anchor=\"end\">%s</text>\n",
                L - 6, y + 4, dagd_report_money_short(money, sizeof(money), (int64_t)(v * 100)));
    }
    fprintf(out,
            "<text x=\"24\" y=\"%.1f\" class=\"axis-title\" text-anchor=\"middle\" "
            "transform=\"rotate(-90 24 %.1f)\">Sales (RMB)</text>\n",
            T + plot_h / 2, T + plot_h / 2);
    fprintf(out,
            "<text x=\"%.1f\" y=\"%d\" class=\"axis-title\" text-anchor=\"middle\">Hour of the "
            "order (PST, as delivered; hours with sales only)</text>\n",
            L + plot_w / 2, H - 8);
    double slot = r->n_hours ? plot_w / (double)r->n_hours : plot_w;
    for (size_t i = 0; i < r->n_hours; i++) {
        const struct dagd_report_hour *h = &r->hours[i];
        double v = (double)h->sales_cents / 100.0;
        double bh = plot_h * v / top;
        double x = L + slot * (double)i + slot * 0.15, w = slot * 0.7;
        double y = T + plot_h - bh;
        fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">", x,
                y, w, bh, tier_colours[2]);
        fprintf(out, "<title>%02d:00&#8211;%02d:59 PST: ", h->hour, h->hour);
        name_text(out, h->city, h->city_en);
        fprintf(out, ", %s RMB</title></rect>\n",
                dagd_report_money(full, sizeof(full), h->sales_cents));
        fprintf(out,
                "<text x=\"%.1f\" y=\"%.1f\" class=\"value\" text-anchor=\"middle\">%s</text>\n",
                x + w / 2, y - 6, dagd_report_money_short(money, sizeof(money), h->sales_cents));
        fprintf(out,
                "<text x=\"%.1f\" y=\"%d\" class=\"axis\" text-anchor=\"middle\">%02d:00</text>\n",
                x + w / 2, H - B + 18, h->hour);
        fprintf(out, "<text x=\"%.1f\" y=\"%d\" class=\"label\" text-anchor=\"middle\">", x + w / 2,
                H - B + 40);
        fit_label(out, h->city, slot * 0.95, 22); /* the phone size: see css */
        fputs("</text>", out);
        if (h->city_en) {
            fprintf(out, "<text x=\"%.1f\" y=\"%d\" class=\"label en\" text-anchor=\"middle\">",
                    x + w / 2, H - B + 58);
            fit_label(out, h->city_en, slot * 0.95, 18);
            fputs("</text>", out);
        }
        fputs("\n", out);
    }
    fputs("</svg>\n", out);
}

/* Q2: horizontal bars, ranked, x axis in RMB with readable ticks. */
static void chart_q2(FILE *out, const struct dagd_report *r)
{
    const int W = 960, L = 280, R = 70, T = 16, ROW = 34, B = 56;
    const int H = T + ROW * (int)(r->n_q2 ? r->n_q2 : 1) + B;
    char money[48], full[48];
    double max = 0;
    for (size_t i = 0; i < r->n_q2; i++) {
        if ((double)r->q2[i].avg_cents > max) {
            max = (double)r->q2[i].avg_cents;
        }
    }
    double step = nice_step(max / 100.0, 4);
    double top = step * ceil(max / 100.0 / step);
    if (top <= 0) {
        top = step;
    }
    double plot_w = W - L - R, plot_h = ROW * (double)(r->n_q2 ? r->n_q2 : 1);
    svg_open(out, DAGD_REPORT_ID_Q2, W, H,
             "Q2: top cities by average sales per district with sales (RMB)");
    for (double v = 0; v <= top + step / 2; v += step) {
        double x = L + plot_w * v / top;
        fprintf(out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", x, T,
                x, T + plot_h);
        fprintf(out,
                "<text x=\"%.1f\" y=\"%.1f\" class=\"axis\" text-anchor=\"middle\">%s</text>\n", x,
                T + plot_h + 16, dagd_report_money_short(money, sizeof(money), (int64_t)(v * 100)));
    }
    fprintf(out,
            "<text x=\"%.1f\" y=\"%d\" class=\"axis-title\" text-anchor=\"middle\">Average "
            "sales per district with sales (RMB)</text>\n",
            L + plot_w / 2, H - 8);
    for (size_t i = 0; i < r->n_q2; i++) {
        const struct dagd_report_q2 *q = &r->q2[i];
        double y = T + ROW * (double)i;
        double w = plot_w * (double)q->avg_cents / 100.0 / top;
        fprintf(out, "<text x=\"%d\" y=\"%.1f\" class=\"label\" text-anchor=\"end\">%" PRId64 ". ",
                L - 10, y + ROW * 0.6, q->rank);
        fit_label(out, q->city, 150, 13);
        if (q->city_en) {
            fputs(" <tspan class=\"en\">", out);
            fit_label(out, q->city_en, L - 60 - fmin(text_width(q->city, 13), 150), 11);
            fputs("</tspan>", out);
        }
        fputs("</text>", out);
        fprintf(out, "<rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">", L,
                y + 4, w, ROW - 10.0, tier_colours[1]);
        fputs("<title>", out);
        name_text(out, q->city, q->city_en);
        fprintf(out, ": %s RMB per district, %" PRId64 " districts with sales</title></rect>",
                dagd_report_money(full, sizeof(full), q->avg_cents), q->districts);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" class=\"value\">%s</text>\n", L + w + 6,
                y + ROW * 0.6, dagd_report_money_short(money, sizeof(money), q->avg_cents));
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

/* Count, lowest, highest and sum of the totals of tier t. */
struct tier_stats {
    size_t count;
    int64_t lo, hi;
    double sum;
};

static struct tier_stats tier_stats(const struct dagd_report *r,
                                    const struct dagd_report_tier_city *const *sorted, int t)
{
    struct tier_stats s = {.lo = INT64_MAX, .hi = INT64_MIN};
    for (size_t i = 0; i < r->n_tiers; i++) {
        if (sorted[i]->tier == t) {
            s.count++;
            s.lo = sorted[i]->total_cents < s.lo ? sorted[i]->total_cents : s.lo;
            s.hi = sorted[i]->total_cents > s.hi ? sorted[i]->total_cents : s.hi;
            s.sum += sorted[i]->total_cents > 0 ? (double)sorted[i]->total_cents : 0;
        }
    }
    return s;
}

static void tier_name(FILE *out, int t, int ntiers)
{
    fprintf(out, "Tier %d%s", t, t == ntiers - 1 ? " (highest)" : t == 0 ? " (lowest)" : "");
}

/* One strip per tier, highest first: a heading (count, range, total), a
 * bar split into one segment per city, as wide as its share of the tier's
 * sales (linear, largest first, named where the name fits), and a line
 * naming the largest cities, so every tier can be read without hovering. */
static void chart_tiers(FILE *out, const struct dagd_report *r,
                        const struct dagd_report_tier_city *const *sorted, int ntiers)
{
    const int W = 960, X0 = 10, X1 = W - 10, BLOCK = 104, STRIP = 40;
    int shown_tiers = 0;
    for (int t = 0; t < ntiers; t++) {
        shown_tiers += tier_stats(r, sorted, t).count > 0;
    }
    const int H = 10 + BLOCK * shown_tiers;
    char money[48], m2[48], m3[48], full[48];
    svg_open(out, DAGD_REPORT_ID_TIERS, W, H,
             "City tiers: one strip per tier, highest first; each segment is one city, as wide as "
             "its share of the tier's sales (RMB)");
    double y = 10;
    for (int t = ntiers - 1; t >= 0; t--) {
        struct tier_stats s = tier_stats(r, sorted, t);
        if (!s.count) {
            continue;
        }
        fprintf(out, "<text x=\"%d\" y=\"%.1f\" class=\"tier-name\">", X0, y + 14);
        tier_name(out, t, ntiers);
        fprintf(
            out,
            "<tspan class=\"tier-info\" dx=\"10\">%zu %s &#183; %s to %s RMB each &#183; %s RMB in "
            "total</tspan></text>\n",
            s.count, s.count == 1 ? "city" : "cities",
            dagd_report_money_short(money, sizeof(money), s.lo),
            dagd_report_money_short(m2, sizeof(m2), s.hi),
            dagd_report_money_short(m3, sizeof(m3), (int64_t)s.sum));
        double x = X0, sy = y + 22;
        for (size_t i = 0; i < r->n_tiers; i++) {
            const struct dagd_report_tier_city *c = sorted[i];
            if (c->tier != t) {
                continue;
            }
            double share = s.sum > 0 && c->total_cents > 0 ? (double)c->total_cents / s.sum : 0;
            double w = (X1 - X0) * share;
            fprintf(out,
                    "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%d\" fill=\"%s\" "
                    "class=\"seg tier%d\"><title>",
                    x, sy, w, STRIP, tier_colours[(size_t)t % N_TIER_COLOURS], t);
            name_text(out, c->city, c->city_en);
            fprintf(out, ": %s RMB, tier %d</title></rect>\n",
                    dagd_report_money(full, sizeof(full), c->total_cents), t);
            dagd_report_money_short(money, sizeof(money), c->total_cents);
            if (w - 8 >= text_width(c->city, 13) && w - 8 >= text_width(money, 11)) {
                fprintf(out,
                        "<text x=\"%.1f\" y=\"%.1f\" class=\"seg-label\" text-anchor=\"middle\" "
                        "fill=\"%s\">",
                        x + w / 2, sy + 17, tier_ink(t));
                dagd_html_escape(out, c->city);
                fprintf(out,
                        "</text><text x=\"%.1f\" y=\"%.1f\" class=\"seg-value\" "
                        "text-anchor=\"middle\" fill=\"%s\">%s</text>\n",
                        x + w / 2, sy + 32, tier_ink(t), money);
            }
            x += w;
        }
        /* The largest cities by name, as many as fit on one line. */
        fprintf(out, "<text x=\"%d\" y=\"%.1f\" class=\"label\">Largest: ", X0, sy + STRIP + 20);
        double used = text_width("Largest: ", 13);
        size_t named = 0;
        for (size_t i = 0; i < r->n_tiers; i++) {
            const struct dagd_report_tier_city *c = sorted[i];
            if (c->tier != t) {
                continue;
            }
            dagd_report_money_short(money, sizeof(money), c->total_cents);
            double need =
                text_width(c->city, 13) + text_width(c->city_en, 11) + text_width(money, 13) + 40;
            if (named && used + need > X1 - X0 - 60) {
                break;
            }
            fputs(named ? " &#183; " : "", out);
            fit_label(out, c->city, 200, 13);
            if (c->city_en && *c->city_en) {
                fputs(" <tspan class=\"en\">", out);
                fit_label(out, c->city_en, 200, 11);
                fputs("</tspan>", out);
            }
            fprintf(out, " %s", money);
            used += need;
            named++;
        }
        if (named < s.count) {
            fprintf(out, " &#183; <tspan class=\"en\">%zu more</tspan>", s.count - named);
        }
        fputs("</text>\n", out);
        y += BLOCK;
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

/* "199,986": a count with thousands separators. */
static char *fmt_count(char *buf, size_t size, int64_t n)
{
    if (n > INT64_MAX / 100 || n < INT64_MIN / 100) {
        snprintf(buf, size, "%" PRId64, n);
        return buf;
    }
    dagd_report_money(buf, size, n * 100);
    *strrchr(buf, '.') = '\0'; /* no cents on a count */
    return buf;
}

/* Narrow screens: the page has side padding, charts scale down, tables
 * wrap their cells (long hashes and paths break anywhere) rather than run
 * past the screen's edge. */
static const char *const css =
    "body{font-family:\"Noto Sans CJK SC\",\"Noto Sans SC\",\"Source Han Sans SC\",\"PingFang SC\","
    "\"Hiragino Sans GB\",\"Microsoft YaHei\",\"WenQuanYi Micro Hei\",system-ui,-apple-system,"
    "\"Segoe UI\",Roboto,\"Helvetica Neue\",Arial,sans-serif;margin:24px auto;max-width:1000px;"
    "padding:0 12px;color:#1b1f24;background:#fff;line-height:1.45}"
    "h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid "
    "#d0d7de;padding-bottom:4px}"
    ".meta{color:#57606a;font-size:13px}.en{color:#57606a}.note{font-size:14px;color:#373e47;"
    "max-width:70em}"
    "table{border-collapse:collapse;font-size:14px;margin:8px 0;max-width:100%}"
    "th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;overflow-wrap:break-word}"
    "td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;overflow-wrap:normal}"
    "th{background:#f6f8fa}code{overflow-wrap:anywhere}"
    "tr.zero td{color:#8c959f}td.tier{white-space:nowrap}"
    ".kpi{display:flex;gap:16px;flex-wrap:wrap}.kpi div{border:1px solid #d0d7de;border-radius:6px;"
    "padding:8px 14px;background:#f6f8fa}.kpi b{display:block;font-size:20px}"
    "svg.chart{max-width:100%;height:auto;display:block;margin:8px 0}"
    "svg .grid{stroke:#d0d7de;stroke-width:1}svg text{font-size:13px;fill:#1b1f24}"
    "svg .axis,svg .tier-info{font-size:12px;fill:#57606a}svg "
    ".value{font-size:13px;font-weight:bold}"
    "svg .axis-title{font-size:13px;fill:#373e47;font-weight:bold}"
    "svg .tier-name{font-size:15px;font-weight:bold}svg .seg{stroke:#fff;stroke-width:0.5}"
    "svg .seg-label{font-size:13px;font-weight:bold}svg .seg-value{font-size:11px}"
    "svg .en{fill:#57606a;font-size:11px}"
    "ul.names{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:4px}"
    "ul.names li{border:1px solid #d0d7de;border-radius:4px;padding:0 6px;background:#f6f8fa}"
    ".na{color:#9a6700}.swatch{display:inline-block;width:12px;height:12px;margin-right:6px;"
    "vertical-align:-1px}"
    "@media (max-width:600px){table{font-size:12px}th,td{padding:3px 4px}.opt{display:none}"
    "td.tier{white-space:normal}.kpi{gap:8px}.kpi div{padding:6px 10px}.kpi b{font-size:17px}"
    /* a 960-wide chart is drawn at ~0.4 scale: larger text in Q1, whose
     * labels are cut to fit their bar at that size (fit_label); Q2's and
     * the tiers chart's names are fitted at 13 */
    "#" DAGD_REPORT_ID_Q1 " text{font-size:22px}#" DAGD_REPORT_ID_Q1 " .en{font-size:18px}"
    "#" DAGD_REPORT_ID_Q1 " .axis{font-size:20px}}";

/* Readable labels for the key summary figures of DESIGN 6. */
static const char *const summary_labels[][2] = {
    {"total_sales_rmb_cents", "Total sales (RMB)"},
    {"rows_loaded", "Rows loaded"},
    {"rows_included", "Rows included"},
    {"rows_rejected", "Rows rejected"},
    {"rows_city_figures", "Rows in city figures"},
    {"rows_hourly_figures", "Rows in hourly figures"},
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

/* A summary value: money for *_cents keys (when integral), counts (rows_*,
 * *_count, ...) with thousands separators, else as is. */
static void summary_value(FILE *out, const char *key, const char *value)
{
    char money[48];
    bool count = key && (strncmp(key, "rows_", 5) == 0 || strstr(key, "count") ||
                         strncmp(key, "cities_", 7) == 0 || strncmp(key, "distinct_", 9) == 0 ||
                         strcmp(key, "final_rows") == 0);
    if (key && value && *value && (count || strstr(key, "_cents"))) {
        char *end;
        errno = 0;
        long long c = strtoll(value, &end, 10);
        if (!*end && errno == 0) {
            fputs(count ? fmt_count(money, sizeof(money), c)
                        : dagd_report_money(money, sizeof(money), c),
                  out);
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
    if (r->n_summary) {
        fputs("<p class=\"note\" id=\"summary-note\">Money is in RMB (USD orders converted). "
              "<b>Rejected</b> rows count in no figure: no ORDER_ID, an amount that is missing, "
              "zero or negative, or a currency other than RMB and USD. Every other row is "
              "included in total sales, even when a data-quality rule <b>flagged</b> it (see "
              "<i>Data quality</i> below): a row with an unknown location is left out of the "
              "city figures, a row without a valid time in 05:00&#8211;11:59 out of the hourly "
              "figures.</p>\n",
              out);
    }
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
    int first = r->hours[0].hour, last = r->hours[0].hour;
    for (size_t i = 0; i < r->n_hours; i++) {
        first = r->hours[i].hour < first ? r->hours[i].hour : first;
        last = r->hours[i].hour > last ? r->hours[i].hour : last;
    }
    fprintf(out,
            "<p class=\"note\" id=\"q1-note\">For each hour, the city with the largest sales in "
            "that hour. Times are the order times as delivered, in <b>Pacific time (PST)</b>, as "
            "the source column <code>ORDER_TIME (PST)</code> says; they are not converted. Only "
            "hours that have sales are shown: here <b>%02d:00 to %02d:59 PST</b> (%zu %s). Orders "
            "without a valid time, or outside 05:00&#8211;11:59, count in total sales but not "
            "here.</p>\n",
            first, last, r->n_hours, r->n_hours == 1 ? "hour" : "hours");
    chart_q1(out, r);
    fputs("<table id=\"table-q1\"><tr><th>Hour (PST)</th><th>City</th><th class=\"num\">Sales "
          "(RMB)</th><th class=\"num\">Lead over the 2nd city (RMB)</th></tr>\n",
          out);
    for (size_t i = 0; i < r->n_hours; i++) {
        const struct dagd_report_hour *h = &r->hours[i];
        fprintf(out, "<tr><td>%02d:00&#8211;%02d:59</td><td>", h->hour, h->hour);
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
    fprintf(out, "<h2 id=\"q2\">Q2 &middot; Top %zu cities by average sales per district</h2>\n",
            r->n_q2 ? r->n_q2 : 10);
    if (!r->n_q2) {
        not_available(out, "Q2 (mart_city_district_avg)");
        return;
    }
    fputs("<p class=\"note\">A city's sales divided by the number of its districts that have "
          "sales (districts without sales are not counted).</p>\n",
          out);
    chart_q2(out, r);
    fputs("<table id=\"table-q2\"><tr><th class=\"num\">Rank</th><th>City</th><th "
          "class=\"num\">Districts with sales</th><th class=\"num opt\">City total "
          "(RMB)</th><th class=\"num\">Average per district (RMB)</th></tr>\n",
          out);
    for (size_t i = 0; i < r->n_q2; i++) {
        const struct dagd_report_q2 *q = &r->q2[i];
        fprintf(out, "<tr><td class=\"num\">%" PRId64 "</td><td>", q->rank);
        name_html(out, q->city, q->city_en);
        fprintf(out,
                "</td><td class=\"num\">%" PRId64 "</td><td class=\"num opt\">%s</td><td "
                "class=\"num\">%s</td></tr>\n",
                q->districts, dagd_report_money(money, sizeof(money), q->total_cents),
                dagd_report_money(m2, sizeof(m2), q->avg_cents));
    }
    fputs("</table>\n", out);
}

/* One row of the tier table: count, lowest and highest total, the first 20
 * cities (sorted: largest first) as list items, so a name with a comma
 * stays one name. Nothing for an empty tier. */
static void tier_row(FILE *out, const struct dagd_report *r,
                     const struct dagd_report_tier_city *const *sorted, int t, int ntiers)
{
    char money[48], m2[48];
    size_t shown = 0;
    struct tier_stats s = tier_stats(r, sorted, t);
    if (!s.count) {
        return;
    }
    fprintf(out, "<tr><td class=\"tier\"><span class=\"swatch\" style=\"background:%s\"></span>",
            tier_colours[(size_t)t % N_TIER_COLOURS]);
    tier_name(out, t, ntiers);
    fprintf(out,
            "</td><td class=\"num\">%zu</td><td class=\"num\">%s&#8211;%s</td>"
            "<td><ul class=\"names\">",
            s.count, dagd_report_money_short(money, sizeof(money), s.lo),
            dagd_report_money_short(m2, sizeof(m2), s.hi));
    for (size_t i = 0; i < r->n_tiers && shown < 20; i++) {
        if (sorted[i]->tier == t) {
            fputs("<li>", out);
            name_html(out, sorted[i]->city, sorted[i]->city_en);
            fputs("</li>", out);
            shown++;
        }
    }
    if (s.count > shown) {
        fprintf(out, "<li class=\"en\">and %zu more</li>", s.count - shown);
    }
    fputs("</ul></td></tr>\n", out);
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
    fprintf(out,
            "<p class=\"note\">Every city with sales, grouped into %d tiers by its total sales "
            "(k-means on the totals; tier 0 is the lowest). Each strip is one tier; each segment "
            "is one city, as wide as its share of that tier's sales, largest first. Hover a "
            "segment for the city and its total; the table below lists the largest cities of "
            "each tier.</p>\n",
            ntiers);
    chart_tiers(out, r, sorted, ntiers);
    fputs("<table id=\"table-tiers\"><tr><th>Tier</th><th class=\"num\">Cities</th><th "
          "class=\"num\">Sales per city (RMB)</th><th>Cities (largest first, up to 20)</th></tr>\n",
          out);
    for (int t = ntiers - 1; t >= 0; t--) {
        tier_row(out, r, sorted, t, ntiers);
    }
    fputs("</table>\n", out);
    free(sorted);
    return 0;
}

/* What each data-quality rule of docs/warehouse.md means and what it does
 * to the row, in words a reader of the report can use. */
static const struct {
    const char *rule, *meaning, *effect;
} dq_rules[] = {
    {"order_id_missing", "No order number (ORDER_ID empty)", "Rejected: in no figure"},
    {"amount_not_positive", "Amount missing, not a number, zero or negative",
     "Rejected: in no figure"},
    {"currency_unknown", "Currency is neither RMB nor USD", "Rejected: in no figure"},
    {"currency_not_rmb", "Amount in USD, converted to RMB at the USD rate (see the summary)",
     "Kept (converted)"},
    {"qty_not_positive_integer", "Quantity blank or not a whole number above 0",
     "Kept: the amount counts"},
    {"bad_order_time", "Order time unreadable (e.g. the text \"time\")",
     "Kept, not in hourly figures (Q1)"},
    {"order_time_outside_window",
     "Order time outside 05:00\xe2\x80\x93"
     "11:59",
     "Kept, not in hourly figures (Q1)"},
    {"unknown_city_district_id", "District number not in the delivery's district map",
     "Kept in total sales, not in city figures (Q1, Q2, tiers)"},
    {"unknown_city", "City name not in the district map",
     "Note only (such rows are also counted as unknown city and district pair)"},
    {"unknown_district", "District name not in the district map",
     "Note only (such rows are also counted as unknown city and district pair)"},
    {"unknown_city_district_pair", "City and district name are not a pair of the district map",
     "Kept in total sales, not in city figures (Q1, Q2, tiers)"},
    {"location_whitespace_trimmed", "Spaces around the city or district name removed", "Note only"},
    {"json_missing_key", "A field is missing from the record (read as empty)", "Note only"},
    {"json_extra_key", "The record has an extra field (ignored)", "Note only"},
    {"duplicate_order_id_superseded", "Replaced by a later copy of the same order",
     "Note only: the latest copy counts"},
};
#define N_DQ_RULES (sizeof(dq_rules) / sizeof(dq_rules[0]))

/* Index of `s` in v[0..n), or -1. */
static ptrdiff_t str_index(const char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i] ? v[i] : "", s ? s : "") == 0) {
            return (ptrdiff_t)i;
        }
    }
    return -1;
}

/* Position of a rule in dq_rules (unknown rules after the known ones). */
static size_t dq_rule_order(const char *rule)
{
    for (size_t k = 0; rule && k < N_DQ_RULES; k++) {
        if (strcmp(rule, dq_rules[k].rule) == 0) {
            return k;
        }
    }
    return N_DQ_RULES;
}

/* One row per rule (in dq_rules order: the rejecting rules first), one
 * column of rows flagged per source ("-" where the rule does not apply to
 * the source), so the three counts of a rule read side by side. */
static int section_dq(FILE *out, const struct dagd_report *r)
{
    fputs("<h2 id=\"dq\">Data quality</h2>\n", out);
    if (!r->n_dq) {
        fprintf(out, "<table id=\"%s\"></table>\n", DAGD_REPORT_ID_DQ);
        not_available(out, "Data quality (dq_summary)");
        return 0;
    }
    const char **sources = calloc(r->n_dq, sizeof(*sources));
    const char **rules = calloc(r->n_dq, sizeof(*rules));
    if (!sources || !rules) {
        free(sources);
        free(rules);
        return -ENOMEM;
    }
    size_t ns = 0, nr = 0;
    for (size_t i = 0; i < r->n_dq; i++) {
        if (str_index(sources, ns, r->dq[i].source) < 0) {
            sources[ns++] = r->dq[i].source ? r->dq[i].source : "";
        }
        if (str_index(rules, nr, r->dq[i].rule) < 0) {
            rules[nr++] = r->dq[i].rule ? r->dq[i].rule : "";
        }
    }
    /* stable insertion sort by dq_rules order (a few dozen rules) */
    for (size_t i = 1; i < nr; i++) {
        const char *x = rules[i];
        size_t j = i;
        for (; j > 0 && dq_rule_order(rules[j - 1]) > dq_rule_order(x); j--) {
            rules[j] = rules[j - 1];
        }
        rules[j] = x;
    }
    fputs("<p class=\"note\" id=\"dq-note\"><b>Flagged is not rejected.</b> Each row is checked "
          "against every rule below, and each rule counts the rows it <b>flagged</b> (one row "
          "can be flagged by several rules). Only three rules <b>reject</b> a row, which then "
          "counts in no figure: no ORDER_ID, an amount that is missing, zero or negative, and "
          "an unknown currency. Every other flagged row stays in total sales; the Effect column "
          "says which figures leave it out. <i>dataset1</i> and <i>dataset2</i> count every "
          "delivered row; <i>final</i> counts the rows the figures use, after a re-delivered "
          "order replaced its earlier copy. &#8211; means the rule does not apply.</p>\n",
          out);
    fprintf(out, "<table id=\"%s\"><tr><th>Rule</th><th>Effect on the row</th>", DAGD_REPORT_ID_DQ);
    for (size_t s = 0; s < ns; s++) {
        fputs("<th class=\"num\">", out);
        dagd_html_escape(out, sources[s]);
        fputs("<br>rows flagged</th>", out);
    }
    fputs("</tr>\n", out);
    for (size_t k = 0; k < nr; k++) {
        size_t o = dq_rule_order(rules[k]);
        int64_t any = 0;
        for (size_t i = 0; i < r->n_dq; i++) {
            if (strcmp(r->dq[i].rule ? r->dq[i].rule : "", rules[k]) == 0) {
                any += r->dq[i].rows != 0;
            }
        }
        fprintf(out, "<tr%s><td>", any ? "" : " class=\"zero\"");
        if (o < N_DQ_RULES) {
            dagd_html_escape(out, dq_rules[o].meaning);
            fputs("<br>", out);
        }
        fputs("<code>", out);
        dagd_html_escape(out, rules[k]);
        fprintf(out, "</code></td><td>%s%s%s</td>",
                o < N_DQ_RULES && strncmp(dq_rules[o].effect, "Rejected", 8) == 0 ? "<b>" : "",
                o < N_DQ_RULES ? dq_rules[o].effect : "See docs/warehouse.md",
                o < N_DQ_RULES && strncmp(dq_rules[o].effect, "Rejected", 8) == 0 ? "</b>" : "");
        for (size_t s = 0; s < ns; s++) {
            bool found = false;
            for (size_t i = 0; i < r->n_dq && !found; i++) {
                if (strcmp(r->dq[i].rule ? r->dq[i].rule : "", rules[k]) == 0 &&
                    strcmp(r->dq[i].source ? r->dq[i].source : "", sources[s]) == 0) {
                    char n[48];
                    fprintf(out, "<td class=\"num\">%s</td>",
                            fmt_count(n, sizeof(n), r->dq[i].rows));
                    found = true;
                }
            }
            if (!found) {
                fputs("<td class=\"num\">&#8211;</td>", out);
            }
        }
        fputs("</tr>\n", out);
    }
    fputs("</table>\n", out);
    free(sources);
    free(rules);
    return 0;
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
    rc = section_dq(out, r);
    if (rc < 0) {
        return rc;
    }
    section_inputs(out, r);
    fprintf(out, "<p class=\"meta\">dagd sales report &middot; run ");
    dagd_html_escape(out, r->run_id);
    fprintf(out, " &middot; %s</p>\n</body>\n</html>\n", when);
    return ferror(out) ? -EIO : 0;
}
