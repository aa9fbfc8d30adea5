#!/usr/bin/env python3
"""Writes the hand-made seeds of the request and json fuzzers (seeds/<target>/).

Run from anywhere; the output is committed. Requests start with the selector
byte request_fuzzer.cc expects (0: no keys, 1: keys configured).
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KEY = b"fuzz-prediction-key-0123456789"
JPEG = open(os.path.join(ROOT, "tests/data/images/jpeg/one_pixel.jpg"), "rb").read()
PNG = open(os.path.join(ROOT, "tests/data/images/bad/truncated.png"), "rb").read()[:300]
UUID = b"0b5c2a52-1b2c-4d5e-8f90-0123456789ab"


def req(method, path, headers=(), body=b""):
    out = method + b" " + path + b" HTTP/1.1\r\nHost: edge\r\n"
    for h in headers:
        out += h + b"\r\n"
    if body and not any(h.lower().startswith(b"transfer-encoding") for h in headers):
        out += b"Content-Length: " + str(len(body)).encode() + b"\r\n"
    return out + b"\r\n" + body


def multipart(name, content, boundary=b"b0undary"):
    return (b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"" + name +
            b"\"; filename=\"x.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n" + content +
            b"\r\n--" + boundary + b"--\r\n")


def chunked(body, size=100):
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


CT_MP = b"Content-Type: multipart/form-data; boundary=b0undary"
CT_JSON = b"Content-Type: application/json"
KEYH = b"Prediction-Key: " + KEY
CLOUD = b"/customvision/v3.0/Prediction/0a1b2c3d/classify/iterations/Iteration1"
requests = {
    "get_health": req(b"GET", b"/health"),
    "get_root_head": req(b"HEAD", b"/"),
    "post_image_raw": req(b"POST", b"/image", [b"Content-Type: application/octet-stream"], JPEG),
    "post_image_multipart": req(b"POST", b"/image", [CT_MP], multipart(b"imageData", JPEG)),
    "post_image_multipart_wrong_name": req(b"POST", b"/p/image/nostore", [CT_MP], multipart(b"file", JPEG)),
    "post_image_chunked": req(b"POST", b"/image", [b"Transfer-Encoding: chunked"], chunked(JPEG)),
    "post_png_truncated": req(b"POST", b"/proj/classify/iterations/It1/image", [], PNG),
    "post_cloud_image": req(b"POST", CLOUD + b"/image/nostore", [KEYH, CT_MP], multipart(b"imageData", JPEG)),
    "post_url": req(b"POST", b"/url", [CT_JSON], b'{"url": "http://camera.local/snap.jpg"}'),
    "post_cloud_url": req(b"POST", CLOUD + b"/url", [KEYH, CT_JSON], b'{"Url": "https://x/y.png"}'),
    "get_captures": req(b"GET", b"/captures?tag=Apple&min_p=0.5&limit=10&order=oldest"),
    "get_capture": req(b"GET", b"/captures/" + UUID),
    "get_capture_traversal": req(b"GET", b"/captures/..%2f..%2fetc%2fpasswd/image"),
    "put_label": req(b"PUT", b"/captures/" + UUID + b"/label", [CT_JSON], b'{"label": "Apple"}'),
    "delete_capture": req(b"DELETE", b"/captures/" + UUID),
    "post_reload": req(b"POST", b"/model/reload", [KEYH]),
    "pipelined": req(b"GET", b"/health/live") + req(b"POST", b"/image", [], JPEG) + req(b"GET", b"/review"),
    "expect_continue": req(b"POST", b"/image", [b"Expect: 100-continue"], JPEG),
    "range_header": req(b"GET", b"/review/review.js", [b"Range: bytes=0-10,20-30"]),
    # Framing the transport refuses or closes on (framing.h; docs/security.md "HTTP layer").
    "range_many": req(b"GET", b"/review/review.js", [b"Range: bytes=0-0" + b",0-" * 300]),
    "smuggle_get_body": req(b"GET", b"/health", [], req(b"GET", b"/smuggled")),
    "smuggle_cl_te": b"POST /image HTTP/1.1\r\nHost: edge\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"0\r\n\r\n" + req(b"GET", b"/smuggled"),
    "duplicate_cl": b"POST /image HTTP/1.1\r\nHost: edge\r\nContent-Length: 0\r\nContent-Length: 3\r\n\r\nabc",
    "bare_lf": b"POST /image HTTP/1.1\nHost: edge\nContent-Length: 0\n\n",
    "chunk_ext_trailer": req(b"POST", b"/image", [b"Transfer-Encoding: chunked"],
                             b"%x;a=b;c=\"d\"\r\n" % len(JPEG) + JPEG + b"\r\n0\r\n\r\n"),
    "chunk_lenient": req(b"POST", b"/image", [b"Transfer-Encoding: chunked"], b"0x4\r\nabcd\r\n 0\r\n\r\n"),
    "pri_body": req(b"PRI", b"/image", [b"Transfer-Encoding: chunked"], chunked(b"x" * 300)),
    "multipart_empty_parts": req(b"POST", b"/image", [CT_MP],
                                 b"--b0undary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\r\n" * 20 +
                                 b"--b0undary--\r\n"),
    "multipart_quoted": req(b"POST", b"/image", [b'Content-Type: multipart/form-data; boundary="b;0"'],
                            multipart(b"imageData", JPEG, b"b;0")),
    "url_nested_json": req(b"POST", b"/url", [CT_JSON], b"[" * 40 + b"]" * 40),
    "cross_site": req(b"POST", b"/model/reload", [b"Origin: http://evil.example"]),
}
os.makedirs(os.path.join(HERE, "seeds/request"), exist_ok=True)
for name, raw in requests.items():
    for selector in (0, 1):
        if selector == 1 and name in ("get_root_head", "range_header"):
            continue
        with open(os.path.join(HERE, "seeds/request", "%s_%d.http" % (name, selector)), "wb") as f:
            f.write(bytes([selector]) + raw)

json_seeds = {
    "url": b'{"url": "http://192.168.1.20/snap.jpg"}',
    "url_spellings": b'{"Url": "https://cam/x.png", "URL": 1}',
    "url_unicode": b'{"url": "http://k\\u00e4mera/\\ud83d\\ude00.jpg"}',
    "label": b'{"label": "Apple"}',
    "label_null": b'{"label": null}',
    "nested": b'{"url": {"url": [1, 2.5e300, true, null, "x"]}}',
    "deep": b"[" * 17 + b"]" * 17,
    "deep_in_string": b'{"url": "' + b"[" * 40 + b'"}',
}
os.makedirs(os.path.join(HERE, "seeds/json"), exist_ok=True)
# framing_fuzzer.cc: selector byte (0 head, 1 chunked body, 2 multipart body), then the bytes.
framing_seeds = {
    "head": b"\x00" + req(b"POST", b"/image?x=1", [b"Transfer-Encoding: chunked", b"Range: bytes=0-1"]),
    "head_cl_te": b"\x00" + b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    "head_bare_lf": b"\x00GET / HTTP/1.1\nHost: x\n\n",
    "chunked": b"\x01" + chunked(JPEG, 37),
    "chunked_trailer": b"\x01" + chunked(b"abc")[:-2] + b"X-T: 1\r\n\r\n",
    "chunked_ext": b"\x01" + b"a;x=y\r\n0123456789\r\n0\r\n\r\n",
    "multipart": b"\x02" + multipart(b"imageData", JPEG),
    "multipart_two": b"\x02" + multipart(b"a", b"1")[:-len(b"--b0undary--\r\n")] + multipart(b"imageData", b"2"),
}
os.makedirs(os.path.join(HERE, "seeds/framing"), exist_ok=True)
for name, raw in framing_seeds.items():
    with open(os.path.join(HERE, "seeds/framing", name + ".bin"), "wb") as f:
        f.write(raw)
for name, raw in json_seeds.items():
    with open(os.path.join(HERE, "seeds/json", name + ".json"), "wb") as f:
        f.write(raw)
