#!/usr/bin/env python3
"""What --capture all adds to a POST /image, end to end (docs/store.md, "Measured").

Start two servers on the same machine, identical but for capturing:
  edgevision serve --port 18091 --data-dir A --workers 1 --threads 1
  edgevision serve --port 18092 --data-dir B --workers 1 --threads 1 --capture all
then:  python3 src/store/capture_overhead.py IMAGE.jpg 18091 18092 [N]

Requests alternate between the servers (keep-alive, sequential). Eight random
bytes are appended after the JPEG's end, so the pixels (and the prediction) are
the same but every capture is a new file (identical images are stored once).
Prints the mean and median latency of each server. Measures; asserts nothing.
"""
import http.client
import os
import statistics
import sys
import time


def main():
    img = open(sys.argv[1], "rb").read()
    ports = [int(p) for p in sys.argv[2:4]]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 300
    conns = [http.client.HTTPConnection("127.0.0.1", p) for p in ports]
    lat = [[], []]
    for i in range(n):
        for k in (0, 1) if i % 2 == 0 else (1, 0):
            body = img + os.urandom(8)
            t0 = time.perf_counter()
            conns[k].request("POST", "/image", body, {"Content-Type": "application/octet-stream"})
            r = conns[k].getresponse()
            r.read()
            if r.status != 200:
                sys.exit(f"port {ports[k]}: HTTP {r.status}")
            lat[k].append((time.perf_counter() - t0) * 1000)
    for k in (0, 1):
        print(f"port {ports[k]}: mean {statistics.mean(lat[k]):.2f} ms, "
              f"p50 {statistics.median(lat[k]):.2f} ms over {n} requests")


if __name__ == "__main__":
    main()
