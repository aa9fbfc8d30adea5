#!/usr/bin/python3
"""Writes tests/data/detection/golden/ from the REAL detector reference code.

    /usr/bin/python3 tests/parity/make_detection_golden.py           # (re)write the goldens
    /usr/bin/python3 tests/parity/make_detection_golden.py --check   # recompute, compare, write nothing

Each case is a raw model output (made here with a fixed seed, or by hand for
the corner cases) run through every shipped reference of its family
(detection_reference.py: the 2022 Docker container through Flask, the 2024
ONNX and 2023 TFLite exports' object_detection.py; the two S1 containers).
All references must agree exactly; their common answer is the golden.

Files per case (format in tests/data/detection/README.md):
  <case>.npy   compact family: the raw grid, float32 (H, W, A*(5+C)), HWC
  <case>.json  labels, parameters, the raw S1 outputs (hex floats), the
               references' predictions, the same unrounded (hex floats), and
               the container's HTTP body.
  numpy_order.json  np.argsort / np.sum of float32 vectors with many ties
               (what detect/numpy_order.h reproduces).
  python_repr.json  json.dumps of 350 doubles (what http::PythonFloatRepr writes).

Exit status: 0 ok, 1 mismatch (--check) or references disagreeing, 77 when
the reference code (../shared/cv-exports/od-reference) is absent.
"""

import argparse
import json
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import detection_reference as ref  # noqa: E402

GOLDEN = os.path.join(ref.REPO, "tests", "data", "detection", "golden")
DATA = os.path.join(ref.REPO, "tests", "data")
CREATED = "2021-07-05T21:44:39.573181"  # replaces the container's utcnow() in stored bodies

ANCHORS = np.array([[0.573, 0.677], [1.87, 2.06], [3.34, 5.47], [7.88, 3.53], [9.77, 9.17]])
DEFAULT_PARAMS = {"probability_threshold": 0.1, "iou_threshold": 0.45, "max_detections": 20,
                  "anchors": ANCHORS.tolist()}
# Every knob changed, anchors = the unrounded ones of the metadata (what a user flag would give).
CUSTOM_PARAMS = {"probability_threshold": 0.25, "iou_threshold": 0.3, "max_detections": 7,
                 "anchors": [[0.57273, 0.677385], [1.87446, 2.06253], [3.33843, 5.47434], [7.88282, 3.52778],
                             [9.77052, 9.16828]]}


def labels_of(export):
    """labels.txt of a real export (tests/data/detection/exports/<export> or tests/data/<export>)."""
    path = os.path.join(DATA, "detection", "exports", export, "labels.txt")
    if not os.path.exists(path):
        path = os.path.join(DATA, export, "labels.txt")
    with open(path) as f:
        return [line.strip() for line in f.readlines()]


def logit(p):
    return float(np.log(p / (1.0 - p)))


