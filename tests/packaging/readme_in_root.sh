#!/usr/bin/env bash
# The README's two commands inside a Debian 12 root of ARCH, under
# qemu-user-static, as a Raspberry Pi user runs them on Raspberry Pi OS
# bookworm (64-bit: arm64; 32-bit: armhf). As root on a Debian 12 amd64 machine:
#   tests/packaging/readme_in_root.sh ARCH [--steps tu,demo,test] [options]
# Not part of scripts/test or CI: under emulation a native build takes hours
# (docs/deploy.md#arm has the measured figures). Re-runnable: the root copy
# and its build tree are kept, so a second run continues where the first
# stopped.
#
# The root: a copy of the cross build's root ($EV_ROOTS/ARCH, which
# scripts/setup-debian.sh already gave the build packages), made once as
# $EV_ROOTS/ARCH-pi, so the packages the tests install do not enter the
# sysroot of scripts/release. The tree: the worktree's files (git ls-files,
# committed or not; no build trees, no ../shared, as in a fresh clone) copied
# to /home/pi/edgevision in that root.
# Steps (--steps, default demo,test):
#   tu    one translation unit (the median, by preprocessed lines, of the
#         demo binary's objects) compiled inside the root by the root's own
#         g++ (under qemu) and by the cross compiler on this machine (ccache
#         off for both): the CPU-time ratio; with the cross compiler's CPU per
#         line sampled at each decile and the lines of all objects, an
#         estimate of ./scripts/demo's native build (needs a cross-built tree:
#         --cross-build, default build-ARCH);
#   demo  `./scripts/demo` in the tree's directory: setup-debian.sh, the
#         native build (the binary only, as the script does), then the server
#         on :8080; then the README's curl of apple1.jpg must answer Apple;
#   test  `./scripts/test` (setup-debian.sh --test, the native build with the
#         tests, ctest; tests/sdk's npm packages installed first by this
#         machine's npm)
#         with EDGEVISION_SKIP_SANITIZE=1, EDGEVISION_REQUIRE_ALL=1 and
#         EDGEVISION_TEST_TIME_SCALE (--time-scale, default 10: the time-bound
#         e2e tests' waits, tests/test_support.h) and the labels in
#         --ctest-args left out (default: packaging, browser, soak, parity,
#         upstream; see docs/deploy.md#arm).
# --prebuilt DIR: demo and test use DIR, a tree cross-built against the
#   root's original (scripts/release --tests), through EDGEVISION_BUILD_DIR,
#   with the source tree at its own path and that original mounted read-only
#   at its own path in the copy: the scripts' build steps find it up to date. What ran is then the scripts and the tests under emulation, not
#   the native compile.
# Other options: --root DIR, --jobs N (native compile jobs, default nproc),
#   --nice N (default 19: the emulated compiler takes idle CPU only).
# Logs: each run writes its own, in build-arm-logs/ with its start time (UTC)
#   and PID in the name (readme-test-ARCH-MODE-20261207T080102Z-4242.log), so
#   that a second run started meanwhile does not truncate the first's; each
#   step prints its log's path, and the name without the time and PID
#   (readme-test-ARCH-MODE.log) is a link to the newest run's.
# Exit 0 when every step asked for passed.
set -euo pipefail
EV_SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../../scripts/arm/lib.sh
. "$EV_SRC/scripts/arm/lib.sh"
arch=${1:?usage: readme_in_root.sh ARCH [--steps tu,demo,test] [--prebuilt DIR] [--root DIR]}
shift
steps=demo,test
root=
prebuilt=
cross_build=
scale=10
jobs=$(nproc)
niceness=19
ctest_args=(-LE 'packaging|browser|soak|parity|upstream' --timeout 3000)
while (($#)); do
  case "$1" in
    --steps) steps=$2; shift 2 ;;
    --root) root=$2; shift 2 ;;
    --prebuilt) prebuilt=$(cd "$2" && pwd); shift 2 ;;
    --cross-build) cross_build=$(cd "$2" && pwd); shift 2 ;;
    --time-scale) scale=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --nice) niceness=$2; shift 2 ;;
    --ctest-args) read -r -a ctest_args <<<"$2"; shift 2 ;;
    *) echo "readme_in_root: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -z $prebuilt || ,$steps, != *,tu,* ]] || { echo "readme_in_root: the tu step is about the native build, not --prebuilt" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "readme_in_root: run as root (chroot, binfmt, namespaces)" >&2; exit 2; }
