// Per-format decoders behind Decode()/ReadHeader(). Private to src/image.
//
// Each decoder fills `out` (rgb, source_mode, exif_orientation) or returns
// InvalidArgument / ResourceExhausted. `format` is already set by the caller.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "core/status.h"
#include "image/decode.h"

namespace edgevision::image::internal {

// OK when width x height is positive and within `limits`; else
// InvalidArgument (zero or negative) or ResourceExhausted (too large).
Status CheckDimensions(std::string_view format, int64_t width, int64_t height,
                       const DecodeLimits& limits);

// Allocates image->pixels for width x height RGB8 (dimensions must have
// passed CheckDimensions). ResourceExhausted if the allocation fails.
Status AllocateImage(int width, int height, Image* image);

Status DecodeJpeg(std::span<const uint8_t> bytes, const DecodeLimits& limits, DecodedImage* out);
Status DecodePng(std::span<const uint8_t> bytes, const DecodeLimits& limits, DecodedImage* out);
Status DecodeGif(std::span<const uint8_t> bytes, const DecodeLimits& limits, DecodedImage* out);
Status DecodeBmp(std::span<const uint8_t> bytes, const DecodeLimits& limits, DecodedImage* out);
Status DecodeWebp(std::span<const uint8_t> bytes, const DecodeLimits& limits, DecodedImage* out);

Result<ImageHeader> ReadJpegHeader(std::span<const uint8_t> bytes);
Result<ImageHeader> ReadPngHeader(std::span<const uint8_t> bytes);
Result<ImageHeader> ReadGifHeader(std::span<const uint8_t> bytes);
Result<ImageHeader> ReadBmpHeader(std::span<const uint8_t> bytes);
Result<ImageHeader> ReadWebpHeader(std::span<const uint8_t> bytes);

// The Orientation value PIL's _getexif() would report for an EXIF block
// ("Exif\0\0" followed by a TIFF header, or a bare TIFF header), parsed with
// libexif: the Exif sub-IFD's tag wins over IFD 0's. Returns -1 when there is
// no such tag, it is not a single integer, or the block does not parse.
// `has_ifd0_orientation` (optional) says whether IFD 0 itself has the tag
// (PNG's XMP fallback applies only when it does not).
int ExifOrientation(std::span<const uint8_t> exif, bool* has_ifd0_orientation = nullptr);

}  // namespace edgevision::image::internal
