#!/usr/bin/python3
"""Engine-only A/B of edgevision binaries next to ONNX Runtime (issue 17 part 3).

  MODELS=DIR/models.json [ROUNDS=3] [ONLY=a,b] [THREADS=1,2] bench/engine_ab.py NAME=BINARY...

models.json is what bench/prepare_models.py writes (every model with an ONNX
copy for the peer). Per round, model and thread count, each binary's
`edgevision bench` and `node bench/node/ort_bench.js` run in rotating order,
pinned to core 1 (one thread) or cores 0,1 (two). Prints one JSON line per
cell and, per model and thread count, each binary's median ms and its ratio
to ORT taken within a round: median (min-max)."""
import json, os, subprocess, sys, statistics
BENCH = os.path.dirname(os.path.abspath(__file__))
with open(os.environ["MODELS"]) as f:
    MODELS = {k: (v["edgevision"], v["peer_onnx"]) for k, v in json.load(f).items() if v.get("peer_onnx")}
bins = dict(a.split("=", 1) for a in sys.argv[1:])
rounds = int(os.environ.get("ROUNDS", "3"))
only = os.environ.get("ONLY", "").split(",") if os.environ.get("ONLY") else list(MODELS)
threads_list = [int(t) for t in os.environ.get("THREADS", "1,2").split(",")]
res = {}
def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()
    return json.loads(out[-1])["median_ms"]
for r in range(rounds):
    for name in only:
        folder, onnx = MODELS[name]
        runs = "10" if name.startswith("detector") else "40"
        for t in threads_list:
            cores = "1" if t == 1 else "0,1"
            cmds = {k: ["taskset", "-c", cores, b, "bench", "--model", folder, "--threads", str(t), "--runs", runs, "--warmup", "5"] for k, b in bins.items()}
            cmds["ort"] = ["taskset", "-c", cores, "node", os.path.join(BENCH, "node", "ort_bench.js"), "--model", onnx, "--threads", str(t), "--runs", runs, "--warmup", "5"]
            order = list(cmds); order = order[r % len(order):] + order[:r % len(order)]
            row = {k: run(cmds[k]) for k in order}
            row["load"] = os.getloadavg()[0]
            print(json.dumps(dict(round=r, model=name, threads=t, **row)), flush=True)
            res.setdefault((name, t), []).append(row)
print()
for (name, t), rows in res.items():
    line = "%-28s t=%d" % (name, t)
    for k in bins:
        ms = [x[k] for x in rows]; ratio = [x[k] / x["ort"] for x in rows]
        line += "  %s %.2f ms ratio %.2f (%.2f-%.2f)" % (k, statistics.median(ms), statistics.median(ratio), min(ratio), max(ratio))
    line += "  ort %.2f ms" % statistics.median(x["ort"] for x in rows)
    print(line)
