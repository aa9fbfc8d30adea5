#!/usr/bin/python3
"""Damaged SavedModel and TF.js copies are refused with a message naming what is wrong.

Usage (Debian's /usr/bin/python3; what make_format_copies.py needs):
    check_format_errors.py --edgevision build/src/cli/edgevision [--copies DIR]

Starts from the good copies make_format_copies.py writes (made now unless
--copies names them), damages one file per case (truncated or extended
shards, a flipped byte, missing files, bad JSON, a bad manifest entry, a
garbage SSTable...) and runs `edgevision inspect` on the damaged export. Each
case must exit 1 (not crash, not hang) and print the expected words. Then
100 seeded random corruptions of each format's files must all end in exit
0 or 1 with a message, never a signal. Exit 0 when every case passes.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

import format_copies
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import support  # noqa: E402  (tests/support.py)
# Longest one inspect may take on a damaged model (a hang fails the case),
# times EDGEVISION_TEST_TIME_SCALE.
TIMEOUT_S = support.scaled(120)


def truncate(path, keep):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:keep(len(data))])


def append(path, extra):
    with open(path, "ab") as f:
        f.write(extra)


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x5A]))


def edit_json(path, change):
    with open(path) as f:
        doc = json.load(f)
    change(doc)
    with open(path, "w") as f:
        json.dump(doc, f)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def shard2(d):
    return os.path.join(d, "tfjs", "group1-shard2of2.bin")


def data_file(d):
    return os.path.join(d, "savedmodel", "variables", "variables.data-00000-of-00001")


def index_file(d):
    return os.path.join(d, "savedmodel", "variables", "variables.index")


def first_weight(doc):
    return doc["weightsManifest"][0]["weights"][0]


# (name, copy folder, damage(d), words the message must hold)
CASES = [
    ("tfjs: a truncated shard", "tfjs", lambda d: truncate(shard2(d), lambda n: n - 1000),
     ["hold", "truncated"]),
    ("tfjs: a longer shard", "tfjs", lambda d: append(shard2(d), b"\0" * 16), ["longer than the manifest"]),
    ("tfjs: a missing shard", "tfjs", lambda d: os.remove(shard2(d)), ["group1-shard2of2.bin", "missing"]),
    ("tfjs: model.json cut short", "tfjs", lambda d: truncate(os.path.join(d, "tfjs", "model.json"),
                                                             lambda n: n // 2), ["not valid JSON"]),
    ("tfjs: not JSON at all", "tfjs", lambda d: write(os.path.join(d, "tfjs", "model.json"), b"\x89PNG\r\n"),
     ["not valid JSON"]),
    ("tfjs: a weight of the wrong byte count", "tfjs",
     lambda d: edit_json(os.path.join(d, "tfjs", "model.json"),
                         lambda doc: first_weight(doc).update(shape=first_weight(doc)["shape"] + [2])),
     ["need", "bytes but"]),
    ("tfjs: a weight naming no node", "tfjs",
     lambda d: edit_json(os.path.join(d, "tfjs", "model.json"), lambda doc: first_weight(doc).update(name="nope")),
     ["'nope'", "no Const node"]),
    ("tfjs: a uint8-quantized weight", "tfjs",
     lambda d: edit_json(os.path.join(d, "tfjs", "model.json"),
                         lambda doc: first_weight(doc).update(quantization={"dtype": "uint8", "scale": 1,
                                                                            "min": 0})),
     ["quantized to uint8"]),
    ("tfjs: a layers model", "tfjs",
     lambda d: edit_json(os.path.join(d, "tfjs", "model.json"), lambda doc: doc.update(format="layers-model")),
     ["layers-model", "graph models"]),
    ("tfjs: a path outside the folder", "tfjs",
     lambda d: edit_json(os.path.join(d, "tfjs", "model.json"),
                         lambda doc: doc["weightsManifest"][0].update(paths=["../../etc/passwd"])),
     ["not a file name beside model.json"]),
    ("tfjs: no modelTopology", "tfjs",
     lambda d: edit_json(os.path.join(d, "tfjs", "model.json"), lambda doc: doc.pop("modelTopology")),
     ["no modelTopology"]),
    ("savedmodel: a truncated data shard", "savedmodel", lambda d: truncate(data_file(d), lambda n: n - 1000),
     ["past the end of the file"]),
    ("savedmodel: a flipped byte in the data shard", "savedmodel", lambda d: flip(data_file(d), 12345),
     ["CRC-32C"]),
    ("savedmodel: a missing data shard", "savedmodel", lambda d: os.remove(data_file(d)),
     ["variables.data-00000-of-00001 is missing"]),
    ("savedmodel: a missing index", "savedmodel", lambda d: os.remove(index_file(d)),
     ["variables/variables.index is missing"]),
    ("savedmodel: a truncated index", "savedmodel", lambda d: truncate(index_file(d), lambda n: n // 2),
     ["not a TensorBundle index"]),
    ("savedmodel: a flipped byte in the index", "savedmodel", lambda d: flip(index_file(d), 100),
     ["variables.index"]),
    ("savedmodel: garbage for an index", "savedmodel", lambda d: write(index_file(d), os.urandom(4096)),
     ["not a TensorBundle index"]),
    ("savedmodel: saved_model.pb cut short", "savedmodel",
     lambda d: truncate(os.path.join(d, "savedmodel", "saved_model.pb"), lambda n: n - 7),
     ["not a valid SavedModel"]),
    ("onnx-float16: model.onnx cut short", "onnx-float16",
     lambda d: truncate(os.path.join(d, "onnx-float16", "model.onnx"), lambda n: n - 1000), ["model.onnx"]),
]


def inspect(edgevision, folder):
    try:
        p = subprocess.run([edgevision, "inspect", "--model", folder], capture_output=True, text=True,
                           timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None, "timed out"
    return p.returncode, p.stdout + p.stderr


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    format_copies.add_arguments(ap)
    ap.add_argument("--random", type=int, default=100, help="random corruptions per format")
    args = ap.parse_args()
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        good = format_copies.folder(args.copies, tmp)
        for folder in ("tfjs", "savedmodel", "onnx-float16"):
            rc, out = inspect(args.edgevision, os.path.join(good, folder))
            if rc != 0:
                failures.append("the good %s copy does not load: %s" % (folder, out.strip()))
        for name, folder, damage, words in CASES:
            work = os.path.join(tmp, "case")
            shutil.rmtree(work, ignore_errors=True)
            os.makedirs(work)
            shutil.copytree(os.path.join(good, folder), os.path.join(work, folder))
            damage(work)
            rc, out = inspect(args.edgevision, os.path.join(work, folder))
            message = out.strip().splitlines()[-1] if out.strip() else ""
            ok = rc == 1 and all(w in out for w in words)
            print("%-4s %-44s %s" % ("ok" if ok else "FAIL", name, message[:160]))
            if not ok:
                failures.append("%s: exit %s, expected 1 and %s in: %s" % (name, rc, words, out.strip()))
        # Seeded random damage: a byte flipped, a cut, or bytes appended in one
        # file of the export; any outcome but a crash or a hang is fine (a
        # flipped weight byte in a TF.js shard cannot be detected).
        rng = random.Random(12)
        counts = {}
        for folder in ("tfjs", "savedmodel"):
            files = []
            for root, _, names in os.walk(os.path.join(good, folder)):
                files += [os.path.relpath(os.path.join(root, n), os.path.join(good, folder)) for n in names
                          if n not in ("labels.txt", "metadata_properties.json", "cvexport.manifest")]
            for i in range(args.random):
                work = os.path.join(tmp, "rand")
                shutil.rmtree(work, ignore_errors=True)
                shutil.copytree(os.path.join(good, folder), work)
                rel = rng.choice(sorted(files))
                path = os.path.join(work, rel)
                size = os.path.getsize(path)
                how = rng.choice(["flip", "cut", "append"])
                if how == "flip" and size:
                    flip(path, rng.randrange(size))
                elif how == "cut":
                    truncate(path, lambda n: rng.randrange(n + 1))
                else:
                    append(path, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))))
                rc, out = inspect(args.edgevision, work)
                counts[(folder, rc)] = counts.get((folder, rc), 0) + 1
                if rc not in (0, 1) or (rc == 1 and "edgevision:" not in out):
                    failures.append("random %s #%d (%s of %s): exit %s: %s" % (folder, i, how, rel, rc,
                                                                              out.strip()[-300:]))
        for (folder, rc), n in sorted(counts.items(), key=str):
            print("random %-12s exit %s: %d" % (folder, rc, n))
    for f in failures:
        print("FAIL:", f)
    print("%d cases, %d random corruptions: %s" % (len(CASES), 2 * args.random,
                                                   "FAILED" if failures else "all refused cleanly"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
