"""dagd lineage on the shipped medallion and restaurants pipelines (DESIGN
§11): the table-level graph derived from load targets and SQL models, as text
and JSON, against edge lists written here. Run from the source root so the
pipelines' relative data paths read as in the docs. Stdlib only."""
import json

from dagdtest import SOURCE, dagd, fail

MEDALLION_SOURCES = ["customers", "shops", "products", "orders", "order_positions"]

MEDALLION_GOLD = [
    ("sta_customers", "stg_dim_customers"),
    ("sta_orders", "stg_dim_date"),
    ("sta_products", "stg_dim_products"),
    ("sta_shops", "stg_dim_shops"),
    ("sta_orders", "stg_fact_order_positions"),
    ("sta_products", "stg_fact_order_positions"),
    ("sta_order_positions", "stg_fact_order_positions"),
    ("sta_orders", "stg_fact_orders"),
    ("stg_fact_order_positions", "stg_fact_orders"),
    ("stg_fact_orders", "stg_mart_customers_monthly"),
    ("stg_mart_intake_revenue_daily", "stg_mart_dropoff_monthly"),
    ("stg_fact_orders", "stg_mart_intake_revenue_daily"),
    ("stg_fact_orders", "stg_mart_shipping_lag"),
]

RESTAURANT_MODELS = ["restaurant_revenue", "restaurant_visits", "top_dish_by_orders",
                     "top_dish_by_revenue", "top_visitor_overall", "top_visitor_per_restaurant"]


def lineage(*args):
    p = dagd("lineage", *args, cwd=SOURCE)
    if p.returncode != 0:
        fail("dagd lineage %s: exit %d\n%s" % (" ".join(args), p.returncode, p.stderr))
    return p.stdout


def check_json(yaml, want, extra=()):
    out = json.loads(lineage(yaml, "--json", *extra))
    got = {(e["from"], e["to"], e["step"]) for e in out["edges"]}
    if got != want:
        fail("%s edges:\n missing %s\n extra %s" % (yaml, sorted(want - got), sorted(got - want)))
    ids = {n["id"]: n["kind"] for n in out["nodes"]}
    for f, t, _ in want:
        for i in (f, t):
            if ids.get(i) != i.split(":")[0]:
                fail("%s: node %s missing or of kind %s" % (yaml, i, ids.get(i)))
    return out


def main():
    want = set()
    for s in MEDALLION_SOURCES:
        f = "file:data/medallion/delivery1/%s*.csv" % s
        want.add((f, "table:raw_" + s, "raw_" + s))
        want.add((f, "table:sta_" + s, "sta_" + s))
    for a, b in MEDALLION_GOLD:
        want.add(("table:" + a, "table:" + b, "gold"))
    check_json("pipelines/medallion.yaml", want)

    # a --param override reaches the source globs
    want2 = {(f.replace("delivery1", "delivery2"), t, s) for f, t, s in want}
    check_json("pipelines/medallion.yaml", want2, ("--param", "data_dir=data/medallion/delivery2"))

    want = {("file:/st/restaurants/incoming/*.csv", "table:raw_data", "load")}
    for m in RESTAURANT_MODELS:
        want.add(("table:raw_data", "table:" + m, "models"))
    check_json("pipelines/restaurants.yaml", want, ("--state-dir", "/st"))

    text = lineage("pipelines/restaurants.yaml")
    if not text.startswith("pipeline restaurants: 8 nodes, 7 edges\n") or \
            "file:${state_dir}/restaurants/incoming/*.csv -> table:raw_data  (load)\n" not in text:
        fail("restaurants text:\n" + text)

    p = dagd("lineage", cwd=SOURCE)
    if p.returncode != 2 or "usage: dagd lineage" not in p.stderr:
        fail("no file: exit %d %r" % (p.returncode, p.stderr))
    print("ok")


if __name__ == "__main__":
    main()
