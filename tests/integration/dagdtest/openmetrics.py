"""A strict check of the OpenMetrics text format (no Debian package parses
it): the subset of the OpenMetrics 1.0 ABNF a daemon exposing counters,
gauges and histograms uses, with the rules a scraper enforces.

parse(text) returns {family: {"type", "unit", "help", "samples": [(name,
labels, value)]}} or raises ValueError naming the line."""
import math
import re

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
# A number as OpenMetrics writes it: decimal or exponent, or +/-Inf, NaN.
NUMBER = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?Inf|NaN"
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "unknown": ("",),
    "info": ("_info",),
    "stateset": ("",),
}
TYPES = set(SUFFIXES) | {"gaugehistogram", "summary"}


def _labels(text, lineno):
    """Parse `a="x",b="y"` (escapes \\\\ \\" \\n only)."""
    labels = {}
    i = 0
    while i < len(text):
        m = re.match(LABEL_NAME + '="', text[i:])
        if not m:
            raise ValueError("line %d: bad label at %r" % (lineno, text[i:]))
        name = m.group(0)[:-2]
        i += m.end()
        value = []
        while True:
            if i >= len(text):
                raise ValueError("line %d: unterminated label value" % lineno)
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise ValueError("line %d: bad escape \\%s" % (lineno, nxt))
                value.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise ValueError("line %d: raw newline in a label" % lineno)
            else:
                value.append(c)
                i += 1
        if name in labels:
            raise ValueError("line %d: duplicate label %s" % (lineno, name))
        labels[name] = "".join(value)
        if i < len(text):
            if text[i] != ",":
                raise ValueError("line %d: expected ',' in labels" % lineno)
            i += 1
            if i == len(text):
                raise ValueError("line %d: trailing ',' in labels" % lineno)
    return labels


def _family_of(name, families, order):
    for fam in reversed(order):
        t = families[fam]["type"]
        for suf in SUFFIXES.get(t, ("",)):
            if name == fam + suf:
                return fam
    return None


def parse(text):
    if not text.endswith("# EOF\n") and not text.endswith("# EOF"):
        raise ValueError("does not end with '# EOF'")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    if lines[-1] != "# EOF":
        raise ValueError("last line is not '# EOF'")
    families, order, done = {}, [], set()
    current = None
    seen = set()
    for lineno, line in enumerate(lines[:-1], 1):
        if line == "# EOF":
            raise ValueError("line %d: '# EOF' before the end" % lineno)
        if line.startswith("#"):
            m = re.fullmatch(r"# (TYPE|UNIT|HELP) (" + NAME + r") (.*)", line)
            if not m:
                raise ValueError("line %d: bad comment line %r" % (lineno, line))
            kind, fam, rest = m.groups()
            if kind == "TYPE":
                if fam in families:
                    raise ValueError("line %d: second TYPE for %s" % (lineno, fam))
                if rest not in TYPES:
                    raise ValueError("line %d: unknown type %r" % (lineno, rest))
                if current:
                    done.add(current)
                families[fam] = {"type": rest, "unit": None, "help": None, "samples": []}
                order.append(fam)
                current = fam
            else:
                if fam != current:
                    raise ValueError("line %d: %s for %s outside its family" % (lineno, kind, fam))
                key = kind.lower()
                if families[fam][key] is not None:
                    raise ValueError("line %d: second %s for %s" % (lineno, kind, fam))
                if kind == "UNIT" and not fam.endswith("_" + rest):
                    raise ValueError("line %d: %s must end in _%s" % (lineno, fam, rest))
                if kind == "HELP" and re.search(r'\\[^\\n"]', rest):
                    raise ValueError("line %d: bad escape in HELP" % lineno)
                families[fam][key] = rest
            continue
        m = re.fullmatch("(" + NAME + r")(?:\{(.*)\})? (" + NUMBER + r")(?: (" + NUMBER + "))?", line)
        if not m:
            raise ValueError("line %d: bad sample %r" % (lineno, line))
        name, labels, value, _ts = m.groups()
        fam = _family_of(name, families, order)
        if fam is None:
            raise ValueError("line %d: sample %s has no TYPE" % (lineno, name))
        if fam != current or fam in done:
            raise ValueError("line %d: samples of %s are not contiguous" % (lineno, fam))
        lab = _labels(labels or "", lineno)
        key = (name, tuple(sorted(lab.items())))
        if key in seen:
            raise ValueError("line %d: duplicate sample %r" % (lineno, key))
        seen.add(key)
        v = float(value.replace("Inf", "inf"))
        t = families[fam]["type"]
        if t in ("counter", "histogram") and name.endswith(("_total", "_count", "_bucket", "_sum")):
            if math.isnan(v) or v < 0:
                raise ValueError("line %d: %s must be >= 0" % (lineno, name))
        families[fam]["samples"].append((name, lab, v))
    for fam, f in families.items():
        _check_naming(fam, f)
        if f["type"] == "histogram":
            _check_histogram(fam, f["samples"])
    return families


