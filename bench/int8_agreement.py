#!/usr/bin/python3
"""`--precision int8` against fp32 on every real image we have (issue 17, part 4).

    int8_agreement.py --edgevision build/src/cli/edgevision [--exports DIR] [--json]
                      [--only EXPORT,...] [--per-image FILE]

For each classifier export, `edgevision predict` at both precisions on:
  - every export's own test images (<exports>/*/images, 37 photos), and
  - every image under tests/data/images that decodes (derived from those
    photos: crops, rescales, other formats, EXIF orientations; bad/ and the
    BMP Suite's bad files are left out, as is any file predict refuses).
Prints, per export: top-1 agreement over all images, over the export
photos alone, over the decisive images (fp32's top tag leads by >= 0.1),
over the held-out images, the mean and max |p_int8 - p_fp32|, and the
images where top-1 differs. With the confidence fallback (on unless
--int8-fallback off is passed through --int8-args), also how many images
fp32 answered (int8's near ties), over all images and over the photos:
the agreement then is of the answers as served.

Held out = neither a calibration image of that export nor derived from one
(DERIVED_FROM below, after tests/data/images/SOURCE.md): the iotedge and
android-fruit exports calibrate on the five fruit photos, from which most of
tests/data/images is made, so only the other exports' photos, exif/ and
bmpsuite/ are held out for them; the food export calibrates on its 30
photos (exif/ and png/grey16_mid_downscale.png come from one of them);
docker22 and catdog on their one photo each. The whole-set figure overlaps
the calibration set; the held-out one does not.
The int8 calibration is made afresh in a temporary data dir (the exports
without images of their own calibrate from the fruit photos laid out as
captures, as tests/cli/int8_test.py does).
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))
import support  # noqa: E402  (tests/support.py)
CLASSIFIERS = ["iotedge-applebanana-tf", "docker22-appleorange-tflite", "winml-food-onnx",
               "uwp-catdog-onnx12", "android-fruit-tf", "android-fruit-tflite"]
FROM_CAPTURES = {"android-fruit-tf", "android-fruit-tflite"}
DECISIVE = 0.1
# tests/data/images/<folder or file> -> the export photos it was made from.
DERIVED_FROM = {
    "exif": ["winml-food-onnx/images/Donuts/3432459.jpg"],
    "png/grey16_mid_downscale.png": ["winml-food-onnx/images/Donuts/3432459.jpg"],
    "large": ["iotedge-applebanana-tf/images/backpod.jpg"],
    "resize": ["iotedge-applebanana-tf/images/backpod.jpg"],
    "jpeg": ["iotedge-applebanana-tf/images/apple1.jpg"],
    "png": ["iotedge-applebanana-tf/images/apple2.jpg"],
    "gif": ["iotedge-applebanana-tf/images/apple2.jpg"],
    "bmp": ["iotedge-applebanana-tf/images/apple2.jpg"],
    "webp": ["iotedge-applebanana-tf/images/apple2.jpg"],
    "corpus": ["iotedge-applebanana-tf/images/apple2.jpg"],
}
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


def probs(doc):
    return {p["tagName"]: p["probability"] for p in doc["predictions"]}


def top1(doc):
    p = probs(doc)
    return max(p, key=p.get) if p else None


def lead(doc):
    p = sorted(probs(doc).values(), reverse=True) + [0.0, 0.0]
    return p[0] - p[1]


def sources(image, exports_dir, images_dir):
    """The export photos (relative to exports_dir) `image` is or was made from."""
    if os.path.abspath(image).startswith(os.path.abspath(exports_dir) + os.sep):
        return [os.path.relpath(image, exports_dir)]
    rel = os.path.relpath(image, images_dir).split(os.sep)
    for key in ("/".join(rel), rel[0]):
        if key in DERIVED_FROM:
            return DERIVED_FROM[key]
    return []


def predict(binary, model, images, extra):
    """{image: answer} for the images predict answered."""
    p = subprocess.run([binary, "predict", "--model", model] + extra + images,
                       capture_output=True, text=True, timeout=3600)
    # A refused image is named in stderr; so is one that fp32 answered (a
    # "near tie" line of the int8 fallback), which is an answer.
    errors = "\n".join(l for l in p.stderr.splitlines() if ": near tie (" not in l)
    failed = {i for i in images if i in errors}
    ok = [i for i in images if i not in failed]
    docs = support.json_documents(p.stdout)
    if len(docs) != len(ok):
        sys.exit("%s %s: %d answers for %d images; stderr: %s" % (model, extra, len(docs), len(ok), p.stderr[-1000:]))
    return dict(zip(ok, docs)), p.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edgevision", required=True)
    ap.add_argument("--exports", default=os.path.join(REPO, "tests", "data", "cv-exports"))
    ap.add_argument("--images", default=os.path.join(REPO, "tests", "data", "images"))
    ap.add_argument("--only", default="", help="comma-separated exports (default: all classifiers)")
    ap.add_argument("--json", action="store_true", help="one JSON object per export instead of text")
    ap.add_argument("--per-image", default="",
                    help="also write every image's fp32 and int8 probabilities here (JSON, per export)")
    ap.add_argument("--int8-args", default="",
                    help="extra arguments for the int8 predict, e.g. '--int8-fallback off'")
    args = ap.parse_args()

    photos = sorted(glob.glob(os.path.join(args.exports, "*", "images", "**", "*.*"), recursive=True))
    derived = sorted(f for f in glob.glob(os.path.join(args.images, "**", "*"), recursive=True)
                     if f.lower().endswith(IMAGE_EXT) and os.sep + "bad" + os.sep not in f
                     and os.sep + "bmpsuite" + os.sep + "b" + os.sep not in f)
    images = photos + derived
    fruit = sorted(glob.glob(os.path.join(args.exports, "iotedge-applebanana-tf", "images", "*.jpg")))
    exports = args.only.split(",") if args.only else CLASSIFIERS
    fruit_rel = [os.path.relpath(f, args.exports) for f in fruit]
    per_image = {}
    with tempfile.TemporaryDirectory(prefix="int8-agree-") as tmp:
        for export in exports:
            model = os.path.join(args.exports, export)
            data_dir = os.path.join(tmp, export)
            os.makedirs(data_dir)
            if export in FROM_CAPTURES:
                support.seed_captures(data_dir, fruit)
            fp32, _ = predict(args.edgevision, model, images, [])
            int8, log = predict(args.edgevision, model, list(fp32),
                                ["--precision", "int8", "--data-dir", data_dir] + args.int8_args.split())
            fell_back = {m.group(1) for m in re.finditer(r"int8: (.*): near tie \(", log)}
            both = [i for i in images if i in fp32 and i in int8]
            same = [i for i in both if top1(fp32[i]) == top1(int8[i])]
            in_photos = [i for i in both if i in photos]
            decisive = [i for i in both if lead(fp32[i]) >= DECISIVE]
            calibration = set(fruit_rel if export in FROM_CAPTURES else
                              [os.path.relpath(f, args.exports) for f in photos
                               if os.path.relpath(f, args.exports).startswith(export + os.sep)])
            held_out = [i for i in both if not calibration & set(sources(i, args.exports, args.images))]
            diffs = [abs(probs(fp32[i]).get(k, 0) - v) for i in both for k, v in probs(int8[i]).items()]
            differ = [{"image": os.path.relpath(i, REPO), "fp32": probs(fp32[i]), "int8": probs(int8[i])}
                      for i in both if top1(fp32[i]) != top1(int8[i])]
            per_image[export] = {os.path.relpath(i, REPO): {"fp32": probs(fp32[i]), "int8": probs(int8[i]),
                                                             "fallback": i in fell_back}
                                 for i in both}
            if args.per_image:
                with open(args.per_image, "w") as f:
                    json.dump(per_image, f)
            line = [l for l in log.splitlines() if "int8: calibrated" in l]
            row = {"export": export, "images": len(both), "agree": len(same),
                   "photos": len(in_photos), "photos_agree": sum(i in same for i in in_photos),
                   "decisive": len(decisive), "decisive_agree": sum(i in same for i in decisive),
                   "held_out": len(held_out), "held_out_agree": sum(i in same for i in held_out),
                   "fallbacks": sum(i in fell_back for i in both),
                   "photo_fallbacks": sum(i in fell_back for i in in_photos),
                   "fallback_images": sorted(os.path.relpath(i, REPO) for i in both if i in fell_back),
                   "mean_abs_diff": sum(diffs) / max(1, len(diffs)), "max_abs_diff": max(diffs + [0.0]),
                   "differ": differ, "log": line[-1] if line else ""}
            if args.json:
                print(json.dumps(row), flush=True)
                continue
            print("%s: top-1 %d/%d (%.2f %%); photos %d/%d; decisive %d/%d; held out %d/%d; mean |dp| %.4f, max %.3f"
                  % (export, row["agree"], row["images"], 100.0 * row["agree"] / max(1, row["images"]),
                     row["photos_agree"], row["photos"], row["decisive_agree"], row["decisive"],
                     row["held_out_agree"], row["held_out"],
                     row["mean_abs_diff"], row["max_abs_diff"]), flush=True)
            print("    fp32 answered (fallback) %d/%d images, %d/%d photos"
                  % (row["fallbacks"], row["images"], row["photo_fallbacks"], row["photos"]), flush=True)
            for d in differ:
                print("    differs: %s fp32 %s int8 %s" % (d["image"], d["fp32"], d["int8"]))
            if row["log"]:
                print("    " + row["log"].split("int8:", 1)[1].strip())


if __name__ == "__main__":
    main()
