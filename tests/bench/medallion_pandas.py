"""The pandas reference of pipelines/medallion.yaml (SEEDS.md "medallion"):
the same silver (sta_) and gold (stg_) tables from the same CSV files, by the
same rules, written the way a pandas user would (vectorised string checks,
sort + drop_duplicates, merge, groupby). Used by tests/bench/medallion, which
times it next to `dagd run` and checks that both built the same tables.

  medallion_pandas.py OUT.pickle DATA_DIR [DATA_DIR...]

Data directories are loaded one after another (a later delivery on top of
an earlier one, as the pipeline's runs on one state directory). Writes a
pickle {table name: list of row tuples} and prints the seconds spent (files
read to tables built; interpreter and import time excluded)."""
import glob
import os
import pickle
import sys
import time

import numpy as np
import pandas as pd

INT = r"-?[0-9]{1,18}"
MONEY = r"(-?)([0-9]{1,16})(?:\.([0-9]{1,2}))?"
TS = r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"

# the CSV columns of each source (SEEDS.md), read as delivered text
SOURCES = {
    "customers": ["customer_id", "first_name", "last_name", "email", "city", "country",
                  "created_at"],
    "shops": ["shop_id", "shop_name", "city", "country"],
    "products": ["product_id", "product_name", "category", "unit_price"],
    "orders": ["order_id", "customer_id", "shop_id", "ordered_at", "shipped_at", "delivered_at",
               "updated_at"],
    "order_positions": ["position_id", "order_id", "product_id", "quantity", "price"],
}


def read(dirs, name):
    """Every record of NAME*.csv in each directory (files in name order),
    as text; '' (an empty field) is NULL. Columns by header name."""
    frames = []
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, name + "*.csv"))):
            df = pd.read_csv(path, dtype=str, na_filter=False, encoding="utf-8-sig",
                             usecols=SOURCES[name])
            frames.append(df[SOURCES[name]])
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SOURCES[name])
    return df.mask(df == "")


def trimmed(s):
    return s.str.strip(" \t")


def integer(s):
    """Integer column: NaN-free Int64 with <NA> for a missing or bad value."""
    t = trimmed(s)
    ok = t.str.fullmatch(INT).fillna(False).astype(bool)
    return pd.to_numeric(t.where(ok), errors="coerce").astype("Int64")


def money(s):
    """Money column: integer cents (exact, from the digits), <NA> when bad."""
    t = trimmed(s)
    m = t.str.extract("^" + MONEY + "$")
    whole = pd.to_numeric(m[1], errors="coerce").astype("Int64")
    frac = m[2].fillna("").str.ljust(2, "0")
    cents = whole * 100 + pd.to_numeric(frac.where(m[1].notna()), errors="coerce").astype("Int64")
    return cents.where(m[0] != "-", -cents)


def timestamp(s):
    """Timestamp column: the trimmed text when it is a real
    YYYY-MM-DD HH:MM:SS, else <NA> (Feb 30 and 24:00:00 are bad)."""
    t = trimmed(s)
    ok = t.str.fullmatch(TS).fillna(False).astype(bool)
    t = t.where(ok)
    parsed = pd.to_datetime(t, format="%Y-%m-%d %H:%M:%S", errors="coerce")
    return t.where(parsed.notna())


def keep_last(df, key):
    """One row per key: the last delivered (rows are in delivery order)."""
    return df.drop_duplicates(subset=[key], keep="last")


