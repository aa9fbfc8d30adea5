#!/bin/sh
# Runs the review page browser test; CTest calls this (tests/CMakeLists.txt).
# Installs playwright-core from the committed package-lock.json when
# node_modules is missing or older than the lock file (npm ci, idempotent).
# Exit 77 (skipped) when node/npm/chromium are missing or the npm registry
# cannot be reached.
set -u
here=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null 2>&1 || { echo "SKIP: node is not installed (apt-get install nodejs npm)"; exit 77; }
if [ ! -f "$here/node_modules/playwright-core/package.json" ] ||
   [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  command -v npm >/dev/null 2>&1 || { echo "SKIP: npm is not installed (apt-get install npm)"; exit 77; }
  if ! npm ci --prefix "$here" --no-audit --no-fund --loglevel=error; then
    echo "SKIP: npm ci failed (is the npm registry reachable?)"
    exit 77
  fi
fi
exec node "$here/review_page.test.mjs"
