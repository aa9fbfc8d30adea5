#!/usr/bin/python3
"""Regenerates tests/data/golden/ from the REAL reference predict.py.

Run with Debian's Python (python3-pil 9.4, python3-numpy) after
make_test_images.py:
    /usr/bin/python3 tests/parity/make_golden.py

Writes (format described in tests/data/golden/README.md):
  tensors/<name>.s<size>.npz   the tensor predict.py feeds the model, one per
                               (image, size) in GOLDEN, bzip2-compressed npz
  tensors.tsv                  which image and size each npz holds
  stages.tsv                   for every image in tests/data/images and the
                               exports' sample images: PIL's decode and
                               predict.py's intermediate images (sizes, SHA-256)
  resize/<filter>_<w>x<h>.png  PIL 9.4's Image.resize of images/resize/source.png
  resize/i_*.npy               the same in mode "I" (32bpc path), see make_resize_i_goldens
"""

import glob
import hashlib
import io
import os
import sys
import zipfile

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_tensor  # noqa: E402

REPO = reference_tensor.REPO
GOLDEN = os.path.join(REPO, "tests", "data", "golden")
AB = "tests/data/cv-exports/iotedge-applebanana-tf/images/"
FOOD = "tests/data/cv-exports/winml-food-onnx/images/"
KITTEN = "tests/data/cv-exports/uwp-catdog-onnx12/images/kitten_224.png"
IMG = "tests/data/images/"

# (image relative to the repo, network input sizes). Kept under ~8 MB: a
# tensor whose extract_and_resize ratio is irregular costs ~450 KB even
# compressed. Every other test image is still checked exactly, stage by
# stage, through stages.tsv.
GOLDEN_SET = [
    (AB + "apple1.jpg", (227,)),
    (AB + "apple2.jpg", (227,)),
    (AB + "backpod.jpg", (227,)),
    (AB + "banana1.jpg", (227,)),
    (AB + "banana2.jpg", (227,)),
    (KITTEN, (227, 224)),  # 224 < 256: first samples extrapolate
    (FOOD + "Cheesecake/2730999.jpg", (227,)),  # EXIF Orientation 0, portrait
    (FOOD + "Cheesecake/2817310.jpg", (227,)),  # EXIF Orientation 1
    (FOOD + "Donuts/3518454.jpg", (227,)),  # 512x443
    (FOOD + "Fries/3688324.jpg", (227,)),  # 512x288, 13 KB of EXIF
    (FOOD + "Fries/3813899.jpg", (227,)),  # 64 KB of EXIF
] + [(IMG + "exif/orientation_%d.jpg" % v, (227,)) for v in (2, 5, 6, 8, 9)] + [
    (IMG + "exif/orientation_3_in_exif_ifd.jpg", (227,)),
    (IMG + "large/bilinear_landscape.jpg", (227,)),
    (IMG + "large/bilinear_portrait.jpg", (227, 224)),
    (IMG + "large/bicubic_landscape.jpg", (227, 224)),
    (IMG + "large/bicubic_portrait.jpg", (227,)),
    (IMG + "large/exact_half.jpg", (227,)),
    (IMG + "large/side_1600.jpg", (227,)),
    (IMG + "large/side_1601.jpg", (227,)),
    (IMG + "jpeg/grey_orientation_6.jpg", (227,)),
    (IMG + "png/rgb_orientation_6.png", (227,)),
    (IMG + "gif/frame_offset_transparent.gif", (227,)),
    (IMG + "jpeg/one_pixel.jpg", (227,)),
]


# Output sizes for the resize goldens (source is 67x53): downscales near and
# far below 0.5, one-pixel changes, one axis only, upscales, degenerate sizes.
RESIZE_SIZES = [(33, 26), (20, 13), (66, 53), (67, 52), (67, 20), (30, 53), (100, 80), (150, 7),
                (5, 120), (1, 1), (67, 1), (9, 4)]


def make_resize_goldens():
    src = Image.open(os.path.join(REPO, "tests", "data", "images", "resize", "source.png")).convert("RGB")
    folder = os.path.join(GOLDEN, "resize")
    os.makedirs(folder, exist_ok=True)
    for old in glob.glob(os.path.join(folder, "*.png")):
        os.remove(old)
    for name, flt in (("bilinear", Image.BILINEAR), ("bicubic", Image.BICUBIC)):
        for w, h in RESIZE_SIZES:
            src.resize((w, h), flt).save(os.path.join(folder, "%s_%dx%d.png" % (name, w, h)))


# Mode "I" (32-bit integer) resizes, Pillow's 32bpc path (Docker 2.2 resizes
# 16-bit grey PNGs in this mode): the source is source.png as L, spread over
# -20000..45535 so that both of ROUND_UP's branches and values far outside
# 0..255 occur; the source and every result stored as .npy, float32 (H, W, 1)
# (every value is an integer well inside float32's exact range).
RESIZE_I_SIZES = [(33, 26), (20, 13), (67, 52), (30, 53), (100, 80), (5, 120), (1, 1)]


