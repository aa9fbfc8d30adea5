#!/usr/bin/python3
"""Generates tests/data/images/ from the repository's real sample photos.

Run with Debian's Python and PIL (python3-pil 9.4, python3-numpy):
    /usr/bin/python3 tests/parity/make_test_images.py

Every image derives from the MIT-licensed Microsoft sample photos under
tests/data/cv-exports/ (see tests/data/images/SOURCE.md). The output is
deterministic for a given libjpeg-turbo / libwebp / zlib build. Formats PIL
cannot write (16-bit RGB/RGBA/LA PNG, low bit-depth and Adam7-interlaced PNG,
GIFs whose frame is smaller than the screen, YCCK JPEG) are written by the
small writers below (PNG, GIF) or by libturbojpeg through ctypes (YCCK).
"""

import ctypes
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image, PngImagePlugin

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPORTS = os.path.join(ROOT, "tests", "data", "cv-exports")
OUT = os.path.join(ROOT, "tests", "data", "images")

APPLE1 = os.path.join(EXPORTS, "iotedge-applebanana-tf", "images", "apple1.jpg")
APPLE2 = os.path.join(EXPORTS, "iotedge-applebanana-tf", "images", "apple2.jpg")
BACKPOD = os.path.join(EXPORTS, "iotedge-applebanana-tf", "images", "backpod.jpg")
DONUT = os.path.join(EXPORTS, "winml-food-onnx", "images", "Donuts", "3432459.jpg")  # 512x384, EXIF Orientation=0
FRIES = os.path.join(EXPORTS, "winml-food-onnx", "images", "Fries", "2823936.jpg")  # 512x384
KITTEN = os.path.join(EXPORTS, "uwp-catdog-onnx12", "images", "kitten_224.png")  # RGBA


def out(*parts):
    path = os.path.join(OUT, *parts)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def rgb(path):
    return Image.open(path).convert("RGB")


# ----------------------------------------------------------------------------
# Minimal PNG writer (any colour type / bit depth, optional Adam7, extra chunks)

