#!/bin/sh
# Runs tests/parity/check_d3.py, or with --formats first
# tests/parity/check_formats.py, with --s1 first tests/parity/make_s1_tflite.py,
# or with --float16 tests/parity/make_float16_tflite.py; CTest calls this
# (tests/CMakeLists.txt).
# Installs Google's TFLite C runtime (npm tfjs-tflite-node, its prebuilt
# cc_deps only: --ignore-scripts builds nothing) from the committed
# package-lock.json when node_modules is missing or older than the lock file.
# Exit 77 (skipped) when npm is missing or the registry cannot be reached;
# a failure instead with EDGEVISION_REQUIRE_ALL=1 (CI).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../support.sh"
if [ ! -f "$here/node_modules/tfjs-tflite-node/package.json" ] ||
   [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  command -v npm >/dev/null 2>&1 || skip_or_fail "npm is not installed (apt-get install npm)"
  if ! npm ci --ignore-scripts --prefix "$here" --no-audit --no-fund --loglevel=error; then
    skip_or_fail "npm ci failed (is the npm registry reachable?)"
  fi
fi
script=check_d3.py
if [ "${1:-}" = "--formats" ]; then
  script=check_formats.py
  shift
elif [ "${1:-}" = "--s1" ]; then
  script=make_s1_tflite.py
  shift
elif [ "${1:-}" = "--float16" ]; then
  script=make_float16_tflite.py
  shift
fi
exec /usr/bin/python3 "$here/../$script" "$@"
