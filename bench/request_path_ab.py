#!/usr/bin/python3
"""A/B of the request path of edgevision binaries (issue 17): latency, CPU,
page faults and RSS of `serve`, alternating binaries round by round.

  bench/request_path_ab.py --model DIR --image IMAGE.jpg [--rounds 3] [--cores 0,1] NAME=BINARY...

Each round starts every binary in turn (order rotated), pinned to --cores,
with the default workers (one per core), and measures:
  - ready: RSS when /health/ready first answers 200;
  - keep-alive: wrk -c1 POST /image for --seconds: p50/p90, and from
    /proc/PID/stat the page faults and CPU ms per request (all threads);
  - conc-2 and conc-8 req/s (wrk -c2 / -c8);
  - RSS after those requests (>= 1,000 of them);
  - churn: wrk -c16 with "Connection: close" (a new connection per request),
    RSS sampled every 20 ms: the peak during churn and the value after.
Prints one JSON line per measurement and a summary (median, min-max) per
binary. Figures are noisy on a shared machine: compare within a round.
"""
import argparse, json, os, statistics, subprocess, sys, threading, time, urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
from harness import free_port, proc_faults_cpu  # noqa: E402


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def wrk(port, image, conc, seconds, cores, close=False):
    env = dict(os.environ, WRK_BODY=image, WRK_CLOSE="1" if close else "0")
    cmd = ["taskset", "-c", cores, "wrk", "-t%d" % min(conc, 2), "-c%d" % conc, "-d%ds" % seconds,
           "--timeout", "10s", "-s", os.path.join(BENCH, "http", "post.lua"), "http://127.0.0.1:%d/image" % port]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60).stdout
    for line in out.splitlines():
        if line.startswith("WRKJSON "):
            d = json.loads(line[8:])
            d["rps"] = d["requests"] / (d["duration_us"] / 1e6)
            return d
    raise RuntimeError("wrk printed no result: " + out[-300:])


def measure(name, binary, args):
    port = free_port()
    proc = subprocess.Popen(["taskset", "-c", args.cores, binary, "serve", "--model", args.model, "--host",
                             "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/health/ready" % port, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError(name + " did not become ready")
                time.sleep(0.02)
        row = {"name": name, "rss_ready_kb": rss_kb(proc.pid), "loadavg": os.getloadavg()[0]}
        wrk(port, args.image, 1, 1, args.cores)  # warm-up
        faults0, cpu0 = proc_faults_cpu(proc.pid)
        d = wrk(port, args.image, 1, args.seconds, args.cores)
        faults1, cpu1 = proc_faults_cpu(proc.pid)
        row.update({"p50_ms": d["p50_us"] / 1e3, "p90_ms": d["p90_us"] / 1e3, "requests": d["requests"],
                    "faults_per_request": (faults1 - faults0) / d["requests"],
                    "cpu_ms_per_request": (cpu1 - cpu0) * 1e3 / d["requests"]})
        for conc in (2, 8):
            row["rps_c%d" % conc] = wrk(port, args.image, conc, args.seconds, args.cores)["rps"]
        row["rss_after_kb"] = rss_kb(proc.pid)
        peak = [0]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kb(proc.pid) or 0)
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        churn = wrk(port, args.image, 16, args.seconds, args.cores, close=True)
        stop.set()
        sampler.join()
        row.update({"churn_requests": churn["requests"], "churn_ok": churn["ok"], "rss_churn_peak_kb": peak[0],
                    "rss_after_churn_kb": rss_kb(proc.pid)})
        return row
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--image", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--cores", default="0,1")
    ap.add_argument("binaries", nargs="+", help="NAME=BINARY")
    args = ap.parse_args()
    bins = [b.split("=", 1) for b in args.binaries]
    rows = []
    print(json.dumps({"loadavg_start": os.getloadavg()}), flush=True)
    for r in range(args.rounds):
        order = bins[r % len(bins):] + bins[:r % len(bins)]
        for name, binary in order:
            row = measure(name, binary, args)
            row["round"] = r
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(json.dumps({"loadavg_end": os.getloadavg()}), flush=True)
    keys = ["p50_ms", "p90_ms", "cpu_ms_per_request", "faults_per_request", "rps_c2", "rps_c8", "rss_ready_kb",
            "rss_after_kb", "rss_churn_peak_kb", "rss_after_churn_kb"]
    for name, _ in bins:
        rs = [x for x in rows if x["name"] == name]
        summary = {k: "%.2f (%.2f-%.2f)" % (statistics.median(x[k] for x in rs), min(x[k] for x in rs),
                                            max(x[k] for x in rs)) for k in keys}
        print(name, json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
