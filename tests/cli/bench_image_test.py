#!/usr/bin/python3
"""`edgevision bench --image`: the in-process request path on a real export
and image prints one JSON line with the timing summary, each step's median
and the page faults per image; a missing image file is refused (non-zero
exit, naming the file).

    bench_image_test.py EDGEVISION_BINARY

No speed is asserted (benchmarks measure speed, tests do not): only that the
figures are present, finite and consistent (each step's median is positive
and at most the whole request's maximum).
"""
import json
import math
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))
import support  # noqa: E402  (tests/support.py)
EXPORT = os.path.join(REPO, "tests", "data", "cv-exports", "iotedge-applebanana-tf")


def main():
    binary = sys.argv[1]
    image = os.path.join(EXPORT, "images", "apple1.jpg")
    p = subprocess.run([binary, "bench", "--model", EXPORT, "--image", image, "--runs", "5", "--warmup", "1"],
                       capture_output=True, text=True, timeout=support.scaled(300))
    if p.returncode != 0:
        print("FAIL: exit %d: %s" % (p.returncode, p.stderr))
        return 1
    doc = json.loads(p.stdout.strip().splitlines()[-1])
    failures = []
    for key in ("median_ms", "p90_ms", "min_ms", "max_ms", "mean_ms", "decode_median_ms", "preprocess_median_ms",
                "inference_median_ms", "page_faults_per_image"):
        if not isinstance(doc.get(key), (int, float)) or not math.isfinite(doc[key]) or doc[key] < 0:
            failures.append("%s missing or not a finite number >= 0: %r" % (key, doc.get(key)))
    if not failures:
        for step in ("decode_median_ms", "preprocess_median_ms", "inference_median_ms"):
            if not 0 < doc[step] <= doc["max_ms"]:
                failures.append("%s = %r is not within (0, max_ms = %r]" % (step, doc[step], doc["max_ms"]))
        if doc["runs"] != 5 or doc["image"] != image:
            failures.append("runs/image not echoed: %r" % doc)
    missing = subprocess.run([binary, "bench", "--model", EXPORT, "--image", image + ".missing"],
                             capture_output=True, text=True, timeout=support.scaled(300))
    if missing.returncode == 0 or "apple1.jpg.missing" not in missing.stderr + missing.stdout:
        failures.append("a missing image: exit %d, stderr %r" % (missing.returncode, missing.stderr))
    for f in failures:
        print("FAIL: " + f)
    if not failures:
        print("ok: " + json.dumps(doc))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
