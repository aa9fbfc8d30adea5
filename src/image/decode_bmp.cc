// BMP read rule for rule as PIL 9.4's BmpImagePlugin reads it, then
// convert("RGB"). No library reads BMPs the way PIL does (which files it
// accepts, its RLE quirks, palettes it reinterprets), so this is our own,
// bounded decoder. What PIL does, and so what this file does:
//   - headers of 12 (OS/2 1.x, 16-bit sizes), 40, 64 (OS/2 2.x), 108 and 124
//     bytes; anything else (16, 52, 56...) is refused;
//   - width is unsigned; height is top-down only when its top byte is 0xFF
//     (then 2^32 - height), else unsigned: a bottom-up file with a negative
//     height that is not of that form is huge and refused by our limits;
//   - 1/4/8/16/24/32 bits per pixel (2-bit is refused);
//   - compression 0 (raw), 1/2 (RLE8/RLE4, with PIL's RLE decoder and its
//     quirks: the delta escape skips two bytes before its operands, odd RLE4
//     literal runs lose their last pixel, runs past the row end are clipped
//     or wrap, an image the stream does not fill is refused), 3 (bitfields,
//     only the masks PIL lists: 16-bit 5-5-5/5-6-5, 24-bit BGR, 32-bit
//     BGRX/XBGR/ABGR/RGBA/BGRA); JPEG/PNG payloads (4/5) and others refused;
//   - a palette of `colors` entries (0 means 1 << bits; more than 65536, or
//     more than 256 actually present, is refused) read after the header and
//     its masks; when the file's pixel offset points right after the header,
//     PIL skips 4 * colors bytes whatever the entry size;
//   - a palette that is the grey ramp (0,0,0)/(255,255,255) for 2 colours, or
//     (i,i,i) for i < colors, is dropped: the image becomes "1" or "L" and
//     the pixel bytes are read with that mode's bit depth (1 or 8), not the
//     file's, so e.g. a 4-bit file with a 16-step grey ramp reads bytes;
//   - palette indices the palette lacks read (i, i, i);
//   - 16-bit samples widen as v * 255 / max; alpha is dropped;
//   - rows are `stride` bytes apart (file bit depth, 4-byte aligned), but the
//     last row needs only its pixels, not its padding; less data is
//     "truncated" and refused (PIL without LOAD_TRUNCATED_IMAGES).
// Every buffer is bounded by the image size, which DecodeLimits bounds
// before anything is allocated; the RLE loop consumes at least two input
// bytes per step.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "image/decode_internal.h"

namespace edgevision::image::internal {
namespace {

constexpr uint32_t kRaw = 0, kRle8 = 1, kRle4 = 2, kBitfields = 3;
constexpr uint64_t kMaxPaletteColors = 65536;  // PIL's "Unsupported BMP Palette size"

// The PIL raw modes a BMP can be read with.
enum class RawMode { kP1, kP4, kP8, kBilevel, kL, kBgr15, kBgr16, kBgr, kBgrx, kXbgr, kAbgr, kRgba, kBgra };

int RawBits(RawMode m) {
  switch (m) {
    case RawMode::kP1:
    case RawMode::kBilevel: return 1;
    case RawMode::kP4: return 4;
    case RawMode::kP8:
    case RawMode::kL: return 8;
    case RawMode::kBgr15:
    case RawMode::kBgr16: return 16;
    case RawMode::kBgr: return 24;
    default: return 32;
  }
}

uint32_t Le32(const uint8_t* p) {
  return p[0] | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}
uint16_t Le16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | p[1] << 8);
}

struct BmpInfo {
  uint32_t header_size = 0;
  uint64_t width = 0;
  uint64_t height = 0;
  bool top_down = false;
  int bits = 0;
  uint32_t compression = kRaw;
  uint64_t data_offset = 0;  // where the pixel data starts
  std::string mode;          // PIL's mode: "1", "L", "P", "RGB" or "RGBA"
  RawMode raw = RawMode::kBgr;
  std::span<const uint8_t> palette;  // the bytes PIL's palette read returned
  int palette_entry = 4;             // 4 (BGRX) or 3 (OS/2 1.x, BGR)
};

