#!/usr/bin/python3
"""Regenerates tests/data/golden/d3/ from the REAL Docker 2.2 predict.py.

Run with Debian's Python (python3-pil 9.4, python3-numpy) after
make_test_images.py:
    /usr/bin/python3 tests/parity/make_golden_d3.py

The export's predict.py is imported from ../shared (see reference_d3.py); it
is never copied into this repository. For every image in tests/data/images
(except bad/) and every export sample image, predict.predict_image(
Image.open(path)) runs with only the TFLite runtime stubbed, and the tensor
it feeds the model is recorded:
  d3/tensors.tsv          image, golden, sha256: `golden` is a file under
                          d3/ for the images in FULL (else "-"), `sha256`
                          the SHA-256 of the tensor cast to uint8 (predict.py
                          feeds np.array(uint8 image, float32): every value
                          is an integer), or "error: ..." when predict.py
                          itself fails on the image
  d3/tensors/<name>.npz   one member tensor.npy: float32 [224,224,3], the
                          channel order of the export's IS_BGR, 0-255
                          (bzip2-compressed, as the 2018 goldens)
The test (src/image/image_parity_test.cc) needs max |diff| <= 1.0 against a
stored tensor and an identical SHA-256 otherwise. Full tensors cost ~65 KB
each, hence the representative FULL set.
"""

import glob
import hashlib
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden  # noqa: E402  (save_npz, clean)
import reference_d3  # noqa: E402

REPO = reference_d3.REPO
OUT = os.path.join(REPO, "tests", "data", "golden", "d3")
IMG = "tests/data/images/"

# Stored in full: the export's photo, every EXIF branch, every large-image
# case, and the files whose PIL mode makes predict.py resize differently
# (palette/bilevel: NEAREST; alpha: premultiplied; CMYK; 16-bit).
FULL = ["tests/data/cv-exports/docker22-appleorange-tflite/images/IMG_20200229_164759.jpg"] + [
    IMG + "exif/orientation_%s.jpg" % v for v in ("2", "3", "5", "6", "7", "8", "9", "3_in_exif_ifd")
] + [IMG + "large/" + n for n in ("bicubic_landscape.jpg", "bicubic_portrait.jpg", "bilinear_landscape.jpg",
                                  "bilinear_portrait.jpg", "exact_half.jpg", "side_1600.jpg", "side_1601.jpg")] + [
    IMG + n for n in ("jpeg/grey_orientation_6.jpg", "jpeg/cmyk.jpg", "jpeg/ycck.jpg", "jpeg/one_pixel.jpg",
                      "jpeg/odd_61x37.jpg", "png/rgb_orientation_6.png", "png/rgba_orientation_6.png",
                      "png/rgb_raw_profile_orientation_8.png", "png/rgba.png", "png/grey_alpha.png",
                      "png/palette_trns.png", "png/grey16.png", "png/grey16_low.png",
                      "png/grey16_mid_downscale.png", "png/grey16_orientation_6.png", "png/rgb16.png", "png/grey1.png",
                      "gif/frame_offset_transparent.gif", "gif/transparent.gif", "bmp/palette8.bmp",
                      "bmp/mono1.bmp", "bmp/rgba32.bmp", "webp/lossy_orientation_6.webp", "webp/lossy_alpha.webp")]


def images():
    found = sorted(glob.glob("tests/data/images/**/*.*", recursive=True))
    # Not the decoder corpora (bmpsuite/, corpus/): compare_decoders.py checks those.
    skip = ("/bad/", "images/bmpsuite/", "images/corpus/")
    found = [p for p in found if not p.endswith(".md") and not any(s in p for s in skip)]
    found += sorted(glob.glob("tests/data/cv-exports/*/images/**/*.*", recursive=True))
    return found


def main():
    try:
        predict, capture = reference_d3.load_predict()
    except FileNotFoundError as e:
        print("reference predict.py not found (%s)" % e, file=sys.stderr)
        return reference_d3.SKIP
    os.chdir(REPO)
    missing = [p for p in FULL if not os.path.isfile(os.path.join(REPO, p))]
    if missing:
        raise SystemExit("FULL names missing images: %s" % missing)
    folder = os.path.join(OUT, "tensors")
    os.makedirs(folder, exist_ok=True)
    for old in glob.glob(os.path.join(folder, "*.npz")):
        os.remove(old)
    rows = ["image\tgolden\tsha256"]
    for path in images():
        info = reference_d3.run(predict, capture, path)
        if "error" in info:
            rows.append("%s\t-\terror: %s" % (path, make_golden.clean(info["error"])))
            continue
        tensor = info["tensor"]
        as_u8 = tensor.astype(np.uint8)
        assert (as_u8 == tensor).all(), path + ": predict.py fed non-integer values"
        digest = hashlib.sha256(np.ascontiguousarray(as_u8).tobytes()).hexdigest()
        golden = "-"
        if path in FULL:
            golden = "tensors/" + make_golden.golden_name(path, tensor.shape[0])
            make_golden.save_npz(os.path.join(OUT, golden), tensor)
        rows.append("%s\t%s\t%s" % (path, golden, digest))
        print(path, golden)
    with open(os.path.join(OUT, "tensors.tsv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    total = sum(os.path.getsize(p) for p in glob.glob(os.path.join(OUT, "**", "*"), recursive=True)
                if os.path.isfile(p))
    print("tests/data/golden/d3: %.2f MB" % (total / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
