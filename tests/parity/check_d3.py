#!/usr/bin/python3
"""Docker 2.2 (D3) parity: edgevision vs the export's own code and Google's runtime.

Usage (Debian's /usr/bin/python3 with python3-numpy and python3-pil):
    check_d3.py --edgevision build/src/cli/edgevision [--tolerance 1e-4] [--json OUT]

The model is the real 2.2 export in tests/data/cv-exports/docker22-appleorange-tflite,
served as shipped. For the export's photo and every image in tests/data/images
(except bad/):
  1. `edgevision tensor` writes the tensor edgevision feeds the model;
  2. when the export's predict.py is available in ../shared (see
     reference_d3.py), the same image goes through it for real (only the TFLite
     runtime stubbed) and the two tensors must be identical (every value is
     an integer 0-255: predict.py feeds np.array(uint8 image, float32));
  3. Google's TFLite C runtime 2.9 (tflite_peer.py, from the npm package
     tfjs-tflite-node, installed by tests/parity/tflite/run.sh) runs the SAME
     model file on edgevision's tensor;
  4. `edgevision predict --label-order` classifies the image (XNNPACK engine,
     round(p, 8) as the 2.2 container answers);
and the probabilities must agree within the tolerance. The photo must come
out as apple.

Prints a table and exits 0 when everything is within tolerance, 1 otherwise,
77 when the TFLite runtime is not installed (1 with EDGEVISION_REQUIRE_ALL=1).
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import reference_d3  # noqa: E402
import support  # noqa: E402  (tests/support.py)
import tflite_peer  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXPORT = os.path.join(REPO, "tests", "data", "cv-exports", "docker22-appleorange-tflite")
PHOTO = os.path.join(EXPORT, "images", "IMG_20200229_164759.jpg")


def images():
    found = sorted(glob.glob(os.path.join(REPO, "tests", "data", "images", "**", "*.*"), recursive=True))
    # The decoder corpora (bmpsuite/, corpus/) hold files Pillow refuses on
    # purpose; compare_decoders.py checks them. This test takes the photos.
    skip = ("/bad/", "/images/bmpsuite/", "/images/corpus/")
    found = [p for p in found if not p.endswith(".md") and not any(s in p for s in skip)]
    return [PHOTO] + found


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edgevision", required=True)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--json", help="write the per-image results here")
    args = ap.parse_args()
    if not tflite_peer.available():
        return support.skip_or_fail("TFLite C runtime not installed (%s); run tests/parity/tflite/run.sh" %
                                    tflite_peer.library_path())
    peer = tflite_peer.TfliteInterpreter(os.path.join(EXPORT, "app", "model.tflite"))
    try:
        predict, capture = reference_d3.load_predict()
    except FileNotFoundError:
        predict = None
        print("note: the export's predict.py is not in ../shared: tensors are checked by "
              "image_parity_test's goldens only")
    labels = open(os.path.join(EXPORT, "app", "labels.txt")).read().split()
    results, failures = [], []
    worst_p = worst_t = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        npy = os.path.join(tmp, "t.npy")
        print("%-48s %10s %10s %s" % ("image", "|dt|max", "|dp|max", "top-1 (edgevision / tflite)"))
        for path in images():
            rel = os.path.relpath(path, REPO)
            subprocess.run([args.edgevision, "tensor", "--model", EXPORT, path, "--out", npy], check=True)
            ours_t = np.load(npy)
            dt = float("nan")
            if predict is not None:
                info = reference_d3.run(predict, capture, path)
                if "error" in info:
                    failures.append("%s: predict.py failed (%s) but edgevision did not" % (rel, info["error"]))
                    continue
                dt = float(np.abs(info["tensor"].astype(np.float64) - ours_t).max())
                worst_t = max(worst_t, dt)
                if dt != 0.0:
                    failures.append("%s: tensor differs from predict.py's by %g" % (rel, dt))
            ref = peer.run(ours_t[np.newaxis])
            out = subprocess.run([args.edgevision, "predict", "--label-order", "--model", EXPORT, path],
                                 check=True, capture_output=True, text=True).stdout
            doc = json.loads(out)
            ours_p = np.array([p["probability"] for p in doc["predictions"]], np.float64)
            names = [p["tagName"] for p in doc["predictions"]]
            if names != labels:
                failures.append("%s: predictions %s are not every label in file order %s" % (rel, names, labels))
                continue
            dp = float(np.abs(ours_p - ref.astype(np.float64)).max())
            worst_p = max(worst_p, dp)
            top = (labels[int(ours_p.argmax())], labels[int(ref.argmax())])
            print("%-48s %10.3g %10.3g %s / %s" % (rel[-48:], dt, dp, top[0], top[1]))
            results.append({"image": rel, "tensor_max_abs": dt, "prob_max_abs": dp,
                            "edgevision": ours_p.tolist(), "tflite": ref.tolist()})
            if dp > args.tolerance:
                failures.append("%s: probabilities differ by %g" % (rel, dp))
            if path == PHOTO and top[0] != "apple":
                failures.append("%s: the apple photo came out as %s" % (rel, top[0]))
    print("%d images; worst tensor |diff| %s, worst probability |diff| %.3g (tolerance %g)" %
          (len(results), "%.3g" % worst_t if predict is not None else "n/a", worst_p, args.tolerance))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
