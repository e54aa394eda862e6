#!/usr/bin/python3
"""translate-scrape against tests/tools/fakewiki.py (DESIGN 6, translations),
run by the real engine: every case writes a small pipeline (extract_dataset1
on data/sales-tiny, then a translate-scrape step; `params: {warehouse: ...}`
in the temp dir) and runs `build/daemon/dagd run FILE --state-dir DIR`;
results come from state.db (run and step status, error, events) and the
warehouse. The input is a copy of data/sales-tiny with one busy city renamed
<script>alert(1)</script> (analytics.evil_copy).

1. With faults (--fail-rate 0.3 --rate-limit 25 --garbage-rate 0.1
   --require-user-agent) and the client paced at `rate: 20` (the ratio of
   the default pace, 4/s, to a 5/s limit, five times faster): no 429, every map city of data/sales-tiny gets the English
   name of its city article (日照 Rizhao, 平顶山 Pingdingshan, 大同 Datong,
   唐山 Tangshan, every short-name pitfall of fakewiki.py), districts their
   article names; the request count stays near the minimum (printed) and no
   request has more than 50 titles or lacks a User-Agent.
2. An unchanged rerun is memoized by the engine (every step skipped, no
   request). A forced rerun (--force) runs translate-scrape again: its
   cache sends no request and changes no English name (source 'cache').
3. A dead port: the dictionary fills in (source 'dictionary'), the step
   succeeds with a warning event; names found nowhere get source 'none', en NULL.
4. A city name that cannot be a title (<script>...) is never sent.
5. With langlinks paged by a small lllimit, llcontinue is followed and the
   names are the same; a wiki taking fewer titles per request
   ("toomanyvalues") gets smaller batches; an unpaced client slows down to
   a server's rate limit after the first HTTP 429."""
import math
import re
import os
import shutil
import sqlite3
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dagdtest import (DICT, SOURCE, TINY, FakeWiki, check, dead_api, evil_copy,  # noqa: E402
                       translate_pipeline)

sys.path.insert(0, os.path.join(SOURCE, "tests", "tools"))
import fakewiki  # noqa: E402

EVIL = "<script>alert(1)</script>"


def city_truth(wiki, city):
    """English title of the city article, as fakewiki serves it."""
    if city.endswith(fakewiki.CITY_FULL_SUFFIXES):
        return wiki.pages.get(city)
    return wiki.pages.get(city + "市")


def translations(wh):
    con = sqlite3.connect(wh)
    rows = {(k, zh): (en, src) for k, zh, en, src in
            con.execute("SELECT kind, zh, en, source FROM translations")}
    con.close()
    return rows


def map_names(wh):
    con = sqlite3.connect(wh)
    cities = sorted({r[0].strip() for r in con.execute("SELECT city FROM city_district_map")})
    districts = sorted({r[0].strip() for r in con.execute("SELECT district FROM city_district_map")})
    con.close()
    return cities, districts


