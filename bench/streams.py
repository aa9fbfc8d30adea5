#!/usr/bin/python3
"""Live-source speed (issue 15): frames per second per source and model, and
CPU per frame split into demux/decode, resize and inference.

    bench/streams.py --edgevision build/src/cli/edgevision [--model DIR | --synthetic-detector] [--seconds 20]
                     [--threads 1,2] [--codecs h264,mjpeg] [--rate 25]

For each codec and thread count: makes a 640x480 video at --rate fps from
the test photos with Debian's ffmpeg, runs `edgevision serve --threads N
--workers 1 --source cam=VIDEO,fps=0,loop=true` (the file is read at its own rate, as a
camera sends), waits --seconds, and reads GET /sources:
  fps_in / fps_out              frames read / classified per second
  read_cpu_ms                   reader thread CPU per frame read (demux + H.264 decode + RGB conversion)
  decode_per_classified_ms      read CPU per classified frame (every frame must be decoded) + the worker's JPEG decode
  preprocess_ms, inference_ms   the model's stages per classified frame
  decode_share                  decode_per_classified / inference (the issue's target: <= 0.20)
Not part of CI; prints one JSON line per run and a Markdown table.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTOS = os.path.join(REPO, "tests/data/cv-exports/iotedge-applebanana-tf/images")


def make_video(path, codec, rate, seconds=10):
    inputs, filt = [], ""
    photos = ["apple1.jpg", "banana1.jpg"]
    for i, p in enumerate(photos):
        inputs += ["-loop", "1", "-framerate", str(rate), "-t", str(seconds / 2), "-i", os.path.join(PHOTOS, p)]
        pix = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        filt += "[%d:v]scale=640:480,setsar=1,format=%s[s%d];" % (i, pix, i)
    filt += "".join("[s%d]" % i for i in range(len(photos))) + "concat=n=%d:v=1:a=0[v]" % len(photos)
    enc = ["-c:v", "mjpeg", "-q:v", "5"] if codec == "mjpeg" else ["-c:v", "libx264", "-preset", "veryfast", "-g", str(rate * 2)]
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"] + inputs +
                   ["-filter_complex", filt, "-map", "[v]", "-r", str(rate)] + enc + [path], check=True)


def run(edgevision, model, video, threads, seconds):
    # One source classifies one frame at a time: all threads go to that one inference.
    args = [edgevision, "serve", "--host", "127.0.0.1", "--port", "0", "--threads", str(threads), "--workers", "1",
            "--source", "cam=%s,fps=0,loop=true,debounce=3" % video]
    if model:
        args += ["--model", model]
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(args, stderr=log, stdout=subprocess.DEVNULL)
    try:
        port = None
        deadline = time.time() + 60
        while port is None and time.time() < deadline:
            log.seek(0)
            m = re.search(rb"listening on 127\.0\.0\.1:(\d+) ", log.read())
            if m:
                port = int(m.group(1))
            else:
                time.sleep(0.05)
        url = "http://127.0.0.1:%d/sources" % port
        get = lambda: json.load(urllib.request.urlopen(url))["sources"][0]
        while get()["framesOut"] < 10:  # warm: the model is loaded and frames flow
            time.sleep(0.1)
        a, t0 = get(), time.time()
        time.sleep(seconds)  # the measurement window
        b, t1 = get(), time.time()
    finally:
        proc.terminate()
        proc.wait()
    dt = t1 - t0
    fin = (b["framesIn"] - a["framesIn"]) / dt
    fout = (b["framesOut"] - a["framesOut"]) / dt
    ms = b["msPerFrame"]
    decode_per_classified = ms["readCpu"] * (fin / fout if fout else 0) + ms["decode"]
    return {"threads": threads, "fps_in": round(fin, 2), "fps_out": round(fout, 2),
            "dropped_share": round(1 - fout / fin, 3) if fin else None,
            "read_cpu_ms": round(ms["readCpu"], 2), "worker_decode_ms": round(ms["decode"], 2),
            "decode_per_classified_ms": round(decode_per_classified, 2),
            "preprocess_ms": round(ms["preprocess"], 2), "inference_ms": round(ms["inference"], 2),
            "decode_share": round(decode_per_classified / ms["inference"], 3) if ms["inference"] else None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgevision", required=True)
    ap.add_argument("--model", default="", help="an export (default: the demo classifier)")
    ap.add_argument("--synthetic-detector", action="store_true",
                    help="the synthetic compact detector (tests/data/synthetic/yolo_compact_fruit.onnx) instead")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--codecs", default="h264,mjpeg")
    ap.add_argument("--rate", type=int, default=25)
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if a.synthetic_detector:  # as tests/test_support.h's MakeSyntheticDetectorExport
            a.model = os.path.join(tmp, "detector")
            os.makedirs(a.model)
            data = os.path.join(REPO, "tests/data")
            shutil.copy(os.path.join(data, "synthetic/yolo_compact_fruit.onnx"), os.path.join(a.model, "model.onnx"))
            for f in ("cvexport.manifest", "metadata_properties.json"):
                shutil.copy(os.path.join(data, "detection/exports/onnx-yolo-2024", f), os.path.join(a.model, f))
            with open(os.path.join(a.model, "labels.txt"), "w") as f:
                f.write("apple\nbanana\n")
        for codec in a.codecs.split(","):
            video = os.path.join(tmp, "cam_%s.%s" % (codec, "avi" if codec == "mjpeg" else "mp4"))
            make_video(video, codec, a.rate)
            for threads in [int(t) for t in a.threads.split(",")]:
                r = run(a.edgevision, a.model, video, threads, a.seconds)
                r["codec"] = codec
                print(json.dumps(r), flush=True)
                rows.append(r)
    print("\n| source | threads | fps in | fps out | read CPU/frame read | decode/classified frame | preprocess | inference | decode/inference |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| 640x480 %s @%d fps | %d | %.1f | %.1f | %.2f ms | %.2f ms | %.2f ms | %.2f ms | %.0f %% |" % (
            r["codec"], a.rate, r["threads"], r["fps_in"], r["fps_out"], r["read_cpu_ms"],
            r["decode_per_classified_ms"], r["preprocess_ms"], r["inference_ms"], 100 * (r["decode_share"] or 0)))


if __name__ == "__main__":
    sys.exit(main())
