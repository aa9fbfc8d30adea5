#!/usr/bin/env bash
# Makes DEST a fresh Debian 12 (bookworm) root for ARCH, the stand-in for the
# debian:12-slim image on a machine without a Docker engine:
#   tests/packaging/debian_root.sh amd64 /tmp/root
#   tests/packaging/debian_root.sh arm64 /tmp/root-arm64    (needs qemu-user-static + binfmt)
# debootstrap --variant=minbase, plus what the slim image adds: its dpkg
# path-excludes (no docs, man pages, locales) and apt's docker-clean hook,
# and the apt sources bookworm, bookworm-updates and bookworm-security
# (written on each unpacking, see below).
# The bootstrapped root is cached as a tarball in $EDGEVISION_ROOT_CACHE
# (default /var/cache/edgevision/roots), so later calls only unpack it.
# Needs root (or sudo), debootstrap and curl.
set -euo pipefail
arch=${1:?usage: debian_root.sh ARCH DEST}
dest=${2:?usage: debian_root.sh ARCH DEST}
mirror=${EDGEVISION_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${EDGEVISION_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
cache=${EDGEVISION_ROOT_CACHE:-/var/cache/edgevision/roots}
tarball=$cache/bookworm-$arch-slim.tar
mkdir -p "$cache"
if [[ ! -s $tarball ]]; then
  work=$(mktemp -d "$cache/bootstrap.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  echo "debian_root: debootstrap bookworm $arch (cached afterwards in $tarball)" >&2
  # The slim image's dpkg excludes apply from the first package on.
  mkdir -p "$work/etc/dpkg/dpkg.cfg.d"
  cat >"$work/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
CFG
  debootstrap --arch="$arch" --variant=minbase bookworm "$work" "$mirror" >"$work.log" 2>&1 ||
    { tail -20 "$work.log" >&2; exit 1; }
  rm -f "$work.log"
  mkdir -p "$work/etc/apt/apt.conf.d"
  cat >"$work/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
  rm -rf "$work/var/lib/apt/lists/"* "$work/var/cache/apt/archives/"*.deb
  chmod 0755 "$work"
  tar -C "$work" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
fi
mkdir -p "$dest"
tar -C "$dest" -xf "$tarball"
# "/" of the root as in an image (the tarball's top came from mktemp -d, 0700):
# non-root users inside must be able to walk it.
chmod 0755 "$dest"
cp /etc/resolv.conf "$dest/etc/resolv.conf"
# The apt sources of the image. A suite whose index for ARCH does not match
# its InRelease on the mirror (a mirror caught mid-sync: apt-get update
# would fail on it) is left out, with a warning, rather than failing every
# apt-get in the root.
: >"$dest/etc/apt/sources.list"
for entry in "$mirror bookworm" "$mirror bookworm-updates" "$security bookworm-security"; do
  read -r base suite <<<"$entry"
  index=main/binary-$arch/Packages.xz
  listed=$(curl -sf "$base/dists/$suite/InRelease" | awk -v f="$index" '$3 == f {print $2; exit}' || true)
  served=$(curl -sfI "$base/dists/$suite/$index" | tr -d '\r' | awk 'tolower($1) == "content-length:" {print $2}' || true)
  if [[ -n $listed && -n $served && $listed != "$served" ]]; then
    echo "debian_root: WARNING: $suite's $index on $base is $served bytes, its InRelease says $listed" \
      "(mirror out of sync): $suite is left out of this root's apt sources" >&2
    continue
  fi
  echo "deb $base $suite main" >>"$dest/etc/apt/sources.list"
done
