#!/bin/sh
# issue 17, part 2: the binary does not link FFmpeg; only the FFmpeg module
# does (src/stream/ffmpeg/module_abi.h). Nor libcurl, which it loads on first
# use (src/core/curl_lazy.cc). Reads the dynamic sections of the
# built files with readelf (binutils):
#   tests/stream/needed_libraries_test.sh BINARY MODULE
# Fails when the binary's DT_NEEDED names any FFmpeg library (libav*, libsw*,
# libpostproc) or libcurl, and when the module's does not name the ones it needs (so
# the check is seen to read the right thing).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../support.sh"
binary=${1:?usage: needed_libraries_test.sh BINARY MODULE}
module=${2:?usage: needed_libraries_test.sh BINARY MODULE}
command -v readelf >/dev/null || skip_or_fail "readelf is not installed (binutils)"
needed() { readelf --dynamic --wide "$1" | sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]/\1/p'; }
fail() { echo "FAIL: $*"; exit 1; }

bin_needed=$(needed "$binary")
[ -n "$bin_needed" ] || fail "readelf found no DT_NEEDED in $binary"
echo "$binary needs $(echo "$bin_needed" | wc -l) libraries:" $bin_needed
ffmpeg_in_bin=$(echo "$bin_needed" | grep -E '^lib(av[a-z]*|sw[a-z]*|postproc)\.so' || true)
[ -z "$ffmpeg_in_bin" ] || fail "the binary links FFmpeg's libraries: $ffmpeg_in_bin"
# libcurl is loaded on first use too (src/core/curl_lazy.cc).
! echo "$bin_needed" | grep -q '^libcurl' || fail "the binary links libcurl"

mod_needed=$(needed "$module")
echo "$module needs:" $mod_needed
for lib in libavformat libavcodec libswscale libavutil libavdevice; do
  echo "$mod_needed" | grep -q "^$lib\.so\." || fail "the module does not link $lib"
done
echo "PASS: no FFmpeg library and no libcurl in the binary's DT_NEEDED; the module has FFmpeg's"
