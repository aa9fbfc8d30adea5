// BMP through stb_image, after our own header checks:
//   - only what both stb_image and PIL read: BITMAPCOREHEADER/INFOHEADER/V4/V5,
//     uncompressed or BI_BITFIELDS, 1/4/8/16/24/32 bits per pixel;
//   - the pixel array must be complete (stb_image would read zeros past the
//     end where PIL reports "image file is truncated");
//   - palette indices beyond the file's palette read as (i, i, i), as PIL's
//     palette does (stb_image would read uninitialised memory);
//   - 16-bit pixels are unpacked here, with PIL's rounding.
#include <stb_image.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "image/decode_internal.h"

namespace edgevision::image::internal {
namespace {

struct StbFree {
  void operator()(stbi_uc* p) const { stbi_image_free(p); }
};

uint32_t Le32(const uint8_t* p) {
  return p[0] | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}
uint16_t Le16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | p[1] << 8);
}

struct BmpInfo {
  uint32_t offset = 0;  // start of the pixel array
  uint32_t header_size = 0;
  int64_t width = 0;
  int64_t height = 0;  // negative: rows stored top-down
  int bpp = 0;
  uint32_t compression = 0;
};

Result<BmpInfo> ParseHeader(std::span<const uint8_t> b) {
  if (b.size() < 26) return InvalidArgument("bmp: truncated header");
  BmpInfo info;
  info.offset = Le32(&b[10]);
  info.header_size = Le32(&b[14]);
  const uint32_t hs = info.header_size;
  if (hs != 12 && hs != 40 && hs != 56 && hs != 108 && hs != 124) {
    return Unsupported("bmp: unsupported header size " + std::to_string(hs));
  }
  if (b.size() < 14 + static_cast<size_t>(hs)) return InvalidArgument("bmp: truncated header");
  if (hs == 12) {
    info.width = Le16(&b[18]);
    info.height = Le16(&b[20]);
    info.bpp = Le16(&b[24]);
  } else {
    info.width = static_cast<int32_t>(Le32(&b[18]));
    info.height = static_cast<int32_t>(Le32(&b[22]));
    info.bpp = Le16(&b[28]);
    info.compression = Le32(&b[30]);
  }
  return info;
}

// 16-bit pixels as PIL unpacks them ("BGR;15" / "BGR;16"): each field
// widened with v * 255 / max (stb_image would replicate bits instead).
Status Decode16(std::span<const uint8_t> bytes, const BmpInfo& info, uint64_t stride,
                DecodedImage* out) {
  uint32_t r_mask = 0x7C00, g_mask = 0x3E0, b_mask = 0x1F;
  if (info.compression == 3) {  // BI_BITFIELDS: masks follow the 40-byte header
    if (bytes.size() < 66) return InvalidArgument("bmp: truncated colour masks");
    r_mask = Le32(&bytes[54]);
    g_mask = Le32(&bytes[58]);
    b_mask = Le32(&bytes[62]);
  }
  int green_bits = 0;
  if (r_mask == 0x7C00 && g_mask == 0x3E0 && b_mask == 0x1F) green_bits = 5;
  if (r_mask == 0xF800 && g_mask == 0x7E0 && b_mask == 0x1F) green_bits = 6;
  if (green_bits == 0) return Unsupported("bmp: unsupported 16-bit colour masks");
  const int green_max = (1 << green_bits) - 1;

  const int w = static_cast<int>(info.width);
  const int h = static_cast<int>(info.height < 0 ? -info.height : info.height);
  EV_RETURN_IF_ERROR(AllocateImage(w, h, &out->rgb));
  out->source_mode = "RGB";
  for (int y = 0; y < h; ++y) {
    const int file_row = info.height > 0 ? h - 1 - y : y;
    const uint8_t* src = bytes.data() + info.offset + stride * static_cast<uint64_t>(file_row);
    uint8_t* dst = out->rgb.Row(y);
    for (int x = 0; x < w; ++x, src += 2, dst += 3) {
      const int p = Le16(src);
      dst[0] = static_cast<uint8_t>(((p >> (5 + green_bits)) & 31) * 255 / 31);
      dst[1] = static_cast<uint8_t>(((p >> 5) & green_max) * 255 / green_max);
      dst[2] = static_cast<uint8_t>((p & 31) * 255 / 31);
    }
  }
  return Status::Ok();
}

}  // namespace

