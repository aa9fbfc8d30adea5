#!/usr/bin/env bash
# The installed package's service started by systemd itself: ROOT (a Debian
# 12 root of any architecture with edgevision, systemd and curl installed;
# tests/packaging/deb_test.sh --boot) is booted with systemd-nspawn, so
# systemd runs as the container's PID 1 (under qemu-user-static for arm64
# and armhf) and starts edgevision.service from its unit, as on a Pi:
#   tests/packaging/systemd_boot.sh ROOT IMAGE
# Checked, on the service's main process as systemd started it:
#   - enabled by the package's postinst, active after boot, listening on :80;
#   - DynamicUser: a uid of systemd's dynamic range (61184-65519), owning
#     the StateDirectory /var/lib/private/edgevision;
#   - capabilities: only CAP_NET_BIND_SERVICE (effective, bounding, ambient);
#     NoNewPrivileges;
#   - mounts: / read-only (ProtectSystem=strict), the state directory
#     writable, a /tmp of its own (PrivateTmp), /sys read-only;
#   - `curl --data-binary @IMAGE http://localhost/image` answers Apple;
#   - `systemctl stop` ends it cleanly (Result=success).
# SystemCallFilter is reported, not asserted, under qemu: systemd installs
# the filter for the architecture it was built for (Seccomp: 2 in the
# process status), but the kernel sees qemu's x86-64 system calls, which
# that filter's architecture check lets through; a probe unit denying
# @basic-io shows whether it bites. On a native root it must bite.
# Exit 1 on a failed check.
set -euo pipefail
root=$(cd "${1:?usage: systemd_boot.sh ROOT IMAGE}" && pwd)
image=${2:?usage: systemd_boot.sh ROOT IMAGE}
command -v systemd-nspawn >/dev/null || { echo "FAIL: systemd-nspawn is missing (apt-get install systemd-container)"; exit 1; }
work=$(mktemp -d /var/tmp/edgevision-boot.XXXXXX)
nspawn=
cleanup() {
  # A first SIGTERM asks the container's systemd to halt (under qemu its
  # last step can hang: journald stays); a second one kills the container.
  local signal
  for signal in TERM TERM KILL; do
    if [[ -z $nspawn ]] || ! kill -0 "$nspawn" 2>/dev/null; then break; fi
    kill -"$signal" "$nspawn" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$nspawn" 2>/dev/null || break; sleep 0.5; done
  done
  [[ -z $nspawn ]] || wait "$nspawn" 2>/dev/null || true
  rm -rf "$work" "$root/var/tmp/boot-probe.jpg"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- boot log (tail) ---"; tail -30 "$work/boot.log"; exit 1; }
cp "$image" "$root/var/tmp/boot-probe.jpg"
arch=$(chroot "$root" dpkg --print-architecture)
native=0
[[ $arch == "$(dpkg --print-architecture)" ]] && native=1

# No systemd on this machine (nspawn cannot register with a machined or
# create a scope): --register=no --keep-unit. Loopback only.
started=$SECONDS
systemd-nspawn -D "$root" -b --register=no --keep-unit --private-network \
  -M "ev-boot-$$" --console=pipe >"$work/boot.log" 2>&1 </dev/null &
nspawn=$!
# The container's PID 1: nspawn's child that is PID 1 of its own PID namespace.
init=
for _ in $(seq 1 600); do
  for pid in $(pgrep -P "$nspawn" || true); do
    [[ $(awk '$1 == "NSpid:" {print $NF}' "/proc/$pid/status" 2>/dev/null) == 1 ]] && init=$pid
  done
  [[ -n $init ]] && break
  kill -0 "$nspawn" 2>/dev/null || fail "systemd-nspawn exited"
  sleep 0.5
done
[[ -n $init ]] || fail "no container init after 300 s"
inside() { nsenter -t "$init" -a -- "$@"; }
# Up to 10 min: systemd and everything it starts run under emulation.
state=
for _ in $(seq 1 1200); do
  state=$(inside systemctl is-active edgevision.service 2>/dev/null || true)
  [[ $state == active ]] && inside curl -sf http://localhost/health >/dev/null 2>&1 && break
  [[ $state == failed ]] && break
  kill -0 "$nspawn" 2>/dev/null || fail "systemd-nspawn exited"
  sleep 0.5
done
[[ $state == active ]] || { inside systemctl status edgevision --no-pager || true; fail "edgevision.service is '$state' after boot"; }
boot_s=$((SECONDS - started))
echo "[systemd] booted the $arch root with systemd as PID 1 (systemd-nspawn$( ((native)) || echo ", under qemu")); edgevision.service active and healthy after ${boot_s} s"
echo "[systemd] $(inside systemctl is-enabled edgevision.service) by the package; units that failed in the container (not ours): $(inside systemctl --failed --plain --no-legend | awk '{print $1}' | tr '\n' ' ')"

main=$(inside systemctl show -p MainPID --value edgevision.service)
[[ $main =~ ^[1-9][0-9]*$ ]] || fail "no MainPID"
inside cat "/proc/$main/status" >"$work/status"
inside cat "/proc/$main/mountinfo" >"$work/mountinfo"
field() { awk -v k="$1:" '$1 == k {print $2}' "$work/status"; }
uid=$(field Uid)
((uid >= 61184 && uid <= 65519)) || fail "the service runs as uid $uid, not a DynamicUser uid (61184-65519)"
owner=$(inside stat -c %u /var/lib/private/edgevision)
[[ $owner == "$uid" ]] || fail "the StateDirectory is owned by $owner, the service runs as $uid"
for cap in CapEff CapBnd CapAmb; do
  [[ $(field $cap) == 0000000000000400 ]] || fail "$cap is $(field $cap), not CAP_NET_BIND_SERVICE alone (0x400)"
done
[[ $(field NoNewPrivs) == 1 ]] || fail "NoNewPrivs is not set"
mount_opts() { awk -v m="$1" '$5 == m {print $6}' "$work/mountinfo" | tail -1; }
[[ $(mount_opts /) == ro,* ]] || fail "/ is not read-only for the service ($(mount_opts /))"
[[ $(mount_opts /var/lib/private/edgevision) == rw,* ]] || fail "the state directory is not writable for the service"
[[ $(mount_opts /sys) == ro,* ]] || fail "/sys is not read-only for the service"
[[ -n $(mount_opts /tmp) ]] || fail "the service has no /tmp of its own"
[[ $(inside readlink "/proc/$main/ns/mnt") != $(inside readlink /proc/1/ns/mnt) ]] || fail "the service shares PID 1's mount namespace"
echo "[systemd] main process: uid $uid (DynamicUser, owns /var/lib/private/edgevision), CapEff=CapBnd=CapAmb=0x400 (CAP_NET_BIND_SERVICE), NoNewPrivs 1; mounts: / ro, /sys ro, /tmp private, state dir rw"

inside curl -sS --fail --data-binary @/var/tmp/boot-probe.jpg http://localhost/image >"$work/curl.json" ||
  fail "curl --data-binary @apple1.jpg http://localhost/image"
/usr/bin/python3 - "$work/curl.json" <<'PY' || fail "apple1.jpg was not classified as Apple by the systemd-started service"
import json, sys
doc = json.load(open(sys.argv[1]))
top = max(doc["predictions"], key=lambda p: p["probability"])
print(f"[systemd] curl --data-binary @apple1.jpg http://localhost/image: {top['tagName']} {top['probability']:.7f}")
sys.exit(0 if top["tagName"] == "Apple" and top["probability"] > 0.9 else 1)
PY
inside journalctl -u edgevision --no-pager -q | grep -q "listening on 0.0.0.0:80" || fail "the journal has no 'listening on 0.0.0.0:80'"

# SystemCallFilter: installed? And does a filter of this systemd bite here?
# A oneshot probe unit denying @basic-io must die of SIGSYS before its echo.
seccomp="Seccomp $(field Seccomp), $(field Seccomp_filters) filter(s)"
inside /bin/sh -c 'mkdir -p /run/systemd/system && cat >/run/systemd/system/ev-seccomp-probe.service' <<'UNIT'
[Service]
Type=oneshot
SystemCallFilter=~@basic-io
ExecStart=/bin/echo unfiltered
StandardOutput=journal
UNIT
inside systemctl daemon-reload
inside systemctl start ev-seccomp-probe.service >/dev/null 2>&1 || true
probe=$(inside systemctl show -p Result -p ExecMainCode -p ExecMainStatus ev-seccomp-probe.service | sort | tr '\n' ' ')
echoed=$(inside journalctl -u ev-seccomp-probe --no-pager -q -o cat | grep -cx unfiltered || true)
inside rm -f /run/systemd/system/ev-seccomp-probe.service
if [[ $probe == *"Result=success"* && $echoed -ge 1 ]]; then
  ((native)) && fail "a unit denying @basic-io could still write ($probe): SystemCallFilter does not bite on a native root"
  echo "[systemd] SystemCallFilter: installed ($seccomp) but inert under qemu-user: a probe unit denying @basic-io still wrote ($probe; the filter checks $arch's system call numbers, the kernel sees qemu's x86-64 calls)"
elif [[ $probe == *"ExecMainStatus=31"* && $echoed -eq 0 ]]; then
  echo "[systemd] SystemCallFilter: installed ($seccomp) and enforced: a probe unit denying @basic-io died of SIGSYS ($probe)"
else
  fail "the SystemCallFilter probe unit neither wrote nor died of SIGSYS: $probe"
fi

inside systemctl stop edgevision.service
result=$(inside systemctl show -p Result --value edgevision.service)
[[ $result == success && $(inside systemctl is-active edgevision.service || true) == inactive ]] ||
  fail "systemctl stop: Result=$result"
echo "[systemd] systemctl stop: inactive, Result=success"
