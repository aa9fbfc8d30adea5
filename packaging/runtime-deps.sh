#!/bin/sh
# Prints, one per line, the Debian packages that provide the shared libraries
# BINARY links against, as dpkg-shlibdeps computes them (the same computation
# that gives the .deb its Depends: CPACK_DEBIAN_PACKAGE_SHLIBDEPS). The
# container image's runtime stage installs exactly these.
#   packaging/runtime-deps.sh build/src/cli/edgevision
# Needs dpkg-dev (part of build-essential).
set -eu
bin=$(readlink -f "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# dpkg-shlibdeps insists on a debian/control in the working directory.
mkdir "$tmp/debian"
: >"$tmp/debian/control"
(cd "$tmp" && dpkg-shlibdeps -O "$bin") |
  sed -n 's/^shlibs:Depends=//p' | tr ',' '\n' |
  sed 's/^ *//; s/[ |(].*//' | grep -v '^$' | sort -u