class Grid:
    """A raw compact-detector output (H, W, A, 5+C) with objects planted in a low background."""

    def __init__(self, rng, height, width, num_classes, objectness=-8.0, neighbour_p=(0.2, 0.7)):
        self.rng = rng
        self.neighbour_p = neighbour_p
        self.t = np.zeros((height, width, len(ANCHORS), 5 + num_classes), np.float64)
        self.t[..., 0:2] = rng.normal(0.0, 1.0, self.t[..., 0:2].shape)
        self.t[..., 2:4] = rng.normal(-0.5, 0.6, self.t[..., 2:4].shape)
        self.t[..., 4] = rng.normal(objectness, 1.0, self.t[..., 4].shape)
        self.t[..., 5:] = rng.normal(0.0, 1.0, self.t[..., 5:].shape)

    def set_box(self, row, col, anchor, cx, cy, bw, bh, objectness_p, class_logits):
        """One cell/anchor predicting a box centred at (cx, cy), size (bw, bh), all in grid cells."""
        v = self.t[row, col, anchor]
        v[0] = logit(np.clip(cx - col, 0.02, 0.98))
        v[1] = logit(np.clip(cy - row, 0.02, 0.98))
        v[2] = np.log(bw / ANCHORS[anchor][0])
        v[3] = np.log(bh / ANCHORS[anchor][1])
        v[4] = logit(objectness_p)
        v[5:] = class_logits

    def plant(self, cx, cy, bw, bh, cls, second=None, strength=0.9):
        """An object: a confident cell plus weaker, jittered neighbours (the overlaps NMS must resolve)."""
        h, w = self.t.shape[:2]
        best = int(np.argmin([abs(np.log(bw / a[0])) + abs(np.log(bh / a[1])) for a in ANCHORS]))
        num_classes = self.t.shape[3] - 5
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                row, col = int(cy) + dr, int(cx) + dc
                if not (0 <= row < h and 0 <= col < w):
                    continue
                centre = dr == 0 and dc == 0
                for anchor in {best, min(best + 1, len(ANCHORS) - 1)}:
                    if not centre and self.rng.random() < 0.4:
                        continue
                    logits = self.rng.normal(0.0, 0.7, num_classes)
                    logits[cls] += 4.0 if centre else self.rng.uniform(1.0, 3.0)
                    if second is not None:
                        logits[second] += 3.2 if centre else self.rng.uniform(0.5, 2.5)
                    p = strength if (centre and anchor == best) else self.rng.uniform(*self.neighbour_p)
                    jx, jy = self.rng.normal(0, 0.25, 2)
                    sw, sh = np.exp(self.rng.normal(0, 0.2, 2))
                    self.set_box(row, col, anchor, cx + jx, cy + jy, bw * sw, bh * sh, p, logits)

    def raw(self):
        h, w, a, k = self.t.shape
        return self.t.reshape(h, w, a * k).astype(np.float32)


def seeded_case(seed, height, width, labels, objects, neighbour_p=(0.2, 0.7)):
    rng = np.random.default_rng(seed)
    g = Grid(rng, height, width, len(labels), neighbour_p=neighbour_p)
    for obj in objects:
        g.plant(*obj)
    return g.raw()


def ties_case(labels):
    """40 candidates with bit-identical logits (so identical probabilities), some overlapping: the order
    of equal probabilities is numpy's argsort's (an introsort, not stable), and the cap of 20 applies."""
    g = Grid(np.random.default_rng(7), 13, 13, len(labels), objectness=-12.0)
    logits = np.array([3.0, 0.5, -1.0])[: len(labels)]
    cells = [(r, c) for r in range(0, 13, 2) for c in range(0, 13, 2)][:36]
    for i, (r, c) in enumerate(cells):
        g.set_box(r, c, 1, c + 0.5, r + 0.5, 1.2, 1.2, 0.8, logits)
    for r, c in [(4, 5), (6, 7), (8, 9), (10, 11)]:  # overlapping the tied boxes, same logits
        g.set_box(r, c, 1, c + 0.1, r + 0.1, 1.2, 1.2, 0.8, logits)
    return g.raw()


def two_classes_case(labels):
    """Boxes with several classes above 0.10. An isolated box comes back once per class; a box
    overlapping a better one loses only that one's class; the cap is min(20, candidates), so
    low fillers are needed for a box to come back at all."""
    g = Grid(np.random.default_rng(8), 10, 10, len(labels), objectness=-12.0)
    g.set_box(2, 2, 2, 2.5, 2.5, 3.0, 3.0, 0.95, np.array([2.0, 1.6, -4.0]))   # Bike .57, Car .38
    g.set_box(2, 7, 2, 7.5, 2.5, 3.0, 3.0, 0.80, np.array([2.0, 1.0, -4.0]))   # Bike .58, Car .21
    g.set_box(2, 8, 2, 7.9, 2.6, 3.0, 3.1, 0.90, np.array([-1.0, 2.5, -4.0]))  # Car .87, over the previous
    g.set_box(7, 7, 3, 7.5, 7.5, 2.0, 2.0, 0.99, np.array([0.1, 0.0, -0.1]))   # three classes ~.33
    for i in range(4):  # fillers, far apart
        g.set_box(9, 2 * i, 0, 2 * i + 0.5, 9.5, 0.5, 0.5, 0.15 + 0.01 * i, np.array([0.0, 0.0, 4.0]))
    return g.raw()


