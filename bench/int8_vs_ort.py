#!/usr/bin/python3
"""`edgevision bench --precision int8` and `--precision fp32` against ONNX
Runtime fp32 (the harness's runner, bench/node/ort_bench.js), one thread,
alternating in the same run (issue 17, part 4).

    bench/int8_vs_ort.py --edgevision BUILD/src/cli/edgevision \
        --models BUILD-BENCH/bench-models [--rounds 5] [--core 0]

--models is what bench/prepare_models.py wrote (bench/run.sh does it): the
peers' ONNX copies of the real exports. Prints one JSON document: per model,
per round the three medians (and fastest runs) and the ratios int8/ORT and
fp32/ORT, then their medians and ranges, and the load average at each round. The machine is
shared: read the ranges, not one number. With --cpu, also the CPU time per
inference (two runs of each command, R and 5R inferences, differenced):
what a busy machine cannot distort by preempting the process.

int8 runs as served, with its confidence fallback (docs/performance.md,
"int8"): when int8's answer on the bench's fixed input is a near tie, every
run also runs fp32, and the round's "int8_fallbacks" says so (its time is
then not int8's). --int8-args '--int8-fallback off' times int8 alone.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402  (engine_commands, run_json, loadavg)

MODELS = ["winml-food-onnx", "uwp-catdog-onnx12", "docker22-appleorange-tflite"]


def cpu_seconds(cmd):
    """User + system CPU time of one child process run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, capture_output=True, timeout=900)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def with_runs(cmd, runs):
    cmd = list(cmd)
    cmd[cmd.index("--runs") + 1] = str(runs)
    return cmd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgevision", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--core", default="0")
    ap.add_argument("--cpu", action="store_true",
                    help="also measure CPU ms per inference (robust when the machine is loaded)")
    ap.add_argument("--int8-args", default="", help="extra arguments for the int8 bench, e.g. '--int8-fallback off'")
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
                    "int8": cmds["edgevision"] + ["--precision", "int8", "--data-dir", data_dir] + args.int8_args.split()}
            rows = []
            for r in range(args.rounds):
                order = list(cmds)
                order = order[r % 3:] + order[:r % 3]
                row = {"loadavg": harness.loadavg()}
                for engine in order:
                    doc = harness.run_json(["taskset", "-c", args.core] + cmds[engine])
                    row[engine] = doc["median_ms"]
                    row[engine + "_min"] = doc["min_ms"]
                    if engine == "int8":
                        row["int8_nodes"] = doc["int8"]["nodes"]
                        row["agreement"] = doc["int8"]["agreement_with_fp32"]
                        fallback = doc["int8"].get("fallback", {})  # absent from older binaries
                        row["int8_fallbacks"] = fallback.get("fallbacks", 0) if fallback.get("enabled") else 0
                if args.cpu:
                    # CPU ms per inference: the difference of two runs of the same
                    # command with --runs R and 5R (start-up and warm-up cancel).
                    # Preemption by other processes does not count as CPU time.
                    for engine in order:
                        short = cpu_seconds(["taskset", "-c", args.core] + with_runs(cmds[engine], args.runs))
                        long = cpu_seconds(["taskset", "-c", args.core] + with_runs(cmds[engine], 5 * args.runs))
                        row[engine + "_cpu"] = 1000.0 * (long - short) / (4 * args.runs)
                    row["cpu_int8_over_ort"] = row["int8_cpu"] / row["ort_cpu"]
                    row["cpu_fp32_over_ort"] = row["fp32_cpu"] / row["ort_cpu"]
                row["int8_over_ort"] = row["int8"] / row["ort"]
                row["fp32_over_ort"] = row["fp32"] / row["ort"]
                row["int8_over_fp32"] = row["int8"] / row["fp32"]
                # On a loaded machine the fastest run is the one least preempted.
                row["min_int8_over_ort"] = row["int8_min"] / row["ort_min"]
                row["min_fp32_over_ort"] = row["fp32_min"] / row["ort_min"]
                rows.append(row)
                print(name, json.dumps(row), file=sys.stderr)
            summary = {}
            for key in ("int8", "fp32", "ort", "int8_min", "fp32_min", "ort_min", "int8_over_ort",
                        "fp32_over_ort", "int8_over_fp32", "min_int8_over_ort", "min_fp32_over_ort",
                        "int8_cpu", "fp32_cpu", "ort_cpu", "cpu_int8_over_ort", "cpu_fp32_over_ort"):
                if key not in rows[0]:
                    continue
                v = [row[key] for row in rows]
                summary[key] = {"median": statistics.median(v), "min": min(v), "max": max(v)}
            out["models"][name] = {"summary": summary, "rounds": rows}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
