#!/bin/sh
# Runs the Prediction SDK contract test; CTest calls this (tests/CMakeLists.txt).
# Installs the SDK from the committed package-lock.json when node_modules is
# missing or older than the lock file (npm ci, idempotent). Exit 77 (skipped)
# when node/npm are missing or the npm registry cannot be reached; under
# EDGEVISION_REQUIRE_ALL=1 (CI) that is a failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../support.sh"
npm_ci_if_stale "$here" @azure/cognitiveservices-customvision-prediction
exec node "$here/prediction_sdk.test.mjs"
