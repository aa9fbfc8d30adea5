#!/usr/bin/env bash
# Configures and builds edgevision into build/ (or $EDGEVISION_BUILD_DIR).
# Extra arguments go to cmake's configure step, e.g. -DEDGEVISION_BUILD_TESTS=OFF.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${EDGEVISION_BUILD_DIR:-$root/build}
jobs=${EDGEVISION_JOBS:-$(nproc)}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
cmake --build "$build" -j "$jobs"
