"""A/B of two edgevision binaries' HTTP layer (docs/security.md "HTTP layer").

Sequential keep-alive requests on loopback (GET /health/live, 1000 per round;
POST /image, 60 per round) against both binaries, five alternating rounds,
one worker each; prints the median latency per round, the after/before
ratios and VmRSS after each round.

  MODEL=tests/data/cv-exports/iotedge-applebanana-tf \
    /usr/bin/python3 bench/http_layer_ab.py OLD_BINARY NEW_BINARY IMAGE.jpg
"""
import os, socket, subprocess, sys, time, statistics, json
bins = {"before": sys.argv[1], "after": sys.argv[2]}
img = open(sys.argv[3], "rb").read()
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def start(b):
    port = free_port()
    p = subprocess.Popen([b, "serve", "--model", os.environ["MODEL"], "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--threads", "1"],
                         stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", port)).close(); break
        except OSError: time.sleep(0.02)
    return p, port
def recv_response(s, buf):
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d: raise RuntimeError("closed")
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    n = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
    while len(rest) < n: rest += s.recv(65536)
    return rest[n:]
def run(port, req, n):
    s = socket.create_connection(("127.0.0.1", port)); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""; lat = []
    for _ in range(n):
        t = time.perf_counter(); s.sendall(req); buf = recv_response(s, buf); lat.append((time.perf_counter() - t) * 1e6)
    s.close(); return statistics.median(lat)
live = b"GET /health/live HTTP/1.1\r\nHost: e\r\n\r\n"
post = b"POST /image HTTP/1.1\r\nHost: e\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % len(img) + img
res = {k: {"live": [], "image": [], "rss_kib": []} for k in bins}
procs = {k: start(b) for k, b in bins.items()}
try:
    for rnd in range(5):
        for k in (["before", "after"] if rnd % 2 == 0 else ["after", "before"]):
            p, port = procs[k]
            res[k]["live"].append(run(port, live, 1000))
            res[k]["image"].append(run(port, post, 60))
            res[k]["rss_kib"].append(int([l for l in open("/proc/%d/status" % p.pid) if l.startswith("VmRSS")][0].split()[1]))
finally:
    for p, _ in procs.values(): p.terminate(); p.wait()
for k in bins:
    print(k, json.dumps({m: [round(v, 1) for v in vs] for m, vs in res[k].items()}))
for m in ("live", "image"):
    ratio = [a / b for a, b in zip(res["after"][m], res["before"][m])]
    print(m, "after/before median-latency ratio per round:", [round(r, 3) for r in ratio], "median", round(statistics.median(ratio), 3))