bool IsGreyRamp(std::span<const uint8_t> palette, int entry, uint64_t colors) {
  for (uint64_t i = 0; i < colors; ++i) {
    const uint8_t v = static_cast<uint8_t>(colors == 2 ? (i == 0 ? 0 : 255) : i);
    const uint64_t at = i * entry;
    if (at + 3 > palette.size()) return false;
    if (palette[at] != v || palette[at + 1] != v || palette[at + 2] != v) return false;
  }
  return true;
}

Status SelectBitfields(std::span<const uint8_t> b, BmpInfo* info) {
  uint32_t r = 0, g = 0, bl = 0, a = 0;
  if (info->header_size >= 56) {  // masks inside the header (PIL: len(header_data) >= 52)
    r = Le32(&b[54]);
    g = Le32(&b[58]);
    bl = Le32(&b[62]);
    a = Le32(&b[66]);
  } else {  // 40-byte header: three masks follow it
    if (b.size() < 66) return InvalidArgument("bmp: truncated colour masks");
    r = Le32(&b[54]);
    g = Le32(&b[58]);
    bl = Le32(&b[62]);
  }
  struct Layout {
    int bits;
    uint32_t r, g, b, a;
    bool check_alpha;
    RawMode raw;
  };
  static constexpr Layout kLayouts[] = {
      {32, 0xFF0000, 0xFF00, 0xFF, 0, true, RawMode::kBgrx},
      {32, 0xFF000000, 0xFF0000, 0xFF00, 0, true, RawMode::kXbgr},
      {32, 0xFF000000, 0xFF0000, 0xFF00, 0xFF, true, RawMode::kAbgr},
      {32, 0xFF, 0xFF00, 0xFF0000, 0xFF000000, true, RawMode::kRgba},
      {32, 0xFF0000, 0xFF00, 0xFF, 0xFF000000, true, RawMode::kBgra},
      {32, 0, 0, 0, 0, true, RawMode::kBgra},
      {24, 0xFF0000, 0xFF00, 0xFF, 0, false, RawMode::kBgr},
      {16, 0xF800, 0x7E0, 0x1F, 0, false, RawMode::kBgr16},
      {16, 0x7C00, 0x3E0, 0x1F, 0, false, RawMode::kBgr15},
  };
  for (const Layout& l : kLayouts) {
    if (l.bits == info->bits && l.r == r && l.g == g && l.b == bl && (!l.check_alpha || l.a == a)) {
      info->raw = l.raw;
      if (l.raw == RawMode::kAbgr || l.raw == RawMode::kRgba || l.raw == RawMode::kBgra) {
        info->mode = "RGBA";
      }
      return Status::Ok();
    }
  }
  return Unsupported("bmp: unsupported bitfields layout");
}

