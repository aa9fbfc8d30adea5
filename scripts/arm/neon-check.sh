#!/usr/bin/env bash
# Which of XNNPACK's kernels run on armhf, with and without NEON.
#   scripts/arm/neon-check.sh ROOT [BINARY]
# ROOT: an armhf root with edgevision installed (BINARY, default
# /usr/bin/edgevision), or the armhf build root with BINARY the build tree's.
# Debian's armhf baseline is ARMv7-A with VFPv3-D16 and no NEON, so
# edgevision itself is compiled without NEON; libxnnpack0 holds NEON and
# scalar kernels and picks them at run time from the CPU's features (cpuinfo
# reads AT_HWCAP). qemu-user sets AT_HWCAP from the CPU it emulates, so the
# installed binary classifies apple1.jpg with the demo model twice:
#   QEMU_CPU=cortex-a7            (Pi 2's core: ARMv7-A, VFPv4, NEON)
#   QEMU_CPU=cortex-a7,neon=off   (the same core without NEON)
# each with qemu's system call trace (where libxnnpack.so.0 is mapped) and its
# log of the guest code it translated (capstone disassembly). Counted: NEON
# floating-point multiply-accumulate instructions (vmla/vfma .f32 on q
# registers, the GEMM and convolution kernels' inner loops) inside
# libxnnpack.so.0. Passes when the NEON run executes them and answers Apple,
# and the run without NEON executes none and still answers Apple with the
# same top tag (qemu raises SIGILL for a NEON instruction on that CPU, so a
# library that used NEON regardless would crash there). Then an ARMv6 CPU
# (QEMU_CPU=arm1176, the Pi 1's): the binary must die of SIGILL at once.
set -euo pipefail
root=${1:?usage: neon-check.sh ROOT [BINARY]}
binary=${2:-/usr/bin/edgevision}
EV_SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib.sh
. "$EV_SRC/scripts/arm/lib.sh"
[[ $(chroot "$root" /usr/bin/uname -m) == armv7l ]] || ev_die "neon-check: $root is not an armhf root"
cp "$EV_SRC/tests/data/cv-exports/iotedge-applebanana-tf/images/apple1.jpg" "$root/tmp/neon-probe.jpg"
status=0
for cpu in cortex-a7 cortex-a7,neon=off; do
  tag=${cpu//[,=]/-}
  rm -f "$root/tmp/neon-$tag".*
  EV_ROOT_ENV="QEMU_CPU=$cpu QEMU_STRACE=1 QEMU_LOG=in_asm QEMU_LOG_FILENAME=/tmp/neon-$tag.asm" \
    ev_in_root "$root" "$binary" predict --threads 1 /tmp/neon-probe.jpg \
    >"$root/tmp/neon-$tag.json" 2>"$root/tmp/neon-$tag.strace" || true
  /usr/bin/python3 - "$cpu" "$root/tmp/neon-$tag" <<'PY' || status=1
import json, re, sys
cpu, base = sys.argv[1], sys.argv[2]
# libxnnpack.so.0's mappings: the fd its openat returned, then mmap2(..., fd, ...).
# With QEMU_LOG_FILENAME set, qemu writes its system call trace into that
# log too (interleaved with the translated code): read both files.
ranges, fd = [], None
for line in [*open(base + ".strace", errors="replace"), *open(base + ".asm", errors="replace")]:
    # Debian ships it as libXNNPACK.so.0.
    m = re.search(r'openat\(.*"([^"]*libxnnpack\.so[^"]*)".*\) = (\d+)', line, re.IGNORECASE)
    if m:
        fd = m.group(2)
        continue
    if fd is not None:
        m = re.search(r'mmap2?\(\w+,(\d+),[^,]*PROT_EXEC[^,]*,[^,]*,' + fd + r',[^)]*\) = (0x[0-9a-f]+)', line)
        if m:
            start = int(m.group(2), 16)
            ranges.append((start, start + int(m.group(1))))
        if re.search(r'close\(' + fd + r'\) = 0', line):
            fd = None
neon_in_xnnpack = neon_elsewhere = blocks_in_xnnpack = 0
in_block = False
for line in open(base + ".asm", errors="replace"):
    m = re.match(r'(0x[0-9a-f]+):\s', line)
    if not m:
        continue
    addr = int(m.group(1), 16)
    inside = any(a <= addr < b for a, b in ranges)
    if re.search(r'\bv(mla|fma)\.f32\s+q', line):
        if inside:
            neon_in_xnnpack += 1
        else:
            neon_elsewhere += 1
try:
    doc = json.load(open(base + ".json"))
    top = max(doc["predictions"], key=lambda p: p["probability"])
    answer = f"{top['tagName']} {top['probability']:.6f}"
except (OSError, ValueError, KeyError):
    top, answer = None, "no answer"
print(f"[neon] QEMU_CPU={cpu}: libxnnpack.so.0 executable mapping(s) {[(hex(a), hex(b)) for a, b in ranges]}; "
      f"NEON f32 multiply-accumulates translated in libxnnpack: {neon_in_xnnpack}, elsewhere: {neon_elsewhere}; "
      f"answer: {answer}")
ok = top is not None and top["tagName"] == "Apple" and ranges
ok = ok and (neon_in_xnnpack > 0 if "neon=off" not in cpu else neon_in_xnnpack == 0 and neon_elsewhere == 0)
sys.exit(0 if ok else 1)
PY
done
rm -f "$root"/tmp/neon-*
# An ARMv6 CPU (Pi 1, Zero, Zero W: ARM1176) is no target: Debian's armhf
# code is ARMv7 (Thumb-2), so the first ARMv7 instruction must stop the
# program with SIGILL (exit 128 + 4), before edgevision's main runs.
set +e
EV_ROOT_ENV="QEMU_CPU=arm1176" ev_in_root "$root" "$binary" --version >/dev/null 2>&1
rc=$?
set -e
echo "[neon] QEMU_CPU=arm1176 (ARMv6, Pi 1/Zero): edgevision --version exits $rc$( ((rc == 132)) && echo " (SIGILL: Illegal instruction)")"
((rc == 132)) || status=1
if ((status)); then
  echo "FAIL: XNNPACK's kernels are not chosen by the CPU's NEON feature as expected" >&2
  exit 1
fi
echo "[neon] armhf: XNNPACK runs its NEON kernels on a NEON CPU and its scalar kernels without NEON; same answer"
