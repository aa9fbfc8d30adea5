#!/usr/bin/python3
"""Decoder parity: edgevision's decoded pixels vs Pillow's, file by file.

Usage (Debian's Python: /usr/bin/python3 with python3-pil 9.4):
    compare_decoders.py --edgevision build/src/cli/edgevision [--min-files N] [-v] [PATH...]

PATHs are files or folders (searched recursively); default: every file under
tests/data/images. For each file it runs the hidden command
    <edgevision> decode FILE --out X.ppm
(the RGB8 pixels and the PIL mode edgevision's decoder reports) and does what
the exported predict.py does with an upload: Image.open(BytesIO(bytes)),
then .convert("RGB"). Each file is then one of
    match     both decode to the same size, mode and pixels, or both refuse
              (edgevision with its clean one-line error, exit status 1);
    mismatch  both decode but the pixels, size or mode differ, or Pillow
              refuses a file that edgevision decodes;
    missing   Pillow decodes a file that edgevision refuses;
    limit     edgevision refuses it for a DecodeLimits limit (pixels, side)
              that Pillow does not have; reported, not a failure;
    crash     edgevision died (signal), hung (--timeout), exited with another
              status, or wrote no image.
Prints the files that did not match, a table of counts per format and the
totals. Exit status 0 only when mismatch, missing and crash are all 0 and at
least --min-files files were compared.
"""

import argparse
import collections
import io
import os
import subprocess
import sys
import tempfile
import warnings

from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKIP_NAMES = {"SOURCE.md", "LICENSE.md", "README.md", "LICENSE"}
LIMIT_MARKERS = ("max_pixels", "max_dimension", "larger than any decode limit")


def sniff(data):
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:2] == b"BM":
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "other"


def pillow(data):
    """(mode, width, height, rgb bytes) or an error string."""
    try:
        im = Image.open(io.BytesIO(data))
        mode = im.mode
        rgb = im.convert("RGB")
        return mode, rgb.size[0], rgb.size[1], rgb.tobytes()
    except Exception as e:  # noqa: BLE001 - any failure is a refusal
        return "%s: %s" % (type(e).__name__, e)


def read_ppm(path):
    with open(path, "rb") as f:
        data = f.read()
    parts = data.split(b"\n", 3)
    if len(parts) != 4 or parts[0] != b"P6" or parts[2] != b"255":
        raise ValueError("not a binary PPM")
    w, h = (int(v) for v in parts[1].split())
    if len(parts[3]) != w * h * 3:
        raise ValueError("PPM pixel data is %d bytes, expected %d" % (len(parts[3]), w * h * 3))
    return w, h, parts[3]


def edgevision(binary, path, out, timeout):
    """('ok', mode, w, h, pixels) | ('refused', message) | ('crash', reason)."""
    if os.path.exists(out):
        os.remove(out)
    try:
        proc = subprocess.run([binary, "decode", path, "--out", out], capture_output=True, text=True, errors="replace",
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return ("crash", "no answer within %gs" % timeout)
    message = (proc.stderr or "").strip()
    if proc.returncode == 1 and message and len(message.splitlines()) == 1:
        return ("refused", message)
    if proc.returncode != 0:
        return ("crash", "exit status %d: %s" % (proc.returncode, message[-300:]))
    try:
        w, h, pixels = read_ppm(out)
        fmt, mode, size = proc.stdout.split()
    except (OSError, ValueError) as e:
        return ("crash", "exit 0 but no usable output: %s" % e)
    if size != "%dx%d" % (w, h):
        return ("crash", "reported size %s, wrote %dx%d" % (size, w, h))
    return ("ok", mode, w, h, pixels)


def first_difference(a, b, width):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            pixel = i // 3
            return "first at (%d, %d) channel %d: Pillow %d, edgevision %d" % (
                pixel % width, pixel // width, i % 3, x, y)
    return "lengths differ"


def classify(binary, path, out, timeout):
    with open(path, "rb") as f:
        data = f.read()
    ref = pillow(data)
    ours = edgevision(binary, path, out, timeout)
    if ours[0] == "crash":
        return "crash", ours[1]
    if isinstance(ref, str):
        if ours[0] == "refused":
            return "match", "both refuse: Pillow %s | edgevision %s" % (ref, ours[1])
        return "mismatch", "Pillow refuses (%s) but edgevision decodes" % ref
    mode, w, h, pixels = ref
    if ours[0] == "refused":
        if any(m in ours[1] for m in LIMIT_MARKERS):
            return "limit", ours[1]
        return "missing", "Pillow decodes (%s %dx%d) but edgevision refuses: %s" % (mode, w, h, ours[1])
    _, our_mode, ow, oh, our_pixels = ours
    if (ow, oh) != (w, h):
        return "mismatch", "size: Pillow %dx%d, edgevision %dx%d" % (w, h, ow, oh)
    if our_pixels != pixels:
        diff = sum(1 for x, y in zip(pixels, our_pixels) if x != y)
        return "mismatch", "%d of %d samples differ, %s" % (diff, len(pixels), first_difference(pixels, our_pixels, w))
    if our_mode != mode:
        return "mismatch", "same pixels but mode: Pillow %s, edgevision %s" % (mode, our_mode)
    return "match", "%s %dx%d" % (mode, w, h)


def collect(paths):
    files = []
    for p in paths:
        if os.path.isdir(p):
            for root, _, names in os.walk(p):
                files += [os.path.join(root, n) for n in names if n not in SKIP_NAMES]
        else:
            files.append(p)
    return sorted(files)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edgevision", required=True, help="the edgevision binary")
    parser.add_argument("--min-files", type=int, default=1, help="fail when fewer files were compared")
    parser.add_argument("--timeout", type=float, default=60, help="seconds per file before it counts as a crash")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every file, not only failures")
    parser.add_argument("paths", nargs="*", default=[os.path.join(REPO, "tests", "data", "images")])
    args = parser.parse_args()

    warnings.simplefilter("ignore")  # PIL's advice on palette transparency, bomb warnings
    files = collect(args.paths)
    counts = collections.defaultdict(collections.Counter)
    kinds = ("match", "mismatch", "missing", "limit", "crash")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "decoded.ppm")
        for path in files:
            with open(path, "rb") as f:
                fmt = sniff(f.read(12))
            kind, detail = classify(args.edgevision, path, out, args.timeout)
            counts[fmt][kind] += 1
            if kind != "match" or args.verbose:
                print("%-8s %s: %s" % (kind, os.path.relpath(path, REPO), detail))

    print("\n%-6s %6s %8s %7s %5s %5s" % (("format",) + kinds))
    total = collections.Counter()
    for fmt in sorted(counts):
        total.update(counts[fmt])
        print("%-6s %6d %8d %7d %5d %5d" % ((fmt,) + tuple(counts[fmt][k] for k in kinds)))
    print("%-6s %6d %8d %7d %5d %5d" % (("all",) + tuple(total[k] for k in kinds)))
    failures = total["mismatch"] + total["missing"] + total["crash"]
    print("\ncompare_decoders: %d files, %d match, %d mismatch, %d missing, %d limit, %d crash" % (
        len(files), total["match"], total["mismatch"], total["missing"], total["limit"], total["crash"]))
    if len(files) < args.min_files:
        print("compare_decoders: FAILED: only %d files, expected at least %d" % (len(files), args.min_files))
        return 1
    if failures:
        print("compare_decoders: FAILED")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