def make_resize_i_goldens():
    src = Image.open(os.path.join(REPO, "tests", "data", "images", "resize", "source.png")).convert("L")
    plane = np.array(src).astype(np.int32) * 257 - 20000
    im = Image.fromarray(plane, "I")
    assert im.mode == "I"
    folder = os.path.join(GOLDEN, "resize")
    for old in glob.glob(os.path.join(folder, "i_*.npy")):
        os.remove(old)

    def save(path, arr):
        f = arr.astype(np.float32)
        assert (f.astype(np.int64) == arr).all()
        np.save(path, f[:, :, np.newaxis])

    save(os.path.join(folder, "i_source.npy"), plane)
    for name, flt in (("bilinear", Image.BILINEAR), ("bicubic", Image.BICUBIC)):
        for w, h in RESIZE_I_SIZES:
            out = im.resize((w, h), flt)
            assert out.mode == "I"
            save(os.path.join(folder, "i_%s_%dx%d.npy" % (name, w, h)), np.array(out, dtype=np.int64))


def golden_name(path, size):
    rel = path.replace("tests/data/cv-exports/", "").replace("tests/data/images/", "")
    return rel.replace("/", "__").rsplit(".", 1)[0] + ".s%d.npz" % size


def save_npz(path, tensor):
    """np.savez layout (one member 'tensor.npy'), bzip2-compressed: numpy's
    np.load reads it, and libzip (the C++ test) decompresses bzip2."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(tensor, dtype="<f4"), allow_pickle=False)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_BZIP2, compresslevel=9) as z:
        info = zipfile.ZipInfo("tensor.npy", date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_BZIP2
        z.writestr(info, buf.getvalue())


def pil_decode(path):
    # Through BytesIO, as an upload reaches predict.py: Pillow decodes a few
    # files from a path that it refuses from memory (e.g. pal4_grey_ramp_wide.bmp).
    try:
        with open(path, "rb") as f:
            im = Image.open(io.BytesIO(f.read()))
        mode = im.mode
        rgb = im.convert("RGB")
        digest = hashlib.sha256(np.ascontiguousarray(np.array(rgb)).tobytes()).hexdigest()
        return {"mode": mode, "w": rgb.size[0], "h": rgb.size[1], "sha": digest}
    except Exception as e:  # noqa: BLE001 - we record any failure
        return {"error": "%s: %s" % (type(e).__name__, e)}


def clean(text):
    return " ".join(str(text).split()).replace("\t", " ")


def main():
    try:
        predict, capture = reference_tensor.load_predict()
    except FileNotFoundError as e:
        print("reference predict.py not found (%s)" % e, file=sys.stderr)
        return reference_tensor.SKIP
    os.chdir(REPO)
    make_resize_goldens()
    make_resize_i_goldens()
    os.makedirs(os.path.join(GOLDEN, "tensors"), exist_ok=True)
    for old in glob.glob(os.path.join(GOLDEN, "tensors", "*.npz")):
        os.remove(old)

    rows = ["image\tsize\tgolden"]
    for path, sizes in GOLDEN_SET:
        for size in sizes:
            info = reference_tensor.run(predict, capture, path, size)
            if "error" in info:
                raise SystemExit("reference failed on %s: %s" % (path, info["error"]))
            name = golden_name(path, size)
            save_npz(os.path.join(GOLDEN, "tensors", name), info["tensor"])
            rows.append("%s\t%d\ttensors/%s" % (path, size, name))
            print(name)
    with open(os.path.join(GOLDEN, "tensors.tsv"), "w") as f:
        f.write("\n".join(rows) + "\n")

    images = sorted(glob.glob("tests/data/images/**/*.*", recursive=True))
    images = [p for p in images if not p.endswith(".md")]
    images += sorted(glob.glob("tests/data/cv-exports/*/images/**/*.*", recursive=True))
    header = ["image", "pil_mode", "decoded", "oriented", "scaled", "predict"]
    rows = ["\t".join(header)]
    for path in images:
        dec = pil_decode(path)
        if "error" in dec:
            rows.append("\t".join([path, "-", "error", "-", "-", "error: " + clean(dec["error"])]))
            continue
        info = reference_tensor.run(predict, capture, path, 227)
        cells = [path, dec["mode"], "%dx%d:%s" % (dec["w"], dec["h"], dec["sha"])]
        for stage in ("oriented", "scaled"):
            s = info.get(stage)
            cells.append("%dx%d:%s" % (s["width"], s["height"], s["sha256"]) if s else "-")
        cells.append("error: " + clean(info["error"]) if "error" in info else "ok")
        rows.append("\t".join(cells))
    with open(os.path.join(GOLDEN, "stages.tsv"), "w") as f:
        f.write("\n".join(rows) + "\n")

    total = sum(os.path.getsize(p) for p in glob.glob(os.path.join(GOLDEN, "**", "*"), recursive=True)
                if os.path.isfile(p))
    print("tests/data/golden: %.2f MB" % (total / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
