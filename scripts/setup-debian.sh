#!/usr/bin/env bash
# Installs the Debian 12 packages edgevision builds, runs and tests with.
# Idempotent: installs only what is missing. Uses sudo when not root.
#   scripts/setup-debian.sh            build + run dependencies
#   scripts/setup-debian.sh --test     also what the test suite needs
#   scripts/setup-debian.sh --arm64    also the arm64 build (scripts/arm64/build-and-test.sh)
#   scripts/setup-debian.sh --bench    also what bench/run.sh needs (peers, load generator, plots)
set -euo pipefail

BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libxnnpack-dev libpthreadpool-dev libcpuinfo-dev
  libprotobuf-dev protobuf-compiler libonnx-dev libleveldb-dev
  libflatbuffers-dev flatbuffers-compiler
  libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev libwebp-dev libexif-dev libgif-dev
  libzip-dev libssl-dev libcurl4-openssl-dev libsqlite3-dev libmosquitto-dev
  libcpp-httplib-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev
  ca-certificates
)
TEST_PACKAGES=(
  curl mosquitto mosquitto-clients openssl
  python3 python3-numpy python3-pil python3-opencv python3-onnx python3-protobuf
  chromium
  clang-14 libclang-rt-14-dev  # scripts/test-sanitize: ASan+UBSan e2e build, libFuzzer (docs/security.md)
  # tests/packaging: Debian roots for the Dockerfile and .deb checks, the
  # unit file check (systemd-analyze), network namespaces (ip), dpkg-shlibdeps
  debootstrap systemd iproute2 dpkg-dev
)
# scripts/arm64/build-and-test.sh: a Debian arm64 root run under qemu, and the
# cross compiler (the same GCC 12 as the root's own).
ARM64_PACKAGES=(debootstrap qemu-user-static binfmt-support g++-aarch64-linux-gnu)
# bench/run.sh: the side-by-side benchmark (never CI). taskset is in util-linux.
BENCH_PACKAGES=(
  wrk gnuplot-nox util-linux binutils
  python3 python3-numpy python3-pil python3-opencv python3-onnx python3-protobuf protobuf-compiler
  python3-flask python3-torch python3-torchvision
)
# Node.js + npm: used only for the browser test (playwright-core) and the
# ONNX Runtime peer benchmark. Installed from Debian when no node is on PATH.
NODE_PACKAGES=(nodejs npm)

want=("${BUILD_PACKAGES[@]}")
for arg in "$@"; do
  case "$arg" in
    --test) want+=("${TEST_PACKAGES[@]}") ;;
    --bench) want+=("${BENCH_PACKAGES[@]}") ;;
    --arm64) want+=("${ARM64_PACKAGES[@]}") ;;
    *) echo "setup-debian: unknown option $arg (use --test, --bench and/or --arm64)" >&2; exit 2 ;;
  esac
  command -v npm >/dev/null 2>&1 || want+=("${NODE_PACKAGES[@]}")
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} == 0 )); then
  echo "setup-debian: all ${#want[@]} packages present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "setup-debian: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