def silver(dirs):
    c = read(dirs, "customers")
    c = pd.DataFrame({"customer_id": integer(c.customer_id), "city": c.city,
                      "country": c.country, "created_at": timestamp(c.created_at)})
    c = keep_last(c[c.customer_id.notna()], "customer_id")

    s = read(dirs, "shops")
    s = pd.DataFrame({"shop_id": integer(s.shop_id), "shop_name": s.shop_name, "city": s.city,
                      "country": s.country})
    s = keep_last(s[s.shop_id.notna()], "shop_id")

    p = read(dirs, "products")
    p = pd.DataFrame({"product_id": integer(p.product_id), "product_name": p.product_name,
                      "category": p.category, "unit_price_cents": money(p.unit_price)})
    p = keep_last(p[p.product_id.notna()], "product_id")

    o = read(dirs, "orders")
    o = pd.DataFrame({"order_id": integer(o.order_id), "customer_id": integer(o.customer_id),
                      "shop_id": integer(o.shop_id), "ordered_at": timestamp(o.ordered_at),
                      "shipped_at": timestamp(o.shipped_at),
                      "delivered_at": timestamp(o.delivered_at),
                      "updated_at": timestamp(o.updated_at)})
    o = o[o.order_id.notna() & o.ordered_at.notna() & o.updated_at.notna()]
    # the greatest updated_at wins, a tie the later row: a stable sort keeps
    # delivery order within equal timestamps
    o = o.sort_values(["order_id", "updated_at"], kind="stable")
    o = keep_last(o, "order_id")

    op = read(dirs, "order_positions")
    op = pd.DataFrame({"position_id": integer(op.position_id), "order_id": integer(op.order_id),
                       "product_id": integer(op.product_id), "quantity": integer(op.quantity),
                       "price_cents": money(op.price)})
    op = op[op.position_id.notna() & (op.quantity >= 1).fillna(False) &
            (op.price_cents >= 0).fillna(False)]
    op = keep_last(op, "position_id")
    return {"sta_customers": c, "sta_shops": s, "sta_products": p, "sta_orders": o,
            "sta_order_positions": op}


def round_div(num, den):
    """num / den rounded half away from zero, in integers (numpy int64)."""
    q = (2 * np.abs(num) + den) // (2 * den)
    return np.where(num >= 0, q, -q)


