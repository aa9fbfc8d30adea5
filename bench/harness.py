#!/usr/bin/python3
"""edgevision vs ONNX Runtime vs OpenCV DNN, side by side, in one run.

Run through bench/run.sh (which builds, installs the peers and prepares the
models); this script only measures and reports:

    harness.py --edgevision BIN --models DIR --out DIR [--rounds 3] [--cores 0,1]
               [--sections peak,engine,http,footprint] [--quick]

Every section runs its peers interleaved inside each round (the order
rotates from round to round), pinned with taskset to the same cores, so a
burst of load from other work on the machine hits every peer alike. Each
figure is reported as the median over rounds with the min-max range, and
ratios are taken within a round (edgevision vs a peer measured seconds
apart) before the median is taken.

Writes OUT/results.json (every raw measurement), OUT/summary.md (the
tables), and data files for bench/plot.gp.
"""

import argparse
import glob
import http.client
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
EXPORTS = os.path.join(REPO, "tests", "data", "cv-exports")
NODE_DIR = os.path.join(BENCH, "node")
PY = "/usr/bin/python3"  # Debian's Python: cv2, numpy, PIL, flask

ENGINE_MODELS = [  # (name, peers that can load it)
    ("iotedge-applebanana-tf", ("opencv",)),
    ("android-fruit-tf", ("opencv",)),
    ("android-fruit-tflite", ()),
    ("docker22-appleorange-tflite", ("ort",)),
    ("winml-food-onnx", ("ort", "opencv")),
    ("uwp-catdog-onnx12", ("ort", "opencv")),
    ("mobilenet_v2", ("ort", "opencv")),
    ("mobilenet_v3_small", ("ort", "opencv")),
    ("mobilenet_v3_large", ("ort", "opencv")),
]
DETECTOR_MODEL = "detector_mobilenet_v2"  # prepare_models.py: compact detector contract, 448x608
DETECTOR_IMAGE = os.path.join(REPO, "tests", "data", "detection", "fruit_scene.png")  # 608x448: input 448x608
HTTP_MODEL = "winml-food-onnx"  # a real 2.9 MB export every peer can load
IMAGE_SIZES = [(320, 240), (640, 480), (1600, 1200)]
CONCURRENCY = [1, 2, 8]