def png_chunk(cid, data):
    return struct.pack(">I", len(data)) + cid + data + struct.pack(">I", zlib.crc32(cid + data))


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png_pack_rows(samples, bit_depth):
    """samples: HxWxC uint array -> list of packed row bytes (no filter byte)."""
    h = samples.shape[0]
    rows = []
    for y in range(h):
        row = samples[y].reshape(-1)
        if bit_depth == 16:
            rows.append(row.astype(">u2").tobytes())
        elif bit_depth == 8:
            rows.append(row.astype(np.uint8).tobytes())
        else:
            per = 8 // bit_depth
            padded = np.zeros(((len(row) + per - 1) // per) * per, np.uint8)
            padded[: len(row)] = row
            packed = np.zeros(len(padded) // per, np.uint8)
            for i in range(per):
                packed |= (padded[i::per] << (8 - bit_depth * (i + 1))).astype(np.uint8)
            rows.append(packed.tobytes())
    return rows


def make_png(samples, color_type, bit_depth, interlace=False, palette=None, trns=None, extra=()):
    if samples.ndim == 2:
        samples = samples[:, :, None]
    h, w = samples.shape[:2]
    raw = b""
    if not interlace:
        for r in png_pack_rows(samples, bit_depth):
            raw += b"\x00" + r
    else:
        for x0, y0, dx, dy in ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            for r in png_pack_rows(sub, bit_depth):
                raw += b"\x00" + r
    data = b"\x89PNG\r\n\x1a\n"
    data += png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0))
    if palette is not None:
        data += png_chunk(b"PLTE", bytes(palette))
    if trns is not None:
        data += png_chunk(b"tRNS", trns)
    for cid, payload in extra:
        data += png_chunk(cid, payload)
    data += png_chunk(b"IDAT", zlib.compress(raw, 9))
    data += png_chunk(b"IEND", b"")
    return data


# ----------------------------------------------------------------------------
# Minimal GIF writer: 8-bit LZW codes with a clear code every 250 codes, so no
# code grows past 9 bits (valid for every decoder, just not compact).

def gif_lzw(indices):
    clear, eoi = 256, 257
    codes = [clear]
    for i, v in enumerate(indices):
        if i and i % 250 == 0:
            codes.append(clear)
        codes.append(int(v))
    codes.append(eoi)
    acc, nbits, outb = 0, 0, bytearray()
    for c in codes:
        acc |= c << nbits
        nbits += 9
        while nbits >= 8:
            outb.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        outb.append(acc & 0xFF)
    blocks = bytearray([8])
    for i in range(0, len(outb), 255):
        chunk = outb[i : i + 255]
        blocks.append(len(chunk))
        blocks += chunk
    blocks.append(0)
    return bytes(blocks)


def interlace_rows(h):
    order = []
    for start, step in ((0, 8), (4, 8), (2, 4), (1, 2)):
        order += list(range(start, h, step))
    return order


def make_gif(screen, frame_box, frame_indices, global_palette=None, local_palette=None,
             transparency=None, background=0, interlace=False):
    sw, sh = screen
    x0, y0 = frame_box
    fh, fw = frame_indices.shape
    data = b"GIF89a" + struct.pack("<HH", sw, sh)
    if global_palette is not None:
        n = len(global_palette) // 3
        bits = max(1, (n - 1).bit_length())
        pal = bytes(global_palette) + b"\x00" * (3 * (1 << bits) - len(global_palette))
        data += bytes([0x80 | (bits - 1), background, 0]) + pal
    else:
        data += bytes([0, background, 0])
    if transparency is not None:
        data += b"\x21\xf9\x04" + bytes([1]) + b"\x00\x00" + bytes([transparency]) + b"\x00"
    flags = 0x40 if interlace else 0
    lpal = b""
    if local_palette is not None:
        n = len(local_palette) // 3
        bits = max(1, (n - 1).bit_length())
        lpal = bytes(local_palette) + b"\x00" * (3 * (1 << bits) - len(local_palette))
        flags |= 0x80 | (bits - 1)
    data += b"\x2c" + struct.pack("<HHHH", x0, y0, fw, fh) + bytes([flags]) + lpal
    rows = interlace_rows(fh) if interlace else range(fh)
    data += gif_lzw(np.concatenate([frame_indices[r] for r in rows]))
    return data + b"\x3b"


# ----------------------------------------------------------------------------

# ----------------------------------------------------------------------------
# Minimal BMP writer for what PIL cannot save: 16-bit pixels, top-down rows.

def make_bmp(arr, bits, top_down=False):
    h, w = arr.shape[:2]
    masks = b""
    compression = 0
    if bits == 16:
        r, g, b = (arr[:, :, i].astype(np.uint32) for i in range(3))
        if top_down:  # 5-6-5 through BI_BITFIELDS
            pix = ((r >> 3) << 11) | ((g >> 2) << 5) | (b >> 3)
            masks = struct.pack("<III", 0xF800, 0x07E0, 0x001F)
            compression = 3
        else:  # 5-5-5 BI_RGB
            pix = ((r >> 3) << 10) | ((g >> 3) << 5) | (b >> 3)
        rows = [pix[y].astype("<u2").tobytes() for y in range(h)]
    else:
        rows = [arr[y][:, ::-1].tobytes() for y in range(h)]  # BGR
    if not top_down:
        rows = rows[::-1]
    data = b"".join(r + b"\0" * (-len(r) % 4) for r in rows)
    offset = 14 + 40 + len(masks)
    header = struct.pack("<IiiHHIIiiII", 40, w, -h if top_down else h, 1, bits, compression, len(data),
                         2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset) + header + masks + data


def exif_with_orientation(value, base=None):
    exif = base if base is not None else Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


# predict.py's update_orientation as 0-based ops on an upright image; the
# stored variant is the inverse, so the reference turns it upright again.
def predict_transform(im, orientation):
    o = orientation - 1
    if o >= 4:
        im = im.transpose(Image.TRANSPOSE)
    if o in (2, 3, 6, 7):
        im = im.transpose(Image.FLIP_TOP_BOTTOM)
    if o in (1, 2, 5, 6):
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    return im


DIHEDRAL = [None, Image.FLIP_LEFT_RIGHT, Image.FLIP_TOP_BOTTOM, Image.ROTATE_90, Image.ROTATE_180,
            Image.ROTATE_270, Image.TRANSPOSE, Image.TRANSVERSE]


def stored_for_orientation(upright, orientation):
    probe = Image.fromarray(np.arange(6 * 4 * 3, dtype=np.uint8).reshape(4, 6, 3))
    for op in DIHEDRAL:
        cand = probe if op is None else probe.transpose(op)
        if np.array_equal(np.array(predict_transform(cand, orientation)), np.array(probe)):
            return upright if op is None else upright.transpose(op)
    raise AssertionError(orientation)


def make_exif_variants():
    base = rgb(DONUT)  # 512x384: extract_and_resize's ratio is 1.5 (compact golden tensors)
    exif_src = Image.open(DONUT).getexif()
    for v in range(1, 9):
        stored = stored_for_orientation(base, v)
        stored.save(out("exif", f"orientation_{v}.jpg"), quality=80, exif=exif_with_orientation(v, exif_src))
    # Out-of-range values real files carry (0) or could carry (9): predict.py
    # does nothing for 0 and TRANSPOSE for 9 (9 - 1 >= 4, in no flip list).
    base.save(out("exif", "orientation_0.jpg"), quality=80, exif=exif_with_orientation(0, exif_src))
    base.save(out("exif", "orientation_9.jpg"), quality=80, exif=exif_with_orientation(9, exif_src))
    # Orientation only in the Exif sub-IFD (PIL's merged dict still sees it).
    exif = Image.Exif()
    exif[0x010F] = "edgevision"  # Make, so IFD0 is not empty
    exif[0x8769] = {0x0112: 3, 0x9003: "2020:01:01 00:00:00"}
    stored_for_orientation(base, 3).save(out("exif", "orientation_3_in_exif_ifd.jpg"), quality=80,
                                         exif=exif.tobytes())


def make_large():
    # backpod.jpg (1376x1500) upscaled: camera-sized photos that take both of
    # predict.py's resize branches (scale >= 0.5 BILINEAR, else BICUBIC).
    # Most sizes make the downscaled short side a multiple of 128, so
    # extract_and_resize's weights repeat and the golden tensors compress.
    src = rgb(BACKPOD)
    wide = src.crop((0, 300, 1376, 1100))  # 1376x800
    tall = src.crop((300, 0, 1000, 1500))  # 700x1500
    sizes = {
        "bilinear_landscape.jpg": (wide, (2500, 1400)),  # 1600/2500 = 0.64 -> 1600x896
        "bilinear_portrait.jpg": (tall, (1664, 2600)),  # 0.615 -> 1024x1600
        "bicubic_landscape.jpg": (wide, (3600, 1152)),  # 0.444 -> 1600x512
        "bicubic_portrait.jpg": (tall, (1120, 3500)),  # 0.457 -> 512x1600
        "exact_half.jpg": (wide, (3200, 1024)),  # exactly 0.5 -> BILINEAR, 1600x512
        "side_1600.jpg": (wide, (1600, 1024)),  # w == 1600: resized to its own size (a copy)
        "side_1601.jpg": (tall, (1200, 1601)),  # -> 1199x1600 BILINEAR
    }
    for name, (im, size) in sizes.items():
        im.resize(size, Image.LANCZOS).save(out("large", name), quality=70)


def make_jpeg_variants():
    a = rgb(APPLE1)
    a.convert("L").save(out("jpeg", "grey.jpg"), quality=85)
    # Grey JPEG with EXIF Orientation 6: predict.py converts L -> RGB first, the
    # converted image has no _getexif, so the reference does NOT rotate it.
    a.convert("L").save(out("jpeg", "grey_orientation_6.jpg"), quality=85, exif=exif_with_orientation(6))
    a.convert("CMYK").save(out("jpeg", "cmyk.jpg"), quality=85)
    a.save(out("jpeg", "subsampling_444.jpg"), quality=85, subsampling=0)
    a.save(out("jpeg", "subsampling_422.jpg"), quality=85, subsampling=1)
    a.save(out("jpeg", "progressive.jpg"), quality=85, progressive=True)
    a.save(out("jpeg", "restart.jpg"), quality=85, restart_marker_blocks=4)
    # Odd sizes exercise partial MCUs and fancy upsampling at the edges.
    a.crop((3, 5, 3 + 61, 5 + 37)).save(out("jpeg", "odd_61x37.jpg"), quality=90)
    a.crop((0, 0, 1, 1)).save(out("jpeg", "one_pixel.jpg"), quality=90)
    write(out("jpeg", "ycck.jpg"), turbojpeg_ycck(a))


def turbojpeg_ycck(im):
    """A YCCK (Adobe transform 2) JPEG: libturbojpeg writes YCCK for CMYK input."""
    tj = ctypes.CDLL("libturbojpeg.so.0")
    tj.tjInitCompress.restype = ctypes.c_void_p
    tj.tjCompress2.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                               ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_ulong),
                               ctypes.c_int, ctypes.c_int, ctypes.c_int]
    tj.tjFree.argtypes = [ctypes.c_void_p]
    tj.tjDestroy.argtypes = [ctypes.c_void_p]
    TJPF_CMYK, TJSAMP_420 = 11, 2
    # libjpeg CMYK convention in Adobe files is inverted; feed 255 - PIL's CMYK.
    cmyk = (255 - np.array(im.convert("CMYK"))).astype(np.uint8)
    h, w = cmyk.shape[:2]
    handle = tj.tjInitCompress()
    buf = ctypes.c_void_p()
    size = ctypes.c_ulong(0)
    rc = tj.tjCompress2(handle, cmyk.tobytes(), w, 0, h, TJPF_CMYK, ctypes.byref(buf), ctypes.byref(size),
                        TJSAMP_420, 85, 0)
    assert rc == 0, "tjCompress2 failed"
    data = ctypes.string_at(buf, size.value)
    tj.tjFree(buf)
    tj.tjDestroy(handle)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    return data


