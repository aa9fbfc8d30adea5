#!/usr/bin/python3
"""Regenerates tests/data/images/corpus/: decoder-parity variants of BMP, PNG,
GIF and JPEG, compared with Pillow by tests/parity/compare_decoders.py.

Run with Debian's Python (python3-pil 9.4), ImageMagick 6 (`imagemagick`:
/usr/bin/convert) and libjpeg-turbo's tools (`libjpeg-turbo-progs`: cjpeg,
jpegtran). Only this generator needs them; the tests use the committed files.
    /usr/bin/python3 tests/parity/make_decoder_corpus.py [--bmpsuite ../shared/test-images/bmpsuite]

With --bmpsuite it also copies Jason Summers' BMP Suite (its g/, q/ and b/
folders, public domain) to tests/data/images/bmpsuite/.

Every picture is cut from tests/data/images/png/rgb.png (itself derived from
an export's sample photo, see tests/data/images/SOURCE.md). Files come from
three writers: Pillow, ImageMagick / libjpeg-turbo, and the small BMP, RLE
and chunk writers below, which make what neither tool writes (RLE escapes,
odd headers, PIL's quirks, broken files).
"""

import argparse
import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_test_images import write  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(REPO, "tests", "data", "images", "corpus")
CONVERT = "/usr/bin/convert"  # /usr/local/bin/convert may be a stand-in


def out(*parts):
    path = os.path.join(OUT, *parts)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def run(*cmd):
    subprocess.run(cmd, check=True)


def source():
    im = Image.open(os.path.join(REPO, "tests", "data", "images", "png", "rgb.png")).convert("RGB")
    return im.crop((20, 25, 57, 48))  # 37x23: odd width, rows need padding in every depth


# --------------------------------------------------------------------- BMP

def bmp_file(w, h, bits, data, compression=0, palette=None, header=40, colors=None, offset=None,
             masks=None, top_down=False, entry=4):
    """A BMP with any header size, palette, masks and offset."""
    palette = palette or []
    pal = b"".join(bytes((b, g, r, 0)[:entry]) for r, g, b in palette)
    if header == 12:
        info = struct.pack("<IHHHH", 12, w, h, 1, bits)
    else:
        ncolors = len(palette) if colors is None else colors
        info = struct.pack("<IiiHHIIiiII", header, w, -h if top_down else h, 1, bits, compression,
                           len(data), 2835, 2835, ncolors, 0)
        extra = b""
        if masks is not None and header > 40:
            extra = struct.pack("<4I", *(list(masks) + [0] * (4 - len(masks))))
        info += extra
        info += b"\0" * (header - len(info))
    between = struct.pack("<3I", *masks[:3]) if masks is not None and header == 40 else b""
    body = info + between + pal
    off = 14 + len(body) if offset is None else offset
    return b"BM" + struct.pack("<IHHI", 14 + len(body) + len(data), 0, 0, off) + body + data