def main():
    tmp = tempfile.mkdtemp(prefix="dagd-translate-")
    try:
        wiki = fakewiki.Wiki(DICT)
        evil_dir, _ = evil_copy(os.path.join(tmp, "evil-data"), EVIL)

        # The default pace (4/s) under a 5/s limit, scaled by 5 to keep the
        # test short: the same margin, so a paced client never meets a 429.
        with FakeWiki("--fail-rate", "0.3", "--rate-limit", "25", "--garbage-rate", "0.1",
                      "--require-user-agent") as fw:
            cfg = {"api": fw.api, "dictionary": DICT, "contact": "dagd-tests@example.org",
                   "rate": 20}
            p = translate_pipeline(tmp, "faults", cfg, evil_dir)
            wh = p.warehouse
            r = p.run()
            check(r.status("translate") == "succeeded", "translate ran")
            log = r.log("translate")
            st = fw.stats()
            tr = translations(wh)
            cities, districts = map_names(wh)
            check(EVIL in cities, "the extracted map has the evil city")

            # 1. every map city: its city article, never a namesake
            wrong = []
            for c in cities:
                if c == EVIL:
                    continue
                want = city_truth(wiki, c)
                got = tr.get(("city", c))
                check(got is not None, "no translation row for city %s" % c)
                if got[0] != want:
                    wrong.append("%s: got %r want %r" % (c, got[0], want))
                if want is not None and got[1] != "wikipedia":
                    wrong.append("%s: source %s" % (c, got[1]))
            check(not wrong, "wrong city translations:\n  " + "\n  ".join(wrong))
            for zh, en in list(fakewiki.SHORT_NAME_PITFALLS.items()):
                if zh in cities:
                    check(tr[("city", zh)][0] == en, "pitfall %s -> %r" % (zh, tr[("city", zh)][0]))
            for zh, en in [("日照", "Rizhao"), ("平顶山", "Pingdingshan"), ("大同", "Datong"),
                           ("唐山", "Tangshan")]:
                check(zh in cities, "%s in the tiny map" % zh)
                check(tr[("city", zh)][0] == en, "%s -> %r, want %s" % (zh, tr[("city", zh)][0], en))
            # never asked (not a valid title); its districts may still vote in the dictionary
            check(tr[("city", EVIL)][1] in ("dictionary", "none"), "evil city: %r" % (tr[("city", EVIL)],))

            # districts by their own name
            for d in districts:
                want = wiki.pages.get(d)
                got = tr.get(("district", d))
                check(got is not None, "no translation row for district %s" % d)
                check(got[0] == want, "district %s: got %r want %r" % (d, got[0], want))
            check(tr[("district", "相山区")][0] == "Xiangshan District, Huaibei", "相山区")

            # request economy and manners
            titles = len({(c if c.endswith(fakewiki.CITY_FULL_SUFFIXES) else c + "市")
                          for c in cities if c != EVIL} | set(districts))
            minimum = math.ceil(titles / 50)
            print("requests: %d API requests for %d titles (minimum %d batches), faults %s, "
                  "status %s" % (st["api_requests"], titles, minimum, dict(st["faults"]),
                                 dict(st["status"])))
            check(st["max_titles_in_request"] <= 50, "at most 50 titles per request")
            check(st["requests_without_user_agent"] == 0, "User-Agent on every request")
            check(st["status"].get("403", 0) == 0, "no 403 (User-Agent refused)")
            check(st["pages_invalid"] == 0, "invalid titles are never sent")
            check(st["status"].get("429", 0) == 0, "a client paced below the limit gets no 429")
            # with 30% 503 + 10% garbage the expected count is ~1.6 x minimum
            check(st["api_requests"] <= 3 * minimum + 10,
                  "%d requests for a minimum of %d" % (st["api_requests"], minimum))
            check("wikipedia" in log, "summary logged")
            m = re.search(r"lookup: .* (\d+) connection\(s\) opened", log)
            check(m is not None, "connections logged")
            print("connections opened: %s" % m.group(1))
            check(int(m.group(1)) <= 4, "keep-alive: %s connections for %d requests" %
                  (m.group(1), st["api_requests"]))

            # 2a. an unchanged rerun is memoized by the engine: no step runs,
            # no request, no row changes
            fw.stats(reset=True)
            r = p.run()
            for step in p.steps:
                check(r.steps[step]["status"] == "skipped" and
                      r.steps[step]["skip_reason"] == "memoized",
                      "unchanged rerun: %s %s (%r)" % (step, r.steps[step]["status"],
                                                      r.steps[step]["skip_reason"]))
            st2 = fw.stats()
            check(st2["api_requests"] == 0, "memoized rerun sent %d requests" % st2["api_requests"])
            check(translations(wh) == tr, "memoized rerun changed translations")

            # 2. a forced rerun runs translate-scrape again: its own cache
            # answers, no request, same names
            fw.stats(reset=True)
            r = p.run("--force")
            check(r.status("translate") == "succeeded", "forced rerun ran translate")
            st2 = fw.stats()
            print("rerun (--force): %d API requests" % st2["api_requests"])
            check(st2["api_requests"] == 0, "rerun sent %d requests" % st2["api_requests"])
            tr2 = translations(wh)
            check({k: v[0] for k, v in tr2.items()} == {k: v[0] for k, v in tr.items()},
                  "rerun changed English names")
            check(tr2[("city", "日照")][1] == "cache", "rerun source: %r" % (tr2[("city", "日照")],))

        # 2b. langlinks paged (lllimit 7): llcontinue followed, same names
        with FakeWiki() as fw:
            p = translate_pipeline(tmp, "continue", {"api": fw.api, "dictionary": DICT,
                                                     "lllimit": 7, "rate": 0}, evil_dir)
            wh_c = p.warehouse
            p.run()
            st = fw.stats()
        print("paged: %d API requests, %d continuation responses" %
              (st["api_requests"], st["continue_responses"]))
        check(st["continue_responses"] > 0, "fakewiki paged the langlinks")
        trc = translations(wh_c)
        check({k: v[0] for k, v in trc.items()} == {k: v[0] for k, v in tr.items()},
              "paged langlinks give the same names")

        # 2c. a wiki that takes only 20 titles per request: batches shrink once
        with FakeWiki("--title-limit", "20") as fw:
            p = translate_pipeline(tmp, "limit", {"api": fw.api, "dictionary": DICT, "rate": 0},
                                   evil_dir)
            wh_l = p.warehouse
            p.run()
            st = fw.stats()
        print("title limit 20: %d API requests, errors %s" % (st["api_requests"], dict(st["errors"])))
        check(st["errors"].get("toomanyvalues", 0) <= 2, "batches shrink after the first refusal")
        trl = translations(wh_l)
        check({k: v[0] for k, v in trl.items()} == {k: v[0] for k, v in tr.items()},
              "smaller batches give the same names")

        # 2d. unpaced client against a 20/s rate limit: 429 honoured, pace learnt
        with FakeWiki("--rate-limit", "20") as fw:
            p = translate_pipeline(tmp, "rate", {"api": fw.api, "dictionary": DICT, "rate": 0},
                                   evil_dir)
            wh_r = p.warehouse
            log = p.run().log("translate")
            st = fw.stats()
        print("rate limit 20/s, unpaced: %d API requests, %d x 429" %
              (st["api_requests"], st["status"].get("429", 0)))
        check(st["status"].get("429", 0) >= 1, "the rate limit was hit")
        check(st["status"].get("429", 0) <= 6, "the client slows down after a 429")
        check("pacing requests to" in log, "the learnt pace is logged")
        trr = translations(wh_r)
        check({k: v[0] for k, v in trr.items()} == {k: v[0] for k, v in tr.items()},
              "rate-limited run gives the same names")

        # 3. dead port: the dictionary fills in
        p = translate_pipeline(tmp, "dead", {"api": dead_api(), "dictionary": DICT,
                                             "connect_timeout": "2s"}, TINY)
        wh2 = p.warehouse
        r = p.run()  # the step succeeds (checked by run())
        warnings = [e["message"] for e in r.step_events("translate", level="warning")]
        check(any("unreachable" in w for w in warnings),
              "a warning event names the unreachable API: %r" % warnings)
        tr3 = translations(wh2)
        check(tr3[("city", "日照")] == ("Rizhao", "dictionary"), "dictionary 日照: %r" % (tr3[("city", "日照")],))
        check(tr3[("city", "唐山")] == ("Tangshan", "dictionary"), "dictionary 唐山: %r" % (tr3[("city", "唐山")],))
        check(tr3[("city", "上海")] == ("Shanghai", "dictionary"), "dictionary 上海")
        check(tr3[("city", "大同")][0] == "Datong", "dictionary 大同: no disambiguation page")
        check(tr3[("district", "相山区")][1] == "dictionary", "dictionary district")
        sources = {v[1] for v in tr3.values()}
        check(sources <= {"dictionary", "none"}, "sources after an outage: %r" % sources)
        for (kind, zh), (en, src) in tr3.items():
            check((en is None) == (src == "none"), "en NULL exactly for source none: %s" % zh)
        print("dead port: %d names, %d from the dictionary" %
              (len(tr3), sum(1 for v in tr3.values() if v[1] == "dictionary")))
        print("PASS")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
