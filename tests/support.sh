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
