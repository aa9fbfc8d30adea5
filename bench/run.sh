#!/usr/bin/env bash
# edgevision vs ONNX Runtime (onnxruntime-node) vs OpenCV DNN, side by side.
#
#   bench/run.sh [--rounds N] [--quick] [--cores 0,1] [--sections peak,engine,detector,http,footprint]
#                [--only MODEL,...] [--out DIR]
#
# From a fresh clone: installs what is missing (Debian packages via
# scripts/setup-debian.sh --bench; onnxruntime-node and jpeg-js from the npm
# registry at the versions in bench/node/package-lock.json), builds a Release
# edgevision in build-bench/, measures peak FLOP/s, makes the models
# (bench/prepare_models.py), runs bench/harness.py and plots with gnuplot.
# Results: bench/results/<date>/ (summary.md, results.json, *.svg).
# Not part of CI or ctest. Takes ~25 minutes with 3 rounds (~8 with --quick).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds=3
cores=""
sections="peak,engine,detector,http,footprint"
out=""
quick=()
only=()
while (($#)); do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --cores) cores="$2"; shift 2 ;;
    --sections) sections="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --quick) quick=(--quick); shift ;;
    --only) only=(--only "$2"); shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
# Default: the first two CPUs this process may run on (the machine has 2).
if [[ -z "$cores" ]]; then
  cores="$(/usr/bin/python3 -c 'import os; c=sorted(os.sched_getaffinity(0)); print(",".join(map(str, c[:2])))')"
fi
out="${out:-$repo/bench/results/$(date +%Y%m%d-%H%M%S)}"
build="$repo/build-bench"
mkdir -p "$out" "$build"

echo "== dependencies"
"$repo/scripts/setup-debian.sh" --bench

echo "== build (Release) in $build"
cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DEDGEVISION_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" --target edgevision -j 2

echo "== peers (npm, bench/node/package-lock.json)"
if [[ ! -d "$repo/bench/node/node_modules/onnxruntime-node" ]]; then
  (cd "$repo/bench/node" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund)
fi

echo "== peak FLOP/s programs"
c++ -O2 -march=native -ffp-contract=fast -pthread -o "$build/fma_peak" "$repo/bench/peak/fma_peak.cc"
c++ -O2 -pthread -o "$build/xnn_gemm_peak" "$repo/bench/peak/xnn_gemm_peak.cc" -lXNNPACK -lpthreadpool

echo "== models (torchvision random weights; peer rewrites of the exports)"
/usr/bin/python3 "$repo/bench/prepare_models.py" "$build/bench-models"

echo "== measuring (cores $cores, $rounds rounds) -> $out"
/usr/bin/python3 "$repo/bench/harness.py" --edgevision "$build/src/cli/edgevision" \
  --models "$build/bench-models" --out "$out" --rounds "$rounds" --cores "$cores" \
  --sections "$sections" --fma-peak "$build/fma_peak" --xnn-gemm-peak "$build/xnn_gemm_peak" "${quick[@]}" "${only[@]}"

if [[ -f "$out/latency.dat" ]]; then
  gnuplot -e "dir='$out'" "$repo/bench/plot.gp"
fi
echo "== done: $out/summary.md"
