// Decoding untrusted image bytes into an RGB8 Image.
//
// Formats: JPEG (libjpeg-turbo, the decoder PIL uses, with PIL's settings so
// pixels are bit-identical to the reference), PNG, BMP, GIF (first frame)
// and WebP. Grey, palette, alpha and 16-bit inputs are converted to RGB8 the
// way PIL's convert("RGB") does (alpha dropped, not composited).
//
// Safety: dimensions are read from the header and checked against
// DecodeLimits before any pixel buffer is allocated (decompression bombs are
// refused by pixel count). Truncated or corrupt data returns InvalidArgument;
// nothing here aborts, throws or longjmps past C++ frames.
//
// Thread-safety: all functions are reentrant.
#pragma once

#include <cstdint>
#include <span>
#include <string>

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
};

struct DecodedImage {
  Image rgb;
  // Raw EXIF Orientation tag (0x0112) value, or -1 when the image carries no
  // EXIF orientation. Values outside 1..8 are kept as found: the reference
  // ignores them and so does ApplyExifOrientation.
  int exif_orientation = -1;
  std::string format;  // "jpeg", "png", "bmp", "gif", "webp"
};

// Decodes `bytes`. Errors: InvalidArgument for empty, unknown, truncated or
// corrupt data (the message says which); ResourceExhausted when the header
// announces more pixels than `limits` allow.
Result<DecodedImage> Decode(std::span<const uint8_t> bytes, const DecodeLimits& limits = {});

// Reads only the header: format and dimensions, without decoding pixels.
struct ImageHeader {
  std::string format;
  int width = 0;
  int height = 0;
};
Result<ImageHeader> ReadHeader(std::span<const uint8_t> bytes);

}  // namespace edgevision::image