def gold(t):
    o, op, pr = t["sta_orders"], t["sta_order_positions"], t["sta_products"]
    g = {"stg_dim_customers": t["sta_customers"][["customer_id", "city", "country", "created_at"]],
         "stg_dim_shops": t["sta_shops"], "stg_dim_products": pr}

    days = o.ordered_at.str.slice(0, 10)
    rng = pd.date_range(days.min(), days.max(), freq="D") if len(days) else []
    d = pd.DataFrame({"d": rng})
    g["stg_dim_date"] = pd.DataFrame({
        "date_key": d.d.dt.strftime("%Y%m%d").astype("int64"),
        "date": d.d.dt.strftime("%Y-%m-%d"),
        "year": d.d.dt.year, "month": d.d.dt.month, "day": d.d.dt.day,
        "weekday": d.d.dt.dayofweek + 1})

    f = op.merge(o[["order_id", "delivered_at"]], on="order_id", how="inner")
    f = f[f.product_id.isin(pr.product_id)]
    f = f.assign(intake_cents=f.quantity * f.price_cents)
    f = f.assign(revenue_cents=f.intake_cents.where(f.delivered_at.notna(), 0))
    g["stg_fact_order_positions"] = f[["position_id", "order_id", "product_id", "quantity",
                                       "price_cents", "intake_cents", "revenue_cents"]]

    sums = f.groupby("order_id", as_index=False).agg(
        items=("quantity", "sum"), intake_cents=("intake_cents", "sum"),
        revenue_cents=("revenue_cents", "sum"))
    fo = o.merge(sums, on="order_id", how="left")
    fmt = "%Y-%m-%d %H:%M:%S"
    secs = ((pd.to_datetime(fo.shipped_at, format=fmt) - pd.to_datetime(fo.ordered_at, format=fmt))
            .dt.total_seconds())
    has = secs.notna()
    s100 = np.where(has, secs.fillna(0).astype("int64") * 100, 0)
    lag100 = pd.Series(round_div(s100, 3600), index=fo.index).where(has)  # hours x 100
    fo = fo.assign(
        order_date_key=fo.ordered_at.str.slice(0, 10).str.replace("-", "").astype("int64"),
        items=fo["items"].fillna(0).astype("int64"),
        intake_cents=fo.intake_cents.fillna(0).astype("int64"),
        revenue_cents=fo.revenue_cents.fillna(0).astype("int64"),
        lag100=lag100, ship_lag_hours=lag100 / 100.0)
    g["stg_fact_orders"] = fo[["order_id", "customer_id", "shop_id", "order_date_key", "items",
                               "intake_cents", "revenue_cents", "ship_lag_hours"]]

    k = fo.order_date_key
    daily = fo.groupby([k, fo.shop_id], dropna=False, sort=True).agg(
        orders=("order_id", "size"), intake_cents=("intake_cents", "sum"),
        revenue_cents=("revenue_cents", "sum")).reset_index()
    daily.insert(0, "date", daily.order_date_key.astype(str).str.replace(
        r"^(\d{4})(\d{2})(\d{2})$", r"\1-\2-\3", regex=True))
    g["stg_mart_intake_revenue_daily"] = daily[["date", "shop_id", "orders", "intake_cents",
                                                "revenue_cents"]]

    mo = fo.assign(month=(k // 100).astype(str).str.replace(r"^(\d{4})(\d{2})$", r"\1-\2",
                                                             regex=True))
    m = mo.groupby("month", as_index=False).agg(intake_cents=("intake_cents", "sum"),
                                                revenue_cents=("revenue_cents", "sum"))
    i, r = m.intake_cents.to_numpy(), m.revenue_cents.to_numpy()
    safe = np.where(i == 0, 1, i)
    rate = ((i - r) * 20000 + i) // (2 * safe) / 10000.0
    m["dropoff_rate"] = pd.Series(rate).where(i != 0)
    g["stg_mart_dropoff_monthly"] = m

    sh = fo[fo.lag100.notna()].groupby("shop_id", dropna=False, as_index=False).agg(
        orders_shipped=("order_id", "size"), total=("lag100", "sum"))
    n, tot = sh.orders_shipped.to_numpy(), sh.total.to_numpy().astype("int64")
    sh["avg_lag_hours"] = round_div(tot, n) / 100.0
    g["stg_mart_shipping_lag"] = sh[["shop_id", "orders_shipped", "avg_lag_hours"]]

    om = fo.assign(ym=k // 100)[["ym", "customer_id"]].drop_duplicates()
    first = om[om.customer_id.notna()].groupby("customer_id", as_index=False).ym.min()
    om = om.merge(first.rename(columns={"ym": "first_ym"}), on="customer_id", how="left")
    cm = om.assign(new=(om.ym == om.first_ym).fillna(False),
                   ret=(om.ym > om.first_ym).fillna(False)).groupby("ym", as_index=False).agg(
        new_customers=("new", "sum"), returning_customers=("ret", "sum"))
    cm.insert(0, "month", cm.ym.astype(str).str.replace(r"^(\d{4})(\d{2})$", r"\1-\2",
                                                        regex=True))
    g["stg_mart_customers_monthly"] = cm[["month", "new_customers", "returning_customers"]]
    return g


def rows(df):
    """Row tuples with SQL NULL as None and numpy scalars as Python ones."""
    out = []
    for rec in df.astype(object).itertuples(index=False, name=None):
        out.append(tuple(None if (v is None or v is pd.NA or (isinstance(v, float) and v != v))
                         else (v.item() if hasattr(v, "item") else v) for v in rec))
    return out


def main():
    out, dirs = sys.argv[1], sys.argv[2:]
    t0 = time.perf_counter()
    tables = silver(dirs)
    tables.update(gold(tables))
    secs = time.perf_counter() - t0
    with open(out, "wb") as f:
        pickle.dump({name: rows(df) for name, df in tables.items()}, f)
    print("%.3f" % secs)


if __name__ == "__main__":
    main()
