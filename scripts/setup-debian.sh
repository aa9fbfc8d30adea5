#!/usr/bin/env bash
# Installs the Debian 12 packages edgevision builds, runs and tests with.
# Idempotent: installs only what is missing. Uses sudo when not root.
#   scripts/setup-debian.sh            build + run dependencies
#   scripts/setup-debian.sh --test     also what the test suite needs
set -euo pipefail

BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libxnnpack-dev libpthreadpool-dev libcpuinfo-dev
  libprotobuf-dev protobuf-compiler libonnx-dev
  libflatbuffers-dev flatbuffers-compiler
  libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev libwebp-dev libstb-dev libexif-dev libgif-dev
  libzip-dev libssl-dev libcurl4-openssl-dev libsqlite3-dev libmosquitto-dev
  libcpp-httplib-dev nlohmann-json3-dev libcli11-dev libspdlog-dev
  libgtest-dev libgmock-dev
  ca-certificates
)
TEST_PACKAGES=(
  curl mosquitto mosquitto-clients openssl
  python3 python3-numpy python3-pil python3-opencv python3-onnx python3-protobuf
  chromium
)
# Node.js + npm: used only for the browser test (playwright-core) and the
# ONNX Runtime peer benchmark. Installed from Debian when no node is on PATH.
NODE_PACKAGES=(nodejs npm)

want=("${BUILD_PACKAGES[@]}")
if [[ "${1:-}" == "--test" ]]; then
  want+=("${TEST_PACKAGES[@]}")
  command -v npm >/dev/null 2>&1 || want+=("${NODE_PACKAGES[@]}")
fi

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