// BmpImageFile._bitmap(): everything PIL decides when it opens the file.
Result<BmpInfo> ParseBmp(std::span<const uint8_t> b) {
  if (b.size() < 18) return InvalidArgument("bmp: truncated header");
  BmpInfo info;
  uint64_t offset = Le32(&b[10]);
  info.header_size = Le32(&b[14]);
  const uint32_t hs = info.header_size;
  if (hs != 12 && hs != 40 && hs != 64 && hs != 108 && hs != 124) {
    return Unsupported("bmp: unsupported header size " + std::to_string(hs));
  }
  if (b.size() < 14 + static_cast<size_t>(hs)) return InvalidArgument("bmp: truncated header");
  uint64_t colors = 0;
  if (hs == 12) {
    info.width = Le16(&b[18]);
    info.height = Le16(&b[20]);
    info.bits = Le16(&b[24]);
    info.palette_entry = 3;
  } else {
    info.top_down = b[25] == 0xFF;
    info.width = Le32(&b[18]);
    info.height = info.top_down ? (uint64_t{1} << 32) - Le32(&b[22]) : Le32(&b[22]);
    info.bits = Le16(&b[28]);
    info.compression = Le32(&b[30]);
    colors = Le32(&b[46]);
  }
  size_t pos = 14 + hs;  // PIL's file position as it reads on
  if (info.compression == kBitfields && hs == 40) pos += 12;
  if (colors == 0) colors = info.bits < 64 ? uint64_t{1} << info.bits : UINT64_MAX;
  if (offset == 14 + static_cast<uint64_t>(hs) && info.bits <= 8) offset += 4 * colors;

  const int bits = info.bits;
  if (bits != 1 && bits != 4 && bits != 8 && bits != 16 && bits != 24 && bits != 32) {
    return Unsupported("bmp: unsupported bit depth " + std::to_string(bits));
  }
  info.mode = bits <= 8 ? "P" : "RGB";
  switch (bits) {
    case 1: info.raw = RawMode::kP1; break;
    case 4: info.raw = RawMode::kP4; break;
    case 8: info.raw = RawMode::kP8; break;
    case 16: info.raw = RawMode::kBgr15; break;
    case 24: info.raw = RawMode::kBgr; break;
    default: info.raw = RawMode::kBgrx; break;
  }
  if (info.compression == kBitfields) {
    EV_RETURN_IF_ERROR(SelectBitfields(b, &info));
  } else if (info.compression != kRaw && info.compression != kRle8 &&
             info.compression != kRle4) {
    return Unsupported("bmp: unsupported compression " + std::to_string(info.compression) +
                       (info.compression == 4 || info.compression == 5 ? " (embedded JPEG/PNG)" : ""));
  }

  if (info.mode == "P") {
    if (colors == 0 || colors > kMaxPaletteColors) {
      return Unsupported("bmp: unsupported palette size " + std::to_string(colors));
    }
    const uint64_t want = colors * static_cast<uint64_t>(info.palette_entry);
    const size_t got = pos >= b.size() ? 0 : static_cast<size_t>(std::min<uint64_t>(want, b.size() - pos));
    info.palette = b.subspan(std::min(pos, b.size()), got);
    pos += got;
    if (IsGreyRamp(info.palette, info.palette_entry, colors)) {
      info.mode = colors == 2 ? "1" : "L";
      info.raw = colors == 2 ? RawMode::kBilevel : RawMode::kL;
      info.palette = {};
    }
  }
  info.data_offset = offset != 0 ? offset : pos;
  return info;
}

// A 256-entry RGB lookup: the file's palette over PIL's default grey ramp.
struct Palette {
  uint8_t rgb[256][3];
};

Status BuildPalette(const BmpInfo& info, Palette* p) {
  for (int i = 0; i < 256; ++i) p->rgb[i][0] = p->rgb[i][1] = p->rgb[i][2] = static_cast<uint8_t>(i);
  if (info.mode != "P") return Status::Ok();
  const size_t entries = info.palette.size() / info.palette_entry;
  if (entries > 256) {
    return Unsupported("bmp: palette of " + std::to_string(entries) + " colours (PIL reads at most 256)");
  }
  for (size_t i = 0; i < entries; ++i) {
    const uint8_t* e = &info.palette[i * info.palette_entry];
    p->rgb[i][0] = e[2];
    p->rgb[i][1] = e[1];
    p->rgb[i][2] = e[0];
  }
  return Status::Ok();
}

