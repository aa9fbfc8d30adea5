#!/usr/bin/python3
"""`edgevision bench --per-op` lists every op of a model that does work at
run time, with its time, share, multiply-adds, GFLOP/s and (with
--peak-gflops) compute floor.

    bench_per_op_test.py EDGEVISION_BINARY

For two small real exports (a 2018 SqueezeNet and the Docker 2.2 model), the
op counts must match `edgevision inspect --json`'s engine_ops: every node of
an op type that always runs is listed once; op types that may cost nothing at
run time (a concat written in place, a reshape or a channel slice read in
place) appear at most as often as the model has them; a max pooling computed
with the convolution before it is listed with it ("Conv2D (gemm +
MaxPool2D)") and counts as listed. The shares sum to 1,
the multiply-adds sum to the model's, and each Conv2D/FullyConnected has a
positive floor. No speed is asserted.
"""
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))
import support  # noqa: E402  (tests/support.py)
EXPORTS = os.path.join(REPO, "tests", "data", "cv-exports")
MAYBE_FREE = {"Concat", "Reshape", "Transpose", "Slice"}


def run_json(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=support.scaled(300))
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode, p.stderr))
    return json.loads(p.stdout.strip().splitlines()[-1] if "bench" in cmd else p.stdout)


def check(binary, export):
    failures = []
    folder = os.path.join(EXPORTS, export)
    counts = run_json([binary, "inspect", "--model", folder, "--json"])["engine_ops"]
    doc = run_json([binary, "bench", "--model", folder, "--per-op", "--peak-gflops", "100", "--runs", "4",
                    "--warmup", "1"])
    per_op = doc.get("per_op", {})
    ops = per_op.get("ops", [])
    if not ops:
        return ["%s: no per_op.ops in %r" % (export, doc)]
    listed = {}
    for op in ops:
        kind = op["op"].split(" ")[0]  # "Concat (copy)", "Pad (reference)"
        listed[kind] = listed.get(kind, 0) + 1
        if "+ MaxPool2D)" in op["op"]:  # "Conv2D (gemm + MaxPool2D)"
            listed["MaxPool2D"] = listed.get("MaxPool2D", 0) + 1
    for kind, n in counts.items():
        got = listed.get(kind, 0)
        if (kind in MAYBE_FREE and got > n) or (kind not in MAYBE_FREE and got != n):
            failures.append("%s: %s listed %d times, the model has %d" % (export, kind, got, n))
    for kind in listed:
        if kind not in counts:
            failures.append("%s: %s listed but not in the model's ops %r" % (export, kind, counts))
    share = sum(op["share"] for op in ops)
    if abs(share - 1.0) > 1e-6:
        failures.append("%s: shares sum to %r" % (export, share))
    if abs(sum(op["us"] for op in ops) - per_op["total_us"]) > 1e-6 * max(1.0, per_op["total_us"]):
        failures.append("%s: total_us is not the sum of the ops' times" % export)
    if sum(op["multiply_adds"] for op in ops) != doc["multiply_adds"]:
        failures.append("%s: per-op multiply-adds %d, model %d" % (
            export, sum(op["multiply_adds"] for op in ops), doc["multiply_adds"]))
    for op in ops:
        if op["op"].split(" ")[0] in ("Conv2D", "FullyConnected"):
            if not (op["multiply_adds"] > 0 and op.get("gflops", 0) > 0 and op.get("floor_us", 0) > 0
                    and op.get("over_floor", 0) > 0):
                failures.append("%s: %r lacks multiply-adds, GFLOP/s or floor" % (export, op))
    return failures


def main():
    failures = []
    for export in ("iotedge-applebanana-tf", "docker22-appleorange-tflite"):
        failures += check(sys.argv[1], export)
    return support.report(failures)


if __name__ == "__main__":
    sys.exit(main())
