"""Where the built binaries, the sources and the test data are:
DAGD_BUILD_ROOT and DAGD_SOURCE_ROOT (set by meson test), else the tree
this file is in."""
import json
import os

_TREE = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))

BUILD = os.environ.get("DAGD_BUILD_ROOT") or os.path.join(_TREE, "build")
SOURCE = os.environ.get("DAGD_SOURCE_ROOT") or _TREE
DAGD = os.path.join(BUILD, "daemon", "dagd")
DAGCTL = os.path.join(BUILD, "daemon", "dagctl")
TEST_PLUGINS = os.path.join(BUILD, "tests", "plugins")
TOOLS = os.path.join(SOURCE, "tests", "tools")
TINY = os.path.join(SOURCE, "data", "sales-tiny")
DICT = os.path.join(SOURCE, "data", "translations")
MODELS = os.path.join(SOURCE, "pipelines", "sales", "models")
FAKEWIKI = os.path.join(TOOLS, "fakewiki.py")
# A Wikipedia API that refuses connections at once: translate-scrape falls
# back to its dictionary in about a second, but then marks its result
# no_memo (it is asked again next run).
NO_WIKI = "http://127.0.0.1:1/w/api.php"


def sanitized():
    """Whether the build under test has sanitizers (b_sanitize): ASan's
    quarantine keeps freed memory, so RSS bounds mean nothing there."""
    try:
        with open(os.path.join(BUILD, "meson-info", "intro-buildoptions.json")) as f:
            opts = {o["name"]: o["value"] for o in json.load(f)}
        return opts.get("b_sanitize", "none") not in ("none", "")
    except OSError:
        return False
