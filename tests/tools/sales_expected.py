#!/usr/bin/python3
"""Independent reference for the sales figures, for deliveries that come
without an expected.json (gen_sales.py --profile nasty / window2).

    sales_expected.py DIR [DIR...] [--out expected.json] [--usd-rate 7.10]

Reads the deliveries in the order given (each: dataset1*.xlsx in name order,
then dataset2*.json) with openpyxl and json, applies the `rules` of
data/sales/expected.json in plain Python (no SQL, nothing shared with the
validate/transform tasks) and prints (or writes) the figures under the same
keys as expected.json. tests/integration/test_sales.py checks that this
script reproduces the shipped data/sales-tiny/expected.json before trusting
it for generated deliveries.
"""
import argparse
import decimal
import glob
import json
import math
import os
import re
import sys

TRIM = ' \t\n\r\x0b\x0c\u00a0\u3000'
DS2_KEYS = ['ORDER_ID', 'ORDER_TIME_PST', 'SHIP_TO_DISTRICT_NAME', 'SHIP_TO_CITY_CD', 'RPTG_AMT',
            'CURRENCY_CD', 'ORDER_QTY']
RULES1 = ['order_id_missing', 'amount_not_positive', 'currency_unknown', 'currency_not_rmb',
          'qty_not_positive_integer', 'bad_order_time', 'order_time_outside_window',
          'unknown_city_district_id', 'duplicate_order_id_superseded']
RULES2 = ['order_id_missing', 'amount_not_positive', 'currency_unknown', 'currency_not_rmb',
          'qty_not_positive_integer', 'bad_order_time', 'order_time_outside_window', 'unknown_city',
          'unknown_district', 'unknown_city_district_pair', 'location_whitespace_trimmed',
          'json_missing_key', 'json_extra_key', 'duplicate_order_id_superseded']
FINAL_RULES = ['order_id_missing', 'amount_not_positive', 'currency_unknown', 'currency_not_rmb',
               'qty_not_positive_integer', 'bad_order_time', 'order_time_outside_window',
               'unknown_city_district_id', 'unknown_city', 'unknown_district',
               'unknown_city_district_pair', 'location_whitespace_trimmed', 'json_missing_key',
               'json_extra_key']
DIGITS = re.compile(r'[0-9]+\Z')


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def trim(v):
    if v is None:
        return None
    return (v if isinstance(v, str) else str(v)).strip(TRIM)


