#!/usr/bin/env bash
# Installs the Debian 12 packages edgevision builds, runs and tests with.
# Idempotent: installs only what is missing. Uses sudo when not root.
#   scripts/setup-debian.sh            build + run dependencies
#   scripts/setup-debian.sh --test     also what the test suite needs
#   scripts/setup-debian.sh --arm      also the ARM builds (scripts/release, scripts/arm/); --arm64 is the same
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
  # src/stream: live sources (RTSP, MJPEG, V4L2, video files; docs/streams.md)
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev libavdevice-dev
  libgtest-dev libgmock-dev
  ca-certificates
  file  # cpack -G DEB (dpkg-shlibdeps comes with build-essential's dpkg-dev)
)
TEST_PACKAGES=(
  curl mosquitto mosquitto-clients openssl
  python3 python3-numpy python3-pil python3-opencv python3-onnx python3-protobuf
  chromium
  clang-14 libclang-rt-14-dev  # scripts/test-sanitize: ASan+UBSan e2e build, libFuzzer (docs/security.md)
  # tests/packaging: Debian roots for the Dockerfile and .deb checks, the
  # unit file check (systemd-analyze), network namespaces (ip), dpkg-shlibdeps
  debootstrap systemd iproute2 dpkg-dev
  # tests/e2e/metrics_e2e_test.cc: promtool, and a real Prometheus the test
  # starts itself on loopback (the package's own service is stopped below)
  prometheus
  # src/stream and tests/e2e/stream_e2e_test.cc: test videos made by ffmpeg,
  # GStreamer's RTSP server on loopback (tests/stream/rtsp_server.py)
  ffmpeg python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
)
# scripts/release and scripts/arm/: Debian arm64 and armhf roots run under
# qemu, and the cross compilers (the same GCC 12 as the roots' own).
# systemd-container: systemd-nspawn boots a root so that systemd itself starts
# the packaged unit (tests/packaging/deb_test.sh --boot).
ARM_PACKAGES=(debootstrap qemu-user-static binfmt-support g++-aarch64-linux-gnu g++-arm-linux-gnueabihf systemd-container)
# bench/run.sh: the side-by-side benchmark (never CI). taskset is in util-linux.
BENCH_PACKAGES=(
  wrk gnuplot-nox util-linux binutils
  time  # bench/footprint_startup.py: /usr/bin/time -f %M
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
    --arm | --arm64) want+=("${ARM_PACKAGES[@]}") ;;
    *) echo "setup-debian: unknown option $arg (use --test, --bench and/or --arm)" >&2; exit 2 ;;
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

# The tests only need the prometheus and promtool programs. On a machine run
# by systemd the package starts a Prometheus service on :9090: stop it and
# keep it from starting at boot (in containers policy-rc.d already keeps it off).
if [[ " ${missing[*]} " == *" prometheus "* && -d /run/systemd/system ]]; then
  $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