// One row of `width` pixels in `raw` layout to RGB8.
void UnpackRow(RawMode raw, const uint8_t* src, int width, const Palette& pal, uint8_t* dst) {
  auto grey = [&](int x, uint8_t v) { dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = v; };
  auto index = [&](int x, int i) { std::memcpy(dst + 3 * x, pal.rgb[i], 3); };
  auto rgb = [&](int x, uint8_t r, uint8_t g, uint8_t b) {
    dst[3 * x] = r;
    dst[3 * x + 1] = g;
    dst[3 * x + 2] = b;
  };
  switch (raw) {
    case RawMode::kP1:
      for (int x = 0; x < width; ++x) index(x, (src[x >> 3] >> (7 - (x & 7))) & 1);
      break;
    case RawMode::kP4:
      for (int x = 0; x < width; ++x) index(x, (src[x >> 1] >> ((x & 1) ? 0 : 4)) & 15);
      break;
    case RawMode::kP8:
      for (int x = 0; x < width; ++x) index(x, src[x]);
      break;
    case RawMode::kBilevel:
      for (int x = 0; x < width; ++x) grey(x, ((src[x >> 3] >> (7 - (x & 7))) & 1) ? 255 : 0);
      break;
    case RawMode::kL:
      for (int x = 0; x < width; ++x) grey(x, src[x]);
      break;
    case RawMode::kBgr15:
    case RawMode::kBgr16: {
      const int green_bits = raw == RawMode::kBgr16 ? 6 : 5;
      const int green_max = (1 << green_bits) - 1;
      for (int x = 0; x < width; ++x) {
        const int v = Le16(src + 2 * x);
        rgb(x, static_cast<uint8_t>(((v >> (5 + green_bits)) & 31) * 255 / 31),
            static_cast<uint8_t>(((v >> 5) & green_max) * 255 / green_max),
            static_cast<uint8_t>((v & 31) * 255 / 31));
      }
      break;
    }
    case RawMode::kBgr:
      for (int x = 0; x < width; ++x) rgb(x, src[3 * x + 2], src[3 * x + 1], src[3 * x]);
      break;
    case RawMode::kBgrx:
    case RawMode::kBgra:
      for (int x = 0; x < width; ++x) rgb(x, src[4 * x + 2], src[4 * x + 1], src[4 * x]);
      break;
    case RawMode::kXbgr:
    case RawMode::kAbgr:
      for (int x = 0; x < width; ++x) rgb(x, src[4 * x + 3], src[4 * x + 2], src[4 * x + 1]);
      break;
    case RawMode::kRgba:
      for (int x = 0; x < width; ++x) rgb(x, src[4 * x], src[4 * x + 1], src[4 * x + 2]);
      break;
  }
}

// PIL's raw decoder: rows `stride` bytes apart from data_offset, bottom-up
// unless top_down.
Status DecodeRaw(std::span<const uint8_t> b, const BmpInfo& info, const Palette& pal, Image* img) {
  const uint64_t stride = ((info.width * info.bits + 31) >> 3) & ~uint64_t{3};
  const uint64_t row_bytes = (info.width * RawBits(info.raw) + 7) / 8;
  if (stride < row_bytes) {
    return InvalidArgument("bmp: rows of " + std::to_string(stride) + " bytes cannot hold " +
                           std::to_string(info.width) + " pixels in mode " + info.mode);
  }
  const uint64_t needed = info.data_offset + (info.height - 1) * stride + row_bytes;
  if (needed > b.size()) {
    return InvalidArgument("bmp: truncated pixel data (" + std::to_string(b.size()) +
                           " bytes, the header needs " + std::to_string(needed) + ")");
  }
  const int w = img->width, h = img->height;
  for (int r = 0; r < h; ++r) {
    const int y = info.top_down ? r : h - 1 - r;
    UnpackRow(info.raw, b.data() + info.data_offset + stride * static_cast<uint64_t>(r), w, pal,
              img->Row(y));
  }
  return Status::Ok();
}

