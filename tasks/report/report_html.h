/* HTML rendering of the sales report: a pure function from a report model
 * to one self-contained UTF-8 HTML document (inline CSS and SVG, no script,
 * no external resource; a Content-Security-Policy forbids both anyway).
 * Every string from the data is HTML-escaped. Unit-tested in
 * tests/unit/test_report.c. */
#ifndef DAGD_REPORT_HTML_H
#define DAGD_REPORT_HTML_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Element ids of the charts and tables (tests look for them). */
#define DAGD_REPORT_ID_Q1 "chart-q1-top-city-per-hour"
#define DAGD_REPORT_ID_Q2 "chart-q2-top10-avg-district"
#define DAGD_REPORT_ID_TIERS "chart-tiers"
#define DAGD_REPORT_ID_DQ "table-dq"
#define DAGD_REPORT_ID_FILES "table-input-files"

struct dagd_report_hour {
    int hour;
    const char *city, *city_en; /* city_en may be NULL */
    int64_t sales_cents, margin_cents;
};

struct dagd_report_q2 {
    int64_t rank;
    const char *city, *city_en;
    int64_t districts, total_cents, avg_cents;
};

struct dagd_report_tier_city {
    const char *city, *city_en;
    int64_t total_cents;
    int tier;
};

struct dagd_report_dq {
    const char *source, *rule;
    int64_t rows;
};

struct dagd_report_file {
    const char *source, *path, *hash;
    int64_t rows, size, loaded_at_ms;
};

struct dagd_report_kv {
    const char *key, *value;
};

/* The whole report. Arrays may be empty (n = 0): the section then says the
 * data is not available. Strings are borrowed. */
struct dagd_report {
    const char *title;
    const char *run_id;
    int64_t generated_at_ms; /* Unix epoch ms */
    const struct dagd_report_kv *summary;
    size_t n_summary;
    const struct dagd_report_hour *hours; /* Q1, by hour */
    size_t n_hours;
    const struct dagd_report_q2 *q2; /* top N by rank */
    size_t n_q2;
    const struct dagd_report_tier_city *tiers; /* any order */
    size_t n_tiers;
    const struct dagd_report_dq *dq;
    size_t n_dq;
    const struct dagd_report_file *files;
    size_t n_files;
};

/* Write s HTML-escaped (& < > " ' and control characters other than TAB
 * and LF). NULL writes nothing. */
void dagd_html_escape(FILE *out, const char *s);

/* "1,690,699.30" for 169069930 cents (negative values get a leading '-').
 * buf must hold at least 32 bytes; returns buf. */
char *dagd_report_money(char *buf, size_t size, int64_t cents);

/* "29.1M" for 2907136286 cents: RMB with one decimal and K, M, B or T
 * (".0" dropped: "10M"), whole RMB below 1,000, for chart labels and ticks
 * where the cents of the full figure are noise. buf must hold at least
 * 32 bytes; returns buf. */
char *dagd_report_money_short(char *buf, size_t size, int64_t cents);

/* Render the report. Returns 0, or -EIO when writing failed. */
int dagd_report_render(const struct dagd_report *r, FILE *out);

#endif /* DAGD_REPORT_HTML_H */
