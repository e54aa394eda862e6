"""Sales figures read back from a warehouse, and their comparison with an
expected.json (data/sales*/expected.json or tests/tools/sales_expected.py).

figures(db_path) returns a dict with the keys of expected.json, computed only
from the contract tables (orders, dq_summary, summary, mart_*, city_tiers).
compare(expected, got) returns a list of human-readable differences: money
within 1.00 RMB, counts, names, hours, ranks and tiers exact.
"""
import sqlite3

MONEY_TOL = 1.00


def _rmb(cents):
    return None if cents is None else cents / 100.0


def figures(db_path):
    con = sqlite3.connect('file:%s?mode=ro' % db_path, uri=True)
    q = con.execute
    got = {}
    summary = dict(q('SELECT key, value FROM summary'))
    got['summary'] = summary
    got['rows_loaded'] = {k[len('rows_loaded_'):]: int(v) for k, v in summary.items()
                          if k.startswith('rows_loaded_')}
    for k in ('rows_loaded', 'distinct_order_ids', 'rows_without_order_id', 'final_rows',
              'rows_rejected', 'rows_included', 'rows_city_figures', 'rows_hourly_figures',
              'district_count_with_sales'):
        if k in summary:
            got[k + ('_total' if k == 'rows_loaded' else '')] = int(summary[k])
    got['total_sales_rmb'] = _rmb(int(summary['total_sales_rmb_cents']))
    got['total_sales_known_location_rmb'] = _rmb(int(summary['total_sales_known_location_rmb_cents']))
    got['usd_rate'] = summary.get('usd_rate')
    per_source = {}
    final = {}
    for src, rule, n in q('SELECT source, rule, "rows" FROM dq_summary'):
        if src == 'final':
            final[rule] = n
        else:
            per_source.setdefault(src, {})[rule] = n
    got['dq_per_source'] = per_source
    got['dq_final_rows'] = final
    # Q1 per hour, from the mart plus the hourly mart for the top 3
    q1 = {}
    for h, c, s, m, total in q('SELECT hour, city, sales_rmb_cents, margin_rmb_cents,'
                               ' hour_total_rmb_cents FROM mart_top_city_per_hour'):
        top3 = [{'city': cc, 'sales_rmb': _rmb(ss)} for cc, ss in
                q('SELECT city, sales_rmb_cents FROM mart_city_hour_sales WHERE hour = ?'
                  ' ORDER BY sales_rmb_cents DESC, city LIMIT 3', (h,))]
        q1[str(h)] = {'city': c, 'sales_rmb': _rmb(s), 'margin_to_second_rmb': _rmb(m),
                      'top3': top3, 'hour_total_rmb': _rmb(total)}
    got['q1_top_city_per_hour'] = q1
    pairs = q('SELECT city, hour, sales_rmb_cents FROM mart_city_hour_sales ORDER BY rank').fetchall()
    if pairs:
        got['q1_overall_top'] = {'city': pairs[0][0], 'hour': pairs[0][1],
                                 'sales_rmb': _rmb(pairs[0][2]),
                                 'margin_to_second_rmb': _rmb(pairs[0][2] - (pairs[1][2] if len(pairs) > 1 else 0))}
    got['q1_top10_pairs'] = [{'city': c, 'hour': h, 'sales_rmb': _rmb(s)} for c, h, s in pairs[:10]]
    hcs = {}
    for c, h, s in pairs:
        hcs.setdefault(str(h), {})[c] = _rmb(s)
    got['hour_city_sales_rmb'] = hcs
    q2 = q('SELECT rank, city, districts_with_sales, city_total_rmb_cents,'
           ' avg_district_sales_rmb_cents, orders FROM mart_city_district_avg ORDER BY rank').fetchall()
    got['q2_top10_avg_sales_by_district'] = [
        {'rank': r, 'city': c, 'avg_district_sales_rmb': _rmb(a), 'districts_with_sales': d,
         'city_total_rmb': _rmb(t)} for r, c, d, t, a, _n in q2[:10]]
    got['q2_avg_sales_by_district_rmb'] = {c: _rmb(a) for _r, c, _d, _t, a, _n in q2}
    got['q2_districts_with_sales'] = {c: d for _r, c, d, _t, _a, _n in q2}
    got['city_totals_rmb'] = {c: _rmb(t) for _r, c, _d, t, _a, _n in q2}
    got['city_rows'] = {c: n for _r, c, _d, _t, _a, n in q2}
    if 'q2_margin_top_to_second_rmb_cents' in summary:
        got['q2_margin_top_to_second_rmb'] = _rmb(int(summary['q2_margin_top_to_second_rmb_cents']))
    has_tiers = q("SELECT count(*) FROM sqlite_schema WHERE name = 'city_tiers'").fetchone()[0]
    if has_tiers:
        got['tier_of_city'] = dict(q('SELECT city, tier FROM city_tiers'))
    con.close()
    return got


