#!/usr/bin/env bash
# An ARM build, proven without ARM hardware. One command, as root on a
# Debian 12 amd64 machine:
#   scripts/arm/build-and-test.sh [--arch arm64|armhf]
# 1. a Debian 12 root of ARCH (debootstrap + qemu-user-static, binfmt), with
#    edgevision's build dependencies installed in it by scripts/setup-debian.sh
#    (scripts/arm/lib.sh);
# 2. edgevision and its unit tests built for ARCH against that root: by
#    default with Debian's cross compiler (GCC 12, as in the root) and the
#    root as sysroot, into build-ARCH (the tree scripts/release packages);
#    with --native, by the root's own compiler under emulation (the same
#    result, many times slower);
# 3. the README's two commands inside the root, with the tree built in 2
#    (tests/packaging/readme_in_root.sh --prebuilt): ./scripts/test (the unit
#    and e2e tests, ctest under qemu, with EDGEVISION_TEST_TIME_SCALE,
#    default 10 here, stretching the time-bound e2e tests; docs/deploy.md#arm)
#    and ./scripts/demo, probed with the README's curl;
# 4. every real export in tests/data/cv-exports: `edgevision tensor` and
#    `edgevision predict` on each of its images, inside the root and on this
#    x86 machine; the input tensors must be identical byte for byte and the
#    probabilities within 1e-4 (scripts/arm/outputs.sh, compare.py);
# 5. `edgevision bench` per export under emulation (latency for information
#    only: qemu is not an ARM CPU).
# Not part of the default CI run (tens of minutes on 2 cores); figures are in
# docs/deploy.md#arm.
#
# Options:
#   --arch A        arm64 (default) or armhf
#   --root DIR      the root (default /var/tmp/edgevision-roots/ARCH; kept and
#                   reused, so later runs skip step 1's work)
#   --x86-build DIR an x86 build tree with edgevision built (default: build-x86,
#                   configured and built here if missing)
#   --native        compile inside the root under qemu instead of cross-compiling
#   --jobs N        parallel compile jobs (default: nproc)
#   --skip-tests    only build and compare (no step 3)
#   --no-build      use build-ARCH as it is (made by scripts/release --tests)
#   --no-test-command, --no-demo, --no-compare
#                   leave out ./scripts/test, ./scripts/demo, step 4 and 5
set -euo pipefail
EV_SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib.sh
. "$EV_SRC/scripts/arm/lib.sh"
src=$EV_SRC
arch=arm64
root=
x86_build=$src/build-x86
native=0
run_tests=1
do_build=1
test_command=1
demo=1
compare=1
while (($#)); do
  case "$1" in
    --arch) arch=$2; shift 2 ;;
    --root) root=$2; shift 2 ;;
    --x86-build) x86_build=$2; shift 2 ;;
    --native) native=1; shift ;;
    --jobs) export EDGEVISION_JOBS=$2; shift 2 ;;
    --skip-tests) run_tests=0; shift ;;
    --no-build) do_build=0; shift ;;
    --no-test-command) test_command=0; shift ;;
    --no-demo) demo=0; shift ;;
    --no-compare) compare=0; shift ;;
    *) echo "build-and-test: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "build-and-test: run as root (debootstrap, chroot, binfmt)" >&2; exit 2; }
ev_triplet "$arch" >/dev/null
EV_LOG_TAG=$arch
step_start=$SECONDS
elapsed() { local s=$((SECONDS - step_start)); step_start=$SECONDS; echo "${s}s"; }

# --- 1. the root ---
"$src/scripts/setup-debian.sh" --arm >/dev/null
root=$(ev_build_root "$arch" "${root:-$EV_ROOTS/$arch}")
ev_log "root ready ($(elapsed))"

