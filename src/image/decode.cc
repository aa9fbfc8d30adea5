#include "image/decode.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "image/decode_internal.h"

namespace edgevision::image {
namespace {

enum class Format { kUnknown, kJpeg, kPng, kGif, kBmp, kWebp };

// Magic numbers as PIL's _accept() functions check them.
Format Sniff(std::span<const uint8_t> b) {
  auto starts = [&](const char* magic, size_t n, size_t at = 0) {
    return b.size() >= at + n && std::memcmp(b.data() + at, magic, n) == 0;
  };
  if (starts("\xFF\xD8\xFF", 3)) return Format::kJpeg;
  if (starts("\x89PNG\r\n\x1A\n", 8)) return Format::kPng;
  if (starts("GIF87a", 6) || starts("GIF89a", 6)) return Format::kGif;
  if (starts("BM", 2)) return Format::kBmp;
  if (starts("RIFF", 4) && starts("WEBP", 4, 8)) return Format::kWebp;
  return Format::kUnknown;
}

const char* Name(Format f) {
  switch (f) {
    case Format::kJpeg: return "jpeg";
    case Format::kPng: return "png";
    case Format::kGif: return "gif";
    case Format::kBmp: return "bmp";
    case Format::kWebp: return "webp";
    case Format::kUnknown: break;
  }
  return "unknown";
}

Status Unrecognised(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return InvalidArgument("image: empty input (0 bytes)");
  return InvalidArgument("image: unrecognised format (" + std::to_string(bytes.size()) +
                         " bytes; expected JPEG, PNG, GIF, BMP or WebP)");
}

}  // namespace

namespace internal {

Status CheckDimensions(std::string_view format, int64_t width, int64_t height,
                       const DecodeLimits& limits) {
  std::string what =
      std::string(format) + " " + std::to_string(width) + "x" + std::to_string(height);
  if (width <= 0 || height <= 0) return InvalidArgument(what + ": image has no pixels");
  if (width > limits.max_dimension || height > limits.max_dimension) {
    return ResourceExhausted(
        what + ": a side exceeds the limit max_dimension=" + std::to_string(limits.max_dimension));
  }
  if (static_cast<uint64_t>(width) * static_cast<uint64_t>(height) > limits.max_pixels) {
    return ResourceExhausted(
        what + ": more pixels than the limit max_pixels=" + std::to_string(limits.max_pixels));
  }
  return Status::Ok();
}

Status AllocateImage(int width, int height, Image* image) {
  try {
    image->Reshape(width, height);
  } catch (const std::bad_alloc&) {
    return ResourceExhausted("image: cannot allocate " + std::to_string(width) + "x" +
                             std::to_string(height) + " RGB pixels");
  }
  return Status::Ok();
}

}  // namespace internal

Result<DecodedImage> Decode(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
  DecodedImage out;
  EV_RETURN_IF_ERROR(DecodeInto(bytes, limits, &out));
  return out;
}

Status PixelsInto(const Image& rgb, const DecodeLimits& limits, DecodedImage* out) {
  if (rgb.width <= 0 || rgb.height <= 0 ||
      rgb.pixels.size() != static_cast<size_t>(rgb.width) * static_cast<size_t>(rgb.height) * 3) {
    return InvalidArgument("the frame is empty or its pixels do not match its size");
  }
  EV_RETURN_IF_ERROR(internal::CheckDimensions("frame", rgb.width, rgb.height, limits));
  out->rgb.Reshape(rgb.width, rgb.height);
  std::copy(rgb.pixels.begin(), rgb.pixels.end(), out->rgb.pixels.begin());
  out->alpha.clear();
  out->cmy.Reshape(0, 0);
  out->black.clear();
  out->grey32.Reshape(0, 0);
  out->exif_orientation = -1;
  out->source_mode = "RGB";
  out->format = "frame";
  return Status::Ok();
}

Status DecodeInto(std::span<const uint8_t> bytes, const DecodeLimits& limits, DecodedImage* out) {
  const Format format = Sniff(bytes);
  if (format == Format::kUnknown) return Unrecognised(bytes);

  // Header first: refuse bombs before any decoder allocates.
  EV_ASSIGN_OR_RETURN(ImageHeader header, ReadHeader(bytes));
  // A GIF's frame may grow a 0x0 logical screen; its decoder checks the canvas.
  if (format != Format::kGif || (header.width > 0 && header.height > 0)) {
    EV_RETURN_IF_ERROR(
        internal::CheckDimensions(header.format, header.width, header.height, limits));
  }

  // Reset everything but the buffers' capacity.
  out->rgb.Reshape(0, 0);
  out->alpha.clear();
  out->cmy.Reshape(0, 0);
  out->black.clear();
  out->grey32.Reshape(0, 0);
  out->exif_orientation = -1;
  out->source_mode.clear();
  out->format = Name(format);
  Status status;
  try {
    switch (format) {
      case Format::kJpeg: status = internal::DecodeJpeg(bytes, limits, out); break;
      case Format::kPng: status = internal::DecodePng(bytes, limits, out); break;
      case Format::kGif: status = internal::DecodeGif(bytes, limits, out); break;
      case Format::kBmp: status = internal::DecodeBmp(bytes, limits, out); break;
      case Format::kWebp: status = internal::DecodeWebp(bytes, limits, out); break;
      case Format::kUnknown: break;
    }
  } catch (const std::bad_alloc&) {
    status = ResourceExhausted(out->format + ": out of memory while decoding");
  }
  return status;
}

Result<ImageHeader> ReadHeader(std::span<const uint8_t> bytes) {
  switch (Sniff(bytes)) {
    case Format::kJpeg: return internal::ReadJpegHeader(bytes);
    case Format::kPng: return internal::ReadPngHeader(bytes);
    case Format::kGif: return internal::ReadGifHeader(bytes);
    case Format::kBmp: return internal::ReadBmpHeader(bytes);
    case Format::kWebp: return internal::ReadWebpHeader(bytes);
    case Format::kUnknown: break;
  }
  return Unrecognised(bytes);
}

}  // namespace edgevision::image
