// Decoding untrusted image bytes into an RGB8 Image.
//
// Formats: JPEG (libjpeg-turbo, the decoder PIL uses, with PIL's settings so
// pixels are bit-identical to the reference), PNG (libpng), GIF (giflib for
// the structure, PIL's own LZW decoder for the first frame, composed as PIL
// 9.4 does), BMP (our own decoder, BmpImagePlugin's rules: RLE4/RLE8, OS/2,
// bitfields, palettes) and WebP (libwebp). Grey, palette, alpha, CMYK and
// 16-bit inputs are converted to RGB8 the way PIL 9.4's convert("RGB") does:
// alpha is dropped (not composited; PNG and WebP alpha is kept aside in
// DecodedImage::alpha), palette entries a file does not define read as grey
// (i, i, i), 16-bit grey is clipped to 255, other 16-bit samples keep their
// high byte, Adobe CMYK/YCCK JPEGs use PIL's inverted-CMYK formula. Which
// files are refused follows PIL too (PIL's BMP header and bitfield rules, PNG
// chunk CRCs before IDAT only, a JPEG's markers as PIL's own parser walks them
// and up to EOI, PIL's LZW errors); tests/parity/compare_decoders.py checks
// every test image against Pillow.
//
// Safety: dimensions are read from the header and checked against
// DecodeLimits before any pixel buffer is allocated (decompression bombs are
// refused by pixel count). Truncated or corrupt data returns InvalidArgument
// (Unsupported for well-formed variants PIL does not read either); nothing
// here aborts, throws or longjmps past C++ frames.
//
// Known differences from PIL (all on malformed or rare files; see
// docs/api.md#image-formats): a PNG whose last IDAT chunk runs past the end
// of the file but already holds every pixel (PIL keeps it); a JPEG whose
// EXIF makes PIL's dpi lookup raise; a GIF with an LZW code size of 9-12
// (giflib refuses it); an EXIF orientation that is not a single integer is
// ignored (predict.py then fails); EXIF blocks PIL cannot parse may still
// parse with libexif. Limits are stricter than PIL's own bomb check
// (~179 MP).
//
// Thread-safety: all functions are reentrant.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "image/image.h"

namespace edgevision::image {

// Named limits with safe defaults (see docs/security.md).
struct DecodeLimits {
  // Largest accepted width * height. 40 MP covers every camera in the field
  // (a 1600x1200 ESP-EYE frame is 1.9 MP) and caps RGB8 memory at 120 MB.
  uint64_t max_pixels = 40'000'000;
  // Largest accepted width or height.
  int max_dimension = 20'000;
  // Largest number of scans a progressive JPEG may have (libjpeg-turbo's own
  // tjDecompress uses 500 against "scan bombs": tiny files that cost minutes).
  int max_jpeg_scans = 500;
};

struct DecodedImage {
  Image rgb;
  // The EXIF Orientation (0x0112) value the reference reads: from the Exif
  // sub-IFD if present there, else IFD 0 (PIL's merged dict), else, for PNG,
  // an XMP tiff:Orientation. -1 when absent. Values outside 1..8 are kept as
  // found; see orientation.h for what the reference does with them.
  int exif_orientation = -1;
  std::string format;  // "jpeg", "png", "bmp", "gif", "webp"
  // The PIL mode of the file before convert("RGB"): "RGB", "RGBA", "L", "LA",
  // "P", "1", "I" or "CMYK". predict.py
  // applies EXIF orientation only when this is "RGB" (a converted image loses
  // PIL's _getexif); see ReferenceOrientation() in orientation.h.
  std::string source_mode;
  // The file's alpha channel, one byte per pixel in `rgb`'s order, for PNG
  // and WebP files PIL opens as "RGBA" or "LA"; empty otherwise. convert("RGB")
  // drops it, but Docker 2.2's predict.py resizes before converting, and
  // Pillow resizes RGBA/LA premultiplied by alpha.
  Buffer<uint8_t> alpha;
  // For JPEGs PIL opens as "CMYK" (CMYK and YCCK): PIL's own pixels before
  // convert("RGB") (the file's Adobe-inverted samples un-inverted), C, M, Y
  // as an image and K as a plane in `rgb`'s order; empty otherwise. Docker
  // 2.2's predict.py resizes them before converting.
  Image cmy;
  Buffer<uint8_t> black;
  // For PNGs PIL opens as "I" (16-bit greyscale): PIL's own samples
  // (0..65535), in `rgb`'s order; empty otherwise. `rgb` holds their
  // convert("RGB") (clipped to 255); Docker 2.2's predict.py resizes the
  // 32-bit samples before converting.
  PlaneI32 grey32;
};

// Decodes `bytes`. Errors: InvalidArgument for empty, unknown, truncated or
// corrupt data and for a 0x0 image (the message says which); ResourceExhausted
// when the header announces more pixels or a larger side than `limits` allow,
// or when memory runs out.
Result<DecodedImage> Decode(std::span<const uint8_t> bytes, const DecodeLimits& limits = {});

// Decode() into `out`, reusing the capacity of its pixel and alpha buffers
// (a worker decodes every request into the same DecodedImage). Every field
// of `out` is overwritten; on error its contents are unspecified.
Status DecodeInto(std::span<const uint8_t> bytes, const DecodeLimits& limits, DecodedImage* out);

// Makes `out` what decoding a file with these pixels would give: an RGB
// image with no EXIF orientation, no alpha, format "frame" (a video frame
// already decoded elsewhere, src/stream). Reuses `out`'s buffers. Errors:
// InvalidArgument for an empty image or one whose pixel buffer does not
// match its size; ResourceExhausted beyond `limits`.
Status PixelsInto(const Image& rgb, const DecodeLimits& limits, DecodedImage* out);

// Reads only the header: format and dimensions, without decoding pixels.
// For GIF these are the logical screen's (a first frame reaching beyond it
// grows the decoded canvas, as in PIL). Errors: InvalidArgument.
struct ImageHeader {
  std::string format;
  int width = 0;
  int height = 0;
};
Result<ImageHeader> ReadHeader(std::span<const uint8_t> bytes);

}  // namespace edgevision::image
