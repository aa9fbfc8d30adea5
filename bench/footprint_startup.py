#!/usr/bin/python3
"""Start-up footprint of one or more edgevision binaries, side by side (issue 17).

For each binary, alternating in every round (so machine load hits all alike):
  - ready ms: exec of `serve` (the food export, --threads 2: 2 workers, loopback port) to the
    first 200 answer to POST /image, as bench/harness.py measures it;
  - RSS at ready: the Rss line of /proc/PID/smaps_rollup right then, and the
    Pss line (shared library pages counted by share);
  - libraries: distinct shared objects mapped (/proc/PID/maps, *.so*);
  - --version maxrss: peak RSS of `edgevision --version`, as
    `/usr/bin/time -f %M` prints it.
Prints one line per round and binary, then the median (min-max) of each.

usage: footprint_startup.py [--rounds N] [--cores 0,1] [--model DIR] [--env NAME=VALUE]... LABEL=BINARY...
"""
import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPORTS = os.path.join(ROOT, "tests", "data", "cv-exports")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smaps_rollup(pid):
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                out[parts[0][:-1]] = int(parts[1])
    return out


def libraries(pid):
    libs = set()
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and ".so" in os.path.basename(parts[5]):
                libs.add(parts[5])
    return len(libs)


def post(port, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("POST", "/image", body=body, headers={"Content-Type": "application/octet-stream"})
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def version_maxrss_kb(binary, env):
    # /usr/bin/time (package time): its child is a fresh fork of a small
    # process. (getrusage of a child spawned from here would report this
    # Python's RSS: the high-water mark survives exec.)
    out = subprocess.run(["/usr/bin/time", "-f", "%M", binary, "--version"], env=env, check=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return int(out.stderr.strip().splitlines()[-1])


def one_run(binary, args, env, body, data_dir):
    port = free_port()
    cmd = ["taskset", "-c", args.cores, binary, "serve", "--model", args.model, "--host", "127.0.0.1",
           "--port", str(port), "--threads", "2", "--data-dir", data_dir, "--config", "none"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError("%s exited with %s" % (binary, proc.returncode))
            try:
                if post(port, body) == 200:
                    break
            except OSError:
                pass
            if time.perf_counter() - t0 > 120:
                raise RuntimeError("%s not ready after 120 s" % binary)
            time.sleep(0.002)  # poll interval between attempts, not a synchronisation
        ready_ms = (time.perf_counter() - t0) * 1e3
        roll = smaps_rollup(proc.pid)
        return {"ready_ms": ready_ms, "rss_mb": roll["Rss"] / 1024, "pss_mb": roll["Pss"] / 1024,
                "libraries": libraries(proc.pid), "version_maxrss_mb": version_maxrss_kb(binary, env) / 1024}
    finally:
        proc.terminate()
        proc.wait()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--cores", default="0,1")
    p.add_argument("--model", default=os.path.join(EXPORTS, "winml-food-onnx"))
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE for every server")
    p.add_argument("binaries", nargs="+", help="LABEL=PATH")
    args = p.parse_args()
    binaries = [b.split("=", 1) for b in args.binaries]
    env = dict(os.environ)
    for e in args.env:
        k, _, v = e.partition("=")
        env[k] = v
    with open(os.path.join(EXPORTS, "iotedge-applebanana-tf", "images", "apple1.jpg"), "rb") as f:
        body = f.read()
    rows = {label: [] for label, _ in binaries}
    print("load average at start: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    for r in range(args.rounds):
        order = binaries[r % len(binaries):] + binaries[:r % len(binaries)]
        for label, binary in order:
            with tempfile.TemporaryDirectory(prefix="ev-footprint-") as data_dir:
                row = one_run(binary, args, env, body, data_dir)
            rows[label].append(row)
            print("round %d %-8s ready %6.1f ms  RSS %5.1f MB  PSS %5.1f MB  libraries %3d  --version maxrss %5.1f MB"
                  % (r, label, row["ready_ms"], row["rss_mb"], row["pss_mb"], row["libraries"],
                     row["version_maxrss_mb"]), flush=True)
    print("load average at end: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    print()
    print("| binary | ready ms | RSS at ready MB | PSS at ready MB | libraries | --version maxrss MB |")
    print("|---|---|---|---|---|---|")
    for label, _ in binaries:
        cells = []
        for key, digits in (("ready_ms", 0), ("rss_mb", 1), ("pss_mb", 1), ("libraries", 0),
                            ("version_maxrss_mb", 1)):
            v = [x[key] for x in rows[label]]
            cells.append("%.*f (%.*f–%.*f)" % (digits, statistics.median(v), digits, min(v), digits, max(v)))
        print("| %s | %s |" % (label, " | ".join(cells)))
    print("\n(medians of %d rounds, min–max; MB = MiB)" % args.rounds)


if __name__ == "__main__":
    sys.exit(main())
