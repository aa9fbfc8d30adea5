// The Node twin of tests/test_support.h, for the browser and manifest tests.
//
// EDGEVISION_REQUIRE_ALL=1 (CI sets it through .ci/run): a component a test
// needs must be there; its absence fails the test instead of skipping it.
export const requireAll = process.env.EDGEVISION_REQUIRE_ALL === "1";

// A component the test needs is missing: exit 77 (CTest's "skipped"), or 1
// under EDGEVISION_REQUIRE_ALL=1.
export function skipOrFail(reason) {
  if (requireAll) {
    console.log("FAIL: a required component is missing (EDGEVISION_REQUIRE_ALL=1): " + reason);
    process.exit(1);
  }
  console.log("SKIP: " + reason);
  process.exit(77);
}

// For node:test's { skip }: the reason when the test may be skipped, false
// (run it, and let it fail) under EDGEVISION_REQUIRE_ALL=1.
export function skipUnlessRequired(reason) {
  return requireAll ? false : reason;
}
