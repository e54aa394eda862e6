/* The `translations` table (DESIGN 6): written by translate-scrape, read by
 * cluster and report. Both create it if missing so a reader never fails on a
 * warehouse where the translate step has not run yet. */
#ifndef DAGD_TRANSLATIONS_SQL_H
#define DAGD_TRANSLATIONS_SQL_H

#define DAGD_SQL_TRANSLATIONS_SCHEMA                                                               \
    "CREATE TABLE IF NOT EXISTS translations ("                                                    \
    " kind TEXT NOT NULL CHECK (kind IN ('city', 'district')),"                                    \
    " zh TEXT NOT NULL,"                                                                           \
    " en TEXT,"                                                                                    \
    " source TEXT NOT NULL CHECK (source IN ('wikipedia', 'cache', 'dictionary', 'none')),"        \
    " fetched_at INTEGER NOT NULL,"      /* epoch ms */                                            \
    " title TEXT,"                       /* the zh.wikipedia title that gave `en` */               \
    " asked INTEGER NOT NULL DEFAULT 0," /* 1: the wiki answered for sure (cached) */              \
    " PRIMARY KEY (kind, zh));"

/* Whitespace the rules trim (space, TAB, LF, CR, VT, FF, U+00A0, U+3000), as
 * an SQLite trim() character set. */
#define DAGD_SQL_TRIM_CHARS "' '||char(9,10,13,11,12,160,12288)"

#endif /* DAGD_TRANSLATIONS_SQL_H */