Status DecodeBmp(std::span<const uint8_t> bytes, const DecodeLimits& limits, DecodedImage* out) {
  EV_ASSIGN_OR_RETURN(BmpInfo info, ParseHeader(bytes));
  const int64_t height = info.height < 0 ? -info.height : info.height;
  EV_RETURN_IF_ERROR(CheckDimensions("bmp", info.width, height, limits));
  const int bpp = info.bpp;
  if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32) {
    return Unsupported("bmp: unsupported bit depth " + std::to_string(bpp));
  }
  if (info.compression == 1 || info.compression == 2) {
    return Unsupported("bmp: RLE-compressed bitmaps are not supported");
  }
  if (info.compression != 0 && !(info.compression == 3 && (bpp == 16 || bpp == 32))) {
    return Unsupported("bmp: unsupported compression " + std::to_string(info.compression));
  }
  const uint64_t stride = ((static_cast<uint64_t>(info.width) * bpp + 31) / 32) * 4;
  if (info.offset > bytes.size() || stride * height > bytes.size() - info.offset) {
    return InvalidArgument("bmp: truncated pixel data (" + std::to_string(bytes.size()) +
                           " bytes, header needs " + std::to_string(info.offset + stride * height) +
                           ")");
  }
  if (bytes.size() > static_cast<size_t>(INT32_MAX)) {
    return ResourceExhausted("bmp: file too large");
  }
  if (bpp == 16 && info.header_size != 12) return Decode16(bytes, info, stride, out);

  int w = 0, h = 0, channels = 0;
  std::unique_ptr<stbi_uc, StbFree> pixels(
      stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &channels, 3));
  if (!pixels) {
    const char* reason = stbi_failure_reason();
    return InvalidArgument(std::string("bmp: ") + (reason ? reason : "decoding failed"));
  }
  if (w != info.width || h != height) return Internal("bmp: stb_image disagrees on the size");
  EV_RETURN_IF_ERROR(AllocateImage(w, h, &out->rgb));
  std::memcpy(out->rgb.pixels.data(), pixels.get(), out->rgb.pixels.size());
  out->source_mode = bpp <= 8 ? "P" : "RGB";

  // Palette entries the file lacks: PIL reads index i as (i, i, i).
  if (bpp <= 8 && info.header_size != 12) {
    const int64_t palette_size = (static_cast<int64_t>(info.offset) - 14 - info.header_size) / 4;
    if (palette_size < (int64_t{1} << bpp)) {
      for (int y = 0; y < h; ++y) {
        const int file_row = info.height > 0 ? h - 1 - y : y;
        const uint8_t* src = bytes.data() + info.offset + stride * static_cast<uint64_t>(file_row);
        uint8_t* dst = out->rgb.Row(y);
        for (int x = 0; x < w; ++x) {
          const int bit = x * bpp;
          const int index = (src[bit / 8] >> (8 - bpp - bit % 8)) & ((1 << bpp) - 1);
          if (index >= palette_size) {
            dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = static_cast<uint8_t>(index);
          }
        }
      }
    }
  }
  return Status::Ok();
}

Result<ImageHeader> ReadBmpHeader(std::span<const uint8_t> bytes) {
  EV_ASSIGN_OR_RETURN(BmpInfo info, ParseHeader(bytes));
  if (info.width > INT32_MAX || info.height < -INT32_MAX) {
    return InvalidArgument("bmp: size out of range");
  }
  ImageHeader header;
  header.format = "bmp";
  header.width = static_cast<int>(info.width);
  header.height = static_cast<int>(info.height < 0 ? -info.height : info.height);
  return header;
}

}  // namespace edgevision::image::internal