def over_cap_case(labels):
    """48 separated candidates with distinct probabilities: only the best 20 come back."""
    g = Grid(np.random.default_rng(9), 16, 12, len(labels), objectness=-12.0)
    k = 0
    for r in range(0, 16, 2):
        for c in range(0, 12, 2):
            p = 0.15 + 0.8 * k / 48.0
            g.set_box(r, c, 0, c + 0.5, r + 0.5, 0.8, 0.8, p, np.eye(len(labels))[k % len(labels)] * 5)
            k += 1
    return g.raw()


def border_case(labels):
    """Boxes crossing every image border (left/top < 0, right/bottom > 1): never clipped."""
    g = Grid(np.random.default_rng(10), 13, 13, len(labels), objectness=-12.0)
    g.set_box(0, 0, 4, 0.1, 0.2, 6.0, 5.0, 0.9, np.array([4.0, 0.0, 0.0]))
    g.set_box(12, 12, 4, 12.9, 12.8, 5.0, 7.0, 0.8, np.array([0.0, 4.0, 0.0]))
    g.set_box(6, 0, 3, 0.05, 6.5, 9.0, 2.0, 0.7, np.array([0.0, 0.0, 4.0]))
    g.set_box(0, 6, 4, 6.5, 0.5, 20.0, 18.0, 0.6, np.array([4.0, 4.0, 0.0]))  # wider than the image
    return g.raw()


def threshold_case(labels):
    """A single class, so probability = sigmoid(objectness): values just above and below 0.10."""
    g = Grid(np.random.default_rng(11), 7, 9, len(labels), objectness=-12.0)
    for i, p in enumerate([0.1 + 2e-6, 0.1 - 2e-6, 0.1 + 1e-4, 0.0999, 0.35, 0.1 + 5e-6]):
        g.set_box(i, i, 0, i + 0.5, i + 0.5, 0.5, 0.5, p, np.zeros(len(labels)))
    return g.raw()


def none_case(labels):
    return Grid(np.random.default_rng(12), 13, 13, len(labels), objectness=-9.0).raw()


def yolo_cases():
    blood = labels_of("onnx-yolo-2024")          # 8 tags
    cells20 = labels_of("tflite-yolo-2023")      # 20 tags: numpy's 8-way pairwise sum
    plates = labels_of("docker-yolo-2022")       # 2 tags
    vehicles = labels_of("docker-s1-tflite-2024")  # 3 tags (used for the hand-made compact cases)
    coolmaker = labels_of("cv-exports/metadata-only/coolmaker-onnx-od")   # 1 tag
    blood_raw = seeded_case(1301, 12, 16, blood, [
        (3.2, 2.7, 2.5, 2.2, 0, 4), (4.6, 3.4, 2.8, 2.5, 4), (10.5, 6.5, 3.5, 4.0, 6, 1),
        (11.4, 7.1, 2.0, 2.0, 1), (13.8, 9.9, 1.5, 1.2, 7), (7.5, 9.5, 6.0, 3.0, 2, 5)])
    return [
        ("yolo_custom_params", "the yolo_seeded_blood tensor with every parameter changed (threshold 0.25, "
         "IoU 0.3, cap 7, the metadata's unrounded anchors)", blood, blood_raw, CUSTOM_PARAMS),
        ("yolo_seeded_blood", "seeded: 6 objects, 12x16 grid (a 512x384 image), 8 tags, overlapping neighbours",
         blood, blood_raw),
        ("yolo_seeded_cells20", "seeded: 8 objects, 13x13 grid, 20 tags (pairwise sum over 20 classes)",
         cells20, seeded_case(1302, 13, 13, cells20, [
             (2.5, 2.5, 2.0, 2.0, 3, 12), (3.4, 3.1, 2.2, 1.8, 12), (9.1, 2.2, 4.0, 3.0, 19),
             (6.5, 6.5, 8.0, 8.0, 0, 9), (6.8, 6.0, 2.0, 2.5, 9), (11.5, 11.0, 1.0, 1.0, 15),
             (1.2, 11.7, 2.5, 1.2, 7, 8), (10.0, 8.0, 1.5, 3.0, 18)])),
        ("yolo_seeded_plates", "seeded: cars with their plates inside, 16x16 grid (512x512), 2 tags",
         plates, seeded_case(1303, 16, 16, plates, [
             (4.5, 6.0, 7.0, 5.0, 1), (4.7, 7.5, 2.0, 0.8, 0), (12.0, 10.0, 6.0, 5.5, 1, 0),
             (12.2, 11.8, 1.8, 0.7, 0), (8.0, 13.5, 5.0, 3.0, 1)], neighbour_p=(0.02, 0.2))),
        ("yolo_ties", "hand-made: 40 bit-identical candidates (numpy argsort's order of ties), cap 20",
         vehicles, ties_case(vehicles)),
        ("yolo_two_classes", "hand-made: boxes with two and three classes above 0.10, returned once per class",
         vehicles, two_classes_case(vehicles)),
        ("yolo_over_cap", "hand-made: 48 separated candidates, 20 returned",
         vehicles, over_cap_case(vehicles)),
        ("yolo_border", "hand-made: boxes crossing the image borders, not clipped",
         vehicles, border_case(vehicles)),
        ("yolo_threshold", "hand-made: one tag, probabilities within 1e-4 of the 0.10 threshold",
         coolmaker, threshold_case(coolmaker)),
        ("yolo_none", "seeded background only: nothing above 0.10", vehicles, none_case(vehicles)),
    ]