def parse_time(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        t = v
    elif isinstance(v, float):
        if not math.isfinite(v) or v != int(v):
            return None
        t = int(v)
    elif isinstance(v, str) and DIGITS.match(v):
        t = int(v)
    else:
        return None
    if t < 0 or t // 10000 > 23 or t // 100 % 100 > 59 or t % 100 > 59:
        return None
    return t


def cents(v):
    if not is_num(v) or not math.isfinite(v):
        return None
    d = decimal.Decimal(repr(v)) * 100
    return int(d.quantize(decimal.Decimal(1), rounding=decimal.ROUND_HALF_UP))


def qty_ok(v):
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return v > 0
    if isinstance(v, float):
        return math.isfinite(v) and v == int(v) and v > 0
    if isinstance(v, str):
        return bool(DIGITS.match(v)) and int(v) > 0
    return False


def rate_parts(rate):
    whole, _, frac = rate.partition('.')
    return int(whole + frac), 10 ** len(frac)


def to_rmb(c, cur, rate):
    if cur != 'USD':
        return c
    num, den = rate
    return (c * num + den // 2) // den


def read_dir(d):
    """Yield ('map', id, city, district) and ('row', source, dict) in load order."""
    import openpyxl
    for path in sorted(glob.glob(os.path.join(d, 'dataset1*.xlsx'))):
        wb = openpyxl.load_workbook(path, read_only=True)
        for r in list(wb['CITY_DISTRICT_MAP'].iter_rows(values_only=True))[1:]:
            yield ('map', r[0], r[1], r[2])
        rows = wb['DATA'].iter_rows(values_only=True)
        next(rows)
        for r in rows:
            r = (list(r) + [None] * 6)[:6]
            yield ('row', 'dataset1', {'oid': r[0], 'time': r[1], 'cdid': r[2], 'amt': r[3],
                                       'cur': r[4], 'qty': r[5]})
        wb.close()
    for path in sorted(glob.glob(os.path.join(d, 'dataset2*.json'))):
        with open(path, encoding='utf-8') as f:
            recs = json.load(f)
        for r in recs:
            yield ('row', 'dataset2', {
                'oid': r.get('ORDER_ID'), 'time': r.get('ORDER_TIME_PST'), 'amt': r.get('RPTG_AMT'),
                'cur': r.get('CURRENCY_CD'), 'qty': r.get('ORDER_QTY'),
                'city': r.get('SHIP_TO_CITY_CD'), 'district': r.get('SHIP_TO_DISTRICT_NAME'),
                'missing': any(k not in r for k in DS2_KEYS),
                'extra': any(k not in DS2_KEYS for k in r)})


def kmeans_1d_exact(values, k):
    """Optimal partition of sorted values into k contiguous groups (min SSE)."""
    xs = sorted(values)
    n = len(xs)
    k = min(k, n)
    pre = [0.0]
    pre2 = [0.0]
    for x in xs:
        pre.append(pre[-1] + x)
        pre2.append(pre2[-1] + x * x)

    def sse(i, j):  # xs[i:j]
        s = pre[j] - pre[i]
        return (pre2[j] - pre2[i]) - s * s / (j - i)
    inf = float('inf')
    cost = [[inf] * (n + 1) for _ in range(k + 1)]
    arg = [[0] * (n + 1) for _ in range(k + 1)]
    cost[0][0] = 0.0
    for g in range(1, k + 1):
        for j in range(g, n + 1):
            for i in range(g - 1, j):
                c = cost[g - 1][i] + sse(i, j)
                if c < cost[g][j]:
                    cost[g][j] = c
                    arg[g][j] = i
    bounds = []
    j = n
    for g in range(k, 0, -1):
        i = arg[g][j]
        bounds.append((i, j))
        j = i
    bounds.reverse()
    return xs, bounds


def compute(dirs, usd_rate='7.10'):
    rate = rate_parts(usd_rate)
    id_map = {}
    rows = []
    for d in dirs:
        for item in read_dir(d):
            if item[0] == 'map':
                id_map[item[1]] = (trim(item[2]), trim(item[3]))
            else:
                rows.append((item[1], item[2]))
    pair_id = {}
    for i in sorted(id_map):
        pair_id.setdefault(id_map[i], i)
    cities = {c for c, _ in id_map.values()}
    districts = {d for _, d in id_map.values()}

    rows_loaded = {}
    per_source = {}
    last = {}
    evals = []
    for pos, (src, r) in enumerate(rows):
        rows_loaded[src] = rows_loaded.get(src, 0) + 1
        oid = trim(r['oid'])
        if oid == '':
            oid = None
        t = parse_time(r['time'])
        c = cents(r['amt'])
        cur = trim(r['cur']) if isinstance(r['cur'], str) else None
        hits = set()
        if oid is None:
            hits.add('order_id_missing')
        else:
            last[oid] = pos
        if c is None or c <= 0:
            hits.add('amount_not_positive')
        if cur not in ('RMB', 'USD'):
            hits.add('currency_unknown')
        if cur == 'USD':
            hits.add('currency_not_rmb')
        if not qty_ok(r['qty']):
            hits.add('qty_not_positive_integer')
        if t is None:
            hits.add('bad_order_time')
        elif not 50000 <= t < 120000:
            hits.add('order_time_outside_window')
        if src == 'dataset1':
            cd = r['cdid']
            loc = None
            if is_num(cd) and cd == int(cd) and int(cd) in id_map:
                loc = int(cd)
                city = id_map[loc][0]
            else:
                hits.add('unknown_city_district_id')
                city = None
        else:
            ct, dt = trim(r['city']), trim(r['district'])
            city = ct
            if ct not in cities:
                hits.add('unknown_city')
            if dt not in districts:
                hits.add('unknown_district')
            loc = pair_id.get((ct, dt))
            if loc is None:
                hits.add('unknown_city_district_pair')
            if any(isinstance(v, str) and v != v.strip(TRIM) for v in (r['city'], r['district'])):
                hits.add('location_whitespace_trimmed')
            if r['missing']:
                hits.add('json_missing_key')
            if r['extra']:
                hits.add('json_extra_key')
        amount = to_rmb(c, cur, rate) if c is not None else None
        evals.append((src, oid, hits, t, amount, loc, city))

    for src in rows_loaded:
        per_source[src] = {k: 0 for k in (RULES1 if src == 'dataset1' else RULES2)}
    final_counts = {k: 0 for k in FINAL_RULES}
    final = []
    for pos, (src, oid, hits, t, amount, loc, city) in enumerate(evals):
        superseded = oid is not None and last[oid] != pos
        for h in hits:
            per_source[src][h] = per_source[src].get(h, 0) + 1
        if superseded:
            per_source[src]['duplicate_order_id_superseded'] += 1
            continue
        for h in hits:
            final_counts[h] += 1
        final.append((src, oid, hits, t, amount, loc, city))

    included = [f for f in final if not ({'order_id_missing', 'amount_not_positive',
                                          'currency_unknown'} & f[2])]
    city_rows_l = [f for f in included if f[5] is not None]
    hourly = [f for f in city_rows_l if f[3] is not None and 50000 <= f[3] < 120000]

    city_total, city_n, dist_total = {}, {}, {}
    for f in city_rows_l:
        city_total[f[6]] = city_total.get(f[6], 0) + f[4]
        city_n[f[6]] = city_n.get(f[6], 0) + 1
        dist_total[(f[6], f[5])] = dist_total.get((f[6], f[5]), 0) + f[4]
    hour_city = {}
    for f in hourly:
        key = (f[3] // 10000, f[6])
        hour_city[key] = hour_city.get(key, 0) + f[4]

    def rmb(c):
        return round(c / 100.0, 2)
    q1 = {}
    for h in range(5, 12):
        lst = sorted(((s, c) for (hh, c), s in hour_city.items() if hh == h),
                     key=lambda x: (-x[0], x[1].encode()))
        if not lst:
            continue
        q1[str(h)] = {'city': lst[0][1], 'sales_rmb': rmb(lst[0][0]),
                      'margin_to_second_rmb': rmb(lst[0][0] - (lst[1][0] if len(lst) > 1 else 0)),
                      'top3': [{'city': c, 'sales_rmb': rmb(s)} for s, c in lst[:3]],
                      'hour_total_rmb': rmb(sum(s for s, _ in lst))}
    pairs = sorted(hour_city.items(), key=lambda kv: (-kv[1], kv[0][1].encode(), kv[0][0]))
    overall = None
    if pairs:
        (h, c), s = pairs[0]
        overall = {'city': c, 'hour': h, 'sales_rmb': rmb(s),
                   'margin_to_second_rmb': rmb(s - (pairs[1][1] if len(pairs) > 1 else 0))}
    ndist = {}
    for (c, _), _s in dist_total.items():
        ndist[c] = ndist.get(c, 0) + 1
    q2 = sorted(city_total, key=lambda c: (-decimal.Decimal(city_total[c]) / ndist[c], c.encode()))

    def avg_cents(c):
        return (2 * city_total[c] + ndist[c]) // (2 * ndist[c])
    out = {
        'rules_source': 'tests/tools/sales_expected.py',
        'usd_rate': usd_rate,
        'rows_loaded': rows_loaded,
        'rows_loaded_total': len(rows),
        'distinct_order_ids': len(last),
        'rows_without_order_id': sum(1 for f in final if f[1] is None),
        'final_rows': len(final),
        'rows_rejected': len(final) - len(included),
        'rows_included': len(included),
        'rows_city_figures': len(city_rows_l),
        'rows_hourly_figures': len(hourly),
        'dq_per_source': per_source,
        'dq_final_rows': final_counts,
        'total_sales_rmb': rmb(sum(f[4] for f in included)),
        'total_sales_known_location_rmb': rmb(sum(f[4] for f in city_rows_l)),
        'q1_top_city_per_hour': q1,
        'q1_overall_top': overall,
        'q1_top10_pairs': [{'city': c, 'hour': h, 'sales_rmb': rmb(s)} for (h, c), s in pairs[:10]],
        'q2_top10_avg_sales_by_district': [
            {'rank': i + 1, 'city': c, 'avg_district_sales_rmb': rmb(avg_cents(c)),
             'districts_with_sales': ndist[c], 'city_total_rmb': rmb(city_total[c])}
            for i, c in enumerate(q2[:10])],
        'q2_margin_top_to_second_rmb': (
            (city_total[q2[0]] / ndist[q2[0]] - city_total[q2[1]] / ndist[q2[1]]) / 100.0
            if len(q2) > 1 else None),
        'city_totals_rmb': {c: rmb(city_total[c]) for c in
                            sorted(city_total, key=lambda c: (-city_total[c], c.encode()))},
        'city_rows': {c: city_n[c] for c in sorted(city_n, key=lambda c: (-city_n[c], c.encode()))},
        'q2_avg_sales_by_district_rmb': {c: rmb(avg_cents(c)) for c in q2},
        'q2_districts_with_sales': {c: ndist[c] for c in q2},
        'hour_city_sales_rmb': {str(h): {c: rmb(s) for (hh, c), s in pairs if hh == h}
                                for h in range(5, 12) if any(hh == h for (hh, _c) in hour_city)},
        'district_count_with_sales': len(dist_total),
    }
    if city_total:
        xs, bounds = kmeans_1d_exact([city_total[c] for c in city_total], 3)
        tier_of = {}
        for g, (i, j) in enumerate(bounds):
            for v in xs[i:j]:
                for c in city_total:
                    if city_total[c] == v:
                        tier_of.setdefault(c, g)
        out['tiers'] = {'k': 3, 'sizes_low_to_high': [j - i for i, j in bounds],
                        'tier_of_city': tier_of}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('dirs', nargs='+')
    ap.add_argument('--out')
    ap.add_argument('--usd-rate', default='7.10')
    a = ap.parse_args()
    res = compute(a.dirs, a.usd_rate)
    text = json.dumps(res, ensure_ascii=False, indent=1)
    if a.out:
        with open(a.out, 'w', encoding='utf-8') as f:
            f.write(text + '\n')
    else:
        sys.stdout.write(text + '\n')


if __name__ == '__main__':
    main()