class _Diff:
    def __init__(self):
        self.out = []

    def money(self, path, exp, got):
        if got is None or exp is None or abs(float(exp) - float(got)) > MONEY_TOL + 1e-9:
            self.out.append('%s: expected %s RMB, got %s' % (path, exp, got))

    def exact(self, path, exp, got):
        if exp != got:
            self.out.append('%s: expected %r, got %r' % (path, exp, got))


def compare(exp, got, tiers=True):
    """Every contract figure of expected.json `exp` against `got`."""
    d = _Diff()
    for k in ('rows_loaded', 'rows_loaded_total', 'distinct_order_ids', 'rows_without_order_id',
              'final_rows', 'rows_rejected', 'rows_included', 'rows_city_figures',
              'rows_hourly_figures', 'dq_per_source', 'dq_final_rows', 'district_count_with_sales',
              'q2_districts_with_sales', 'city_rows'):
        if k in exp:
            d.exact(k, exp[k], got.get(k))
    for k in ('total_sales_rmb', 'total_sales_known_location_rmb', 'q2_margin_top_to_second_rmb'):
        if k in exp and exp[k] is not None:
            d.money(k, exp[k], got.get(k))
    # Q1 per hour
    eq1, gq1 = exp.get('q1_top_city_per_hour', {}), got.get('q1_top_city_per_hour', {})
    d.exact('q1_top_city_per_hour hours', sorted(eq1), sorted(gq1))
    for h, e in eq1.items():
        g = gq1.get(h, {})
        d.exact('q1[%s].city' % h, e['city'], g.get('city'))
        d.money('q1[%s].sales' % h, e['sales_rmb'], g.get('sales_rmb'))
        d.money('q1[%s].margin' % h, e['margin_to_second_rmb'], g.get('margin_to_second_rmb'))
        if 'hour_total_rmb' in e:
            d.money('q1[%s].hour_total' % h, e['hour_total_rmb'], g.get('hour_total_rmb'))
        for i, t in enumerate(e.get('top3', [])):
            gt = (g.get('top3') or [])[i] if i < len(g.get('top3') or []) else {}
            d.exact('q1[%s].top3[%d].city' % (h, i), t['city'], gt.get('city'))
            d.money('q1[%s].top3[%d].sales' % (h, i), t['sales_rmb'], gt.get('sales_rmb'))
    eo, go = exp.get('q1_overall_top'), got.get('q1_overall_top') or {}
    if eo:
        d.exact('q1_overall_top.city', eo['city'], go.get('city'))
        d.exact('q1_overall_top.hour', eo['hour'], go.get('hour'))
        d.money('q1_overall_top.sales', eo['sales_rmb'], go.get('sales_rmb'))
        if 'margin_to_second_rmb' in eo:
            d.money('q1_overall_top.margin', eo['margin_to_second_rmb'], go.get('margin_to_second_rmb'))
    gp = got.get('q1_top10_pairs', [])
    for i, e in enumerate(exp.get('q1_top10_pairs', [])):
        g = gp[i] if i < len(gp) else {}
        d.exact('q1_top10_pairs[%d]' % i, (e['city'], e['hour']), (g.get('city'), g.get('hour')))
        d.money('q1_top10_pairs[%d].sales' % i, e['sales_rmb'], g.get('sales_rmb'))
    # hour x city
    ehc, ghc = exp.get('hour_city_sales_rmb', {}), got.get('hour_city_sales_rmb', {})
    d.exact('hour_city_sales_rmb hours', sorted(ehc), sorted(ghc))
    for h, cities in ehc.items():
        gc = ghc.get(h, {})
        d.exact('hour_city_sales_rmb[%s] cities' % h, sorted(cities), sorted(gc))
        for c, v in cities.items():
            if c in gc:
                d.money('hour_city_sales_rmb[%s][%s]' % (h, c), v, gc[c])
    # Q2: top 10 with ranks, all cities' averages in rank order, districts
    g10 = got.get('q2_top10_avg_sales_by_district', [])
    for i, e in enumerate(exp.get('q2_top10_avg_sales_by_district', [])):
        g = g10[i] if i < len(g10) else {}
        d.exact('q2_top10[%d]' % i, (e['rank'], e['city'], e['districts_with_sales']),
                (g.get('rank'), g.get('city'), g.get('districts_with_sales')))
        d.money('q2_top10[%d].avg' % i, e['avg_district_sales_rmb'], g.get('avg_district_sales_rmb'))
        d.money('q2_top10[%d].total' % i, e['city_total_rmb'], g.get('city_total_rmb'))
    eavg, gavg = exp.get('q2_avg_sales_by_district_rmb', {}), got.get('q2_avg_sales_by_district_rmb', {})
    d.exact('q2 rank order (all cities)', list(eavg), list(gavg))
    for c, v in eavg.items():
        if c in gavg:
            d.money('q2_avg[%s]' % c, v, gavg[c])
    etot, gtot = exp.get('city_totals_rmb', {}), got.get('city_totals_rmb', {})
    d.exact('city_totals_rmb cities', sorted(etot), sorted(gtot))
    for c, v in etot.items():
        if c in gtot:
            d.money('city_totals_rmb[%s]' % c, v, gtot[c])
    if tiers and 'tiers' in exp:
        d.exact('tier_of_city', exp['tiers']['tier_of_city'], got.get('tier_of_city'))
    return d.out


