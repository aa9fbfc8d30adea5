#!/usr/bin/env bash
# The Debian package, end to end:
#   1. cpack -G DEB in the build tree (stripped binary, Depends computed by
#      dpkg-shlibdeps) and a look at what the package declares;
#   2. apt-get install of the .deb into a fresh Debian 12 root (debian_root.sh),
#      so apt must find every dependency it declares in Debian, and nothing
#      else from this machine is there;
#   3. systemd-analyze verify of the installed unit (and its security score);
#   4. the installed binary started with the unit's ExecStart, as the unit
#      would run it: a user id of its own, only CAP_NET_BIND_SERVICE (ambient,
#      bounding set), no_new_privs, a read-only root with the state directory
#      writable and a private /tmp, in a network namespace of its own. systemd
#      is not PID 1 here (nor in CI), so the service itself is not started;
#      these are the unit's settings applied by hand with unshare/setpriv.
#      It must read /etc/edgevision/edgevision.conf (port 80), serve the demo
#      model, pass `edgevision health`, classify a test image and stop
#      cleanly on SIGTERM;
#      A `curl --data-binary @apple1.jpg http://localhost/image` to it must
#      answer Apple;
#   5. for a package of another architecture than this machine's (arm64,
#      armhf from scripts/release; the root runs under qemu-user-static):
#      the installed binary's `edgevision tensor` and `predict` on every real
#      export's images against x86 (identical tensors, probabilities within
#      1e-4: scripts/arm/outputs.sh, compare.py); for armhf, which of
#      XNNPACK's kernels run with and without NEON (scripts/arm/neon-check.sh);
#   4c. cameras (issue 17): installed without its Recommends (FFmpeg's
#      libraries), the package serves HTTP and a video-file source is in state
#      error naming the packages to install; after `apt-get install` of the
#      Recommends field's packages, the same source runs;
#   6. `apt-get purge` removes it, and no file named *edgevision* is left.
#   4b. with --boot: the root booted with systemd-nspawn, systemd as its PID 1
#      (under qemu for arm64, armhf) starting edgevision.service from the unit
#      with its whole sandbox, DynamicUser included (tests/packaging/systemd_boot.sh);
# Usage: tests/packaging/deb_test.sh BUILD_DIR      the package cpack makes from BUILD_DIR
#        tests/packaging/deb_test.sh --deb FILE [--x86-build DIR]
#                                                   a package made before (scripts/release);
#                                                   DIR: the x86 build for the comparison
#                                                   (default build/)
#        --boot: also step 4b (needs systemd-nspawn: scripts/setup-debian.sh --arm;
#                scripts/test-arm sets it)
# Exit 77: cannot run here; 1 under EDGEVISION_REQUIRE_ALL=1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
given_deb=
build=
boot=0
x86_build=$source_dir/build
usage="usage: deb_test.sh BUILD_DIR | --deb FILE [--x86-build DIR] [--boot]"
(($#)) || { echo "$usage" >&2; exit 2; }
while (($#)); do
  case "$1" in
    --deb) given_deb=$(readlink -f "${2:?--deb FILE}"); shift 2 ;;
    --x86-build) x86_build=$(cd "${2:?--x86-build DIR}" && pwd); shift 2 ;;
    --boot) boot=1; shift ;;
    -*) echo "$usage" >&2; exit 2 ;;
    *) build=$(cd "$1" && pwd); shift ;;
  esac
done
[[ -n $given_deb || -n $build ]] || { echo "$usage" >&2; exit 2; }
EV_SRC=$source_dir
# shellcheck source=../../scripts/arm/lib.sh
. "$source_dir/scripts/arm/lib.sh"

# shellcheck source=../support.sh
. "$here/../support.sh"
[[ $(id -u) -eq 0 ]] || skip_or_fail "needs root (chroot, debootstrap, network namespaces); CI runs as root"
for tool in cpack dpkg-deb dpkg-shlibdeps debootstrap unshare setpriv ip systemd-analyze ffmpeg; do
  command -v "$tool" >/dev/null || skip_or_fail "$tool is not installed (scripts/setup-debian.sh --test)"
done
((boot == 0)) || command -v systemd-nspawn >/dev/null || { echo "FAIL: --boot: systemd-nspawn is not installed (scripts/setup-debian.sh --arm)"; exit 1; }
[[ -n $given_deb || -x $build/src/cli/edgevision ]] || { echo "FAIL: $build/src/cli/edgevision is not built"; exit 1; }