# --- 2. build ---
build=$src/build-$arch
if ((native)); then
  build=$src/build-$arch-native
  ev_log "building natively inside the root under qemu (-j${EDGEVISION_JOBS:-$(nproc)})"
  ev_in_root "$root" cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGEVISION_BUILD_TESTS=ON >/dev/null
  ev_in_root "$root" cmake --build "$build" -j "${EDGEVISION_JOBS:-$(nproc)}" >"$build.log" 2>&1 || { tail -30 "$build.log"; exit 1; }
elif ((do_build)); then
  ev_log "cross-compiling with $(ev_triplet "$arch")-g++ against the root into $build"
  ev_cross_build "$arch" "$root" "$build" all -DEDGEVISION_BUILD_TESTS=ON
fi
build_time=$(elapsed)
ev_log "built in $build_time: $(file -b "$build/src/cli/edgevision")"

# --- 3. the README's two commands inside the root ---
# As on a Pi 4/5 with 64-bit Raspberry Pi OS, but with the tree built above
# (tests/packaging/readme_in_root.sh --prebuilt: EDGEVISION_BUILD_DIR points
# the scripts at it, so their build step finds it up to date; without
# --prebuilt that script compiles inside the root, which takes hours). They
# run in that script's copy of the root (ARCH-pi, with the test packages; the
# build root is mounted in it read-only as the tree's sysroot), so the test
# packages stay out of the sysroot scripts/release packages against.
readme_summary="not run"
ctest_rc=0
if ((run_tests && (test_command || demo))); then
  readme_steps=
  ((test_command)) && readme_steps="test"
  ((demo)) && readme_steps=${readme_steps:+$readme_steps,}demo
  set +e
  EDGEVISION_TEST_TIME_SCALE=${EDGEVISION_TEST_TIME_SCALE:-10}
  "$src/tests/packaging/readme_in_root.sh" "$arch" --prebuilt "$build" --steps "$readme_steps" \
    --time-scale "$EDGEVISION_TEST_TIME_SCALE" --nice 0 | tee "$build/readme-$arch.log"
  ctest_rc=${PIPESTATUS[0]}
  set -e
  readme_summary=$(grep -E '^(test|demo) ' "$build/readme-$arch.log" | tr '\n' ';')
  ev_log "README's commands: $readme_summary ($(elapsed))"
fi

# --- 4. tensors and predictions, ARCH vs x86 ---
compare_rc=0
predict_time=0
if ((compare)); then
if [[ ! -x $x86_build/src/cli/edgevision ]]; then
  ev_log "building the x86 reference binary in $x86_build"
  cmake -S "$src" -B "$x86_build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGEVISION_BUILD_TESTS=OFF >/dev/null
  cmake --build "$x86_build" --target edgevision >/dev/null
fi
out=$build/compare
rm -rf "$out"
"$src/scripts/arm/outputs.sh" "$x86_build/src/cli/edgevision" "$out/x86"
ev_log "predictions and tensors inside the root"
started=$SECONDS
ev_in_root "$root" "$src/scripts/arm/outputs.sh" "$build/src/cli/edgevision" "$out/$arch"
predict_time=$((SECONDS - started))
ev_log "bench under emulation (information only)"
: >"$out/bench-$arch.jsonl"
while read -r name; do
  ev_in_root "$root" "$build/src/cli/edgevision" bench --model "$src/tests/data/cv-exports/$name" --runs 5 --warmup 1 2>/dev/null |
    sed "s/^/{\"export\":\"$name\",\"result\":/; s/\$/}/" >>"$out/bench-$arch.jsonl" || true
done < <(ev_exports)
echo
set +e
/usr/bin/python3 "$src/scripts/arm/compare.py" "$out/x86" "$out/$arch" --arch "$arch" --bench "$out/bench-$arch.jsonl"
compare_rc=$?
set -e
fi
echo
echo "$arch build ($( ((native)) && echo native under qemu || echo cross)): $build_time; the README's commands: $readme_summary" \
  "predictions+tensors for $(ev_exports | wc -l) exports under qemu: ${predict_time}s"
if ((run_tests)) && [[ $ctest_rc -ne 0 ]]; then exit 1; fi
exit $compare_rc
