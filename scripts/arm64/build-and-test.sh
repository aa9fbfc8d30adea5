#!/usr/bin/env bash
# The arm64 build, proven without arm64 hardware. One command, as root on a
# Debian 12 amd64 machine:
#   scripts/arm64/build-and-test.sh
# 1. a Debian 12 arm64 root (debootstrap + qemu-user-static, binfmt), with
#    edgevision's build dependencies installed in it by scripts/setup-debian.sh;
# 2. edgevision and its unit tests built for arm64 against that root:
#    by default with Debian's aarch64 cross compiler (GCC 12, as in the root)
#    and the root as sysroot; with --native, by the root's own compiler under
#    emulation (the same result, many times slower);
# 3. the unit tests run inside the root (ctest under qemu);
# 4. every real export in tests/data/cv-exports: `edgevision tensor` and
#    `edgevision predict` on each of its images, inside the root and on this
#    x86 machine; the input tensors must be identical byte for byte and the
#    probabilities within 1e-4 (scripts/arm64/compare.py);
# 5. `edgevision bench` per export under emulation (latency for information
#    only: qemu is not an ARM CPU).
# Not part of the default CI run (tens of minutes on 2 cores); figures are in
# docs/deploy.md#arm.
#
# Options:
#   --root DIR      the arm64 root (default /var/tmp/edgevision-roots/arm64;
#                   kept and reused, so later runs skip steps 1's work)
#   --x86-build DIR an x86 build tree with edgevision built (default: build-arm64-x86,
#                   configured and built here if missing)
#   --native        compile inside the root under qemu instead of cross-compiling
#   --jobs N        parallel compile jobs (default: nproc)
#   --skip-tests    only build and compare
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
root=/var/tmp/edgevision-roots/arm64
x86_build=$src/build-arm64-x86
native=0
jobs=$(nproc)
run_tests=1
while (($#)); do
  case "$1" in
    --root) root=$2; shift 2 ;;
    --x86-build) x86_build=$2; shift 2 ;;
    --native) native=1; shift ;;
    --jobs) jobs=$2; shift 2 ;;
    --skip-tests) run_tests=0; shift ;;
    *) echo "build-and-test: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "build-and-test: run as root (debootstrap, chroot, binfmt)" >&2; exit 2; }
log() { echo "[arm64 $(date +%H:%M:%S)] $*"; }
step_start=$SECONDS
elapsed() { local s=$((SECONDS - step_start)); step_start=$SECONDS; echo "${s}s"; }

# --- 1. the root ---
"$src/scripts/setup-debian.sh" --arm64 >/dev/null
# binfmt_misc: qemu-aarch64 must run arm64 ELF files transparently (also in
# the chroot: Debian registers it with the F flag).
[[ -e /proc/sys/fs/binfmt_misc/status ]] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] || update-binfmts --enable qemu-aarch64
if [[ ! -x $root/usr/bin/apt-get ]]; then
  log "making the Debian 12 arm64 root in $root (debootstrap under qemu: ~20 min the first time)"
  "$src/tests/packaging/debian_root.sh" arm64 "$root"
fi
[[ $(chroot "$root" /usr/bin/uname -m) == aarch64 ]] || { echo "the root does not run as aarch64" >&2; exit 1; }
# Run a command inside the root, with the source tree at the same path.
in_root() {
  unshare --mount --propagation private --fork -- /bin/bash -c '
    R=$1; S=$2; shift 2
    mount -t proc proc "$R/proc"; mount --rbind /dev "$R/dev"
    mount --rbind /sys "$R/sys"  # cpuinfo (XNNPACK) reads /sys/devices/system/cpu
    mkdir -p "$R$S"; mount --bind "$S" "$R$S"
    exec chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"' \
    sh "$root" "$src" "$@"
}
cp /etc/resolv.conf "$root/etc/resolv.conf"
log "build dependencies in the root (scripts/setup-debian.sh)"
in_root "$src/scripts/setup-debian.sh" | tail -1
log "root ready ($(elapsed))"

# --- 2. build ---
build=$src/build-arm64
if ((native)); then
  build=$src/build-arm64-native
  log "building natively inside the root under qemu (-j$jobs)"
  in_root cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGEVISION_BUILD_TESTS=ON >/dev/null
  in_root cmake --build "$build" -j "$jobs" >"$build.log" 2>&1 || { tail -30 "$build.log"; exit 1; }
else
  log "cross-compiling with aarch64-linux-gnu-g++ against the root (-j$jobs)"
  # Build steps that run an arm64 tool from the root (flatc) run under qemu.
  export QEMU_LD_PREFIX=$root
  cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGEVISION_BUILD_TESTS=ON \
    -DCMAKE_TOOLCHAIN_FILE="$src/scripts/arm64/aarch64-toolchain.cmake" -DEDGEVISION_ARM64_ROOT="$root" >/dev/null
  cmake --build "$build" -j "$jobs" >"$build.log" 2>&1 || { tail -30 "$build.log"; exit 1; }
  unset QEMU_LD_PREFIX
