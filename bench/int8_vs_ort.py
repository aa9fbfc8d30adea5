#!/usr/bin/python3
"""`edgevision bench --precision int8` and `--precision fp32` against ONNX
Runtime fp32 (the harness's runner, bench/node/ort_bench.js), one thread,
alternating in the same run (issue 17, part 4).

    bench/int8_vs_ort.py --edgevision BUILD/src/cli/edgevision \
        --models BUILD-BENCH/bench-models [--rounds 5] [--core 0]

--models is what bench/prepare_models.py wrote (bench/run.sh does it): the
peers' ONNX copies of the real exports. Prints one JSON document: per model,
per round the three medians and the ratios int8/ORT and fp32/ORT, then their
medians and ranges, and the load average at each round. The machine is
shared: read the ranges, not one number.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402  (engine_commands, run_json, loadavg)

MODELS = ["winml-food-onnx", "uwp-catdog-onnx12", "docker22-appleorange-tflite"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgevision", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--core", default="0")
    args = ap.parse_args()
    with open(os.path.join(args.models, "models.json")) as f:
        models = json.load(f)
    out = {"core": args.core, "rounds": args.rounds, "runs": args.runs, "models": {}}
    with tempfile.TemporaryDirectory() as data_dir:  # the int8 calibration cache
        for name in MODELS:
            cmds = harness.engine_commands(args, models, name, 1, args.runs, args.warmup)
            if "ort" not in cmds:
                continue
            cmds = {"fp32": cmds["edgevision"], "ort": cmds["ort"],
                    "int8": cmds["edgevision"] + ["--precision", "int8", "--data-dir", data_dir]}
            rows = []
            for r in range(args.rounds):
                order = list(cmds)
                order = order[r % 3:] + order[:r % 3]
                row = {"loadavg": harness.loadavg()}
                for engine in order:
                    doc = harness.run_json(["taskset", "-c", args.core] + cmds[engine])
                    row[engine] = doc["median_ms"]
                    if engine == "int8":
                        row["int8_nodes"] = doc["int8"]["nodes"]
                        row["agreement"] = doc["int8"]["agreement_with_fp32"]
                row["int8_over_ort"] = row["int8"] / row["ort"]
                row["fp32_over_ort"] = row["fp32"] / row["ort"]
                row["int8_over_fp32"] = row["int8"] / row["fp32"]
                rows.append(row)
                print(name, json.dumps(row), file=sys.stderr)
            summary = {}
            for key in ("int8", "fp32", "ort", "int8_over_ort", "fp32_over_ort", "int8_over_fp32"):
                v = [row[key] for row in rows]
                summary[key] = {"median": statistics.median(v), "min": min(v), "max": max(v)}
            out["models"][name] = {"summary": summary, "rounds": rows}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
