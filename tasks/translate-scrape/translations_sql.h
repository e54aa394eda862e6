/* The `translations` table (DESIGN 6): written, and created, by
 * translate-scrape alone; cluster and report only read it, and cope with a
 * warehouse where the translate step has not run yet (warehouse_sql.h). */
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

#endif /* DAGD_TRANSLATIONS_SQL_H */
