#!/bin/sh
# Validates the deployment manifests (manifests.test.mjs); CTest calls this.
# Installs ajv, kubernetes-models and yaml from the committed
# package-lock.json when node_modules is missing or older than the lock file
# (npm ci, idempotent). EDGEVISION_BINARY (set by CTest) adds the check that
# every EDGEVISION_* variable in the manifests is one edgevision reads.
# Exit 77 (skipped) when node/npm are missing or the registry is unreachable;
# under EDGEVISION_REQUIRE_ALL=1 (CI) that is a failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../support.sh"
command -v node >/dev/null 2>&1 || skip_or_fail "node is not installed (apt-get install nodejs npm)"
if [ ! -f "$here/node_modules/kubernetes-models/package.json" ] ||
   [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  command -v npm >/dev/null 2>&1 || skip_or_fail "npm is not installed (apt-get install npm)"
  npm ci --prefix "$here" --no-audit --no-fund --loglevel=error ||
    skip_or_fail "npm ci failed (is the npm registry reachable?)"
fi
cd "$here" && exec node --test manifests.test.mjs