def ssd_cases():
    vehicles = labels_of("docker-s1-tflite-2024")
    rng = np.random.default_rng(1401)
    n = 12
    x1 = rng.uniform(-0.05, 0.8, n)
    y1 = rng.uniform(-0.05, 0.8, n)
    boxes = np.stack([x1, y1, x1 + rng.uniform(0.05, 0.4, n), y1 + rng.uniform(0.05, 0.4, n)], axis=1)
    boxes[3] = boxes[2] + 0.01          # overlapping its neighbour
    boxes[5, 2] = 1.07                  # past the right border
    boxes[7] = [0.6, 0.6, 0.55, 0.58]   # x2 < x1: negative width, passed through
    scores = np.sort(rng.uniform(0.0, 1.0, n))[::-1].copy()
    scores[[4, 9]] = scores[[9, 4]]     # the model's order, not sorted
    scores[10] = 0.0
    scores[11] = 1e-9
    classes = rng.integers(0, len(vehicles), n)
    return [("ssd_vehicles", "seeded: 12 rows of detected_* (unsorted, a zero score, a border crossing, "
             "a negative width), 3 tags", vehicles, (boxes.astype(np.float32), scores.astype(np.float32),
                                                     classes.astype(np.int64)))]


def numpy_order_golden():
    """np.argsort and np.sum on float32 vectors full of ties: detect/numpy_order.h must match."""
    rng = np.random.default_rng(1501)
    sorts = []
    for n in [1, 2, 15, 16, 17, 40, 100, 300, 1000]:
        for distinct in (1, 3, 50):
            v = (-rng.integers(0, distinct, n) / 7.0).astype(np.float32)
            sorts.append({"values": [float(x).hex() for x in v], "argsort": np.argsort(v).tolist()})
    sums = []
    for n in [1, 2, 7, 8, 9, 15, 16, 17, 20, 127, 128, 129, 300]:
        v = (rng.random(n) * 10.0 ** rng.integers(-6, 3, n)).astype(np.float32)
        sums.append({"values": [float(x).hex() for x in v], "sum": float(np.sum(v)).hex()})
    return json.dumps({"numpy": np.__version__, "argsort": sorts, "sum": sums}) + "\n"


