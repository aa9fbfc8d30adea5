#!/usr/bin/python3
"""The confidence fallback of `--precision int8` (predict/int8_fallback.h) on
the real binary and a real export.

    int8_fallback_test.py EDGEVISION_BINARY

The docker22 apples/oranges export (one calibration photo: cheap to
calibrate, also under qemu) flips two near ties when int8 answers alone
(docs/performance.md, "int8"): a cheesecake photo (fp32 0.54 apple) and the
1-bit `bmp/mono1.bmp`. With the fallback (the default):
1. every answer's top-1 equals fp32's, on the two near ties and the 37 export
   photos; each answer that `predict` logs as a near tie is fp32's to the
   last digit, and int8 alone (`--int8-fallback off`) answers it otherwise:
   the fallback, not int8, answered it;
2. int8 alone flips at least one of the two near ties (the premise: without
   the fallback the test above would fail);
3. no decisive image falls back (fp32's top tag >= 0.9 of two: a log-odds
   margin of at least 4.4, far above the bound);
4. `inspect --json` reports the bound (the largest calibration error x the
   safety factor) and `--int8-fallback off`; `bench` times the fallback as
   served and says whether its input fell back; `serve` counts inferences
   and fallbacks in GET /health, and the near tie it answers is fp32's.
No speed is asserted; every time bound is times EDGEVISION_TEST_TIME_SCALE.
"""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))
import support  # noqa: E402  (tests/support.py)
EXPORTS = os.path.join(REPO, "tests", "data", "cv-exports")
MODEL = os.path.join(EXPORTS, "docker22-appleorange-tflite")
PHOTOS = sorted(glob.glob(os.path.join(EXPORTS, "*", "images", "**", "*.*"), recursive=True))
NEAR_TIES = [os.path.join(EXPORTS, "winml-food-onnx", "images", "Cheesecake", "2966085.jpg"),
             os.path.join(REPO, "tests", "data", "images", "bmp", "mono1.bmp")]
DECISIVE = 0.9  # fp32's top probability (of two tags: a log-odds margin >= 4.4)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=support.scaled(600))
    if p.returncode != 0:
        raise AssertionError("%s: exit %d: %s" % (" ".join(cmd), p.returncode, p.stderr[-2000:]))
    return p


def probabilities(doc):
    return {p["tagName"]: p["probability"] for p in doc["predictions"]}


def top1(doc):
    p = probabilities(doc)
    return max(p, key=p.get) if p else None


def predict(binary, images, extra):
    p = run([binary, "predict", "--model", MODEL] + extra + images)
    docs = support.json_documents(p.stdout)
    if len(docs) != len(images):
        raise AssertionError("%d answers for %d images: %s" % (len(docs), len(images), p.stderr[-1000:]))
    fell_back = set(re.findall(r"int8: (.*): near tie \(", p.stderr))
    return dict(zip(images, docs)), fell_back, p.stderr


def check_answers(binary, data):
    failures = []
    images = NEAR_TIES + [p for p in PHOTOS if p not in NEAR_TIES]
    int8 = ["--precision", "int8", "--data-dir", data]
    fp32, _, _ = predict(binary, images, [])
    served, fell_back, log = predict(binary, images, int8)
    alone, alone_fell_back, alone_log = predict(binary, images, int8 + ["--int8-fallback", "off"])
    m = re.search(r"int8: fp32 answered (\d+) of (\d+) image", log)
    if not m or int(m.group(1)) != len(fell_back) or int(m.group(2)) != len(images):
        failures.append("predict's fallback summary: %r for %d near-tie lines" % (m and m.group(0), len(fell_back)))
    if alone_fell_back or "fp32 answered" in alone_log or "no fp32 fallback (--int8-fallback off)" not in alone_log:
        failures.append("--int8-fallback off still fell back: %s" % sorted(alone_fell_back))
    differ = [os.path.relpath(i, REPO) for i in images if top1(served[i]) != top1(fp32[i])]
    if differ:
        failures.append("with the fallback, top-1 still differs from fp32 on %s" % differ)
    if not set(NEAR_TIES) <= fell_back:
        failures.append("the near ties did not fall back: %s of %s" % (sorted(fell_back), NEAR_TIES))
    for i in sorted(fell_back):
        if probabilities(served[i]) != probabilities(fp32[i]):
            failures.append("%s fell back but the answer is not fp32's: %r vs %r" % (i, served[i], fp32[i]))
        if probabilities(alone[i]) == probabilities(fp32[i]):
            failures.append("%s: int8 alone answers exactly as fp32: nothing shows the fallback answered" % i)
    flips = [os.path.relpath(i, REPO) for i in NEAR_TIES if top1(alone[i]) != top1(fp32[i])]
    if not flips:
        failures.append("int8 alone flips neither near tie (%s): choose other images for this test"
                        % [(probabilities(fp32[i]), probabilities(alone[i])) for i in NEAR_TIES])
    decisive_fell_back = [i for i in fell_back if max(probabilities(fp32[i]).values()) >= DECISIVE]
    if decisive_fell_back:
        failures.append("decisive images fell back: %s" % decisive_fell_back)
    decisive = sum(max(probabilities(fp32[i]).values()) >= DECISIVE for i in images)
    print("int8 alone flips %s; the fallback answered %d of %d images, none of the %d decisive ones"
          % (flips, len(fell_back), len(images), decisive))
    if decisive < 10:
        failures.append("only %d decisive images among the photos" % decisive)
    return failures


