# Sourced by the shell tests (POSIX sh). The shell twin of tests/test_support.h.
#
# skip_or_fail REASON: a component the test needs is missing. Exits 77
# (CTest's "skipped"), or 1 with a FAIL line when EDGEVISION_REQUIRE_ALL=1
# (CI sets it through .ci/run: there, nothing may skip).
skip_or_fail() {
  if [ "${EDGEVISION_REQUIRE_ALL:-0}" = 1 ]; then
    echo "FAIL: a required component is missing (EDGEVISION_REQUIRE_ALL=1): $*"
    exit 1
  fi
  echo "SKIP: $*"
  exit 77
}

# npm_ci_if_stale DIR PACKAGE: runs `npm ci` in DIR (from its committed
# package-lock.json) when node_modules/PACKAGE is missing or older than the
# lock file; skip_or_fail when node, npm or the registry are missing.
npm_ci_if_stale() {
  command -v node >/dev/null 2>&1 || skip_or_fail "node is not installed (apt-get install nodejs npm)"
  if [ ! -f "$1/node_modules/$2/package.json" ] ||
     [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; then
    command -v npm >/dev/null 2>&1 || skip_or_fail "npm is not installed (apt-get install npm)"
    npm ci --prefix "$1" --no-audit --no-fund --loglevel=error ||
      skip_or_fail "npm ci failed (is the npm registry reachable?)"
  fi
}
