#!/usr/bin/python3
"""Build a sales warehouse for the analytics task tests, without the engine.

  warehouse_fixture.py DATA_DIR WAREHOUSE.db [--evil-city NAME]

Reads DATA_DIR/dataset1.xlsx (both sheets) and DATA_DIR/dataset2.json with the
stdlib only and writes the tables the analytics tasks read (DESIGN 6):
load_files and city_district_map (bronze, as in pipelines/sales/bronze.sql),
orders, dq_summary, mart_city_hour_sales, mart_top_city_per_hour,
mart_city_district_avg and summary, following the `rules` of expected.json
closely enough for translate-scrape, cluster and report (it is a test
fixture, not the warehouse implementation). --evil-city renames one busy map
city (and its orders) to NAME, e.g. '<script>alert(1)</script>', to test escaping.
"""
import json
import os
import re
import sqlite3
import sys
import time
import zipfile
import xml.etree.ElementTree as ET

NS = {'m': 'http://schemas.openxmlformats.org/spreadsheetml/2006/main'}
WS = ' \t\n\r\x0b\x0c\u00a0\u3000'


def sheet_rows(z, name):
    shared = []
    if 'xl/sharedStrings.xml' in z.namelist():
        for si in ET.fromstring(z.read('xl/sharedStrings.xml')).findall('m:si', NS):
            shared.append(''.join(t.text or '' for t in si.iter('{%s}t' % NS['m'])))
    wb = ET.fromstring(z.read('xl/workbook.xml'))
    rels = ET.fromstring(z.read('xl/_rels/workbook.xml.rels'))
    rid = None
    for s in wb.find('m:sheets', NS):
        if s.get('name') == name:
            rid = s.get('{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id')
    target = None
    for r in rels:
        if r.get('Id') == rid:
            target = r.get('Target')
    path = 'xl/' + target.lstrip('/').replace('xl/', '', 1) if not target.startswith('/xl/') else target[1:]
    root = ET.fromstring(z.read(path))
    for row in root.iter('{%s}row' % NS['m']):
        out = {}
        for c in row.findall('m:c', NS):
            col = re.match(r'[A-Z]+', c.get('r')).group(0)
            t = c.get('t')
            if t == 'inlineStr':
                out[col] = ''.join(x.text or '' for x in c.iter('{%s}t' % NS['m']))
            else:
                v = c.find('m:v', NS)
                if v is None:
                    continue
                if t == 's':
                    out[col] = shared[int(v.text)]
                elif t == 'str':
                    out[col] = v.text
                else:
                    f = float(v.text)
                    out[col] = int(f) if f.is_integer() and 'E' not in v.text and '.' not in v.text else f
        yield int(row.get('r')), out


def cents(x):
    return int(round(float(x) * 100))


def valid_time(t):
    if isinstance(t, float) and t.is_integer():
        t = int(t)
    if isinstance(t, str) and t.isdigit():
        t = int(t)
    if not isinstance(t, int) or isinstance(t, bool) or t < 0:
        return None
    hh, mm, ss = t // 10000, t // 100 % 100, t % 100
    if hh > 23 or mm > 59 or ss > 59:
        return None
    return t