def pack_rows(indices, w, h, bits, top_down=False):
    """Packs rows of palette indices (or raw bytes per pixel for bits >= 8)."""
    stride = ((w * bits + 31) // 32) * 4
    rows = []
    for y in range(h):
        row = bytearray()
        vals = indices[y * w:(y + 1) * w]
        if bits >= 8:
            for v in vals:
                row += v if isinstance(v, (bytes, bytearray)) else bytes((v,))
        else:
            per = 8 // bits
            for i in range(0, w, per):
                byte = 0
                for j in range(per):
                    v = vals[i + j] if i + j < w else 0
                    byte |= v << (8 - bits * (j + 1))
                row.append(byte)
        row += b"\0" * (stride - len(row))
        rows.append(bytes(row))
    if not top_down:
        rows.reverse()
    return b"".join(rows)


def rle_encode(indices, w, h, rle4, top_down=False, use_delta=False):
    """RLE8/RLE4 with encoded runs, absolute runs (odd and even, padded to a
    word) and end-of-line / end-of-bitmap escapes; optionally a delta."""
    rows = [indices[y * w:(y + 1) * w] for y in range(h)]
    if not top_down:
        rows.reverse()
    out_bytes = bytearray()
    for y, row in enumerate(rows):
        x = 0
        while x < w:
            run_len = 1
            while x + run_len < w and run_len < 255 and row[x + run_len] == row[x]:
                run_len += 1
            if run_len >= 3 or w - x < 3:
                n = run_len
                if rle4:
                    out_bytes += bytes((n, (row[x] << 4) | row[x]))
                else:
                    out_bytes += bytes((n, row[x]))
                x += n
                continue
            # absolute run until the next repeat of 3
            end = x
            while end < w and end - x < 254:
                if end + 2 < w and row[end] == row[end + 1] == row[end + 2]:
                    break
                end += 1
            n = end - x
            if rle4 and n % 2:  # PIL drops the last pixel of odd RLE4 literals: keep them even
                n -= 1
            if n < 3:
                for i in range(max(n, 1)):
                    out_bytes += bytes((1, (row[x + i] << 4) if rle4 else row[x + i]))
                x += max(n, 1)
                continue
            chunk = row[x:x + n]
            if rle4:
                data = bytes((chunk[i] << 4) | chunk[i + 1] for i in range(0, n, 2))
            else:
                data = bytes(chunk)
            out_bytes += bytes((0, n)) + data
            if len(data) % 2:
                out_bytes += b"\0"
            x += n
        out_bytes += b"\0\0"  # end of line
    out_bytes += b"\0\1"  # end of bitmap
    return bytes(out_bytes)


def make_bmps(src):
    w, h = src.size
    rgb = list(src.getdata())
    q16 = src.quantize(16)
    q256 = src.quantize(200)
    idx16, idx256 = list(q16.getdata()), list(q256.getdata())
    pal16 = [tuple(q16.getpalette()[3 * i:3 * i + 3]) for i in range(16)]
    pal256 = [tuple(q256.getpalette()[3 * i:3 * i + 3]) for i in range(200)]
    grey = list(src.convert("L").getdata())
    mono = [1 if v > 127 else 0 for v in grey]
    two = [(20, 40, 90), (240, 200, 120)]
    bgr = [bytes((b, g, r)) for r, g, b in rgb]
    bgrx = [bytes((b, g, r, 0x55)) for r, g, b in rgb]

    def px32(order):  # bytes in file order for a 32-bit layout
        table = {"XBGR": lambda r, g, b: (0x55, b, g, r), "ABGR": lambda r, g, b: (0x80, b, g, r),
                 "RGBA": lambda r, g, b: (r, g, b, 0x80), "BGRA": lambda r, g, b: (b, g, r, 0x80)}
        return [bytes(table[order](r, g, b)) for r, g, b in rgb]

    def px16(green_bits):
        res = []
        for r, g, b in rgb:
            v = (r >> 3) << (5 + green_bits) | (g >> (8 - green_bits)) << 5 | (b >> 3)
            res.append(struct.pack("<H", v))
        return res

    B = "bmp"
    files = {
        # palettes, every depth PIL reads
        "pal1.bmp": bmp_file(w, h, 1, pack_rows(mono, w, h, 1), palette=two),
        "pal1_black_white.bmp": bmp_file(w, h, 1, pack_rows(mono, w, h, 1), palette=[(0, 0, 0), (255, 255, 255)]),
        "pal4.bmp": bmp_file(w, h, 4, pack_rows(idx16, w, h, 4), palette=pal16),
        "pal8.bmp": bmp_file(w, h, 8, pack_rows(idx256, w, h, 8), palette=pal256),
        "pal8_top_down.bmp": bmp_file(w, h, 8, pack_rows(idx256, w, h, 8, True), palette=pal256, top_down=True),
        "pal8_grey.bmp": bmp_file(w, h, 8, pack_rows(grey, w, h, 8), palette=[(i, i, i) for i in range(256)]),
        "pal8_short_palette.bmp": bmp_file(w, h, 8, pack_rows(idx256, w, h, 8), palette=pal256[:100]),
        "pal8_colors_0.bmp": bmp_file(w, h, 8, pack_rows(idx256, w, h, 8), palette=pal256 + [(0, 0, 0)] * 56, colors=0),
        "pal8_offset_0.bmp": bmp_file(w, h, 8, pack_rows(idx256, w, h, 8), palette=pal256, offset=0),
        "pal4_grey_ramp.bmp": bmp_file(4, 2, 4, bytes([0x01, 0x23, 0, 0, 0x45, 0x67, 0, 0]),
                                       palette=[(i, i, i) for i in range(16)]),  # PIL reads it as 8-bit "L"
        "pal4_grey_ramp_wide.bmp": bmp_file(w, h, 4, pack_rows(idx16, w, h, 4),
                                            palette=[(i, i, i) for i in range(16)]),  # PIL: codec error
        "pal8_300_colors.bmp": bmp_file(w, h, 8, pack_rows(idx256, w, h, 8), palette=pal256 + [(1, 2, 3)] * 100),
        "pal2.bmp": bmp_file(w, h, 2, pack_rows([i % 4 for i in idx16], w, h, 2), palette=pal16[:4]),
        # OS/2 headers
        "os2v1_pal8.bmp": bmp_file(w, h, 8, pack_rows(idx256, w, h, 8), palette=pal256 + [(0, 0, 0)] * 56,
                                   header=12, entry=3),
        "os2v1_pal4.bmp": bmp_file(w, h, 4, pack_rows(idx16, w, h, 4), palette=pal16, header=12, entry=3),
        "os2v1_pal1.bmp": bmp_file(w, h, 1, pack_rows(mono, w, h, 1), palette=two, header=12, entry=3),
        "os2v1_rgb24.bmp": bmp_file(w, h, 24, pack_rows(bgr, w, h, 24), header=12),
        "os2v2_pal8.bmp": bmp_file(w, h, 8, pack_rows(idx256, w, h, 8), palette=pal256, header=64),
        "os2v2_rgb24.bmp": bmp_file(w, h, 24, pack_rows(bgr, w, h, 24), header=64),
        # true colour and bitfields
        "rgb24_v5.bmp": bmp_file(w, h, 24, pack_rows(bgr, w, h, 24), header=124),
        "rgb24_bitfields.bmp": bmp_file(w, h, 24, pack_rows(bgr, w, h, 24), compression=3,
                                        masks=(0xFF0000, 0xFF00, 0xFF)),
        "rgb32_bgrx.bmp": bmp_file(w, h, 32, pack_rows(bgrx, w, h, 32)),
        "rgb32_bitfields_bgrx_v3.bmp": bmp_file(w, h, 32, pack_rows(bgrx, w, h, 32), compression=3,
                                                masks=(0xFF0000, 0xFF00, 0xFF)),
        "rgb32_bitfields_xbgr_v4.bmp": bmp_file(w, h, 32, pack_rows(px32("XBGR"), w, h, 32), compression=3,
                                                header=108, masks=(0xFF000000, 0xFF0000, 0xFF00, 0)),
        "rgba32_bitfields_abgr_v4.bmp": bmp_file(w, h, 32, pack_rows(px32("ABGR"), w, h, 32), compression=3,
                                                 header=108, masks=(0xFF000000, 0xFF0000, 0xFF00, 0xFF)),
        "rgba32_bitfields_rgba_v5.bmp": bmp_file(w, h, 32, pack_rows(px32("RGBA"), w, h, 32), compression=3,
                                                 header=124, masks=(0xFF, 0xFF00, 0xFF0000, 0xFF000000)),
        "rgba32_bitfields_bgra_v5.bmp": bmp_file(w, h, 32, pack_rows(px32("BGRA"), w, h, 32), compression=3,
                                                 header=124, masks=(0xFF0000, 0xFF00, 0xFF, 0xFF000000)),
        "rgba32_bitfields_zero_v5.bmp": bmp_file(w, h, 32, pack_rows(px32("BGRA"), w, h, 32), compression=3,
                                                 header=124, masks=(0, 0, 0, 0)),
        "rgb32_bitfields_10bit.bmp": bmp_file(w, h, 32, pack_rows(bgrx, w, h, 32), compression=3, header=124,
                                              masks=(0x3FF00000, 0xFFC00, 0x3FF, 0)),  # PIL refuses
        "rgb16_555.bmp": bmp_file(w, h, 16, pack_rows(px16(5), w, h, 16)),
        "rgb16_555_top_down.bmp": bmp_file(w, h, 16, pack_rows(px16(5), w, h, 16, True), top_down=True),
        "rgb16_565_bitfields_v3.bmp": bmp_file(w, h, 16, pack_rows(px16(6), w, h, 16), compression=3,
                                               masks=(0xF800, 0x7E0, 0x1F)),
        "rgb16_555_bitfields_v5.bmp": bmp_file(w, h, 16, pack_rows(px16(5), w, h, 16), compression=3, header=124,
                                               masks=(0x7C00, 0x3E0, 0x1F, 0x8000)),
        "rgb16_444_bitfields.bmp": bmp_file(w, h, 16, pack_rows(px16(5), w, h, 16), compression=3,
                                            masks=(0xF00, 0xF0, 0xF)),  # PIL refuses
        # RLE
        "rle8.bmp": bmp_file(w, h, 8, rle_encode(idx256, w, h, False), compression=1, palette=pal256),
        "rle8_top_down.bmp": bmp_file(w, h, 8, rle_encode(idx256, w, h, False, True), compression=1,
                                      palette=pal256, top_down=True),
        "rle8_grey.bmp": bmp_file(w, h, 8, rle_encode(grey, w, h, False), compression=1,
                                  palette=[(i, i, i) for i in range(256)]),
        "rle4.bmp": bmp_file(w, h, 4, rle_encode(idx16, w, h, True), compression=2, palette=pal16),
        "rle4_top_down.bmp": bmp_file(w, h, 4, rle_encode(idx16, w, h, True, True), compression=2,
                                      palette=pal16, top_down=True),
        "rle8_os2v2.bmp": bmp_file(w, h, 8, rle_encode(idx256, w, h, False), compression=1, palette=pal256,
                                   header=64),
        # RLE escapes written by hand (4x3 image, 2 colours + indices beyond the palette)
        "rle8_delta.bmp": bmp_file(4, 3, 8, bytes([2, 1, 0, 2, 9, 9, 1, 1, 2, 0, 0, 0, 4, 7, 0, 1]),
                                   compression=1, palette=two),
        "rle8_absolute_wraps.bmp": bmp_file(4, 2, 8, bytes([0, 6, 1, 1, 0, 1, 0, 1, 2, 0, 0, 0, 3, 5, 0, 1]),
                                            compression=1, palette=two),
        "rle8_run_clipped.bmp": bmp_file(4, 2, 8, bytes([9, 1, 0, 0, 2, 0, 2, 1, 0, 1]), compression=1, palette=two),
        "rle4_odd_absolute.bmp": bmp_file(4, 2, 4, bytes([0, 3, 0x10, 0x10, 1, 0x11, 0, 0, 4, 0x01, 0, 1]),
                                          compression=2, palette=two),
        "rle8_early_end.bmp": bmp_file(4, 3, 8, bytes([4, 1, 0, 0, 0, 1]), compression=1, palette=two),
        "rle8_no_end.bmp": bmp_file(4, 2, 8, bytes([4, 1, 0, 0, 4, 0]), compression=1, palette=two),
        "rle8_truncated.bmp": bmp_file(w, h, 8, rle_encode(idx256, w, h, False), compression=1,
                                       palette=pal256)[:-200],
        "rle8_delta_cut.bmp": bmp_file(4, 2, 8, bytes([4, 1, 0, 2, 1, 1, 5]), compression=1, palette=two),
        "rle8_mono_palette.bmp": bmp_file(4, 1, 8, bytes([4, 1, 0, 1]), compression=1,
                                          palette=[(0, 0, 0), (255, 255, 255)]),  # PIL: unknown raw mode
        "rle8_rgb24.bmp": bmp_file(4, 1, 24, bytes([4, 1, 0, 1]), compression=1),  # PIL: unknown raw mode
        # layout edge cases
        "pal8_last_row_unpadded.bmp": bmp_file(w, h, 8, pack_rows(idx256, w, h, 8)[:-3], palette=pal256),
        "pal8_truncated.bmp": bmp_file(w, h, 8, pack_rows(idx256, w, h, 8)[:-4], palette=pal256),
        "pal8_offset_header_end.bmp": bmp_file(w, h, 8, pack_rows(idx256, w, h, 8), palette=pal256,
                                               offset=54, colors=200),
        "rgb24_bad_header_56.bmp": bmp_file(w, h, 24, pack_rows(bgr, w, h, 24), header=56),
        "rgb24_jpeg_compression.bmp": bmp_file(w, h, 24, pack_rows(bgr, w, h, 24), compression=4),
        "rgb24_zero_width.bmp": bmp_file(0, h, 24, b""),
        "rgb24_huge_negative_height.bmp": bmp_file(w, 0x7F000000, 24, pack_rows(bgr, w, h, 24), top_down=True),
    }
    for name, data in files.items():
        write(out(B, name), data)

    # Pillow's own writer: modes 1, L, P, RGB, RGBA
    for mode in ("1", "L", "RGB", "RGBA"):
        src.convert(mode).save(out(B, "pillow_%s.bmp" % mode.lower()))
    src.quantize(50).save(out(B, "pillow_p.bmp"))

    # ImageMagick: BMP3 (V3), BMP (V5), BMP2 (OS/2 1.x), RLE8, grey, alpha, palette
    with tempfile.TemporaryDirectory() as tmp:
        png = os.path.join(tmp, "src.png")
        src.save(png)
        rgba = os.path.join(tmp, "rgba.png")
        a = src.convert("RGBA")
        a.putalpha(src.convert("L"))
        a.save(rgba)
        magick = [
            ("im_bmp3_rgb24.bmp", [png, "BMP3:%s"]),
            ("im_bmp2_rgb24.bmp", [png, "BMP2:%s"]),
            ("im_bmp5_rgb24.bmp", [png, "BMP:%s"]),
            ("im_bmp5_rgba32.bmp", [rgba, "BMP:%s"]),
            ("im_bmp3_rgba32.bmp", [rgba, "BMP3:%s"]),
            ("im_bmp3_palette8.bmp", [png, "-colors", "60", "-type", "Palette", "BMP3:%s"]),
            ("im_bmp3_palette4.bmp", [png, "-colors", "12", "-type", "Palette", "BMP3:%s"]),
            ("im_bmp3_rle8.bmp", [png, "-colors", "60", "-type", "Palette", "-compress", "RLE", "BMP3:%s"]),
            ("im_bmp5_rle8.bmp", [png, "-colors", "60", "-type", "Palette", "-compress", "RLE", "BMP:%s"]),
            ("im_bmp3_grey8.bmp", [png, "-colorspace", "Gray", "-type", "Grayscale", "BMP3:%s"]),
            ("im_bmp3_mono1.bmp", [png, "-monochrome", "BMP3:%s"]),
            ("im_bmp3_rgb565.bmp", [png, "-define", "bmp:subtype=RGB565", "BMP3:%s"]),
            ("im_bmp5_rgb555.bmp", [png, "-define", "bmp:subtype=RGB555", "BMP:%s"]),
            ("im_bmp5_argb4444.bmp", [rgba, "-define", "bmp:subtype=ARGB4444", "BMP:%s"]),
        ]
        for name, args in magick:
            target = out(B, name)
            run(CONVERT, *[a_ % target if "%s" in a_ else a_ for a_ in args])


# --------------------------------------------------------------------- PNG

def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def chunks(data):
    pos, res = 8, []
    while pos < len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        res.append([data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n], data[pos + 8 + n:pos + 12 + n]])
        pos += 12 + n
    return res