// BmpRleDecoder.decode() of PIL 9.4, step for step. `data` holds PIL's
// growing bytearray up to width * height; `length` is its true length (it
// can overshoot; the excess is never read).
Status DecodeRle(std::span<const uint8_t> b, const BmpInfo& info, const Palette& pal, Image* img) {
  if (info.mode != "P" && info.mode != "L") {
    return Unsupported("bmp: RLE compression with " + std::to_string(info.bits) + "-bit " + info.mode +
                       " pixels");
  }
  const bool rle4 = info.compression == kRle4;
  const uint64_t width = info.width;
  const uint64_t total = info.width * info.height;
  std::vector<uint8_t> data(total, 0);
  uint64_t length = 0;
  auto push = [&](uint8_t v) {
    if (length < total) data[length] = v;
    ++length;
  };
  uint64_t pos = info.data_offset;  // the file position (fd.tell())
  auto remaining = [&]() -> uint64_t { return pos < b.size() ? b.size() - pos : 0; };
  uint64_t x = 0;
  while (length < total) {
    if (remaining() < 2) break;
    const uint8_t count = b[pos], value = b[pos + 1];
    pos += 2;
    if (count != 0) {  // encoded run
      uint64_t n = count;
      if (x + n > width) n = x < width ? width - x : 0;
      for (uint64_t i = 0; i < n; ++i) {
        push(rle4 ? static_cast<uint8_t>(i % 2 == 0 ? value >> 4 : value & 15) : value);
      }
      x += n;
    } else if (value == 0) {  // end of line
      length = (length + width - 1) / width * width;
      x = 0;
    } else if (value == 1) {  // end of bitmap
      break;
    } else if (value == 2) {  // delta: PIL reads two bytes, then its operands from the next two
      if (remaining() < 2) break;
      pos += 2;
      if (remaining() < 2) return InvalidArgument("bmp: RLE delta escape cut short");
      const uint64_t right = b[pos], up = b[pos + 1];
      pos += 2;
      length += right + up * width;
      x = length % width;
    } else {  // absolute run of `value` pixels
      const uint64_t byte_count = rle4 ? value / 2 : value;
      const uint64_t got = std::min(byte_count, remaining());
      for (uint64_t i = 0; i < got; ++i) {
        const uint8_t v = b[pos + i];
        if (rle4) {
          push(v >> 4);
          push(v & 15);
        } else {
          push(v);
        }
      }
      pos += got;
      if (got < byte_count) break;
      x += value;
      if (pos % 2 != 0) ++pos;  // word alignment, by absolute file position
    }
  }
  if (length < total) {
    return InvalidArgument("bmp: RLE data ends before the image is filled");
  }
  const int w = img->width, h = img->height;
  for (int r = 0; r < h; ++r) {
    const int y = info.top_down ? r : h - 1 - r;
    UnpackRow(RawMode::kP8, data.data() + static_cast<size_t>(r) * w, w, pal, img->Row(y));
  }
  return Status::Ok();
}

}  // namespace

Status DecodeBmp(std::span<const uint8_t> bytes, const DecodeLimits& limits, DecodedImage* out) {
  EV_ASSIGN_OR_RETURN(BmpInfo info, ParseBmp(bytes));
  EV_RETURN_IF_ERROR(CheckDimensions("bmp", static_cast<int64_t>(std::min<uint64_t>(info.width, INT64_MAX)),
                                     static_cast<int64_t>(std::min<uint64_t>(info.height, INT64_MAX)),
                                     limits));
  Palette pal;
  EV_RETURN_IF_ERROR(BuildPalette(info, &pal));
  EV_RETURN_IF_ERROR(AllocateImage(static_cast<int>(info.width), static_cast<int>(info.height), &out->rgb));
  out->source_mode = info.mode;
  if (info.compression == kRle8 || info.compression == kRle4) {
    return DecodeRle(bytes, info, pal, &out->rgb);
  }
  return DecodeRaw(bytes, info, pal, &out->rgb);
}

Result<ImageHeader> ReadBmpHeader(std::span<const uint8_t> bytes) {
  EV_ASSIGN_OR_RETURN(BmpInfo info, ParseBmp(bytes));
  if (info.width > INT32_MAX || info.height > INT32_MAX) {
    return ResourceExhausted("bmp " + std::to_string(info.width) + "x" + std::to_string(info.height) +
                             ": larger than any decode limit");
  }
  ImageHeader header;
  header.format = "bmp";
  header.width = static_cast<int>(info.width);
  header.height = static_cast<int>(info.height);
  return header;
}

}  // namespace edgevision::image::internal