def main():
    args = sys.argv[1:]
    evil = None
    if '--evil-city' in args:
        i = args.index('--evil-city')
        evil = args[i + 1]
        del args[i:i + 2]
    data_dir, wh = args
    if os.path.exists(wh):
        os.unlink(wh)
    db = sqlite3.connect(wh)
    here = os.path.dirname(os.path.abspath(__file__))
    src = os.environ.get('DAGD_SOURCE_ROOT', os.path.dirname(os.path.dirname(here)))
    with open(os.path.join(src, 'pipelines', 'sales', 'bronze.sql'), encoding='utf-8') as f:
        db.executescript(f.read())
    now = int(time.time() * 1000)
    x1 = os.path.join(data_dir, 'dataset1.xlsx')
    x2 = os.path.join(data_dir, 'dataset2.json')
    z = zipfile.ZipFile(x1)
    cmap = {}
    for r, row in sheet_rows(z, 'CITY_DISTRICT_MAP'):
        if r == 1:
            continue
        cmap[int(row['A'])] = (row['B'], row['C'])
    data1 = [(r, row) for r, row in sheet_rows(z, 'DATA') if r > 1]
    with open(x2, encoding='utf-8') as f:
        data2 = json.load(f)
    if evil:
        # the city with the 3rd most dataset1 orders: it shows in every chart
        counts = {}
        for _, row in data1:
            c = cmap.get(row.get('C'), (None,))[0]
            if c:
                counts[c] = counts.get(c, 0) + 1
        victim = sorted(counts, key=lambda c: (-counts[c], c))[2]
        cmap = {k: (evil if c == victim else c, d) for k, (c, d) in cmap.items()}
        for rec in data2:
            if rec.get('SHIP_TO_CITY_CD') == victim:
                rec['SHIP_TO_CITY_CD'] = evil
    db.execute('INSERT INTO load_files VALUES (1, ?, ?, ?, ?, ?, ?)',
               ('dataset1', x1, 'fixture1', os.path.getsize(x1), len(data1), now))
    db.execute('INSERT INTO load_files VALUES (2, ?, ?, ?, ?, ?, ?)',
               ('dataset2', x2, 'fixture2', os.path.getsize(x2), len(data2), now))
    db.executemany('INSERT INTO city_district_map VALUES (?, ?, ?, 1)',
                   [(k, c, d) for k, (c, d) in sorted(cmap.items())])
    pair = {(c.strip(WS), d.strip(WS)): k for k, (c, d) in cmap.items()}

    rows = {}
    dq = {}

    def hit(source, rule):
        dq.setdefault((source, rule), 0)
        dq[(source, rule)] += 1

    for _, row in data1:
        rows[str(row.get('A', '')).strip(WS)] = dict(
            source='dataset1', time=row.get('B'), cdid=row.get('C'), amt=row.get('D'),
            cur=(row.get('E') or '').strip(WS), qty=row.get('F'))
    for rec in data2:
        c = (rec.get('SHIP_TO_CITY_CD') or '').strip(WS)
        d = (rec.get('SHIP_TO_DISTRICT_NAME') or '').strip(WS)
        rows[str(rec.get('ORDER_ID') or '').strip(WS)] = dict(
            source='dataset2', time=rec.get('ORDER_TIME_PST'), cdid=pair.get((c, d)),
            amt=rec.get('RPTG_AMT'), cur=(rec.get('CURRENCY_CD') or '').strip(WS),
            qty=rec.get('ORDER_QTY'), city=c, district=d)
    db.execute('CREATE TABLE orders (order_id TEXT PRIMARY KEY, source TEXT, order_time INTEGER, '
               'city_district_id INTEGER, city TEXT, district TEXT, amount_rmb_cents INTEGER, '
               'currency TEXT, qty INTEGER, status TEXT)')
    for oid, o in rows.items():
        status = 'included'
        if not oid:
            continue
        amt = o['amt']
        if not isinstance(amt, (int, float)) or amt <= 0:
            status = 'rejected'
            hit('final', 'amount_not_positive')
        if o['cur'] not in ('RMB', 'USD'):
            status = 'rejected'
            hit('final', 'currency_unknown')
        c = cents(amt) if isinstance(amt, (int, float)) else None
        if c is not None and o['cur'] == 'USD':
            c = (c * 710 + 50) // 100
            hit('final', 'currency_not_rmb')
        t = valid_time(o['time'])
        if t is None:
            hit('final', 'bad_order_time')
        cdid = o['cdid'] if isinstance(o['cdid'], int) else None
        city, district = cmap.get(cdid, (o.get('city'), o.get('district')))
        if cdid not in cmap:
            hit('final', 'unknown_city_district_id' if o['source'] == 'dataset1' else 'unknown_city_district_pair')
        db.execute('INSERT INTO orders VALUES (?,?,?,?,?,?,?,?,?,?)',
                   (oid, o['source'], t, cdid, city.strip(WS) if city else city, district, c, o['cur'],
                    o['qty'] if isinstance(o['qty'], int) else None, status))
    db.execute('CREATE TABLE dq_summary (source TEXT, rule TEXT, rows INTEGER)')
    db.executemany('INSERT INTO dq_summary VALUES (?,?,?)', [(s, r, n) for (s, r), n in sorted(dq.items())])
    db.executescript('''
CREATE TABLE mart_city_hour_sales AS
  SELECT m.city AS city, o.order_time / 10000 AS hour, SUM(o.amount_rmb_cents) AS sales_rmb_cents,
         COUNT(*) AS orders
  FROM orders o JOIN city_district_map m USING (city_district_id)
  WHERE o.status = 'included' AND o.order_time IS NOT NULL AND o.order_time / 10000 BETWEEN 5 AND 11
  GROUP BY 1, 2;
CREATE TABLE mart_top_city_per_hour AS
  SELECT hour, city, sales_rmb_cents,
         sales_rmb_cents - COALESCE((SELECT MAX(b.sales_rmb_cents) FROM mart_city_hour_sales b
                                     WHERE b.hour = a.hour AND b.city <> a.city), 0) AS margin_rmb_cents
  FROM mart_city_hour_sales a
  WHERE NOT EXISTS (SELECT 1 FROM mart_city_hour_sales b WHERE b.hour = a.hour AND
                    (b.sales_rmb_cents > a.sales_rmb_cents OR
                     (b.sales_rmb_cents = a.sales_rmb_cents AND b.city < a.city)))
  ORDER BY hour;
CREATE TABLE mart_city_district_avg AS
  SELECT ROW_NUMBER() OVER (ORDER BY tot * 1.0 / nd DESC, city) AS rank, city,
         nd AS districts_with_sales, tot AS city_total_rmb_cents,
         CAST(ROUND(tot * 1.0 / nd) AS INTEGER) AS avg_district_sales_rmb_cents
  FROM (SELECT m.city AS city, SUM(o.amount_rmb_cents) AS tot, COUNT(DISTINCT o.city_district_id) AS nd
        FROM orders o JOIN city_district_map m USING (city_district_id)
        WHERE o.status = 'included' GROUP BY m.city);
CREATE TABLE summary (key TEXT PRIMARY KEY, value TEXT);
INSERT INTO summary SELECT 'total_sales_rmb_cents', SUM(amount_rmb_cents) FROM orders WHERE status = 'included';
INSERT INTO summary SELECT 'rows_included', COUNT(*) FROM orders WHERE status = 'included';
''')
    db.execute("INSERT INTO summary VALUES ('rows_loaded', ?)", (str(len(data1) + len(data2)),))
    db.commit()
    db.close()


if __name__ == '__main__':
    main()