fi
build_time=$(elapsed)
file_info=$(file -b "$build/src/cli/edgevision" 2>/dev/null || readelf -h "$build/src/cli/edgevision" | grep Machine)
log "built in $build_time: $file_info"

# --- 3. unit tests inside the root ---
# Excluded: the soak (a load test, meaningless at qemu speed) and labels that
# need what the root does not have (Python parity
# tooling, mosquitto, Chromium, node, debootstrap).
tests_summary="not run"
if ((run_tests)); then
  log "unit tests inside the root (ctest under qemu)"
  set +e
  in_root ctest --test-dir "$build" -LE 'parity|browser|upstream|packaging|soak' -j "$jobs" --timeout 1500 \
    --output-on-failure >"$build/ctest-arm64.log" 2>&1
  ctest_rc=$?
  set -e
  tests_summary=$(grep -E "tests passed|tests failed" "$build/ctest-arm64.log" | tail -1)
  log "ctest: $tests_summary ($(elapsed))"
  grep -A3 "The following tests FAILED" "$build/ctest-arm64.log" || true
fi

# --- 4. tensors and predictions, arm64 vs x86 ---
if [[ ! -x $x86_build/src/cli/edgevision ]]; then
  log "building the x86 reference binary in $x86_build"
  cmake -S "$src" -B "$x86_build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGEVISION_BUILD_TESTS=OFF >/dev/null
  cmake --build "$x86_build" -j "$jobs" --target edgevision >/dev/null
fi
out=$build/compare
rm -rf "$out"
mkdir -p "$out/x86" "$out/arm64"
# Every export with a model file; those that ship no images of their own
# (the Android fruit models) get the apple/banana sample's fruit images.
exports=()
for dir in "$src"/tests/data/cv-exports/*/; do
  if compgen -G "${dir}model.*" >/dev/null; then exports+=("$(basename "$dir")"); fi
done
images_of() {
  local d=$src/tests/data/cv-exports/$1/images
  [[ -d $d ]] || d=$src/tests/data/cv-exports/iotedge-applebanana-tf/images
  echo "$d"
}
for name in "${exports[@]}"; do
  model=$src/tests/data/cv-exports/$name
  for arch in x86 arm64; do mkdir -p "$out/$arch/$name"; done
  images=$(images_of "$name")
  find "$images" -type f | sort | while read -r image; do
    base=$(realpath --relative-to="$images" "$image" | tr / _)
    "$x86_build/src/cli/edgevision" predict --model "$model" "$image" >"$out/x86/$name/$base.json" 2>/dev/null || true
    "$x86_build/src/cli/edgevision" tensor --model "$model" "$image" --out "$out/x86/$name/$base.npy" 2>/dev/null || true
  done
done
log "predictions and tensors inside the root"
started=$SECONDS
for name in "${exports[@]}"; do
  in_root /bin/bash -c '
    b=$1; model=$2; images=$3; out=$4
    find "$images" -type f | sort | while read -r image; do
      base=$(realpath --relative-to="$images" "$image" | tr / _)
      "$b" predict --model "$model" "$image" >"$out/$base.json" 2>/dev/null || true
      "$b" tensor --model "$model" "$image" --out "$out/$base.npy" 2>/dev/null || true
    done' sh "$build/src/cli/edgevision" "$src/tests/data/cv-exports/$name" "$(images_of "$name")" "$out/arm64/$name"
done
predict_time=$((SECONDS - started))
log "bench under emulation (information only)"
: >"$out/bench-arm64.jsonl"
for name in "${exports[@]}"; do
  in_root "$build/src/cli/edgevision" bench --model "$src/tests/data/cv-exports/$name" --runs 5 --warmup 1 2>/dev/null |
    sed "s/^/{\"export\":\"$name\",\"result\":/; s/\$/}/" >>"$out/bench-arm64.jsonl" || true
done
echo
set +e
/usr/bin/python3 "$src/scripts/arm64/compare.py" "$out/x86" "$out/arm64" --bench "$out/bench-arm64.jsonl"
compare_rc=$?
set -e
echo
echo "arm64 build ($( ((native)) && echo native under qemu || echo cross)): $build_time; unit tests: $tests_summary;" \
  "predictions+tensors for ${#exports[@]} exports under qemu: ${predict_time}s"
if ((run_tests)) && [[ $ctest_rc -ne 0 ]]; then exit 1; fi
exit $compare_rc
