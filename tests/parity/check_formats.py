#!/usr/bin/python3
"""Every export format of the same weights gives the same probabilities.

Usage (Debian's /usr/bin/python3 with python3-numpy, python3-onnx,
python3-protobuf; flatc and protoc):
    check_formats.py --edgevision build/src/cli/edgevision [--copies DIR] [--tolerance 1e-4]

make_format_copies.py writes the real Docker 2.2 export's graph and weights
as ONNX, ONNX Float16, TF frozen GraphDef (compact and S1 names),
SavedModel, TF.js and TFLite Float16 (into a temporary folder unless
--copies names one that holds them). For every copy, loaded as shipped
(the export folder):
  1. `edgevision inspect --json` must name the format and the colour order
     and range that copy's contract needs (compact: BGR 0-255, whatever the
     side file's Rgb8/Normalized_0_1 says; the S1-named graph: RGB 0-255);
  2. on the images below, `edgevision tensor` must equal the TFLite Float16
     copy's tensor (the same rules; channel-reversed for the S1-named copy);
  3. Google's TFLite C runtime 2.9 (tflite_peer.py) runs the REAL
     model.tflite on that tensor, and `edgevision predict --label-order` on
     the copy must give the same probabilities within the tolerance; for
     the ONNX Float16 copy the reference is ONNX Runtime (npm
     onnxruntime-node, bench/node) running that copy on the tensor cast to
     float16, as the ONNX sample's predict.py feeds a float16 model (ONNX
     Runtime stores float16 values where TFLite does not: see
     model/onnx_float16.h); its output is float16, so a probability may be
     one float16 step from ONNX Runtime's (a float32 sum in another order
     lands on the other side of a rounding boundary) and the tolerance is
     the larger of --tolerance and that step;
  4. the apple photo must come out as apple (compact copies).
Prints a table; exit 0 when all agree, 1 otherwise, 77 when the TFLite
runtime is not installed (1 with EDGEVISION_REQUIRE_ALL=1).
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import format_copies  # noqa: E402
sys.path.insert(0, os.path.join(HERE, "..", "data", "synthetic"))
import make_s1_onnx  # noqa: E402  (ort_run: ONNX Runtime through npm onnxruntime-node)
import support  # noqa: E402  (tests/support.py)
import tflite_peer  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
EXPORT = os.path.join(REPO, "tests", "data", "cv-exports", "docker22-appleorange-tflite")
PHOTO = os.path.join(EXPORT, "images", "IMG_20200229_164759.jpg")

# copy folder -> (format inspect names, colour, range)
EXPECTED = {
    "tflite-float16": ("TFLite", "BGR", "0-255"),
    "onnx": ("ONNX", "BGR", "0-255"),
    "onnx-float16": ("ONNX", "BGR", "0-255"),
    "tf": ("TensorFlow GraphDef", "BGR", "0-255"),
    "tf-s1names": ("TensorFlow GraphDef", "RGB", "0-255"),
    "savedmodel": ("TensorFlow SavedModel", "BGR", "0-255"),
    "tfjs": ("TF.js graph model", "BGR", "0-255"),
}
BASE = "tflite-float16"
# Copies whose reference is ONNX Runtime running the copy itself (see 3. above).
ORT_REFERENCE = {"onnx-float16"}


def images():
    """The photo, the EXIF-rotated and large photos, and one file of each other kind."""
    root = os.path.join(REPO, "tests", "data", "images")
    found = sorted(glob.glob(os.path.join(root, "exif", "*.jpg")) + glob.glob(os.path.join(root, "large", "*")))
    for kind in ("jpeg", "png", "gif", "webp", "bmp"):
        found += sorted(glob.glob(os.path.join(root, kind, "*.*")))[:2]
    return [PHOTO] + [p for p in found if not p.endswith(".md")]


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    format_copies.add_arguments(ap)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()
    if not tflite_peer.available():
        return support.skip_or_fail("TFLite C runtime not installed (%s); run tests/parity/tflite/run.sh" %
                                    tflite_peer.library_path())
    peer = tflite_peer.TfliteInterpreter(os.path.join(EXPORT, "app", "model.tflite"))
    labels = open(os.path.join(EXPORT, "app", "labels.txt")).read().split()
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        copies = format_copies.folder(args.copies, tmp)
        imgs = images()
        npy = os.path.join(tmp, "t.npy")
        base_tensors = {}
        print("%-16s %-22s %-6s %-6s %-8s %10s %10s  %s" % ("copy", "format", "colour", "range", "images",
                                                             "|dt|max", "|dp|max", "photo"))
        for name in [BASE] + [n for n in EXPECTED if n != BASE]:
            folder = os.path.join(copies, name)
            fmt, colour, rng = EXPECTED[name]
            info = json.loads(run([args.edgevision, "inspect", "--json", "--model", folder]))
            got = (info["format"], info["input"]["color"], info["input"]["range"])
            if got != (fmt, colour, rng):
                failures.append("%s: inspect says %s, expected %s" % (name, got, (fmt, colour, rng)))
            lines = run([args.edgevision, "predict", "--label-order", "--model", folder] + imgs).splitlines()
            if len(lines) != len(imgs):
                failures.append("%s: %d answers for %d images" % (name, len(lines), len(imgs)))
                continue
            worst_t = worst_p = 0.0
            worst_float32 = 0.0  # ORT_REFERENCE copies: ONNX Runtime vs the float32 arithmetic (TFLite)
            exact = 0  # ORT_REFERENCE copies: images whose probabilities equal ONNX Runtime's
            photo = ""
            for path, line in zip(imgs, lines):
                rel = os.path.relpath(path, REPO)
                subprocess.run([args.edgevision, "tensor", "--model", folder, path, "--out", npy], check=True)
                t = np.load(npy)
                if name == BASE:
                    base_tensors[path] = t
                else:
                    want = base_tensors[path][..., ::-1] if colour == "RGB" else base_tensors[path]
                    dt = float(np.abs(t - want).max())
                    worst_t = max(worst_t, dt)
                    if dt != 0.0:
                        failures.append("%s %s: tensor differs from the %s copy's by %g" % (name, rel, BASE, dt))
                float32_ref = peer.run(t[np.newaxis]).astype(np.float64).reshape(-1)
                ref = float32_ref
                if name in ORT_REFERENCE:
                    nchw = np.ascontiguousarray(t[np.newaxis].transpose(0, 3, 1, 2))
                    (ref,) = make_s1_onnx.ort_run(os.path.join(folder, "model.onnx"), nchw, half=True).values()
                    ref = ref.reshape(-1).astype(np.float64)
                doc = json.loads(line)
                names = [p["tagName"] for p in doc["predictions"]]
                if names != labels:
                    failures.append("%s %s: predictions %s not in label order %s" % (name, rel, names, labels))
                    continue
                ours = np.array([p["probability"] for p in doc["predictions"]], np.float64)
                dp = float(np.abs(ours - ref).max())
                worst_p = max(worst_p, dp)
                worst_float32 = max(worst_float32, float(np.abs(ref - float32_ref).max()))
                allowed = np.full(ref.shape, args.tolerance)
                if name in ORT_REFERENCE:  # and one float16 step of each probability
                    exact += dp < 1e-7  # the JSON's 8 decimals of a float32
                    allowed = np.maximum(allowed, np.spacing(np.abs(ref).astype(np.float16)).astype(np.float64))
                if np.any(np.abs(ours - ref) > allowed):
                    failures.append("%s %s: probabilities %s, %s %s (|diff| %g)" %
                                    (name, rel, ours.tolist(),
                                     "ONNX Runtime" if name in ORT_REFERENCE else "TFLite runtime",
                                     ref.tolist(), dp))
                if path == PHOTO:
                    photo = "%s %.6f" % (labels[int(ours.argmax())], ours.max())
                    if colour == "BGR" and labels[int(ours.argmax())] != "apple":
                        failures.append("%s: the apple photo came out as %s" % (name, photo))
            print("%-16s %-22s %-6s %-6s %-8d %10.3g %10.3g  %s" % (name, got[0], got[1], got[2], len(imgs),
                                                                  worst_t, worst_p, photo))
            if name in ORT_REFERENCE:
                print("%-16s |dp|max against ONNX Runtime on the copy (float16 output); %d of %d images equal; "
                      "ONNX Runtime vs the float32 arithmetic (TFLite runtime): %.3g" %
                      ("", exact, len(imgs), worst_float32))
    for f in failures:
        print("FAIL:", f)
    print("%d copies x %d images: %s" % (len(EXPECTED), len(imgs), "FAILED" if failures else "all agree"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