def python_repr_golden():
    """json.dumps of doubles (Python's float repr): what http::PythonFloatRepr must write."""
    rng = np.random.default_rng(1601)
    values = [round(float(v), 8) for v in rng.uniform(-2.0, 2.0, 150)]             # the responses' numbers
    values += [float(m) * 10.0 ** int(e) for m, e in zip(rng.uniform(-10, 10, 150), rng.integers(-320, 308, 150))]
    values += [float(v) for v in rng.integers(-10**17, 10**17, 20)]
    values += [float(np.float32(v)) for v in rng.uniform(0, 1, 30)]                 # widened float32 scores
    return json.dumps({"values": [v.hex() for v in values], "json": [json.dumps(v) for v in values]}) + "\n"


def hexes(d):
    bb = d["boundingBox"]
    return {"probability": float(d["probability"]).hex(), "tagId": d["tagId"], "tagName": d["tagName"],
            "boundingBox": {k: float(bb[k]).hex() for k in ("left", "top", "width", "height")}}


def agree(results):
    names = list(results)
    first = results[names[0]]
    for name in names[1:]:
        if results[name] != first:
            raise SystemExit("references disagree: %s vs %s" % (names[0], name))
    return first


def build():
    files = {}
    for name, description, labels, raw, *custom in yolo_cases():
        params = custom[0] if custom else DEFAULT_PARAMS
        h, w, c = raw.shape
        results, unrounded, body = ref.yolo_references(raw, labels, (w * 32, h * 32), custom[0] if custom else None)
        doc = {"case": name, "family": "yolo", "description": description, "labels": labels,
               "raw": ("yolo_seeded_blood" if custom else name) + ".npy", "layout": "hwc", "shape": [h, w, c],
               "params": params,
               "expected": {order: {"references": sorted(r for r in results if ref.SUM_ORDER[r] == order),
                                    "predictions": agree({r: v for r, v in results.items()
                                                          if ref.SUM_ORDER[r] == order})}
                            for order in ("pairwise", "sequential")},
               "unrounded": [hexes(d) for d in unrounded],
               "container_body": re.sub(r'"created":"[^"]*"', '"created":"%s"' % CREATED, body)}
        files[name + ".json"] = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
        if not custom:
            files[name + ".npy"] = raw
    for name, description, labels, (boxes, scores, classes) in ssd_cases():
        results, unrounded, body = ref.ssd_references(boxes, scores, classes, labels, (640, 480))
        doc = {"case": name, "family": "ssd", "description": description, "labels": labels,
               "detected_boxes": [[float(v).hex() for v in row] for row in boxes],
               "detected_scores": [float(v).hex() for v in scores],
               "detected_classes": [int(v) for v in classes],
               "references": sorted(results), "predictions": agree(results),
               "unrounded": [hexes(d) for d in unrounded],
               "container_body": re.sub(r'"created":"[^"]*"', '"created":"%s"' % CREATED, body)}
        files[name + ".json"] = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    files["numpy_order.json"] = numpy_order_golden()
    files["python_repr.json"] = python_repr_golden()
    return files


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the stored goldens, write nothing")
    args = ap.parse_args()
    if not ref.available():
        print("reference code not found in %s: skipping" % ref.reference_dir(), file=sys.stderr)
        return ref.SKIP
    files = build()
    bad = 0
    os.makedirs(GOLDEN, exist_ok=True)
    for name, content in sorted(files.items()):
        path = os.path.join(GOLDEN, name)
        if args.check:
            if name.endswith(".npy"):
                same = os.path.exists(path) and np.array_equal(np.load(path), content)
            else:
                same = os.path.exists(path) and open(path, encoding="utf-8").read() == content
            print("%-28s %s" % (name, "ok" if same else "DIFFERS"))
            bad += not same
        elif name.endswith(".npy"):
            np.save(path, content)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(content)
    for name, content in sorted(files.items()):
        if name.endswith(".json") and name not in ("numpy_order.json", "python_repr.json"):
            doc = json.loads(content)
            expected = doc.get("expected", {"-": doc})
            for order, e in expected.items():
                print("%-22s %-4s %-10s %2d predictions  %s" % (
                    doc["case"], doc["family"], order, len(e["predictions"]),
                    ", ".join(r.split("/")[0] for r in e["references"])))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
