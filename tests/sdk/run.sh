#!/bin/sh
# Runs the Prediction SDK contract test; CTest calls this (tests/CMakeLists.txt).
# Installs the SDK from the committed package-lock.json when node_modules is
# missing or older than the lock file (npm ci, idempotent). Exit 77 (skipped)
# when node/npm are missing or the npm registry cannot be reached; under
# EDGEVISION_REQUIRE_ALL=1 (CI) that is a failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../support.sh"
command -v node >/dev/null 2>&1 || skip_or_fail "node is not installed (apt-get install nodejs npm)"
if [ ! -f "$here/node_modules/@azure/cognitiveservices-customvision-prediction/package.json" ] ||
   [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  command -v npm >/dev/null 2>&1 || skip_or_fail "npm is not installed (apt-get install npm)"
  npm ci --prefix "$here" --no-audit --no-fund --loglevel=error ||
    skip_or_fail "npm ci failed (is the npm registry reachable?)"
fi
exec node "$here/prediction_sdk.test.mjs"
