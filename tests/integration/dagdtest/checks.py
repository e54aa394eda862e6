"""How a test fails (exit 1 with FAIL: on stderr), skips (exit 77, which
meson reports as a skip) and waits."""
import sys
import time

SKIP = 77


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def eq(got, want, what):
    if got != want:
        fail("%s: got %r, want %r" % (what, got, want))


def skip(msg):
    print("SKIP: " + msg)
    sys.exit(SKIP)


def wait_for(pred, timeout=10.0, what="condition"):
    """Poll pred() every 20 ms until it returns a true value (returned);
    fail after timeout seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    fail("timed out waiting for " + what)


def run_main(main):
    """Run a test's main(): its return value is the exit code; an
    AssertionError fails the test (FAIL: and the message on stderr, exit 1)."""
    try:
        sys.exit(main())
    except AssertionError as e:
        fail(str(e))


def alive(pid):
    """Whether pid is a live process (not gone, not a zombie)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False
