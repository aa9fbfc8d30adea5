#!/usr/bin/python3
"""Live parity: edgevision's model input vs the REAL reference predict.py.

Usage (Debian's Python: /usr/bin/python3 with python3-pil and python3-numpy):
    check_parity.py --edgevision build/src/cli/edgevision [--model DIR] [--quick] [IMAGE...]

For each image it runs
    <edgevision> tensor --model <DIR> IMAGE --out X.npy
(the exact HxWx3 float32 tensor, channel order and range the model is fed),
then predict.predict_image(Image.open(IMAGE)) from the reference folder with
only TensorFlow stubbed (reference_tensor.py), with network_input_size set to
the height of edgevision's tensor, and compares the two.

Images: the given ones, else every sample image of the exports and every
image under tests/data/images (--quick: the golden set of make_golden.py).
An image the reference refuses (truncated, corrupt, too large) must be
refused by edgevision too.

Prints a table (image, max |diff|, mean |diff|). Exit status: 0 when every
image is within --tolerance (default 1.0 on the 0-255 scale), 1 on any
failure, 77 (skipped) when the reference folder is absent. This is the one
skip the project allows, also under EDGEVISION_REQUIRE_ALL=1: the reference
code is third-party and never in the repository, so a fresh clone has none
(tests/data/golden covers it there).
"""

import argparse
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_tensor  # noqa: E402

REPO = reference_tensor.REPO
DEFAULT_MODEL = os.path.join(REPO, "tests", "data", "cv-exports", "iotedge-applebanana-tf")


def default_images(quick):
    if quick:
        import make_golden  # noqa: E402 - only its list of images

        seen = []
        for path, _ in make_golden.GOLDEN_SET:
            if path not in seen:
                seen.append(path)
        return [os.path.join(REPO, p) for p in seen]
    images = sorted(glob.glob(os.path.join(REPO, "tests/data/cv-exports/*/images/**/*.*"), recursive=True))
    images += sorted(p for p in glob.glob(os.path.join(REPO, "tests/data/images/**/*.*"), recursive=True)
                     if not p.endswith(".md"))
    return images


def run_edgevision(binary, model, image, out):
    proc = subprocess.run([binary, "tensor", "--model", model, image, "--out", out],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return None, (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["exit %d" % proc.returncode]
    return np.load(out), None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edgevision", required=True, help="the edgevision binary")
    ap.add_argument("--model", default=DEFAULT_MODEL, help="model folder for `edgevision tensor`")
    ap.add_argument("--tolerance", type=float, default=1.0, help="max |diff| allowed (0-255 scale)")
    ap.add_argument("--quick", action="store_true", help="only the golden set")
    ap.add_argument("images", nargs="*")
    args = ap.parse_args()

    try:
        predict, capture = reference_tensor.load_predict()
    except FileNotFoundError as e:
        print("check_parity: reference predict.py not found (%s): skipped" % e)
        return reference_tensor.SKIP
    if not os.access(args.edgevision, os.X_OK):
        print("check_parity: %s is not an executable" % args.edgevision, file=sys.stderr)
        return 1

    images = args.images or default_images(args.quick)
    failures = 0
    width = max(len(os.path.relpath(p, REPO)) for p in images)
    print("%-*s %10s %10s  %s" % (width, "image", "max|diff|", "mean|diff|", "result"))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "tensor.npy")
        for image in images:
            name = os.path.relpath(image, REPO)
            ours, our_error = run_edgevision(args.edgevision, args.model, image, out)
            size = ours.shape[0] if ours is not None else 227
            ref = reference_tensor.run(predict, capture, image, int(size))
            if "error" in ref:
                ok = ours is None
                failures += not ok
                print("%-*s %10s %10s  %s" % (width, name, "-", "-",
                                              "both refuse" if ok else "FAIL: reference refuses (%s), "
                                              "edgevision does not" % ref["error"][:60]))
                continue
            if ours is None:
                failures += 1
                print("%-*s %10s %10s  FAIL: edgevision refuses: %s" % (width, name, "-", "-", our_error[0]))
                continue
            theirs = ref["tensor"]
            if ours.shape != theirs.shape or ours.dtype != np.float32:
                failures += 1
                print("%-*s %10s %10s  FAIL: shape %s %s, reference %s" % (width, name, "-", "-", ours.shape,
                                                                            ours.dtype, theirs.shape))
                continue
            diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
            ok = diff.max() <= args.tolerance
            failures += not ok
            exact = np.array_equal(ours, theirs)
            print("%-*s %10.3g %10.3g  %s" % (width, name, diff.max(), diff.mean(),
                                              ("exact" if exact else "ok") if ok else "FAIL"))
    print("check_parity: %d image(s), %d failure(s)" % (len(images), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