work=$(mktemp -d /var/tmp/edgevision-deb-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# --- 1. build the package ---
started=$SECONDS
if [[ -n $given_deb ]]; then
  deb=$given_deb
else
  (cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1) ||
    { cat "$work/cpack.log"; fail "cpack -G DEB"; }
  deb=$(ls "$work"/out/edgevision_*.deb)
  echo "built $(basename "$deb") in $((SECONDS - started)) s"
fi
arch=$(dpkg-deb --field "$deb" Architecture)
native=0
[[ $arch == "$(dpkg --print-architecture)" ]] && native=1
# Time bounds under qemu-user are stretched by EDGEVISION_TEST_TIME_SCALE
# (default 10 for a foreign architecture, 1 natively; docs/deploy.md#arm):
# the camera check's --shutdown-timeout (10 s natively; stopping with a
# video frame in flight took 9.0 s under qemu at load average 20).
time_scale=${EDGEVISION_TEST_TIME_SCALE:-$( ((native)) && echo 1 || echo 10)}
shutdown_timeout=$(awk -v s="$time_scale" 'BEGIN { t = int(10 * s); print (t < 10 ? 10 : t) }')
echo "package: $(basename "$deb") (Architecture: $arch$( ((native)) || echo ", run under qemu-user-static"))"
dpkg-deb --info "$deb" >"$work/info"
dpkg-deb --contents "$deb" >"$work/contents"
depends=$(dpkg-deb --field "$deb" Depends)
recommends=$(dpkg-deb --field "$deb" Recommends)
echo "Depends: $depends"
echo "Recommends: $recommends"
names() { tr ',|' '\n\n' <<<"$1" | sed 's/^ *//; s/ .*//' | grep -v '^$'; }
# Computed from the binary: the libraries it links, not a hand-written list.
for lib in libc6 libstdc++6 libxnnpack0 libprotobuf32 libonnx1 libcurl4 libsqlite3-0 libmosquitto1 \
  libcpp-httplib0.11 libjpeg62-turbo libpng16-16 libwebp7 libgif7 libexif12 libzip4 libtomlplusplus3 \
  ca-certificates; do
  names "$depends" | grep -qxF "$lib" || fail "Depends lacks $lib"
done
# FFmpeg is for cameras only: the FFmpeg module's libraries are Recommends
# (computed from the module), never Depends.
for lib in libavformat59 libavcodec59 libswscale6 libavutil57 libavdevice59; do
  names "$recommends" | grep -qxF "$lib" || fail "Recommends lacks $lib"
done
ffmpeg_depends=$(names "$depends" | grep -E '^lib(av|sw|postproc)' || true)
[[ -z $ffmpeg_depends ]] || fail "FFmpeg's libraries are in Depends: $ffmpeg_depends"
both=$(comm -12 <(names "$depends" | sort -u) <(names "$recommends" | sort -u))
[[ -z $both ]] || fail "in both Depends and Recommends: $both"
for path in ./usr/bin/edgevision ./usr/lib/edgevision/edgevision-ffmpeg.so ./usr/lib/systemd/system/edgevision.service \
  ./etc/edgevision/edgevision.conf ./usr/share/edgevision/demo/model.pb ./usr/share/edgevision/demo/labels.txt; do
  grep -q " $path\$" "$work/contents" || fail "the package lacks $path"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/edgevision/edgevision.conf ||
  fail "/etc/edgevision/edgevision.conf is not a conffile"
mkdir "$work/x" && dpkg-deb -x "$deb" "$work/x"
readelf -S "$work/x/usr/bin/edgevision" | grep -q '\.symtab' && fail "the packaged binary is not stripped"
readelf -S "$work/x/usr/lib/edgevision/edgevision-ffmpeg.so" | grep -q '\.symtab' && fail "the packaged module is not stripped"

# --- 2. install it into a fresh Debian 12 root ---
root=$work/root
ev_enable_binfmt "$arch"
"$here/debian_root.sh" "$arch" "$root"
[[ $(chroot "$root" /usr/bin/uname -m) == "$(ev_uname_m "$arch")" ]] || fail "the $arch root does not run as $(ev_uname_m "$arch")"
cp "$deb" "$root/tmp/"
cp "$source_dir/tests/data/cv-exports/iotedge-applebanana-tf/images/apple1.jpg" "$root/tmp/probe.jpg"
in_root() { ev_in_root "$root" "$@"; }
started=$SECONDS
in_root /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends /tmp/$(basename "$deb")" \
  >"$work/apt.log" 2>&1 || { tail -30 "$work/apt.log"; fail "apt-get install of the .deb"; }
echo "installed with its dependencies into a fresh root in $((SECONDS - started)) s"
in_root /usr/bin/edgevision --version >/dev/null || fail "the installed binary does not run"
installed() { [[ $(in_root dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null || true) == ii* ]]; }
for lib in libavcodec59 libavformat59; do
  ! installed "$lib" || fail "$lib was installed by apt-get install --no-install-recommends"
done
echo "--no-install-recommends: no FFmpeg library installed"

# --- 3. the unit file ---
# A Pi runs systemd; the slim root does not have it until now. Installed
# after the package, so the package itself was shown not to need it (nor
# curl, the client a user probes the service with).
in_root /bin/sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd curl" \
  >>"$work/apt.log" 2>&1 || { tail -30 "$work/apt.log"; fail "apt-get install systemd curl in the root"; }
unit=$root/usr/lib/systemd/system/edgevision.service
systemd-analyze verify --root="$root" edgevision.service >"$work/verify.log" 2>&1 ||
  { cat "$work/verify.log"; fail "systemd-analyze verify"; }
if [[ -s $work/verify.log ]]; then cat "$work/verify.log"; fail "systemd-analyze verify printed warnings"; fi
echo "systemd-analyze verify: clean"
exposure=$(systemd-analyze security --offline=true --root="$root" edgevision.service 2>/dev/null |
  sed -n 's/.*Overall exposure level for edgevision.service: *//p' || true)
echo "systemd-analyze security: ${exposure:-n/a}"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[[ -n $exec_start ]] || fail "no ExecStart in the unit"
grep -qx "AmbientCapabilities=CAP_NET_BIND_SERVICE" "$unit" || fail "the unit does not grant CAP_NET_BIND_SERVICE"

# --- 4. run ExecStart the way the unit does ---
# StateDirectory=edgevision with DynamicUser=yes: /var/lib/private/edgevision,
# reached through the /var/lib/edgevision symlink, owned by the dynamic user.
uid=61999
install -d -m 0755 "$root/var/lib/private"  # as the service sees it; systemd hides it from others
install -d -m 0750 -o $uid -g $uid "$root/var/lib/private/edgevision"
ln -sfn private/edgevision "$root/var/lib/edgevision"
cp "$root/tmp/probe.jpg" "$work/probe.jpg"
cat >"$work/run.sh" <<EOF
set -u
R=$root
ip link set lo up
mount --bind "\$R" "\$R"; mount -o remount,bind,ro "\$R"       # ProtectSystem=strict
mount -t proc proc "\$R/proc"; mount --rbind /dev "\$R/dev"
mount --rbind /sys "\$R/sys"; mount -o remount,bind,ro "\$R/sys"  # ProtectKernelTunables=yes
mount -t tmpfs tmpfs "\$R/tmp"                                  # PrivateTmp=yes
cp "$work/probe.jpg" "\$R/tmp/probe.jpg"
mount --bind "\$R/var/lib/private/edgevision" "\$R/var/lib/private/edgevision"
mount -o remount,bind,rw "\$R/var/lib/private/edgevision"       # StateDirectory=edgevision
# SVC_EXEC=1: exec, so that a background svc's pid is the server's own.
svc() {
  \${SVC_EXEC:+exec} chroot "\$R" setpriv --reuid=$uid --regid=$uid --clear-groups --no-new-privs \
    --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service --bounding-set=-all,+net_bind_service \
    env -i PATH=/usr/bin:/bin /bin/sh -c 'cd /var/lib/edgevision && exec "\$@"' sh "\$@"
}
SVC_EXEC=1 svc $exec_start >"$work/server.log" 2>&1 &
server=\$!
ok=1
# Up to 5 min: under qemu, loading the model takes seconds.
for i in \$(seq 1 600); do
  if chroot "\$R" edgevision health --quiet --port 80; then ok=0; break; fi
  kill -0 \$server 2>/dev/null || break
  sleep 0.5
done
echo "health=\$ok after \$i tries"
if [ \$ok -eq 0 ]; then
  chroot "\$R" edgevision predict --server http://127.0.0.1:80 /tmp/probe.jpg >"$work/prediction.json" || ok=1
  chroot "\$R" curl -sS --fail --data-binary @/tmp/probe.jpg http://localhost/image >"$work/curl.json" || ok=1
  # What the service sees: the config file, and the environment over it.
  svc /usr/bin/edgevision serve --print-config >"$work/print-config.txt" || ok=1
  svc env EDGEVISION_PORT=8081 /usr/bin/edgevision serve --print-config >"$work/print-config-env.txt" || ok=1
  # It may write only its state directory.
  svc /bin/sh -c 'touch /var/lib/edgevision/probe && ! touch /etc/probe 2>/dev/null && ! touch /usr/probe 2>/dev/null' || ok=1
fi
kill -TERM \$server; wait \$server; echo "server_exit=\$?"
exit \$ok
EOF
if ! unshare --net --mount --propagation private --fork /bin/bash "$work/run.sh" >"$work/run.log" 2>&1 ||
  ! grep -q "server_exit=0" "$work/run.log"; then
  cat "$work/run.log"
  echo "--- server log ---"
  cat "$work/server.log"
  fail "the installed package did not serve as the unit runs it"
fi
cat "$work/run.log"
grep -q '"tagName":"Apple"' "$work/prediction.json" || { cat "$work/prediction.json"; fail "no Apple prediction"; }
/usr/bin/python3 - "$work/prediction.json" "$work/curl.json" <<'PY' || fail "apple1.jpg was not classified as Apple"
import json, sys
for path, client in zip(sys.argv[1:], ("edgevision predict --server", "curl --data-binary")):
    doc = json.load(open(path))
    top = max(doc["predictions"], key=lambda p: p["probability"])
    print(f"{client}: {top['tagName']} {top['probability']:.4f}")
    if top["tagName"] != "Apple" or top["probability"] <= 0.9:
        sys.exit(1)
PY
grep -q "listening on 0.0.0.0:80" "$work/server.log" || { cat "$work/server.log"; fail "the server did not listen on :80"; }
grep -Eq '^port = 80  # config file /etc/edgevision/edgevision.conf:[0-9]+$' "$work/print-config.txt" ||
  { cat "$work/print-config.txt"; fail "--print-config does not show port 80 from the config file"; }
grep -Eq '^data-dir = "/var/lib/edgevision"  # config file' "$work/print-config.txt" ||
  { cat "$work/print-config.txt"; fail "--print-config does not show the data dir from the config file"; }
grep -Eq '^port = 8081  # environment EDGEVISION_PORT$' "$work/print-config-env.txt" ||
  { cat "$work/print-config-env.txt"; fail "the environment does not override the config file"; }
echo "--print-config: port and data-dir from /etc/edgevision/edgevision.conf; EDGEVISION_PORT overrides it"

# --- 4c. cameras: without FFmpeg's libraries, then with them ---
ffmpeg -hide_banner -loglevel error -y -loop 1 -framerate 5 -t 2 -i "$work/probe.jpg" -vf scale=320:240 \
  -c:v mjpeg -q:v 3 "$root/tmp/probe.avi" </dev/null || fail "ffmpeg could not make the test video"
mkdir -p "$root/tmp/inbox"
# Inside the root (proc, sys, dev mounted by in_root; a network namespace of
# its own): serves the demo model with a video-file source and a watched
# directory on a free loopback port until /sources shows the source in state
# $1 ("error"), or classifying frames ($1 "running"); then posts an image and
# stops the server. Leaves /tmp/camera.log, /tmp/sources.json, /tmp/camera-image.json.
cat >"$root/tmp/camera_check.sh" <<'SH'
want=$1
/usr/bin/edgevision serve --config none --model /usr/share/edgevision/demo --host 127.0.0.1 --port 0 --shutdown-timeout "$2" \
  --data-dir /tmp/camdata --source cam=/tmp/probe.avi,loop=true --source inbox=dir:/tmp/inbox >/tmp/camera.log 2>&1 &
pid=$!
i=0
while :; do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' /tmp/camera.log | head -1)
  if [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/sources" >/tmp/sources.json; then
    if [ "$want" = error ]; then grep -q '"state":"error"' /tmp/sources.json && break
    else grep -q '"framesOut":[1-9]' /tmp/sources.json && break; fi  # the inbox gets no file
  fi
  kill -0 $pid 2>/dev/null || { echo "the server exited"; exit 1; }
  i=$((i + 1))
  [ $i -lt 600 ] || { echo "no source in state $want after 5 min"; kill $pid; exit 1; }
  sleep 0.5
done
curl -sS --fail --data-binary @/tmp/probe.jpg "http://127.0.0.1:$port/image" >/tmp/camera-image.json || exit 1
kill -TERM $pid && wait $pid
SH
camera_check() {
  local want=$1
  EV_ROOT_NETNS=1 in_root /bin/sh /tmp/camera_check.sh "$want" "$shutdown_timeout" >"$work/camera-$want.out" 2>&1 &&
    /usr/bin/python3 - "$root/tmp/sources.json" "$want" <<'PY' &&
import json, sys
s = {x["name"]: x for x in json.load(open(sys.argv[1]))["sources"]}
cam, want = s["cam"], sys.argv[2]
print(f"source cam: state {cam['state']}, framesOut {cam['framesOut']}, lastError {cam.get('lastError')!r}")
assert cam["state"] == want
if want == "error":
    assert "apt install libavformat59" in cam["lastError"], cam["lastError"]
else:
    assert cam["framesOut"] > 0
assert s["inbox"]["state"] == "running", s["inbox"]
PY
    grep -q '"tagName":"Apple"' "$root/tmp/camera-image.json" ||
    { cat "$work/camera-$want.out" "$root/tmp/camera.log"; fail "the package with cameras configured (source state $want)"; }
}
camera_check error
echo "without Recommends: a video-file source is in state error naming the packages; HTTP serves"
started=$SECONDS
rec_packages=$(names "$recommends" | tr '\n' ' ')
in_root /bin/sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $rec_packages" \
  >>"$work/apt.log" 2>&1 || { tail -30 "$work/apt.log"; fail "apt-get install of the Recommends: $rec_packages"; }
echo "installed the Recommends ($rec_packages) in $((SECONDS - started)) s"
camera_check running
echo "with Recommends: the video-file source runs"

# --- 4b. systemd itself starts the service ---
if ((boot)); then
  # The state directory is systemd's to make for its dynamic user.
  rm -rf "$root/var/lib/private" "$root/var/lib/edgevision"
  started=$SECONDS
  "$here/systemd_boot.sh" "$root" "$work/probe.jpg" || fail "edgevision.service started by systemd in the booted root"
  echo "systemd boot check: $((SECONDS - started)) s"
fi

# --- 5. another architecture: the same answers as x86 ---
if ((!native)); then
  [[ -x $x86_build/src/cli/edgevision ]] || fail "no x86 build in $x86_build for the comparison (--x86-build DIR)"
  started=$SECONDS
  "$source_dir/scripts/arm/outputs.sh" "$x86_build/src/cli/edgevision" "$work/parity/x86"
  mkdir -p "$root/tmp/parity"
  in_root "$source_dir/scripts/arm/outputs.sh" /usr/bin/edgevision "/tmp/parity/$arch" ||
    fail "scripts/arm/outputs.sh in the $arch root"
  mv "$root/tmp/parity/$arch" "$work/parity/$arch"
  /usr/bin/python3 "$source_dir/scripts/arm/compare.py" "$work/parity/x86" "$work/parity/$arch" --arch "$arch" ||
    fail "the installed $arch binary does not give x86's tensors and probabilities"
  echo "parity with x86: $((SECONDS - started)) s"
  if [[ $arch == armhf ]]; then
    "$source_dir/scripts/arm/neon-check.sh" "$root" || fail "XNNPACK's NEON kernels on armhf"
  fi
fi

# --- 6. purge ---
in_root /bin/sh -c "DEBIAN_FRONTEND=noninteractive apt-get purge -y edgevision" >"$work/purge.log" 2>&1 ||
  { cat "$work/purge.log"; fail "apt-get purge edgevision"; }
for path in /usr/bin/edgevision /etc/edgevision/edgevision.conf /usr/lib/systemd/system/edgevision.service \
  /var/lib/private/edgevision; do
  [[ ! -e $root$path ]] || fail "$path is still there after apt-get purge"
done
status=$(in_root dpkg-query -W -f='${db:Status-Abbrev}' edgevision 2>/dev/null || true)
[[ -z $status || ${status:1:1} == n ]] || fail "dpkg status of edgevision after the purge: '$status'"
# Nothing of it anywhere (this test copied the .deb to /tmp; in_root mounts
# the source tree and the root itself at their own paths).
left=$(find "$root" -xdev \( -path "$root$source_dir" -o -path "$root$work" \) -prune -o \
  \( -name '*edgevision*' -not -path "$root/tmp/*" -print \))
[[ -z $left ]] || fail "left behind after apt-get purge: $left"
echo "apt-get purge: no file named *edgevision* left in the root"
installed_kib=$(dpkg-deb --field "$deb" Installed-Size)
echo "[ figures ] $(basename "$deb"): $(stat -c %s "$deb") bytes ($(awk "BEGIN{printf \"%.1f\", $(stat -c %s "$deb")/1048576}") MiB), installed size ${installed_kib} KiB, binary $(stat -c %s "$work/x/usr/bin/edgevision") bytes; unit exposure ${exposure:-n/a}"
echo "PASS"
