#!/bin/sh
# Runs one SDK contract test (default: the Prediction SDK's); CTest calls
# this (tests/CMakeLists.txt) with the test file as its argument.
# Installs the SDKs from the committed package-lock.json when node_modules is
# missing or older than the lock file (npm ci, idempotent). Exit 77 (skipped)
# when node/npm are missing or the npm registry cannot be reached; under
# EDGEVISION_REQUIRE_ALL=1 (CI) that is a failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../support.sh"
npm_ci_if_stale "$here" @azure/cognitiveservices-customvision-prediction
npm_ci_if_stale "$here" @azure/cognitiveservices-customvision-training
test=${1:-prediction_sdk.test.mjs}
case "$test" in
  *.test.mjs) ;;
  *) echo "run.sh: not a test file: $test" >&2; exit 2 ;;
esac
exec node --test-reporter=spec "$here/$test"