def check_reports(binary, data):
    failures = []
    doc = json.loads(run([binary, "inspect", "--model", MODEL, "--json", "--precision", "int8",
                          "--data-dir", data]).stdout)
    fb = doc["int8"]["fallback"]
    if (fb.get("enabled") is not True or fb["inputs"] != 4 or fb["safety_factor"] < 1
            or abs(fb["bound"] - fb["max_margin_error"] * fb["safety_factor"]) > 1e-9 or fb["bound"] <= 0):
        failures.append("inspect --json int8.fallback: %r" % fb)
    off = json.loads(run([binary, "inspect", "--model", MODEL, "--json", "--precision", "int8", "--data-dir", data,
                          "--int8-fallback", "off"]).stdout)["int8"]["fallback"]
    if off.get("enabled") is not False or off["bound"] != fb["bound"]:
        failures.append("inspect --int8-fallback off: %r" % off)
    text = run([binary, "inspect", "--model", MODEL, "--precision", "int8", "--data-dir", data]).stdout
    if not re.search(r"fallback\s+fp32 answers when int8's top-two log-odds margin < %.4f" % fb["bound"], text):
        failures.append("inspect's text has no fallback line: %s" % text[-600:])
    for extra, enabled in (([], True), (["--int8-fallback", "off"], False)):
        bench = json.loads(run([binary, "bench", "--model", MODEL, "--precision", "int8", "--data-dir", data,
                                "--runs", "3", "--warmup", "1"] + extra).stdout)["int8"]["fallback"]
        expect = 3 if enabled and bench["bench_input_margin"] < bench["bound"] else 0
        if bench["enabled"] is not enabled or bench["inferences"] != 3 or bench["fallbacks"] != expect:
            failures.append("bench %s: int8.fallback %r (want %d fallbacks)" % (extra, bench, expect))
    return failures


def check_health(binary, data):
    failures = []
    server, port, log = support.start_int8_serve(binary, MODEL, data)
    try:
        if port is None:
            return ["serve --precision int8 did not start:\n" + log]
        base = "http://127.0.0.1:%d" % port
        answers = []
        for image in (NEAR_TIES[1], os.path.join(EXPORTS, "iotedge-applebanana-tf", "images", "apple1.jpg")):
            req = urllib.request.Request(base + "/image", data=open(image, "rb").read(),
                                         headers={"Content-Type": "application/octet-stream"})
            answers.append(json.load(urllib.request.urlopen(req, timeout=support.scaled(60))))
        fb = json.load(urllib.request.urlopen(base + "/health", timeout=support.scaled(60)))["model"]["int8"]["fallback"]
        if fb.get("enabled") is not True or fb.get("inferences") != 2 or fb.get("fallbacks") != 1 or fb.get("rate") != 0.5:
            failures.append("/health int8.fallback after a near tie and a decisive photo: %r" % fb)
        fp32, _, _ = predict(binary, [NEAR_TIES[1]], [])
        if probabilities(answers[0]) != probabilities(fp32[NEAR_TIES[1]]):
            failures.append("served near tie %r is not fp32's %r" % (answers[0], fp32[NEAR_TIES[1]]))
    finally:
        server.terminate()
        server.wait(timeout=support.scaled(60))
    return failures


def main():
    binary = sys.argv[1]
    failures = []
    with tempfile.TemporaryDirectory() as data:  # one calibration, cached for every check
        for check in (check_answers, check_reports, check_health):
            failures += check(binary, data)
    return support.report(failures)


if __name__ == "__main__":
    sys.exit(main())