def log(*a):
    print("[harness %s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def run_json(cmd, timeout=600, env=None):
    """Runs cmd and returns the last stdout line that parses as JSON."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr[-2000:]))
    for line in reversed(p.stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    raise RuntimeError("%s printed no JSON: %s" % (" ".join(cmd), p.stdout[-500:]))


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt(s, digits=2, unit=""):
    if not s:
        return "—"
    f = "%%.%df" % digits
    return (f % s["median"]) + unit + " (" + (f % s["min"]) + "–" + (f % s["max"]) + ")"


# --- machine -----------------------------------------------------------------


def machine():
    info = {"kernel": platform.release(), "cpus": os.cpu_count()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in lscpu.splitlines():
            k, _, v = line.partition(":")
            if k.strip() in ("Model name", "Thread(s) per core", "Core(s) per socket", "CPU family",
                             "Model", "Hypervisor vendor", "L2 cache", "L3 cache"):
                info[k.strip()] = v.strip()
            if k.strip() == "Flags":
                flags = v.split()
                info["simd"] = [f for f in flags if f in ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f",
                                                          "avx512bw", "avx512vl", "avx512_vnni",
                                                          "avx512_bf16", "avx_vnni", "neon", "asimd")]
    except OSError:
        pass
    info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return info


# --- peak FLOP/s ---------------------------------------------------------------


def measure_peak(args, results):
    rounds = []
    for r in range(args.rounds):
        row = {"loadavg": loadavg()}
        for t in (1, 2):
            cores = args.cores if t > 1 else args.cores.split(",")[0]
            row["fma_%d" % t] = run_json(["taskset", "-c", cores, args.fma_peak, str(t)])["gflops"]
            row["xnn_gemm_%d" % t] = run_json(["taskset", "-c", cores, args.xnn_gemm_peak, str(t)])["gflops"]
        log("peak round", r, row)
        rounds.append(row)
    results["peak"] = {"rounds": rounds}
    # Peak is the best seen: a preempted repetition can only make it lower.
    for key in ("fma_1", "fma_2", "xnn_gemm_1", "xnn_gemm_2"):
        results["peak"][key] = max(r[key] for r in rounds)


# --- engine only ---------------------------------------------------------------


def engine_commands(args, models, name, threads, runs, warmup):
    m = models[name] if name in models else {}
    folder = m.get("edgevision") or os.path.join(EXPORTS, name)
    size = m.get("size", 227)
    cmds = {"edgevision": [args.edgevision, "bench", "--model", folder, "--threads", str(threads),
                           "--runs", str(runs), "--warmup", str(warmup)]}
    if m.get("peer_onnx"):
        cmds["ort"] = ["node", os.path.join(NODE_DIR, "ort_bench.js"), "--model", m["peer_onnx"],
                       "--threads", str(threads), "--runs", str(runs), "--warmup", str(warmup)]
    if m.get("peer_opencv"):
        cmds["opencv"] = [PY, os.path.join(BENCH, "peers", "opencv_bench.py"), "--model", m["peer_opencv"],
                          "--threads", str(threads), "--runs", str(max(10, runs // 2)),
                          "--warmup", str(max(2, warmup // 2)), "--size", str(size)]
    return cmds


def measure_engine(args, models, results):
    runs, warmup = (30, 5) if args.quick else (100, 15)
    raw = []
    for r in range(args.rounds):
        log("engine round", r, "load", loadavg())
        for name, _peers in ENGINE_MODELS:
            for threads in (1, 2):
                cores = args.cores if threads > 1 else args.cores.split(",")[0]
                cmds = engine_commands(args, models, name, threads, runs, warmup)
                order = list(cmds)
                order = order[r % len(order):] + order[:r % len(order)]  # rotate per round
                row = {"round": r, "model": name, "threads": threads, "loadavg": loadavg()}
                for engine in order:
                    try:
                        out = run_json(["taskset", "-c", cores] + cmds[engine])
                        row[engine] = out["median_ms"]
                        row[engine + "_p90"] = out["p90_ms"]
                        if engine == "edgevision":
                            row["multiply_adds"] = out.get("multiply_adds")
                    except Exception as e:  # a peer that cannot run is reported, not fatal
                        row[engine + "_error"] = str(e)[-300:]
                        log("engine", name, engine, "failed:", str(e)[-300:])
                log("engine", name, "threads", threads, {k: row.get(k) for k in ("edgevision", "ort", "opencv")})
                raw.append(row)
    results["engine"] = {"runs": runs, "warmup": warmup, "raw": raw}


def engine_table(results):
    peak = results.get("peak", {})
    raw = results["engine"]["raw"]
    rows = []
    for name, _ in ENGINE_MODELS:
        for threads in (1, 2):
            rs = [x for x in raw if x["model"] == name and x["threads"] == threads]
            if not rs:
                continue
            macs = next((x.get("multiply_adds") for x in rs if x.get("multiply_adds")), None)
            pk = peak.get("fma_%d" % threads)
            floor_ms = 2.0 * macs / (pk * 1e9) * 1e3 if macs and pk else None
            row = {"model": name, "threads": threads, "multiply_adds": macs, "floor_ms": floor_ms}
            for e in ("edgevision", "ort", "opencv"):
                row[e] = summary([x.get(e) for x in rs])
            row["ev_over_ort"] = summary([x["edgevision"] / x["ort"] for x in rs
                                          if x.get("edgevision") and x.get("ort")])
            row["ev_over_opencv"] = summary([x["edgevision"] / x["opencv"] for x in rs
                                             if x.get("edgevision") and x.get("opencv")])
            for e in ("edgevision", "ort", "opencv"):
                row[e + "_over_floor"] = (summary([x[e] / floor_ms for x in rs if x.get(e)])
                                          if floor_ms else None)
            row["loadavg"] = summary([x["loadavg"][0] for x in rs])
            rows.append(row)
    return rows


# --- object detector ------------------------------------------------------------


def measure_detector(args, models, results):
    """A compact detector at 448x608: the engine alone (edgevision vs ONNX Runtime on the same
    ONNX file, same seeded input, same cores) and edgevision's whole path per stage on a photo."""
    m = models[DETECTOR_MODEL]
    runs, warmup = (20, 3) if args.quick else (60, 10)
    raw = []
    for r in range(args.rounds):
        for threads in (1, 2):
            cores = args.cores if threads > 1 else args.cores.split(",")[0]
            base = ["--threads", str(threads), "--runs", str(runs), "--warmup", str(warmup)]
            cmds = {"edgevision": [args.edgevision, "bench", "--model", m["edgevision"]] + base,
                    "ort": ["node", os.path.join(NODE_DIR, "ort_bench.js"), "--model", m["peer_onnx"],
                            "--range", "255"] + base,
                    "path": [args.edgevision, "bench", "--model", m["edgevision"], "--image", DETECTOR_IMAGE] + base}
            order = list(cmds)
            order = order[r % len(order):] + order[:r % len(order)]
            row = {"round": r, "threads": threads, "loadavg": loadavg()}
            for engine in order:
                try:
                    out = run_json(["taskset", "-c", cores] + cmds[engine])
                    row[engine] = out["median_ms"]
                    if engine == "path":
                        for k in ("decode_ms", "resize_ms", "infer_ms", "postprocess_ms"):
                            row[k] = out[k]
                        row["input"] = out["input"]
                    if engine == "edgevision":
                        row["multiply_adds"] = out.get("multiply_adds")
                except Exception as e:
                    row[engine + "_error"] = str(e)[-300:]
                    log("detector", engine, "failed:", str(e)[-300:])
            log("detector threads", threads, {k: row.get(k) for k in ("edgevision", "ort", "path")})
            raw.append(row)
    results["detector"] = {"model": DETECTOR_MODEL, "image": os.path.relpath(DETECTOR_IMAGE, REPO),
                           "runs": runs, "warmup": warmup, "raw": raw}


def detector_table(results):
    rows = []
    for threads in (1, 2):
        rs = [x for x in results["detector"]["raw"] if x["threads"] == threads]
        if not rs:
            continue
        row = {"threads": threads, "multiply_adds": next((x["multiply_adds"] for x in rs if x.get("multiply_adds")), None)}
        for k in ("edgevision", "ort", "path", "decode_ms", "resize_ms", "infer_ms", "postprocess_ms"):
            row[k] = summary([x.get(k) for x in rs])
        row["ev_over_ort"] = summary([x["edgevision"] / x["ort"] for x in rs if x.get("edgevision") and x.get("ort")])
        row["loadavg"] = summary([x["loadavg"][0] for x in rs])
        rows.append(row)
    return rows


# --- HTTP end to end ---------------------------------------------------------


def proc_faults_cpu(pid):
    """(minor + major page faults, CPU seconds) of a whole process, all threads."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[7]) + int(fields[9]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def server_command(args, models, kind, port):
    m = models[HTTP_MODEL]
    labels = os.path.join(EXPORTS, HTTP_MODEL, "labels.txt")
    threads = str(len(args.cores.split(",")))
    if kind == "edgevision":
        return [args.edgevision, "serve", "--model", m["edgevision"], "--host", "127.0.0.1",
                "--port", str(port), "--threads", threads]
    if kind == "node-ort":
        return ["node", os.path.join(NODE_DIR, "server.js"), "--model", m["peer_onnx"], "--labels", labels,
                "--port", str(port), "--threads", threads, "--size", str(m["size"])]
    if kind == "flask-opencv":
        return [PY, os.path.join(BENCH, "peers", "flask_server.py"), "--model", m["peer_opencv"],
                "--labels", labels, "--port", str(port), "--threads", threads, "--size", str(m["size"])]
    raise ValueError(kind)


SERVERS = ["edgevision", "node-ort", "flask-opencv"]


def post(port, body, timeout=10.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", "/image", body=body, headers={"Content-Type": "application/octet-stream"})
        r = c.getresponse()
        data = r.read()
        return r.status, data
    finally:
        c.close()


class Server:
    """A peer server process pinned to the benchmark cores."""

    def __init__(self, args, models, kind, out_dir):
        self.kind = kind
        self.port = free_port()
        self.log = open(os.path.join(out_dir, "server-%s.log" % kind), "ab")
        cmd = ["taskset", "-c", args.cores] + server_command(args, models, kind, self.port)
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)

    def wait_ready(self, body, timeout=120.0):
        """Seconds from exec to the first 200 answer to POST /image."""
        while time.perf_counter() - self.t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s" % (self.kind, self.proc.returncode))
            try:
                status, _ = post(self.port, body, timeout=5.0)
                if status == 200:
                    return time.perf_counter() - self.t0
            except OSError:
                pass
            time.sleep(0.002)
        raise RuntimeError("%s not ready after %.0f s" % (self.kind, timeout))

    def rss_kb(self):
        out = {}
        # taskset execs the server, so the pid is the server's own.
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1])
        return out

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def wrk(args, port, body_file, concurrency, seconds, close=False):
    threads = min(concurrency, 2)
    env = dict(os.environ, WRK_BODY=body_file, WRK_CLOSE="1" if close else "0")
    cmd = ["taskset", "-c", args.cores, "wrk", "-t%d" % threads, "-c%d" % concurrency, "-d%ds" % seconds,
           "--timeout", "10s", "-s", os.path.join(BENCH, "http", "post.lua"),
           "http://127.0.0.1:%d/image" % port]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 60)
    for line in p.stdout.splitlines():
        if line.startswith("WRKJSON "):
            d = json.loads(line[len("WRKJSON "):])
            d["rps"] = d["requests"] / (d["duration_us"] / 1e6)
            d["lost_or_failed"] = d["bad"] + sum(d["errors"].values()) + (d["requests"] - d["ok"] - d["bad"])
            return d
    raise RuntimeError("wrk printed no result: " + p.stdout[-500:] + p.stderr[-500:])


def make_images(out_dir):
    """320x240, 640x480, 1600x1200 baseline JPEGs (quality 85) from the
    repo's largest photo (1376x1500, cropped to 4:3; 1600x1200 is upscaled)."""
    from PIL import Image
    src = Image.open(os.path.join(EXPORTS, "iotedge-applebanana-tf", "images", "backpod.jpg")).convert("RGB")
    w, h = src.size
    crop_h = w * 3 // 4
    top = (h - crop_h) // 2
    base = src.crop((0, top, w, top + crop_h))
    files = {}
    for (iw, ih) in IMAGE_SIZES:
        path = os.path.join(out_dir, "image-%dx%d.jpg" % (iw, ih))
        base.resize((iw, ih), Image.LANCZOS).save(path, quality=85)
        files["%dx%d" % (iw, ih)] = path
    return files


def measure_http(args, models, results, images):
    seconds = 3 if args.quick else 6
    raw = []
    loop_cost = {}
    for label, path in images.items():
        loop_cost[label] = run_json([PY, os.path.join(BENCH, "peers", "predict_loop_cost.py"), path,
                                     "--repeat", "2"])["loop_ms"]
    results["predict_py_loop_ms"] = loop_cost
    with open(images["320x240"], "rb") as f:
        small = f.read()
    inproc = []
    for r in range(args.rounds):
        # The in-process request path (decode + preprocess + inference, one
        # worker of one thread, as each of serve's workers): the HTTP target's
        # baseline, measured in the same round.
        for label, path in images.items():
            out = run_json(["taskset", "-c", args.cores.split(",")[0], args.edgevision, "bench", "--model",
                            models[HTTP_MODEL]["edgevision"], "--image", path, "--threads", "1",
                            "--runs", "30" if args.quick else "100", "--warmup", "5"])
            out.update({"round": r, "image": label})
            inproc.append(out)
            log("in-process", label, "median %.2f ms, page faults/image %.2f" % (
                out["median_ms"], out["page_faults_per_image"]))
        order = SERVERS[r % len(SERVERS):] + SERVERS[:r % len(SERVERS)]
        for kind in order:
            log("http round", r, kind, "load", loadavg())
            server = Server(args, models, kind, args.out)
            try:
                server.wait_ready(small)
                for label, path in images.items():
                    # Warm-up: caches, lazy allocations, the JIT of the Node peer.
                    wrk(args, server.port, path, 2, 1)
                    for c in CONCURRENCY:
                        faults0, cpu0 = proc_faults_cpu(server.proc.pid)
                        d = wrk(args, server.port, path, c, seconds)
                        faults1, cpu1 = proc_faults_cpu(server.proc.pid)
                        d.update({"round": r, "server": kind, "image": label, "concurrency": c,
                                  "loadavg": loadavg(),
                                  "faults_per_request": (faults1 - faults0) / max(1, d["requests"]),
                                  "cpu_ms_per_request": (cpu1 - cpu0) * 1e3 / max(1, d["requests"])})
                        log("http", kind, label, "c=%d" % c, "rps %.1f p50 %.2f ms p99 %.2f ms lost/failed %d "
                            "faults/req %.1f" % (d["rps"], d["p50_us"] / 1e3, d["p99_us"] / 1e3, d["lost_or_failed"],
                                                 d["faults_per_request"]))
                        raw.append(d)
            finally:
                server.stop()
    results["http"] = {"seconds": seconds, "model": HTTP_MODEL, "raw": raw, "inproc": inproc}


def http_table(results):
    raw = results["http"]["raw"]
    rows = []
    for kind in SERVERS:
        for label in ["%dx%d" % s for s in IMAGE_SIZES]:
            for c in CONCURRENCY:
                rs = [x for x in raw if x["server"] == kind and x["image"] == label and x["concurrency"] == c]
                if not rs:
                    continue
                rows.append({
                    "server": kind, "image": label, "concurrency": c,
                    "rps": summary([x["rps"] for x in rs]),
                    "p50_ms": summary([x["p50_us"] / 1e3 for x in rs]),
                    "p99_ms": summary([x["p99_us"] / 1e3 for x in rs]),
                    "p99_over_p50": summary([x["p99_us"] / x["p50_us"] for x in rs if x["p50_us"]]),
                    "requests": sum(x["requests"] for x in rs),
                    "lost_or_failed": sum(x["lost_or_failed"] for x in rs),
                    "faults_per_request": summary([x.get("faults_per_request") for x in rs]),
                    "cpu_ms_per_request": summary([x.get("cpu_ms_per_request") for x in rs]),
                })
    return rows


def http_targets(results, rows):
    """Issue 17's request-path targets, per image: edgevision's conc-1 p50
    against the in-process time + 1.0 ms (medians over rounds), page faults
    per request at conc-1, and conc-8 vs conc-2 throughput."""
    out = []
    for label in ["%dx%d" % s for s in IMAGE_SIZES]:
        inproc = summary([x["median_ms"] for x in results["http"].get("inproc", []) if x["image"] == label])
        def row(c):
            return next((x for x in rows if x["server"] == "edgevision" and x["image"] == label
                         and x["concurrency"] == c), None)
        c1, c2, c8 = row(1), row(2), row(8)
        if not (c1 and inproc):
            continue
        out.append({"image": label, "inproc_ms": inproc, "p50_ms": c1["p50_ms"],
                    "overhead_ms": c1["p50_ms"]["median"] - inproc["median"],
                    "faults_per_request": c1["faults_per_request"],
                    "rps_c2": c2["rps"] if c2 else None, "rps_c8": c8["rps"] if c8 else None})
    return out


# --- footprint -----------------------------------------------------------------


def lib_sizes(binary):
    """The shared libraries `binary` loads (ldd), with their on-disk sizes."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    libs = {}
    for line in out.splitlines():
        parts = line.split("=>")
        if len(parts) == 2 and "/" in parts[1]:
            path = parts[1].split("(")[0].strip()
            real = os.path.realpath(path)
            libs[os.path.basename(path)] = os.path.getsize(real)
    return libs


def dir_size(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            p = os.path.join(root, f)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def churn_rss(args, server, body_file, seconds):
    """wrk with 16 connections, each request on a new one (Connection: close),
    with RSS sampled every 20 ms: (peak RSS kB, wrk's result)."""
    import threading
    peak = [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], server.rss_kb().get("VmRSS", 0))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = wrk(args, server.port, body_file, 16, seconds, close=True)
    finally:
        stop.set()
        sampler.join()
    return peak[0], result


FOOTPRINT_REQUESTS = 1000  # issue 17: RSS after 1,000 requests, with --quick too


def footprint_sequence(args, models, kind, images):
    """One server's footprint: ready ms (exec to the first 200 on POST /image),
    RSS then, after FOOTPRINT_REQUESTS keep-alive requests alternating 320x240
    and 640x480, and the peak under connection churn. bench/footprint_ab.py
    runs the same sequence for several edgevision builds."""
    with open(images["320x240"], "rb") as f:
        small = f.read()
    with open(images["640x480"], "rb") as f:
        medium = f.read()
    n = FOOTPRINT_REQUESTS
    server = Server(args, models, kind, args.out)
    try:
        ready = server.wait_ready(small)
        rss_ready = server.rss_kb()
        c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        ok = 0
        for i in range(n):
            c.request("POST", "/image", body=medium if i % 2 else small,
                      headers={"Content-Type": "application/octet-stream"})
            resp = c.getresponse()
            resp.read()
            ok += resp.status == 200
        c.close()
        rss = server.rss_kb()
        churn_peak, churn = churn_rss(args, server, images["640x480"], 3 if args.quick else 5)
        return {"server": kind, "ready_ms": ready * 1e3, "requests": n, "ok": ok,
                "rss_ready_kb": rss_ready.get("VmRSS"), "rss_kb": rss.get("VmRSS"),
                "rss_churn_peak_kb": churn_peak, "rss_after_churn_kb": server.rss_kb().get("VmRSS"),
                "churn_requests": churn["requests"], "churn_ok": churn["ok"],
                "hwm_kb": server.rss_kb().get("VmHWM"), "loadavg": loadavg()}
    finally:
        server.stop()


def measure_footprint(args, models, results, images):
    out = {"rounds": []}
    for r in range(args.rounds):
        order = SERVERS[r % len(SERVERS):] + SERVERS[:r % len(SERVERS)]
        for kind in order:
            row = dict(footprint_sequence(args, models, kind, images), round=r)
            log("footprint", row)
            out["rounds"].append(row)
    # Sizes on disk.
    binary = os.path.realpath(args.edgevision)
    stripped = os.path.join(args.out, "edgevision.stripped")
    shutil.copyfile(binary, stripped)
    subprocess.run(["strip", stripped], check=True)
    ev_libs = lib_sizes(binary)
    node = shutil.which("node")
    ort_dir = glob.glob(os.path.join(NODE_DIR, "node_modules", "onnxruntime-node", "bin", "napi-v*", "linux",
                                     "x64"))
    import cv2
    import numpy
    import PIL
    import flask
    cv2_so = glob.glob(os.path.join(os.path.dirname(cv2.__file__), "*.so")) or [cv2.__file__]
    out["sizes"] = {
        "edgevision": {"binary": os.path.getsize(binary), "stripped": os.path.getsize(stripped),
                       "shared_libs": sum(ev_libs.values()), "shared_lib_count": len(ev_libs),
                       "largest_libs": sorted(ev_libs.items(), key=lambda kv: -kv[1])[:6]},
        "node-ort": {"node_binary": os.path.getsize(os.path.realpath(node)),
                     "node_shared_libs": sum(lib_sizes(os.path.realpath(node)).values()),
                     "onnxruntime_node": sum(dir_size(d) for d in ort_dir),
                     "node_modules_total": dir_size(os.path.join(NODE_DIR, "node_modules"))},
        "flask-opencv": {"python_binary": os.path.getsize(os.path.realpath(PY)),
                         "cv2_and_its_libs": sum(os.path.getsize(p) for p in cv2_so) +
                         sum(lib_sizes(cv2_so[0]).values()),
                         "numpy": dir_size(os.path.dirname(numpy.__file__)),
                         "PIL": dir_size(os.path.dirname(PIL.__file__)),
                         "flask": dir_size(os.path.dirname(flask.__file__))},
    }
    results["footprint"] = out


# --- report ----------------------------------------------------------------------


def write_report(results, out_dir):
    lines = []
    m = results["machine"]
    lines.append("# edgevision benchmark — %s" % results["started"])
    lines.append("")
    lines.append("Machine: %s, %s CPUs, SIMD %s, kernel %s. Cores used: %s. Rounds: %d. "
                 "Load average at start %s, at end %s." % (
                     m.get("Model name"), m.get("cpus"), " ".join(m.get("simd", [])), m.get("kernel"),
                     results["cores"], results["rounds"], results["loadavg_start"], results.get("loadavg_end")))
    lines.append("")
    if "peak" in results:
        p = results["peak"]
        lines.append("Peak FP32 (best of rounds): FMA kernel %.1f GFLOP/s (1 thread), %.1f (2 threads); "
                     "XNNPACK GEMM %.1f (1 thread), %.1f (2 threads)." % (
                         p["fma_1"], p["fma_2"], p["xnn_gemm_1"], p["xnn_gemm_2"]))
        lines.append("")
    if "engine" in results:
        rows = engine_table(results)
        results["engine"]["table"] = rows
        lines.append("## Engine only (batch 1), median ms over rounds (min–max)")
        lines.append("")
        lines.append("| model | thr | MMACs | floor ms | edgevision | ONNX Runtime | OpenCV DNN | ev/ORT | ev/OpenCV "
                     "| ev/floor | ORT/floor | load |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            lines.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                r["model"], r["threads"], "%.0f" % (r["multiply_adds"] / 1e6) if r["multiply_adds"] else "—",
                "%.2f" % r["floor_ms"] if r["floor_ms"] else "—",
                fmt(r["edgevision"]), fmt(r["ort"]), fmt(r["opencv"]), fmt(r["ev_over_ort"]),
                fmt(r["ev_over_opencv"]), fmt(r["edgevision_over_floor"], 1), fmt(r["ort_over_floor"], 1),
                fmt(r["loadavg"], 1)))
        lines.append("")
    if "detector" in results:
        rows = detector_table(results)
        results["detector"]["table"] = rows
        lines.append("## Object detector (%s, input 448x608), median ms over rounds (min–max)" %
                     results["detector"]["model"])
        lines.append("")
        lines.append("Engine alone: edgevision vs ONNX Runtime on the same ONNX file and cores. Whole path: "
                     "`edgevision bench --image %s`, per stage (decode, resize, infer, decode+NMS)." %
                     results["detector"]["image"])
        lines.append("")
        lines.append("| thr | MMACs | edgevision | ONNX Runtime | ev/ORT | path | decode | resize | infer | "
                     "decode+NMS | load |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            lines.append("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                r["threads"], "%.0f" % (r["multiply_adds"] / 1e6) if r["multiply_adds"] else "—",
                fmt(r["edgevision"]), fmt(r["ort"]), fmt(r["ev_over_ort"]), fmt(r["path"]), fmt(r["decode_ms"]),
                fmt(r["resize_ms"]), fmt(r["infer_ms"]), fmt(r["postprocess_ms"], 3), fmt(r["loadavg"], 1)))
        lines.append("")
    if "http" in results:
        rows = http_table(results)
        results["http"]["table"] = rows
        lines.append("## HTTP end to end (POST /image, model %s)" % results["http"]["model"])
        lines.append("")
        lines.append("| server | image | conc. | req/s | p50 ms | p99 ms | p99/p50 | page faults/req | CPU ms/req "
                     "| requests | lost or failed |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            lines.append("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %d | %d |" % (
                r["server"], r["image"], r["concurrency"], fmt(r["rps"], 1), fmt(r["p50_ms"]), fmt(r["p99_ms"]),
                fmt(r["p99_over_p50"]), fmt(r["faults_per_request"], 1), fmt(r["cpu_ms_per_request"]),
                r["requests"], r["lost_or_failed"]))
        lines.append("")
        targets = http_targets(results, rows)
        results["http"]["targets"] = targets
        lines.append("### Request-path targets (issue 17), edgevision")
        lines.append("")
        lines.append("| image | in-process ms | HTTP p50 ms (conc. 1) | overhead ms (target ≤ 1.0) "
                     "| page faults/req (target ≤ 5) | req/s conc. 2 | req/s conc. 8 (target ≥ conc. 2) |")
        lines.append("|---|---|---|---|---|---|---|")
        for t in targets:
            lines.append("| %s | %s | %s | %.2f | %s | %s | %s |" % (
                t["image"], fmt(t["inproc_ms"]), fmt(t["p50_ms"]), t["overhead_ms"], fmt(t["faults_per_request"], 1),
                fmt(t["rps_c2"], 1), fmt(t["rps_c8"], 1)))
        lines.append("")
        lines.append("predict.py's per-pixel Python resize loop (not in the Flask peer; add it for the real "
                     "container): " + ", ".join("%s %.0f ms" % kv for kv in results["predict_py_loop_ms"].items()))
        lines.append("")
        write_plot_data(results, rows, out_dir)
    if "footprint" in results:
        f = results["footprint"]
        lines.append("## Footprint (after %d requests; ready = exec to first 200 on POST /image)" % (
            f["rounds"][0]["requests"] if f["rounds"] else 0))
        lines.append("")
        lines.append("| server | ready ms | RSS when ready MB | RSS after MB | RSS peak under churn MB "
                     "| RSS after churn MB | peak RSS MB |")
        lines.append("|---|---|---|---|---|---|---|")
        for kind in SERVERS:
            rs = [x for x in f["rounds"] if x["server"] == kind]
            lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                kind, fmt(summary([x["ready_ms"] for x in rs]), 0),
                fmt(summary([x["rss_ready_kb"] / 1024 for x in rs]), 1),
                fmt(summary([x["rss_kb"] / 1024 for x in rs]), 1),
                fmt(summary([x["rss_churn_peak_kb"] / 1024 for x in rs]), 1),
                fmt(summary([x["rss_after_churn_kb"] / 1024 for x in rs]), 1),
                fmt(summary([x["hwm_kb"] / 1024 for x in rs]), 1)))
        lines.append("")
        lines.append("Sizes (bytes): `%s`" % json.dumps(f["sizes"]))
        lines.append("")
    lines.append("Load average at end: %s" % results.get("loadavg_end"))
    with open(os.path.join(out_dir, "summary.md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return "\n".join(lines)


def write_plot_data(results, rows, out_dir):
    """latency.dat: image pixels vs p50/p99 at concurrency 1 per server;
    throughput.dat: concurrency vs req/s for 640x480 per server."""
    with open(os.path.join(out_dir, "latency.dat"), "w") as f:
        f.write("# image megapixels " + " ".join("%s_p50 %s_p99" % (s, s) for s in SERVERS) + "\n")
        for (w, h) in IMAGE_SIZES:
            label = "%dx%d" % (w, h)
            vals = []
            for s in SERVERS:
                r = next((x for x in rows if x["server"] == s and x["image"] == label and x["concurrency"] == 1),
                         None)
                vals += ["%.3f" % r["p50_ms"]["median"], "%.3f" % r["p99_ms"]["median"]] if r else ["NaN", "NaN"]
            f.write("%s %.3f %s\n" % (label, w * h / 1e6, " ".join(vals)))
    with open(os.path.join(out_dir, "throughput.dat"), "w") as f:
        f.write("# concurrency " + " ".join(SERVERS) + " (640x480 req/s)\n")
        for c in CONCURRENCY:
            vals = []
            for s in SERVERS:
                r = next((x for x in rows if x["server"] == s and x["image"] == "640x480" and x["concurrency"] == c),
                         None)
                vals.append("%.2f" % r["rps"]["median"] if r else "NaN")
            f.write("%d %s\n" % (c, " ".join(vals)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgevision", required=True)
    ap.add_argument("--models", required=True, help="prepare_models.py's output")
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cores", default="0,1")
    ap.add_argument("--sections", default="peak,engine,detector,http,footprint")
    ap.add_argument("--fma-peak", required=True)
    ap.add_argument("--xnn-gemm-peak", required=True)
    ap.add_argument("--quick", action="store_true", help="fewer runs and shorter load tests")
    ap.add_argument("--only", help="engine section: only these models (comma-separated)")
    args = ap.parse_args()
    if args.only:
        wanted = args.only.split(",")
        unknown = [m for m in wanted if m not in dict(ENGINE_MODELS)]
        if unknown:
            ap.error("--only: unknown model(s) %s" % ", ".join(unknown))
        ENGINE_MODELS[:] = [m for m in ENGINE_MODELS if m[0] in wanted]
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.models, "models.json")) as f:
        models = json.load(f)
    sections = args.sections.split(",")
    results = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": machine(), "cores": args.cores,
               "rounds": args.rounds, "loadavg_start": loadavg(), "sections": sections}
    log("machine", results["machine"])
    images = make_images(args.out)
    if "peak" in sections:
        measure_peak(args, results)
    if "engine" in sections:
        measure_engine(args, models, results)
    if "detector" in sections:
        measure_detector(args, models, results)
    if "http" in sections:
        measure_http(args, models, results, images)
    if "footprint" in sections:
        measure_footprint(args, models, results, images)
    results["loadavg_end"] = loadavg()
    report = write_report(results, args.out)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(report)


if __name__ == "__main__":
    main()