ev_triplet "$arch" >/dev/null
EV_LOG_TAG=readme-$arch
root=${root:-$EV_ROOTS/$arch-pi}
cross_build=${cross_build:-$EV_SRC/build-$arch}
logs=$EV_SRC/build-arm-logs
mkdir -p "$logs"
run_id=$(date -u +%Y%m%dT%H%M%SZ)-$$
# run_log NAME [EXT]: this run's $logs/NAME-$run_id.EXT (default .log), made
# empty, with $logs/NAME.EXT linked to it; prints its path.
run_log() {
  local ext=${2:-.log}
  local f=$logs/$1-$run_id$ext
  : >"$f"
  ln -sfn "$(basename "$f")" "$logs/$1$ext"
  echo "$f"
}
tree=/home/pi/edgevision
results=()
failed=0
record() { results+=("$(printf '%-5s %s' "$1" "$2")"); }

# --- the root and the tree ---
if [[ ! -x $root/usr/bin/g++ ]]; then
  build_root=$(ev_build_root "$arch")
  ev_log "copying the $arch build root $build_root to $root (once)"
  rm -rf "$root.part"
  cp -a "$build_root" "$root.part"
  mv "$root.part" "$root"
fi
ev_enable_binfmt "$arch"
cp /etc/resolv.conf "$root/etc/resolv.conf"
if [[ -z $prebuilt ]]; then
  # Only files that changed are rewritten (cp -u, by modification time): a
  # build running in the copy meanwhile is not disturbed, and ninja does not
  # rebuild what did not change.
  ev_log "copying the tree's files to $tree in the root"
  rm -rf "$root$tree.new" && mkdir -p "$root$tree" "$root$tree.new"
  (cd "$EV_SRC" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -C "$root$tree.new" -xf -
  cp -a -u "$root$tree.new/." "$root$tree/"
  rm -rf "$root$tree.new"
fi
in_root() { ev_in_root "$root" "$@"; }
# in_tree SCRIPT ARGS...: bash -c SCRIPT in the tree's directory inside the
# root ($EV_SRC with --prebuilt), niced, with EDGEVISION_JOBS and EV_ROOT_ENV.
in_tree() {
  local script=$1 dir=$tree
  shift
  [[ -z $prebuilt ]] || dir=$EV_SRC
  EV_ROOT_ENV="EDGEVISION_JOBS=$jobs ${EV_ROOT_ENV:-}" \
    in_root /usr/bin/nice -n "$niceness" /bin/bash -c "cd $dir && $script" sh "$@"
}
build_env=
mode=native
if [[ -n $prebuilt ]]; then
  build_env="EDGEVISION_BUILD_DIR=$prebuilt"
  mode=prebuilt
  # The cross compiler's own headers are in the tree's recorded dependencies:
  # missing inside the root, ninja would call every object out of date. So
  # are the sysroot's headers and libraries, at the sysroot's path: in a
  # copy of the build root (the default, ARCH-pi) the original is mounted
  # there, read-only, so the test packages still go into the copy only.
  sysroot=$(sed -n 's/^EDGEVISION_CROSS_ROOT:[A-Z]*=//p' "$prebuilt/CMakeCache.txt")
  [[ -n $sysroot ]] || ev_die "$prebuilt is not a cross-built tree (no EDGEVISION_CROSS_ROOT in its CMakeCache.txt)"
  EV_ROOT_BINDS="/usr/$(ev_triplet "$arch") /usr/lib/gcc-cross"
  [[ $(readlink -f "$sysroot") == "$(readlink -f "$root")" ]] || EV_ROOT_BINDS+=" $sysroot"
  export EV_ROOT_BINDS
fi

# --- tu: one translation unit, native under qemu against cross ---
if [[ ,$steps, == *,tu,* ]]; then
  [[ -f $cross_build/build.ninja ]] ||
    ev_die "no cross-built tree in $cross_build to compare with (scripts/release --arch $arch --tests)"
  # Configured as scripts/build.sh does (not again when a demo build made it:
  # it may be building there now).
  if [[ ! -f $root$tree/build/build.ninja ]]; then
    ev_log "tu: configuring the native tree in the root (cmake under qemu)"
    in_tree 'cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGEVISION_BUILD_TESTS=OFF >/dev/null'
  fi
  # Which one, and how the build scales from it: every object of the demo
  # binary preprocessed by the cross compiler (cheap), its lines counted; the
  # median one is compiled both ways. The estimate takes compile time as
  # proportional to preprocessed lines (rough; .ninja_log cannot be used:
  # ccache hits and the machine's load are in it).
  objects=$(ninja -C "$cross_build" -t commands src/cli/edgevision | grep -o ' -o [^ ]*\.o' | sed 's/^ -o //' | sort -u)
  [[ -n $objects ]] || ev_die "tu: no objects of src/cli/edgevision in $cross_build"
  # cross_cmd OBJ OUT: OBJ's compile command in the cross tree, writing OUT.
  cross_cmd() {
    ninja -C "$cross_build" -t commands "$1" | tail -1 |
      sed "s/^[^ ]*ccache //; s# -o [^ ]*# -o $2#; s# -MF [^ ]*# -MF $2.d#"
  }
  tu_lines=$(run_log "readme-tu-lines-$arch" .txt)
  ev_log "tu: preprocessed lines per object in $tu_lines"
  for o in $objects; do
    lines=$(cd "$cross_build" && CCACHE_DISABLE=1 /bin/sh -c "$(cross_cmd "$o" /tmp/readme-tu.ii) -E" 2>/dev/null &&
      wc -l </tmp/readme-tu.ii) || lines=
    [[ -n $lines ]] && echo "$lines $o" >>"$tu_lines"
  done
  rm -f /tmp/readme-tu.ii /tmp/readme-tu.ii.d
  read -r count total_lines obj_lines obj < <(sort -n "$tu_lines" |
    awk '{ l[NR] = $0; t += $1 } END { print NR, t, l[int((NR + 1) / 2)] }')
  [[ -n $obj ]] || ev_die "tu: no object of the demo binary could be preprocessed in $cross_build"
  ev_log "tu: $obj ($obj_lines preprocessed lines, the median of $count objects, $total_lines lines in all)"
  # The native compile writes elsewhere, so that a demo build running in the
  # same tree meanwhile is not disturbed.
  native_cmd=$(in_tree 'ninja -C build -t commands "$1" | tail -1 | sed "s/^[^ ]*ccache //"' "$obj" |
    sed "s# -o [^ ]*# -o /tmp/readme-tu.o#; s# -MF [^ ]*# -MF /tmp/readme-tu.d#")
  [[ -n $native_cmd ]] || ev_die "tu: the native tree has no rule for $obj"
  # cpu CMD...: "user system wall" seconds of CMD and its children (bash's time).
  cpu() { local t; t=$( { TIMEFORMAT='%U %S %R'; time "$@" >/dev/null 2>&1; } 2>&1 | tail -1); echo "$t"; }
  read -r cu cs cr < <(cd "$cross_build" && cpu env CCACHE_DISABLE=1 nice -n "$niceness" /bin/sh -c "$(cross_cmd "$obj" /tmp/readme-tu-cross.o)")
  read -r nu ns nr < <(cpu in_tree 'cd build && /bin/sh -c "$1" && test -s /tmp/readme-tu.o' "$native_cmd")
  [[ -s $root/tmp/readme-tu.o && -s /tmp/readme-tu-cross.o ]] || ev_die "tu: a compile of $obj failed"
  rm -f "$root/tmp/readme-tu.o" "$root/tmp/readme-tu.d" /tmp/readme-tu-cross.o /tmp/readme-tu-cross.o.d
  c_cpu=$(awk -v a="$cu" -v b="$cs" 'BEGIN { print a + b }')
  n_cpu=$(awk -v a="$nu" -v b="$ns" 'BEGIN { print a + b }')
  # The cross compiler's CPU time per preprocessed line, from one object at
  # each decile of the line counts (heavy template code costs more per line
  # than headers do), scaled to all objects, then by the native/cross ratio.
  sample_lines=0 sample_cpu=0
  while read -r l o; do
    read -r su ss _ < <(cd "$cross_build" && cpu env CCACHE_DISABLE=1 nice -n "$niceness" /bin/sh -c "$(cross_cmd "$o" /tmp/readme-tu-cross.o)")
    sample_lines=$((sample_lines + l))
    sample_cpu=$(awk -v a="$sample_cpu" -v b="$su" -v c="$ss" 'BEGIN { print a + b + c }')
  done < <(sort -n "$tu_lines" | awk -v n="$count" 'NR % int((n + 9) / 10) == 0')
  rm -f /tmp/readme-tu-cross.o /tmp/readme-tu-cross.o.d
  estimate=$(awk -v sc="$sample_cpu" -v sl="$sample_lines" -v t="$total_lines" -v n="$n_cpu" -v c="$c_cpu" -v j="$jobs" \
    'BEGIN { cross = sc / sl * t; h = cross * (n / c) / 3600
      printf "cross CPU for all objects ~%.0f s (sampled: %.1f s for %d lines); the demo build natively: ~%.1f h of CPU, ~%.1f h with %d jobs on idle cores", cross, sc, sl, h, h / j, j }')
  record tu "$obj: cross ${c_cpu} s CPU (${cr} s wall), native under qemu ${n_cpu} s CPU (${nr} s wall), $(awk -v a="$n_cpu" -v b="$c_cpu" 'BEGIN { printf "%.1f", a / b }')x; $count objects, $total_lines preprocessed lines (this one $obj_lines); $estimate"
  ev_log "${results[-1]}"
fi

# --- demo: ./scripts/demo, then the README's curl ---
if [[ ,$steps, == *,demo,* ]]; then
  log=$(run_log "readme-demo-$arch-$mode")
  ev_log "demo: ./scripts/demo in the root (log: $log$([[ $mode == native ]] && echo "; the native build's progress is there"))"
  started=$SECONDS
  # Network first (setup-debian.sh may install), then the build and the
  # server in a network namespace of the root's own (port 8080 is its own).
  in_tree './scripts/setup-debian.sh' >"$log" 2>&1 || { tail -20 "$log"; ev_die "setup-debian.sh in the root"; }
  # The README's probe: Raspberry Pi OS ships curl; a Debian root may not.
  in_root /bin/sh -c 'command -v curl >/dev/null && exit; export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends curl || { apt-get update -qq && apt-get install -y -qq --no-install-recommends curl; }' \
    >>"$log" 2>&1 || { tail -20 "$log"; ev_die "apt-get install curl in the root"; }
  # shellcheck disable=SC2016
  demo_script='
    log=$1
    env '"$build_env"' ./scripts/demo >>"$log" 2>&1 &
    demo=$!
    # The build under qemu may take hours: wait for the server line or the end of the script.
    while ! grep -q "listening on 0.0.0.0:8080" "$log"; do
      kill -0 $demo 2>/dev/null || { echo "demo: ./scripts/demo ended without serving" >>"$log"; exit 1; }
      sleep 2
    done
    ok=0
    until curl -sf http://localhost:8080/health >/dev/null; do kill -0 $demo 2>/dev/null || { ok=1; break; }; sleep 0.5; done
    [ $ok -eq 0 ] && curl -sS --data-binary @tests/data/cv-exports/iotedge-applebanana-tf/images/apple1.jpg \
      http://localhost:8080/image >"$log.json" || ok=1
    kill -TERM $demo; wait $demo; echo "demo_exit=$?" >>"$log"
    exit $ok'
  if EV_ROOT_NETNS=1 in_tree "$demo_script" "$log" && grep -q '"tagName":"Apple"' "$log.json"; then
    answer=$(/usr/bin/python3 -c '
import json, sys
p = max(json.load(open(sys.argv[1]))["predictions"], key=lambda p: p["probability"])
print(p["tagName"], round(p["probability"], 4))' "$log.json")
    record demo "PASS in $((SECONDS - started)) s ($(grep -c '^\[[0-9]*/[0-9]*\]' "$log" || true) build steps run): the README's curl answered $answer"
  else
    tail -20 "$log"
    record demo "FAIL after $((SECONDS - started)) s (log: $log)"
    failed=1
  fi
  ev_log "${results[-1]}"
fi

# --- test: ./scripts/test ---
if [[ ,$steps, == *,test,* ]]; then
  log=$(run_log "readme-test-$arch-$mode")
  ev_log "test: ./scripts/test in the root (log: $log; EDGEVISION_TEST_TIME_SCALE=$scale; ctest ${ctest_args[*]})"
  started=$SECONDS
  in_tree './scripts/setup-debian.sh --test' >"$log" 2>&1 || { tail -20 "$log"; ev_die "setup-debian.sh --test in the root"; }
  # The npm packages the SDK contract tests install on first use (tests/sdk/
  # run.sh: `npm ci` from the committed package-lock.json; pure JavaScript,
  # the same files for every architecture) are installed by this machine's
  # npm, into the tree the root sees. Inside the root the tests run in a
  # network namespace of their own, where npm's registry cannot be reached
  # (EAI_AGAIN), and even with the network the root does not trust this
  # machine's TLS setup (SELF_SIGNED_CERT_IN_CHAIN): they skipped. A Pi with
  # the network runs the same `npm ci` itself.
  (. "$EV_SRC/tests/support.sh" && export EDGEVISION_REQUIRE_ALL=1 &&
    npm_ci_if_stale "$EV_SRC/tests/sdk" @azure/cognitiveservices-customvision-prediction &&
    npm_ci_if_stale "$EV_SRC/tests/sdk" @azure/cognitiveservices-customvision-training) >>"$log" 2>&1 ||
    { tail -20 "$log"; ev_die "npm ci of tests/sdk (this machine's npm)"; }
  if [[ -z $prebuilt ]]; then
    rm -rf "$root$tree/tests/sdk/node_modules"
    cp -a "$EV_SRC/tests/sdk/node_modules" "$root$tree/tests/sdk/"
  fi
  # EDGEVISION_REQUIRE_ALL=1, as in CI: a test that would skip for a missing
  # component fails instead (nothing may skip silently in the root either).
  set +e
  EV_ROOT_NETNS=1 EV_ROOT_ENV="$build_env EDGEVISION_SKIP_SANITIZE=1 EDGEVISION_TEST_TIME_SCALE=$scale EDGEVISION_REQUIRE_ALL=1" \
    in_tree './scripts/test "$@"' "${ctest_args[@]}" >>"$log" 2>&1
  rc=$?
  set -e
  summary=$(grep -E "tests passed|tests failed" "$log" | tail -1)
  skipped=$(grep -E "^Skipped tests" "$log" | tail -1)
  summary="${summary:+$summary; }${skipped:-no skip list}"
  if ((rc == 0)); then
    record test "PASS in $((SECONDS - started)) s: ${summary:-?}"
  else
    grep -A40 "The following tests FAILED" "$log" || tail -20 "$log"
    record test "FAIL (exit $rc) after $((SECONDS - started)) s: ${summary:-no ctest summary} (log: $log)"
    failed=1
  fi
  ev_log "${results[-1]}"
fi
echo
printf '%s\n' "${results[@]}"
exit "$failed"