def join_chunks(parts):
    return b"\x89PNG\r\n\x1a\n" + b"".join(struct.pack(">I", len(d)) + k + d + c for k, d, c in parts)


def corrupt_crc(data, kind):
    parts = chunks(data)
    for p in parts:
        if p[0] == kind:
            p[2] = bytes(b ^ 0xFF for b in p[2])
            break
    return join_chunks(parts)


def make_pngs(src):
    P = "png"
    rgba = src.convert("RGBA")
    rgba.putalpha(src.convert("L"))
    src.save(out(P, "pillow_rgb.png"))
    rgba.save(out(P, "pillow_rgba.png"))
    src.convert("LA").save(out(P, "pillow_la.png"))
    src.convert("L").save(out(P, "pillow_l.png"))
    src.convert("1").save(out(P, "pillow_1.png"))
    src.convert("I").save(out(P, "pillow_i.png"))  # 16-bit grey
    q = src.quantize(40)
    q.save(out(P, "pillow_p_trns.png"), transparency=3)
    q.save(out(P, "pillow_p_trns_bytes.png"), transparency=bytes(range(0, 240, 6)))
    q.save(out(P, "pillow_p_bits4.png"), bits=4)
    src.save(out(P, "pillow_rgb_trns.png"), transparency=(10, 20, 30))

    with tempfile.TemporaryDirectory() as tmp:
        png = os.path.join(tmp, "src.png")
        src.save(png)
        rgba_path = os.path.join(tmp, "rgba.png")
        rgba.save(rgba_path)
        magick = [
            ("im_rgb16.png", [png, "-depth", "16", "PNG48:%s"]),
            ("im_rgba16.png", [rgba_path, "-depth", "16", "PNG64:%s"]),
            ("im_grey16.png", [png, "-colorspace", "Gray", "-depth", "16", "%s"]),
            ("im_grey_alpha16.png", [rgba_path, "-colorspace", "Gray", "-depth", "16", "%s"]),
            ("im_grey_alpha8.png", [rgba_path, "-colorspace", "Gray", "-type", "GrayscaleAlpha", "-depth", "8", "%s"]),
            ("im_grey2.png", [png, "-colorspace", "Gray", "-depth", "2", "%s"]),
            ("im_grey4.png", [png, "-colorspace", "Gray", "-depth", "4", "%s"]),
            ("im_palette_trns.png", [rgba_path, "-colors", "30", "PNG8:%s"]),
            ("im_palette2bit.png", [png, "-colors", "4", "-type", "Palette", "%s"]),
            ("im_interlaced_rgb.png", [png, "-interlace", "PNG", "PNG24:%s"]),
            ("im_interlaced_rgba16.png", [rgba_path, "-depth", "16", "-interlace", "PNG", "PNG64:%s"]),
            ("im_interlaced_palette.png", [png, "-colors", "20", "-interlace", "PNG", "PNG8:%s"]),
            ("im_interlaced_grey_alpha.png", [rgba_path, "-colorspace", "Gray", "-type", "GrayscaleAlpha",
                                              "-interlace", "PNG", "%s"]),
            ("im_gamma_srgb.png", [png, "-gamma", "0.8", "-set", "gamma", "0.6", "PNG24:%s"]),
        ]
        for name, args in magick:
            target = out(P, name)
            # no time stamps: a re-run writes the same bytes
            run(CONVERT, *[a_ % target if "%s" in a_ else a_ for a_ in args[:-1]],
                "-define", "png:exclude-chunk=date,time", args[-1] % target)

    good = open(out(P, "pillow_rgb.png"), "rb").read()
    write(out(P, "bad_crc_idat.png"), corrupt_crc(good, b"IDAT"))  # PIL does not check IDAT CRCs
    write(out(P, "bad_crc_ihdr.png"), corrupt_crc(good, b"IHDR"))  # PIL refuses
    with_text = chunks(good)
    with_text.insert(1, [b"tEXt", b"Comment\0hello", b"\0\0\0\0"])  # bad CRC on an ancillary chunk before IDAT
    write(out(P, "bad_crc_text_before_idat.png"), join_chunks(with_text))
    after = chunks(good)
    after.insert(len(after) - 1, [b"tEXt", b"Comment\0hello", b"\0\0\0\0"])
    write(out(P, "bad_crc_text_after_idat.png"), join_chunks(after))
    bad_adler = chunks(good)
    for p in bad_adler:
        if p[0] == b"IDAT":  # zlib's Adler-32 of the pixel data flipped (CRC made to match): PIL refuses
            p[1] = p[1][:-4] + bytes(b ^ 0xFF for b in p[1][-4:])
            p[2] = struct.pack(">I", zlib.crc32(p[0] + p[1]) & 0xFFFFFFFF)
    write(out(P, "bad_adler32.png"), join_chunks(bad_adler))
    no_iend = chunks(good)[:-1]
    write(out(P, "no_iend.png"), join_chunks(no_iend))
    write(out(P, "truncated_idat.png"), good[:len(good) - 40])
    write(out(P, "truncated_after_idat.png"), good[:len(good) - 14])  # PIL keeps it: every row is there
    interlaced = open(out(P, "im_interlaced_rgb.png"), "rb").read()
    write(out(P, "truncated_after_idat_interlaced.png"), interlaced[:len(interlaced) - 15])


