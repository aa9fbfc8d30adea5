#!/usr/bin/python3
"""conc-2 vs conc-8 throughput of `serve` binaries (issue 17 part 1), interleaved.

  MODEL=DIR IMAGE=FILE.jpg [ROUNDS=4] [SECS=4] [SERVE_ARGS=...] bench/conc_ab.py NAME=BINARY...

Per round, each binary in turn (order rotated) is started on cores 0,1 with
the default workers; wrk -c2 and -c8 (order alternating by round) run for
SECS each, with `perf stat -e task-clock,context-switches,cpu-migrations`
on the server around each cell. Prints one JSON line per cell and a summary
per binary and concurrency: median (min-max)."""
import json, os, subprocess, sys, time, urllib.request, statistics
BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
from harness import free_port  # noqa: E402
model = os.environ["MODEL"]
image = os.environ["IMAGE"]
secs = int(os.environ.get("SECS", "4"))
rounds = int(os.environ.get("ROUNDS", "3"))
bins = dict(a.split("=", 1) for a in sys.argv[1:])
NICE = os.environ.get("NICE", "").split()
extra = os.environ.get("SERVE_ARGS", "").split()

def wrk(port, conc):
    env = dict(os.environ, WRK_BODY=image, WRK_CLOSE="0")
    cmd = NICE + ["taskset", "-c", "0,1", "wrk", "-t%d" % min(conc, 2), "-c%d" % conc, "-d%ds" % secs, "--timeout", "10s",
           "-s", os.path.join(BENCH, "http", "post.lua"), "http://127.0.0.1:%d/image" % port]
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env).stdout
    for line in out.splitlines():
        if line.startswith("WRKJSON "):
            d = json.loads(line[8:]); return d["requests"] / (d["duration_us"] / 1e6), d["requests"]

def perf_cell(pid, port, conc):
    p = subprocess.Popen(["perf", "stat", "-x,", "-e", "task-clock,context-switches,cpu-migrations", "-p", str(pid)],
                         stderr=subprocess.PIPE, text=True)
    time.sleep(0.2)
    rps, n = wrk(port, conc)
    p.send_signal(2); err = p.communicate()[1]
    st = {}
    for line in err.splitlines():
        f = line.split(",")
        if len(f) > 3:
            try: st[f[2]] = float(f[0])
            except ValueError: pass
    return dict(rps=rps, cpu_ms_req=st.get("task-clock", 0) / n, cs_req=st.get("context-switches", 0) / n,
                mig_req=st.get("cpu-migrations", 0) / n)

res = {}
for r in range(rounds):
    names = list(bins)
    names = names[r % len(names):] + names[:r % len(names)]
    for name in names:
        port = free_port()
        proc = subprocess.Popen(NICE + ["taskset", "-c", "0,1", bins[name], "serve", "--model", model, "--host", "127.0.0.1",
                                 "--port", str(port)] + extra, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/health/ready" % port, timeout=2) as resp:
                    if resp.status == 200: break
            except OSError: time.sleep(0.05)
        wrk(port, 2)
        for conc in ([2, 8] if r % 2 == 0 else [8, 2]):
            c = perf_cell(proc.pid, port, conc)
            c["load"] = os.getloadavg()[0]
            print(json.dumps(dict(round=r, bin=name, conc=conc, **c)), flush=True)
            res.setdefault((name, conc), []).append(c)
        proc.terminate(); proc.wait()
for (name, conc), cs in sorted(res.items()):
    f = lambda k: "%.2f (%.2f-%.2f)" % (statistics.median(c[k] for c in cs), min(c[k] for c in cs), max(c[k] for c in cs))
    print(name, "conc", conc, "rps", f("rps"), "cpu_ms/req", f("cpu_ms_req"), "cs/req", f("cs_req"), "mig/req", f("mig_req"))
