/* The bundled translation dictionary (data/translations/{city,districts}_translations.json, the
 * original project's Wikipedia scrape), used by translate-scrape only when
 * the API cannot answer. Its quirks (see ../shared/data/README.md) are
 * handled here:
 * - a city entry counts only when it has an infobox ("Country" in its
 *   metadata), an English name different from the Chinese one, and is not a
 *   disambiguation page: this drops Sunlight (日照), Mesa (平顶山), Mudan
 *   River (牡丹江), 中山 -> 中山, Datong (disambiguation), ...;
 * - otherwise the city's English name is the majority vote of the infobox
 *   city of its districts (Prefecture-level city, Sub-provincial city,
 *   Municipality, Autonomous prefecture, Prefecture, League): 相山区 says
 *   Huaibei. This also covers the 18 cities missing from the file (唐山);
 * - district names are infobox names ("Xiangshan, Huaibei"); they are given
 *   the en.wikipedia article form ("Xiangshan District, Huaibei") by adding
 *   District / County / Banner after the first comma-separated part, as the
 *   articles are titled. */
#ifndef DAGD_DICTIONARY_H
#define DAGD_DICTIONARY_H

#include <stddef.h>

struct dagd_dict;

/* Load DIR/city_translations.json and DIR/districts_translations.json.
 * Returns 0 and *ret_dict, or a negative errno with a malloc'd message in
 * *reterr_msg (optional). */
int dagd_dict_load(const char *dir, struct dagd_dict **ret_dict, char **reterr_msg);

struct dagd_dict *dagd_dict_free(struct dagd_dict *d);

/* English name of a city, given the names of its districts (for the vote).
 * Returns a malloc'd string or NULL (unknown). */
char *dagd_dict_city(const struct dagd_dict *d, const char *zh, const char *const *districts,
                     size_t n_districts);

/* English article-style name of a district, malloc'd, or NULL. */
char *dagd_dict_district(const struct dagd_dict *d, const char *zh);

/* The en.wikipedia article form of an infobox district name (exported for
 * tests): "Xiangshan, Huaibei" + 相山区 -> "Xiangshan District, Huaibei". */
char *dagd_dict_district_title(const char *zh, const char *en);

#endif /* DAGD_DICTIONARY_H */