# --------------------------------------------------------------------- GIF

def make_gifs(src):
    G = "gif"
    q = src.quantize(32)
    q.save(out(G, "pillow_p.gif"))
    q.save(out(G, "pillow_p_transparent.gif"), transparency=5)
    src.convert("L").save(out(G, "pillow_l.gif"))
    q.save(out(G, "pillow_interlaced.gif"), interlace=True)
    frames = [q, src.rotate(90).quantize(32), src.transpose(Image.FLIP_LEFT_RIGHT).quantize(16)]
    frames[0].save(out(G, "pillow_animated.gif"), save_all=True, append_images=frames[1:], duration=50, loop=0)

    with tempfile.TemporaryDirectory() as tmp:
        png = os.path.join(tmp, "src.png")
        src.save(png)
        rgba = os.path.join(tmp, "rgba.png")
        a = src.convert("RGBA")
        a.putalpha(Image.eval(src.convert("L"), lambda v: 0 if v < 100 else 255))
        a.save(rgba)
        small = os.path.join(tmp, "small.png")
        src.crop((5, 5, 25, 17)).save(small)
        magick = [
            ("im_palette.gif", [png, "%s"]),
            ("im_transparent.gif", [rgba, "%s"]),
            ("im_interlaced.gif", [png, "-interlace", "GIF", "%s"]),
            ("im_gif87a.gif", [png, "GIF87:%s"]),
            ("im_grey.gif", [png, "-colorspace", "Gray", "%s"]),
            ("im_mono.gif", [png, "-monochrome", "%s"]),
            ("im_animated_offset.gif", ["-dispose", "Background", png, "-page", "+7+3", small, "-loop", "0", "%s"]),
            ("im_first_frame_offset.gif", ["-page", "60x40+10+8", small, "-page", "+0+0", png, "%s"]),
        ]
        for name, args in magick:
            target = out(G, name)
            run(CONVERT, *[a_ % target if "%s" in a_ else a_ for a_ in args])
    good = open(out(G, "pillow_p.gif"), "rb").read()
    write(out(G, "truncated.gif"), good[:len(good) * 2 // 3])
    # after the header and global palette: PIL skips bytes that start no record
    pos = 13 + (3 * 2 ** ((good[10] & 7) + 1) if good[10] & 0x80 else 0)
    write(out(G, "junk_before_record.gif"), good[:pos] + b"\x00\x07\x42" + good[pos:])
    while good[pos] == 0x21:  # extensions: label, then sub-blocks
        pos += 2
        while good[pos]:
            pos += good[pos] + 1
        pos += 1
    assert good[pos] == 0x2C
    # PIL decodes a 0-wide frame at x 0 over the whole canvas, and refuses one elsewhere
    write(out(G, "zero_width_frame_at_0.gif"), good[:pos + 5] + b"\0\0" + good[pos + 7:])
    write(out(G, "zero_width_frame_at_3.gif"), good[:pos + 1] + b"\3\0" + good[pos + 3:pos + 5] + b"\0\0" +
          good[pos + 7:])


# --------------------------------------------------------------------- JPEG

def make_jpegs(src):
    J = "jpeg"
    big = Image.open(os.path.join(REPO, "tests", "data", "images", "png", "rgb.png")).convert("RGB")
    big.save(out(J, "pillow_baseline.jpg"), quality=85)
    big.convert("L").save(out(J, "pillow_grey.jpg"))
    big.save(out(J, "pillow_progressive.jpg"), progressive=True)
    big.save(out(J, "pillow_420_optimized.jpg"), subsampling=2, optimize=True)
    big.convert("CMYK").save(out(J, "pillow_cmyk.jpg"))  # Adobe APP14, inverted CMYK
    with tempfile.TemporaryDirectory() as tmp:
        ppm = os.path.join(tmp, "src.ppm")
        big.save(ppm)
        png = os.path.join(tmp, "src.png")
        big.save(png)
        base = out(J, "pillow_baseline.jpg")

        def cjpeg(name, *flags):
            with open(out(J, name), "wb") as f:
                subprocess.run(["cjpeg", *flags, ppm], check=True, stdout=f)

        def jpegtran(name, *flags):
            with open(out(J, name), "wb") as f:
                subprocess.run(["jpegtran", *flags, base], check=True, stdout=f)

        cjpeg("cjpeg_restart_rows.jpg", "-restart", "1")
        cjpeg("cjpeg_restart_blocks.jpg", "-restart", "3B")
        cjpeg("cjpeg_arithmetic.jpg", "-arithmetic")
        cjpeg("cjpeg_progressive_arithmetic.jpg", "-progressive", "-arithmetic")
        cjpeg("cjpeg_411.jpg", "-sample", "4x1")
        cjpeg("cjpeg_440.jpg", "-sample", "1x2")
        cjpeg("cjpeg_grey.jpg", "-grayscale")
        cjpeg("cjpeg_rgb_no_ycc.jpg", "-rgb")
        cjpeg("cjpeg_smooth_q10.jpg", "-quality", "10", "-smooth", "30")
        jpegtran("jpegtran_progressive.jpg", "-progressive")
        jpegtran("jpegtran_progressive_restart.jpg", "-progressive", "-restart", "2")
        magick = [
            ("im_cmyk.jpg", [png, "-colorspace", "CMYK", "%s"]),
            ("im_progressive.jpg", [png, "-interlace", "JPEG", "%s"]),
            ("im_grey.jpg", [png, "-colorspace", "Gray", "%s"]),
            ("im_q100_444.jpg", [png, "-quality", "100", "-sampling-factor", "1x1", "%s"]),
        ]
        for name, args in magick:
            target = out(J, name)
            run(CONVERT, *[a_ % target if "%s" in a_ else a_ for a_ in args])
    good = open(out(J, "pillow_baseline.jpg"), "rb").read()
    write(out(J, "no_eoi.jpg"), good[:-2])
    write(out(J, "no_eoi_padded.jpg"), good[:-2] + b"\0" * 16)  # decodes: data ends after the scan
    write(out(J, "bad_marker_after_scan.jpg"), good[:-2] + b"\xff\x62\x00\x04ab\xff\xd9")  # PIL: broken
    write(out(J, "truncated_scan.jpg"), good[:len(good) * 2 // 3])
    # Headers libjpeg reads but PIL's own marker parser (JpegImagePlugin) refuses.
    grey = open(out(J, "pillow_grey.jpg"), "rb").read()
    assert grey[2:4] == b"\xff\xe0"
    write(out(J, "tem_marker_pil_refuses.jpg"), grey[:3] + b"\x01" + grey[4:])  # FF 01: "no marker found"
    app0_end = 4 + (grey[4] << 8 | grey[5])
    write(out(J, "short_jfif_pil_refuses.jpg"), grey[:4] + b"\x00\x07JFIF\x00" + grey[app0_end:])
    # A 12-bit (extended sequential, SOF1) header: libjpeg-turbo 2.1, in PIL
    # and here, reads 8-bit samples only and refuses it at the header.
    sof = good.index(b"\xff\xc0")
    write(out(J, "precision_12_sof1.jpg"), good[:sof] + b"\xff\xc1" + good[sof + 2:sof + 4] + b"\x0c" +
          good[sof + 5:])


def copy_bmpsuite(folder):
    target = os.path.join(REPO, "tests", "data", "images", "bmpsuite")
    for sub in ("g", "q", "b"):
        os.makedirs(os.path.join(target, sub), exist_ok=True)
        for name in sorted(os.listdir(os.path.join(folder, sub))):
            shutil.copyfile(os.path.join(folder, sub, name), os.path.join(target, sub, name))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bmpsuite", help="BMP Suite folder with g/ q/ b/ to copy into tests/data/images/bmpsuite")
    args = parser.parse_args()
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    src = source()
    make_bmps(src)
    make_pngs(src)
    make_gifs(src)
    make_jpegs(src)
    if args.bmpsuite:
        copy_bmpsuite(args.bmpsuite)


if __name__ == "__main__":
    main()
