#!/bin/sh
# Runs the review page browser test; CTest calls this (tests/CMakeLists.txt).
# Installs playwright-core from the committed package-lock.json when
# node_modules is missing or older than the lock file (npm ci, idempotent).
# Exit 77 (skipped) when node/npm/chromium are missing or the npm registry
# cannot be reached; under EDGEVISION_REQUIRE_ALL=1 (CI) that is a failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../support.sh"
npm_ci_if_stale "$here" playwright-core
exec node "$here/review_page.test.mjs"