def make_png_variants():
    a = rgb(APPLE2).resize((90, 90), Image.LANCZOS)  # apple2 is 179x180
    arr = np.array(a)
    grey = np.array(a.convert("L"))
    a.save(out("png", "rgb.png"))
    a.save(out("png", "rgb_orientation_6.png"), exif=exif_with_orientation(6))
    rgba = a.convert("RGBA")
    rgba.putalpha(Image.fromarray(((np.indices((90, 90)).sum(0) * 3) % 256).astype(np.uint8)))
    rgba.save(out("png", "rgba.png"))
    rgba.save(out("png", "rgba_orientation_6.png"), exif=exif_with_orientation(6))  # reference ignores it
    a.convert("L").save(out("png", "grey.png"))
    la = Image.merge("LA", (a.convert("L"), rgba.getchannel("A")))
    la.save(out("png", "grey_alpha.png"))
    pal = a.quantize(64)
    pal.save(out("png", "palette.png"))
    pal.save(out("png", "palette_trns.png"), transparency=3)
    # "Raw profile type exif" text chunk (ImageMagick's way of keeping EXIF).
    exif = exif_with_orientation(8)
    hexed = exif.hex()
    text = "\nexif\n%8d\n" % len(exif) + "\n".join(hexed[i : i + 72] for i in range(0, len(hexed), 72)) + "\n"
    info = PngImagePlugin.PngInfo()
    info.add_text("Raw profile type exif", text, zip=True)
    a.save(out("png", "rgb_raw_profile_orientation_8.png"), pnginfo=info)

    # Written by hand: formats PIL cannot save.
    # High bytes are the 8-bit picture; the low bytes vary (PIL keeps only the high byte).
    write(out("png", "rgb16.png"), make_png(arr.astype(np.uint16) * 256 + (255 - arr), 2, 16))
    write(out("png", "rgba16.png"), make_png(np.dstack([arr, grey]).astype(np.uint16) * 256 + 3, 6, 16))
    write(out("png", "grey_alpha16.png"), make_png(np.dstack([grey, 255 - grey]).astype(np.uint16) * 257, 4, 16))
    # 16-bit grey opens as mode I; convert("RGB") clips to 255, so a full-range
    # image is nearly white. The second one keeps most values below 256.
    write(out("png", "grey16.png"), make_png(grey.astype(np.uint16) * 257, 0, 16))
    write(out("png", "grey16_low.png"), make_png((grey.astype(np.uint16) * 3) // 2, 0, 16))
    # Docker 2.2's predict.py resizes mode I in 32 bits and only then clips
    # (convert("RGB")): values straddling 255 through a downscale (antialiased,
    # many taps), an EXIF transpose and an upscale, Adam7 with tRNS.
    big = np.array(rgb(DONUT).resize((300, 230), Image.LANCZOS).convert("L")).astype(np.uint16)
    ramp = (np.indices(big.shape).sum(0) % 5).astype(np.uint16)
    write(out("png", "grey16_mid_downscale.png"), make_png(big * 3 + ramp, 0, 16))
    exif6 = exif_with_orientation(6)[6:]  # eXIf holds the TIFF block without "Exif\0\0"
    write(out("png", "grey16_orientation_6.png"),
          make_png(grey[:, :70].astype(np.uint16) * 2 + 1, 0, 16, extra=((b"eXIf", exif6),)))
    write(out("png", "grey16_interlaced_trns.png"),
          make_png(grey[:41, :57].astype(np.uint16) * 5, 0, 16, interlace=True, trns=struct.pack(">H", 300)))
    # 16-bit RGB and grey+alpha open as 8-bit RGB / RGBA (high bytes), then
    # orient and resize as such.
    write(out("png", "rgb16_orientation_8.png"),
          make_png(arr[:, :70].astype(np.uint16) * 256 + 255 - arr[:, :70], 2, 16,
                   extra=((b"eXIf", exif_with_orientation(8)[6:]),)))
    write(out("png", "grey_alpha16_orientation_6.png"),
          make_png(np.dstack([grey, (np.indices((90, 90))[1] * 2)]).astype(np.uint16)[:, :70] * 257 + 5, 4, 16,
                   extra=((b"eXIf", exif6),)))
    for bits in (1, 2, 4):
        write(out("png", f"grey{bits}.png"), make_png(grey >> (8 - bits), 0, bits))
    idx4 = np.array(a.quantize(16))
    write(out("png", "palette4.png"), make_png(idx4, 3, 4, palette=np.array(a.quantize(16).getpalette()[:48], np.uint8)))
    # Palette with 6 entries while pixels use indices up to 15: PIL maps the
    # missing entries to grey (i, i, i).
    short = np.array([200, 30, 30, 30, 200, 30, 30, 30, 200, 250, 250, 0, 0, 0, 0, 255, 255, 255], np.uint8)
    write(out("png", "palette_short.png"), make_png(idx4, 3, 4, palette=short))
    write(out("png", "grey_trns.png"), make_png(grey, 0, 8, trns=struct.pack(">H", 128)))
    write(out("png", "rgb_trns.png"), make_png(arr, 2, 8, trns=struct.pack(">HHH", 255, 255, 255)))
    write(out("png", "interlaced_rgb.png"), make_png(arr[:37, :53], 2, 8, interlace=True))
    write(out("png", "interlaced_palette2.png"),
          make_png(idx4[:29, :31] >> 2, 3, 2, interlace=True, palette=short[:12]))
    write(out("png", "interlaced_rgba16.png"),
          make_png(np.dstack([arr, grey])[:19, :23].astype(np.uint16) * 255, 6, 16, interlace=True))
    write(out("png", "one_pixel.png"), make_png(arr[:1, :1], 2, 8))


def make_other_formats():
    a = rgb(APPLE2).resize((90, 90), Image.LANCZOS)
    arr = np.array(a)
    a.save(out("bmp", "rgb24.bmp"))
    a.quantize(64).save(out("bmp", "palette8.bmp"))
    a.convert("L").save(out("bmp", "grey8.bmp"))
    a.convert("1").save(out("bmp", "mono1.bmp"))
    rgba = a.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(out("bmp", "rgba32.bmp"))
    write(out("bmp", "rgb555.bmp"), make_bmp(arr, 16))
    write(out("bmp", "rgb565_top_down.bmp"), make_bmp(arr, 16, top_down=True))
    write(out("bmp", "rgb24_top_down.bmp"), make_bmp(arr, 24, top_down=True))

    pal = a.quantize(64)
    pal.save(out("gif", "palette.gif"))
    pal.save(out("gif", "transparent.gif"), transparency=5)
    # 2-frame animation: only the first frame counts.
    second = a.transpose(Image.FLIP_LEFT_RIGHT).quantize(64)
    pal.save(out("gif", "animated.gif"), save_all=True, append_images=[second], duration=100, loop=0)
    idx = np.array(pal)
    palette = pal.getpalette()[: 64 * 3]
    # Frame smaller than the screen, with transparency, interlaced, local palette.
    write(out("gif", "frame_offset_transparent.gif"),
          make_gif((120, 100), (17, 9), idx[:70, :80], global_palette=palette, transparency=7, background=2))
    write(out("gif", "interlaced_local_palette.gif"),
          make_gif((90, 90), (0, 0), idx, local_palette=palette, interlace=True))
    # No colour table at all: PIL reads the indices as grey levels (mode L).
    write(out("gif", "no_palette.gif"), make_gif((90, 90), (0, 0), idx * 4))
    # Frame larger than the logical screen: PIL grows the canvas.
    write(out("gif", "frame_beyond_screen.gif"),
          make_gif((60, 50), (10, 20), idx[:60, :70], global_palette=palette))

    a.save(out("webp", "lossy.webp"), quality=80)
    a.save(out("webp", "lossless.webp"), lossless=True)
    rgba = a.convert("RGBA")
    rgba.putalpha(Image.fromarray(((np.indices((90, 90)).sum(0) * 3) % 256).astype(np.uint8)))
    rgba.save(out("webp", "lossy_alpha.webp"), quality=80)
    a.save(out("webp", "lossy_orientation_6.webp"), quality=80, exif=exif_with_orientation(6))
    a.save(out("webp", "animated.webp"), save_all=True, append_images=[a.transpose(Image.FLIP_LEFT_RIGHT)],
           duration=100, quality=80)


def make_resize_source():
    # A detailed 67x53 patch of backpod.jpg: the input of resize_test's goldens
    # (tests/data/golden/resize/, made with PIL by make_golden.py).
    rgb(BACKPOD).crop((610, 700, 677, 753)).save(out("resize", "source.png"))


def make_bad():
    good_jpg = open(APPLE1, "rb").read()
    good_png = open(out("png", "rgb.png"), "rb").read()
    good_gif = open(out("gif", "palette.gif"), "rb").read()
    good_webp = open(out("webp", "lossy.webp"), "rb").read()
    good_bmp = open(out("bmp", "rgb24.bmp"), "rb").read()
    write(out("bad", "truncated.jpg"), good_jpg[: len(good_jpg) // 2])
    write(out("bad", "truncated.png"), good_png[: len(good_png) // 2])
    write(out("bad", "truncated.gif"), good_gif[: len(good_gif) // 2])
    write(out("bad", "truncated.webp"), good_webp[: len(good_webp) // 2])
    write(out("bad", "truncated.bmp"), good_bmp[: len(good_bmp) // 2])
    write(out("bad", "header_only.jpg"), good_jpg[:400])
    garbage = bytes((i * 73 + 41) % 256 for i in range(4000))
    write(out("bad", "garbage_after_soi.jpg"), b"\xff\xd8\xff\xe0" + garbage)
    write(out("bad", "text.txt"), b"This is not an image.\n")
    write(out("bad", "empty.bin"), b"")
    # Decompression bombs: valid headers announcing huge images.
    write(out("bad", "bomb_20000x20000.jpg"), patch_jpeg_size(good_jpg, 20000, 20000))
    write(out("bad", "bomb_20000x20000.png"), patch_png_size(good_png, 20000, 20000))
    write(out("bad", "bomb_65535x65535.gif"), good_gif[:6] + struct.pack("<HH", 65535, 65535) + good_gif[10:])
    write(out("bad", "bomb_20000x20000.bmp"), good_bmp[:18] + struct.pack("<ii", 20000, 20000) + good_bmp[26:])
    write(out("bad", "bomb_16384x16384.webp"), webp_vp8x_canvas(16384, 16384))
    write(out("bad", "zero_size.png"), patch_png_size(good_png, 0, 0))


def patch_jpeg_size(data, w, h):
    i = 2
    while i < len(data):
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            return data[: i + 5] + struct.pack(">HH", h, w) + data[i + 9 :]
        i += 2 + length
    raise AssertionError("no SOF")


def patch_png_size(data, w, h):
    ihdr = struct.pack(">II", w, h) + data[24:29]
    return data[:8] + png_chunk(b"IHDR", ihdr) + data[33:]


def webp_vp8x_canvas(w, h):
    vp8x = struct.pack("<I", 0) + struct.pack("<I", w - 1)[:3] + struct.pack("<I", h - 1)[:3]
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    # A tiny lossless frame after the VP8X header (the header alone decides).
    tiny = io.BytesIO()
    Image.new("RGB", (1, 1)).save(tiny, "WEBP", lossless=True)
    frame = tiny.getvalue()[12:]
    body += frame
    return b"RIFF" + struct.pack("<I", len(body)) + body


def main():
    make_exif_variants()
    make_large()
    make_jpeg_variants()
    make_png_variants()
    make_other_formats()
    make_resize_source()
    make_bad()
    total = 0
    for dirpath, _, files in os.walk(OUT):
        for f in files:
            total += os.path.getsize(os.path.join(dirpath, f))
    print(f"tests/data/images: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    sys.exit(main())