def compare_summary(exp, summary):
    """The summary table's keys against expected.json."""
    d = _Diff()
    for k, sk in (('rows_loaded_total', 'rows_loaded'), ('rows_included', 'rows_included'),
                  ('distinct_order_ids', 'distinct_order_ids'), ('final_rows', 'final_rows'),
                  ('rows_rejected', 'rows_rejected'), ('rows_city_figures', 'rows_city_figures'),
                  ('rows_hourly_figures', 'rows_hourly_figures'),
                  ('rows_without_order_id', 'rows_without_order_id'),
                  ('district_count_with_sales', 'district_count_with_sales')):
        if k in exp:
            d.exact('summary.' + sk, str(exp[k]), summary.get(sk))
    d.money('summary.total_sales_rmb_cents', exp['total_sales_rmb'],
            int(summary.get('total_sales_rmb_cents', '0')) / 100.0)
    if 'usd_rate' in exp:
        d.exact('summary.usd_rate', exp['usd_rate'], summary.get('usd_rate'))
    if exp.get('q1_overall_top'):
        d.exact('summary.q1_overall_top_city', exp['q1_overall_top']['city'],
                summary.get('q1_overall_top_city'))
        d.exact('summary.q1_overall_top_hour', str(exp['q1_overall_top']['hour']),
                summary.get('q1_overall_top_hour'))
    if exp.get('q2_top10_avg_sales_by_district'):
        d.exact('summary.q2_top_city', exp['q2_top10_avg_sales_by_district'][0]['city'],
                summary.get('q2_top_city'))
    return d.out
