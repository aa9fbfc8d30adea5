#!/usr/bin/python3
"""Every CTest TIMEOUT in the tree is multiplied by EDGEVISION_TEST_TIME_SCALE.

    coverage_test.py CTEST BUILD_DIR

ctest lists the tests with their properties (--show-only=json-v1) twice: at
scale 1 and at scale 2.5. Each test with a TIMEOUT at scale 1, whichever
directory defined it (tests/, fuzz/, src/...), must have ceil(2.5 x TIMEOUT)
at 2.5; a test without one must still have none. A directory that sets a
TIMEOUT without calling edgevision_scale_test_timeouts() (cmake/
EdgevisionHelpers.cmake) fails here, naming its tests (issue 18: the fuzz
replays' 600 s did not scale under qemu).
"""
import json
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import support  # noqa: E402  (tests/support.py)

SCALE = 2.5  # a fraction on purpose: the script's 3-decimal arithmetic is exercised
LISTING_TIMEOUT_S = 60  # one `ctest --show-only`: reads the test files, runs nothing
MIN_TIMEOUTS = 10  # the tree has ~40 TIMEOUTs: fewer means the listing is wrong


def timeouts(ctest, build, scale):
    """{test name: TIMEOUT or None} as ctest sees it at `scale`."""
    env = dict(os.environ)
    env.pop("EDGEVISION_TEST_TIME_SCALE", None)
    if scale != 1:
        env["EDGEVISION_TEST_TIME_SCALE"] = str(scale)
    p = subprocess.run([ctest, "--test-dir", build, "--show-only=json-v1"], env=env, capture_output=True,
                       text=True, timeout=support.scaled(LISTING_TIMEOUT_S))
    if p.returncode != 0:
        raise SystemExit("ctest --show-only failed (%d): %s" % (p.returncode, p.stderr[-2000:]))
    out = {}
    for test in json.loads(p.stdout)["tests"]:
        props = {prop["name"]: prop["value"] for prop in test.get("properties", [])}
        out[test["name"]] = props.get("TIMEOUT")
    return out


def main():
    ctest, build = sys.argv[1], sys.argv[2]
    base = timeouts(ctest, build, 1)
    scaled = timeouts(ctest, build, SCALE)
    failures = []
    with_timeout = {name: t for name, t in base.items() if t is not None}
    if len(with_timeout) < MIN_TIMEOUTS:
        failures.append("only %d tests with a TIMEOUT listed: %r" % (len(with_timeout), with_timeout))
    if set(base) != set(scaled):
        failures.append("the two listings differ in tests: %r" % sorted(set(base) ^ set(scaled)))
    unscaled = []
    for name, t in sorted(base.items()):
        want = None if t is None else math.ceil(t * SCALE)
        got = scaled.get(name)
        if got != want:
            unscaled.append("%s: TIMEOUT %s at scale 1, %s at scale %g (want %s)" % (name, t, got, SCALE, want))
    if unscaled:
        failures.append("TIMEOUTs not scaled by EDGEVISION_TEST_TIME_SCALE (call edgevision_scale_test_timeouts() "
                        "last in their directory):\n  " + "\n  ".join(unscaled))
    print("%d tests, %d with a TIMEOUT, all scaled by %g: %s" % (len(base), len(with_timeout), SCALE,
                                                                 "no" if unscaled else "yes"))
    return support.report(failures)


if __name__ == "__main__":
    sys.exit(main())