# Units a name may carry: OpenMetrics' base units only (seconds, bytes, ...),
# never scaled ones (milliseconds, kilobytes).
BASE_UNITS = ("seconds", "bytes", "ratio", "celsius", "volts", "amperes", "joules", "grams", "meters")
SCALED = re.compile(r"_(milli|micro|nano|kilo|mega|giga)?(seconds|bytes)$|_(ms|us|ns|kb|mb|gb|percent)(_|$)")


def _check_naming(fam, f):
    """The conventions a scraper's linter applies (OpenMetrics 1.0 and
    Prometheus' naming rules): every family has HELP; a counter family's
    name does not itself end in _total (its samples do); a name ending in a
    unit declares that UNIT, and only base units appear."""
    if f["help"] is None:
        raise ValueError("%s: no HELP" % fam)
    if f["type"] == "counter" and fam.endswith("_total"):
        raise ValueError("%s: a counter family's name must not end in _total" % fam)
    if f["type"] != "counter" and fam.endswith("_total"):
        raise ValueError("%s: only counters end in _total" % fam)
    m = SCALED.search(fam)
    if m and (m.group(1) or m.group(3)):
        raise ValueError("%s: not a base unit (%s)" % (fam, m.group(0)))
    for unit in BASE_UNITS:
        if fam.endswith("_" + unit) and f["unit"] != unit:
            raise ValueError("%s: ends in _%s without '# UNIT %s %s'" % (fam, unit, fam, unit))


def _check_histogram(fam, samples):
    series = {}
    for name, lab, v in samples:
        rest = tuple(sorted((k, x) for k, x in lab.items() if k != "le"))
        s = series.setdefault(rest, {"buckets": [], "count": None, "sum": None})
        if name == fam + "_bucket":
            if "le" not in lab:
                raise ValueError("%s: bucket without le" % fam)
            le = float(lab["le"].replace("Inf", "inf"))
            if lab["le"] != "+Inf" and not re.fullmatch(r"-?[0-9]+\.[0-9]+(e[-+]?[0-9]+)?", lab["le"]):
                raise ValueError("%s: le %r is not a canonical float" % (fam, lab["le"]))
            s["buckets"].append((le, v))
        elif name == fam + "_count":
            s["count"] = v
        elif name == fam + "_sum":
            s["sum"] = v
    for rest, s in series.items():
        b = s["buckets"]
        if not b or b[-1][0] != math.inf:
            raise ValueError("%s%r: no +Inf bucket last" % (fam, rest))
        for (l1, v1), (l2, v2) in zip(b, b[1:]):
            if not l1 < l2 or v2 < v1:
                raise ValueError("%s%r: buckets not increasing" % (fam, rest))
        if s["count"] is not None and s["count"] != b[-1][1]:
            raise ValueError("%s%r: _count %s != +Inf bucket %s" % (fam, rest, s["count"], b[-1][1]))
