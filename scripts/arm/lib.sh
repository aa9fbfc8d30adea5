# Shared by scripts/arm/build-and-test.sh, tests/packaging/deb_test.sh and
# scripts/release (bash, sourced; needs root): Debian 12 roots of an ARM
# architecture run under qemu-user-static + binfmt_misc, and edgevision
# cross-compiled against them with Debian's cross GCC 12.
#   ARCH is a Debian architecture: arm64 (64-bit Raspberry Pi OS, Pi 3/4/5,
#   Zero 2) or armhf (32-bit Raspberry Pi OS on ARMv7+: Pi 2/3/4/5, Zero 2).
# Set EV_SRC (the source tree) before sourcing.

: "${EV_SRC:?EV_SRC must name the source tree}"
EV_ROOTS=${EDGEVISION_ARM_ROOTS:-/var/tmp/edgevision-roots}

ev_log() { echo "[${EV_LOG_TAG:-arm} $(date +%H:%M:%S)] $*"; }
ev_die() { echo "FAIL: $*" >&2; exit 1; }

# GNU triplet (the multiarch directory and the cross compiler's prefix).
ev_triplet() {
  case "$1" in
    amd64) echo x86_64-linux-gnu ;;
    arm64) echo aarch64-linux-gnu ;;
    armhf) echo arm-linux-gnueabihf ;;
    *) ev_die "unknown architecture '$1' (amd64, arm64 or armhf)" ;;
  esac
}
# What `uname -m` says inside a root of ARCH under qemu.
ev_uname_m() { case "$1" in arm64) echo aarch64 ;; armhf) echo armv7l ;; amd64) echo x86_64 ;; esac; }
ev_binfmt_name() { case "$1" in arm64) echo qemu-aarch64 ;; armhf) echo qemu-arm ;; esac; }

# binfmt_misc: qemu must run ARCH's ELF files transparently, also inside a
# chroot (Debian registers qemu-user-static with the F flag).
ev_enable_binfmt() {
  local name
  name=$(ev_binfmt_name "$1")
  [[ -n $name ]] || return 0
  [[ -e /proc/sys/fs/binfmt_misc/status ]] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  grep -qx enabled "/proc/sys/fs/binfmt_misc/$name" 2>/dev/null || update-binfmts --enable "$name"
}

# ev_in_root ROOT CMD...: runs CMD inside ROOT with /proc, /dev, /sys and the
# source tree (at the same path) mounted, in a private mount namespace, with
# a clean environment. Extra variables: EV_ROOT_ENV="K=V K=V". The root is
# also mounted on its own path inside itself, so that a build tree
# configured against it as sysroot (ev_cross_build) finds it there too.
# EV_ROOT_NETNS=1: in a network namespace of its own (loopback only).
# EV_ROOT_BINDS="DIR DIR": host directories also mounted, read-only, at their
# own paths (a cross-built tree's dependencies: the cross compiler's headers).
ev_in_root() {
  local root=$1
  shift
  local -a extra_env
  read -r -a extra_env <<<"${EV_ROOT_ENV:-}"
  local -a netns=()
  [[ ${EV_ROOT_NETNS:-0} == 1 ]] && netns=(--net)
  unshare --mount --propagation private "${netns[@]}" --fork -- /bin/bash -c '
    R=$1; S=$2; N=$3; shift 3
    [ "$N" != 1 ] || ip link set lo up
    mount -t proc proc "$R/proc"; mount --rbind /dev "$R/dev"
    mount --rbind /sys "$R/sys"  # cpuinfo (XNNPACK) reads /sys/devices/system/cpu
    mkdir -p "$R$S"; mount --bind "$S" "$R$S"
    mkdir -p "$R$R"; mount --bind "$R" "$R$R"
    for d in ${EV_ROOT_BINDS:-}; do mkdir -p "$R$d"; mount --bind "$d" "$R$d"; mount -o remount,bind,ro "$R$d"; done
    exec chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"' \
    sh "$root" "$EV_SRC" "${EV_ROOT_NETNS:-0}" "${extra_env[@]}" "$@"
}

# ev_build_root ARCH [ROOT]: the Debian 12 root of ARCH that the cross build
# uses as sysroot, with edgevision's build dependencies installed in it by
# scripts/setup-debian.sh (kept and reused: later calls only check it).
# Prints nothing on stdout but the root's path.
ev_build_root() {
  local arch=$1 root=${2:-$EV_ROOTS/$1}
  ev_enable_binfmt "$arch"
  if [[ ! -x $root/usr/bin/apt-get ]]; then
    ev_log "making the Debian 12 $arch root in $root (debootstrap under qemu; cached afterwards)" >&2
    "$EV_SRC/tests/packaging/debian_root.sh" "$arch" "$root" >&2
  fi
  [[ $(chroot "$root" /usr/bin/uname -m) == "$(ev_uname_m "$arch")" ]] ||
    ev_die "the root $root does not run as $(ev_uname_m "$arch")"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  if [[ ! -e $root/.edgevision-build-deps ]] || ! cmp -s "$EV_SRC/scripts/setup-debian.sh" "$root/.edgevision-build-deps"; then
    ev_log "build dependencies in the $arch root (scripts/setup-debian.sh under qemu)" >&2
    ev_in_root "$root" "$EV_SRC/scripts/setup-debian.sh" >&2
    cp "$EV_SRC/scripts/setup-debian.sh" "$root/.edgevision-build-deps"
  fi
  echo "$root"
}

# ev_cross_build ARCH ROOT BUILD_DIR TARGET [CMAKE_ARGS...]: configures BUILD_DIR
# for ARCH with scripts/arm/cross-toolchain.cmake against ROOT and builds
# TARGET ("all" for everything). Build steps that run one of the root's tools
# (flatc) run under qemu. The log is BUILD_DIR.log.
ev_cross_build() {
  local arch=$1 root=$2 build=$3 target=$4
  shift 4
  command -v "$(ev_triplet "$arch")-g++" >/dev/null || ev_die "$(ev_triplet "$arch")-g++ is missing (scripts/setup-debian.sh --arm)"
  mkdir -p "$build"
  QEMU_LD_PREFIX=$root cmake -S "$EV_SRC" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-RelWithDebInfo}" \
    -DCMAKE_TOOLCHAIN_FILE="$EV_SRC/scripts/arm/cross-toolchain.cmake" \
    -DEDGEVISION_CROSS_ARCH="$arch" -DEDGEVISION_CROSS_ROOT="$root" "$@" >"$build.log" 2>&1 ||
    { tail -30 "$build.log"; ev_die "cmake configure for $arch"; }
  QEMU_LD_PREFIX=$root cmake --build "$build" --target "$target" -j "${EDGEVISION_JOBS:-$(nproc)}" >>"$build.log" 2>&1 ||
    { tail -30 "$build.log"; ev_die "the $arch build (log: $build.log)"; }
}

# The real exports (a model file at the top or in app/, as the Dockerfile
# export ships it), one name per line.
ev_exports() {
  local dir
  for dir in "$EV_SRC"/tests/data/cv-exports/*/; do
    if compgen -G "${dir}model.*" >/dev/null || compgen -G "${dir}app/model.*" >/dev/null; then
      basename "$dir"
    fi
  done
}
