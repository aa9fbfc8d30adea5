#!/bin/sh
# The Debian packages that provide the shared libraries our ELF files link
# against, as dpkg-shlibdeps computes them from this machine's (or this
# build root's) dpkg database, so they are right for the files' architecture.
#
#   packaging/runtime-deps.sh FILE...
#     prints the packages all FILEs need, one per line, unversioned: what the
#     container image's runtime stage installs (the binary and the FFmpeg
#     module: the image can watch cameras).
#   packaging/runtime-deps.sh --fields BINARY --recommends MODULE...
#     prints the .deb's two computed fields, versioned, one per line:
#       Depends=<what BINARY needs>
#       Recommends=<what the MODULEs need beyond that>
#     (packaging/CMakeLists.txt: cpack runs this through CPackProjectConfig).
#     FFmpeg's libraries are Recommends: `apt install --no-install-recommends
#     edgevision` is a small install that serves HTTP; cameras need them.
# Needs dpkg-dev (part of build-essential).
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# dpkg-shlibdeps insists on a debian/control in the working directory.
mkdir "$tmp/debian"
: >"$tmp/debian/control"
abs() { readlink -f "$1"; }

if [ "${1:-}" = --fields ]; then
  binary=$(abs "${2:?--fields BINARY --recommends MODULE...}")
  [ "${3:-}" = --recommends ] || { echo "usage: runtime-deps.sh --fields BINARY --recommends MODULE..." >&2; exit 2; }
  shift 3
  modules=""
  for m in "$@"; do modules="$modules $(abs "$m")"; done
  # -d: the field for the files after it. A package both need stays in the
  # stronger field only (dpkg-shlibdeps removes it from Recommends).
  # shellcheck disable=SC2086
  out=$(cd "$tmp" && dpkg-shlibdeps -O -dDepends "$binary" -dRecommends $modules)
  depends=$(echo "$out" | sed -n 's/^shlibs:Depends=//p')
  recommends=$(echo "$out" | sed -n 's/^shlibs:Recommends=//p')
  [ -n "$depends" ] || { echo "runtime-deps.sh: dpkg-shlibdeps computed no Depends for $binary" >&2; exit 1; }
  echo "Depends=$depends"
  echo "Recommends=$recommends"
  exit 0
fi

files=""
for f in "$@"; do files="$files $(abs "$f")"; done
[ -n "$files" ] || { echo "usage: runtime-deps.sh FILE... | --fields BINARY --recommends MODULE..." >&2; exit 2; }
# shellcheck disable=SC2086
(cd "$tmp" && dpkg-shlibdeps -O $files) |
  sed -n 's/^shlibs:Depends=//p' | tr ',' '\n' |
  sed 's/^ *//; s/[ |(].*//' | grep -v '^$' | sort -u
