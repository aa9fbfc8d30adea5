#!/usr/bin/python3
"""Compares edgevision's results on an ARM architecture with x86
(scripts/arm/build-and-test.sh, tests/packaging/deb_test.sh).

X86_DIR and ARM_DIR (scripts/arm/outputs.sh) hold, per export, <image>.json (`edgevision predict`)
and <image>.npy (`edgevision tensor`). Checks, per image:
  - the input tensors are identical byte for byte (the image pipeline is
    compiled with -ffp-contract=off so that ARM's fused multiply-add gives
    the same floats as x86);
  - the same tags are predicted, each probability within 1e-4.
Prints a table per export (images, max |diff|, tensors identical) and, with
--bench, the emulated inference latency. Exit 1 when a check fails.
"""
import argparse
import json
import os
import sys

import numpy as np

TOLERANCE = 1e-4


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("x86")
    parser.add_argument("arm")
    parser.add_argument("--arch", default="arm64", help="the ARM architecture's name, for the report")
    parser.add_argument("--bench")
    args = parser.parse_args()
    failures = []
    rows = []
    for export in sorted(os.listdir(args.x86)):
        names = sorted(f[:-5] for f in os.listdir(os.path.join(args.x86, export)) if f.endswith(".json"))
        max_diff, identical, predicted = 0.0, 0, 0
        for name in names:
            paths = {arch: os.path.join(getattr(args, arch), export, name) for arch in ("x86", "arm")}
            try:
                docs = {arch: json.load(open(p + ".json")) for arch, p in paths.items()}
            except (OSError, ValueError) as e:
                failures.append(f"{export}/{name}: no prediction ({e})")
                continue
            probs = {arch: {p["tagName"]: p["probability"] for p in d["predictions"]} for arch, d in docs.items()}
            if set(probs["x86"]) != set(probs["arm"]):
                # Tags at or below 1e-8 are dropped; a tag may cross that line.
                only = set(probs["x86"]) ^ set(probs["arm"])
                small = all(max(probs["x86"].get(t, 0), probs["arm"].get(t, 0)) <= TOLERANCE for t in only)
                if not small:
                    failures.append(f"{export}/{name}: different tags {sorted(only)}")
            for tag in set(probs["x86"]) | set(probs["arm"]):
                diff = abs(probs["x86"].get(tag, 0.0) - probs["arm"].get(tag, 0.0))
                max_diff = max(max_diff, diff)
                if diff > TOLERANCE:
                    failures.append(f"{export}/{name}: {tag} differs by {diff:.3g}")
            predicted += 1
            try:
                tensors = {arch: np.load(p + ".npy") for arch, p in paths.items()}
            except OSError as e:
                failures.append(f"{export}/{name}: no tensor ({e})")
                continue
            same = tensors["x86"].shape == tensors["arm"].shape and tensors["x86"].tobytes() == tensors["arm"].tobytes()
            if same:
                identical += 1
            else:
                d = np.abs(tensors["x86"].astype(np.float64) - tensors["arm"]).max() if tensors["x86"].shape == tensors["arm"].shape else float("inf")
                failures.append(f"{export}/{name}: input tensors differ (max |diff| {d:.3g})")
        rows.append((export, len(names), predicted, max_diff, identical))
    bench = {}
    if args.bench and os.path.exists(args.bench):
        for line in open(args.bench):
            try:
                entry = json.loads(line)
                bench[entry["export"]] = entry["result"]
            except (ValueError, KeyError):
                pass
    print(f"{'export':<30}{'images':>7}{'max |p diff|':>14}{'tensors identical':>19}{'qemu ms/inference':>19}")
    for export, n, predicted, max_diff, identical in rows:
        b = bench.get(export, {})
        ms = b.get("median_ms", b.get("mean_ms", b.get("ms", "")))
        ms = f"{ms:.0f}" if isinstance(ms, (int, float)) else "-"
        print(f"{export:<30}{n:>7}{max_diff:>14.3g}{f'{identical}/{n}':>19}{ms:>19}")
    total = sum(r[1] for r in rows)
    if total == 0:
        failures.append(f"no x86 results in {args.x86}")
    if failures:
        print("\nFAILED:")
        for f in failures:
            print("  " + f)
        return 1
    print(f"\n{args.arch} matches x86 on {len(rows)} exports, {total} images: every probability within {TOLERANCE}, every input tensor identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
