"""The Python twin of tests/test_support.h, for the Python tests.

skip_or_fail(reason) is what a test returns as its exit code when a component
it needs is missing: 77 (CTest's "skipped"), or 1 when EDGEVISION_REQUIRE_ALL=1
(CI sets it through .ci/run: there, nothing may skip).
"""

import hashlib
import json
import os
import re
import subprocess

SKIP = 77


def require_all():
    return os.environ.get("EDGEVISION_REQUIRE_ALL") == "1"


def skip_or_fail(reason):
    if require_all():
        print("FAIL: a required component is missing (EDGEVISION_REQUIRE_ALL=1): " + reason)
        return 1
    print("SKIP: " + reason)
    return SKIP


def time_scale():
    """EDGEVISION_TEST_TIME_SCALE as tests/test_support.h reads it: how many
    times slower than the 2-core x86 test machine this run's CPU is (10 under
    qemu-user); a number >= 1, anything else counts as 1."""
    try:
        scale = float(os.environ.get("EDGEVISION_TEST_TIME_SCALE", "1"))
    except ValueError:
        return 1.0
    return scale if scale >= 1.0 else 1.0


def scaled(seconds):
    """A time bound of `seconds` on the test machine, times time_scale()."""
    return seconds * time_scale()


def report(failures):
    """Prints each failure (or "ok") and returns the test's exit code."""
    for f in failures:
        print("FAIL: " + f)
    if not failures:
        print("ok")
    return 1 if failures else 0


def json_documents(text):
    """The JSON documents written one after another in `text` (e.g. `edgevision predict`'s output)."""
    dec = json.JSONDecoder()
    docs, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return docs
        doc, i = dec.raw_decode(text, i)
        docs.append(doc)


def seed_captures(data_dir, photos):
    """Stores `photos` as the capture store keeps them: <data_dir>/captures/<ab>/<sha256>.jpg."""
    for path in photos:
        with open(path, "rb") as f:
            data = f.read()
        digest = hashlib.sha256(data).hexdigest()
        os.makedirs(os.path.join(data_dir, "captures", digest[:2]), exist_ok=True)
        with open(os.path.join(data_dir, "captures", digest[:2], digest + ".jpg"), "wb") as f:
            f.write(data)


def start_int8_serve(binary, model, data_dir):
    """`serve --precision int8` on a loopback port (one thread): the process, and
    its port once the model is ready (serve_port)."""
    server = subprocess.Popen([binary, "serve", "--model", model, "--precision", "int8", "--data-dir", data_dir,
                               "--host", "127.0.0.1", "--port", "0", "--threads", "1"],
                              stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    return (server,) + serve_port(server)


def serve_port(server):
    """Reads a `serve` process's stderr (text) until it listens and its model is
    ready: (port, None), or (None, the last log lines) when it ends first.
    Waits on the log lines, not on a clock."""
    port, ready, log = None, False, []
    for line in server.stderr:
        log.append(line)
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        port = int(m.group(1)) if m else port
        ready = ready or re.search(r"model .* ready in", line) is not None
        if port and ready:
            return port, None
    return None, "".join(log[-20:])
