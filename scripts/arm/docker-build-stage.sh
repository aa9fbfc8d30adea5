#!/usr/bin/env bash
# The result of the Dockerfile's build stage for an ARM architecture, made
# from the cross build instead of compiling inside an ARM root under qemu
# (hours on 2 cores):
#   scripts/arm/docker-build-stage.sh ARCH OUT
# OUT gets what the stage's last RUN leaves for the runtime stage: /out (a
# stripped `cmake --install --component runtime` of build-ARCH) and
# /runtime-packages.txt and /runtime-packages-ffmpeg.txt (packaging/runtime-deps.sh
# on the binary alone, for the slim stage, and on the binary and the FFmpeg
# module, for the full one: dpkg-shlibdeps, run inside the ARCH build root so
# it answers from that architecture's packages).
# Then: tests/packaging/dockerfile_in_chroot.py --platform linux/... --prebuilt build=OUT
set -euo pipefail
EV_SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib.sh
. "$EV_SRC/scripts/arm/lib.sh"
arch=${1:?usage: docker-build-stage.sh ARCH OUT}
out=${2:?usage: docker-build-stage.sh ARCH OUT}
build=$EV_SRC/build-$arch
[[ -x $build/src/cli/edgevision ]] || ev_die "no $arch build in $build (scripts/release --arch $arch)"
root=$(ev_build_root "$arch")
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
DESTDIR=$out/out cmake --install "$build" --prefix /usr --component runtime --strip >/dev/null
# runtime-deps.sh reads the binary inside the root: stage it under the source
# tree, which ev_in_root mounts at the same path.
stage=$build/docker-build-stage
rm -rf "$stage" && mkdir -p "$stage" && cp "$out/out/usr/bin/edgevision" "$out/out/usr/lib/edgevision/edgevision-ffmpeg.so" "$stage/"
ev_in_root "$root" "$EV_SRC/packaging/runtime-deps.sh" "$stage/edgevision" >"$out/runtime-packages.txt"
ev_in_root "$root" "$EV_SRC/packaging/runtime-deps.sh" "$stage/edgevision" "$stage/edgevision-ffmpeg.so" \
  >"$out/runtime-packages-ffmpeg.txt"
rm -rf "$stage"
[[ -s $out/runtime-packages.txt && -s $out/runtime-packages-ffmpeg.txt ]] || ev_die "runtime-deps.sh found no packages"
echo "$arch build stage in $out: $(wc -l <"$out/runtime-packages.txt") runtime packages (slim)," \
  "$(wc -l <"$out/runtime-packages-ffmpeg.txt") with the FFmpeg module (full)"
