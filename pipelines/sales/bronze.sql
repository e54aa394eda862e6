-- Bronze layer of the sales warehouse: raw rows exactly as delivered, written
-- by the `extract` task, read by `validate` / `transform` / `translate-scrape`.
-- Values keep their delivered type (columns without a declared type have no
-- affinity): an xlsx/JSON number is INTEGER when integral in the file
-- ("50127", 2) and REAL otherwise (1680.53, 2.0 stays REAL), text stays TEXT
-- ("time", "2"), an absent/blank/null value is NULL.

-- One row per loaded file. file_id is assigned in load order, so
-- (file_id, row_no) is the global load order the dedup rule needs.
CREATE TABLE IF NOT EXISTS load_files (
    file_id      INTEGER PRIMARY KEY,
    source       TEXT NOT NULL,        -- 'dataset1' | 'dataset2' (the step's `source` config)
    path         TEXT NOT NULL,        -- as resolved when loaded
    content_hash TEXT NOT NULL,        -- xxh3-128 hex of the file bytes
    size         INTEGER NOT NULL,
    rows         INTEGER NOT NULL,     -- data rows loaded (header excluded)
    loaded_at    INTEGER NOT NULL,     -- epoch ms
    UNIQUE (source, content_hash)      -- a file already loaded unchanged is skipped
);

-- One row per delivered order row (dataset1 sheet DATA rows, dataset2 records).
-- WITHOUT ROWID: one b-tree keyed by (file_id, row_no), appended to in key
-- order by extract; a rowid table would also write a separate index for the
-- primary key (~15% of the load). A warehouse made before keeps its table.
CREATE TABLE IF NOT EXISTS raw_orders (
    file_id          INTEGER NOT NULL REFERENCES load_files(file_id),
    row_no           INTEGER NOT NULL, -- xlsx: sheet row number (header = 1); json: 1-based record index
    source           TEXT NOT NULL,
    order_id,                          -- ORDER_ID
    order_time,                        -- ORDER_TIME  (PST) / ORDER_TIME_PST
    city_district_id,                  -- dataset1 only
    city,                              -- dataset2 only: SHIP_TO_CITY_CD
    district,                          -- dataset2 only: SHIP_TO_DISTRICT_NAME
    rptg_amt,                          -- RPTG_AMT
    currency_cd,                       -- CURRENCY_CD
    order_qty,                         -- ORDER_QTY
    missing_keys     TEXT,             -- dataset2: comma-separated missing keys, else NULL
    extra_keys       TEXT,             -- dataset2: comma-separated extra keys, else NULL
    PRIMARY KEY (file_id, row_no)
) WITHOUT ROWID;

-- Sheet CITY_DISTRICT_MAP of dataset1 workbooks (upserted by id; a later
-- workbook's row for the same id wins).
CREATE TABLE IF NOT EXISTS city_district_map (
    city_district_id INTEGER PRIMARY KEY,
    city             TEXT NOT NULL,    -- SHIP_TO_CITY_CD, as delivered (not trimmed)
    district         TEXT NOT NULL,    -- SHIP_TO_DISTRICT_NAME, as delivered
    file_id          INTEGER NOT NULL
);

-- A later workbook that maps an id already in the map to another city or
-- district moves every earlier order of that id (cities, districts and the
-- marts change). That is a data-quality finding, not a silent update: each
-- such change is recorded here (extract warns with the count and the ids).
CREATE TABLE IF NOT EXISTS city_district_remaps (
    city_district_id INTEGER NOT NULL,
    old_city         TEXT NOT NULL,
    old_district     TEXT NOT NULL,
    new_city         TEXT NOT NULL,
    new_district     TEXT NOT NULL,
    old_file_id      INTEGER NOT NULL,
    new_file_id      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS city_district_remaps_by_file
    ON city_district_remaps(new_file_id, city_district_id);
CREATE TRIGGER IF NOT EXISTS city_district_map_remap
AFTER UPDATE ON city_district_map
WHEN old.city IS NOT new.city OR old.district IS NOT new.district
BEGIN
    INSERT INTO city_district_remaps VALUES
        (new.city_district_id, old.city, old.district, new.city, new.district,
         old.file_id, new.file_id);
END;
