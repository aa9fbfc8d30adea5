#!/usr/bin/python3
"""A/B of the footprint of edgevision builds (issue 17, part 2): bench/harness.py's
footprint sequence (footprint_sequence: 2 workers on --cores' two CPUs, the food
export; ready ms, RSS when ready, after 1,000 keep-alive requests, peak under
connection churn; VmHWM, the kernel's high-water mark over the whole run, load
included), for each binary in turn, the order rotated every round.
No peers and no models to prepare: for the footprint section of the bench with
the peers, `bench/run.sh --quick --sections footprint`.

  bench/footprint_ab.py [--rounds 3] [--cores 0,1] [--quick] [--out DIR] LABEL=BINARY...

Prints one JSON line per measurement, then per binary the median (min-max) of
each figure in MB (MiB, /proc/PID/status VmRSS).
"""
import argparse
import json
import os
import statistics
import sys
import tempfile

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
import harness  # noqa: E402

FIGURES = [("ready_ms", "ready ms", 1), ("rss_ready_kb", "RSS ready MB", 1024),
           ("rss_kb", "after 1,000 MB", 1024), ("rss_churn_peak_kb", "churn peak MB", 1024),
           ("rss_after_churn_kb", "after churn MB", 1024), ("hwm_kb", "VmHWM MB", 1024)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cores", default="0,1")
    ap.add_argument("--quick", action="store_true", help="3 s of churn instead of 5")
    ap.add_argument("--out", help="server logs and images (default: a temporary directory)")
    ap.add_argument("builds", nargs="+", metavar="LABEL=BINARY")
    args = ap.parse_args()
    builds = [b.split("=", 1) for b in args.builds]
    if any(len(b) != 2 or not os.access(b[1], os.X_OK) for b in builds):
        ap.error("every build is LABEL=BINARY, an executable")
    args.out = args.out or tempfile.mkdtemp(prefix="footprint_ab-")
    os.makedirs(args.out, exist_ok=True)
    images = harness.make_images(args.out)
    models = {harness.HTTP_MODEL: {"edgevision": os.path.join(harness.EXPORTS, harness.HTTP_MODEL)}}
    rows = []
    for r in range(args.rounds):
        for label, binary in builds[r % len(builds):] + builds[:r % len(builds)]:
            args.edgevision = binary
            row = dict(harness.footprint_sequence(args, models, "edgevision", images), build=label, round=r)
            print(json.dumps(row), flush=True)
            rows.append(row)
    print("%-12s" % "build" + "".join("%24s" % name for _, name, _ in FIGURES))
    for label, _ in builds:
        mine = [x for x in rows if x["build"] == label]
        cells = []
        for key, _, scale in FIGURES:
            v = [x[key] / scale for x in mine]
            cells.append("%.1f (%.1f-%.1f)" % (statistics.median(v), min(v), max(v)))
        print("%-12s" % label + "".join("%24s" % c for c in cells))
    lost = [x for x in rows if x["ok"] != x["requests"] or x["churn_ok"] != x["churn_requests"]]
    if lost:
        print("FAILED requests in %d runs" % len(lost))
        sys.exit(1)


if __name__ == "__main__":
    main()
