// PNG through libpng, mapped to RGB8 as PIL 9.4 opens PNGs (PngImagePlugin's
// _MODES) and then convert("RGB")s them:
//   grey 1/2/4/8-bit  "1"/"L"  scaled to 8 bits, replicated
//   grey 16-bit       "I"      clipped to 255 (PIL's i2rgb), replicated; the
//                              16-bit samples also kept (DecodedImage::grey32)
//   grey+alpha        "LA"     (16-bit: "RGBA" from the high bytes) alpha dropped
//   RGB 8/16-bit      "RGB"    16-bit keeps the high byte
//   RGBA 8/16-bit     "RGBA"   alpha dropped, high byte
//   palette 1-8 bit   "P"      PLTE lookup; entries PLTE lacks read (i, i, i)
// tRNS, gAMA, sBIT, iCCP are ignored, as PIL's convert ignores them.
//
// EXIF comes from eXIf (before or after IDAT) or, failing that, an
// ImageMagick "Raw profile type exif" text chunk; an XMP tiff:Orientation is
// used when the EXIF has none in IFD 0 (PIL's getexif()).
//
// libpng reports fatal errors through a longjmp to the setjmp in RunDecode()
// / RunReadEnd(); as in decode_jpeg.cc, every object with a destructor exists
// before setjmp is called.
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "image/decode_internal.h"

namespace edgevision::image::internal {
namespace {

constexpr size_t kMaxAncillaryChunkBytes = 8u << 20;  // eXIf, iCCP, zTXt, iTXt...

struct IoState {
  std::span<const uint8_t> bytes;
  size_t pos = 0;
  char message[200] = {0};
  // Set once the pixel rows are known (after png_read_info).
  bool reading_rows = false;
  bool interlaced = false;
  png_uint_32 height = 0;
  // The data ran out after libpng had delivered every row: PIL's decoder
  // stops at the last row and keeps the image.
  bool ended_after_rows = false;
};

// Whether libpng has delivered every row (it is finishing the IDAT stream).
bool RowsComplete(png_const_structrp png, const IoState& io) {
  if (!io.reading_rows) return false;
  if (io.interlaced) return png_get_current_pass_number(png) >= 7;
  return png_get_current_row_number(png) >= io.height;
}

// libpng callbacks: C linkage, internal linkage.
extern "C" {

static void PngOnRead(png_structp png, png_bytep dst, size_t n) {
  auto* io = static_cast<IoState*>(png_get_io_ptr(png));
  if (n > io->bytes.size() - io->pos) {
    io->ended_after_rows = RowsComplete(png, *io);
    png_error(png, "truncated file (unexpected end of data)");
  }
  std::memcpy(dst, io->bytes.data() + io->pos, n);
  io->pos += n;
}

static void PngOnError(png_structp png, png_const_charp message) {
  auto* io = static_cast<IoState*>(png_get_error_ptr(png));
  // The zlib stream ended (no Adler-32) after the last row.
  if (message != nullptr && std::strcmp(message, "Not enough image data") == 0 && RowsComplete(png, *io)) {
    io->ended_after_rows = true;
  }
  std::snprintf(io->message, sizeof(io->message), "%s", message ? message : "decoding failed");
  png_longjmp(png, 1);
}

static void PngOnWarning(png_structp, png_const_charp) {}

}  // extern "C"

class PngReader {
 public:
  explicit PngReader(std::span<const uint8_t> bytes) {
    io_.bytes = bytes;
    png_ = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io_, PngOnError, PngOnWarning);
    if (png_ != nullptr) info_ = png_create_info_struct(png_);
    if (png_ != nullptr && info_ != nullptr) png_set_read_fn(png_, &io_, PngOnRead);
  }
  ~PngReader() { png_destroy_read_struct(&png_, info_ ? &info_ : nullptr, nullptr); }
  PngReader(const PngReader&) = delete;
  PngReader& operator=(const PngReader&) = delete;

  bool ok() const { return png_ != nullptr && info_ != nullptr; }
  IoState& io() { return io_; }
  png_structp png() { return png_; }
  png_infop info() { return info_; }
  const char* message() const { return io_.message; }

 private:
  IoState io_;
  png_structp png_ = nullptr;
  png_infop info_ = nullptr;
};

Status PngError(const char* message) {
  return InvalidArgument(std::string("png: ") + (message[0] ? message : "decoding failed"));
}

const char* ModeFor(int color_type, int bit_depth) {
  switch (color_type) {
    case PNG_COLOR_TYPE_GRAY: return bit_depth == 1 ? "1" : (bit_depth == 16 ? "I" : "L");
    case PNG_COLOR_TYPE_RGB: return "RGB";
    case PNG_COLOR_TYPE_PALETTE: return "P";
    case PNG_COLOR_TYPE_GRAY_ALPHA: return bit_depth == 16 ? "RGBA" : "LA";
    case PNG_COLOR_TYPE_RGB_ALPHA: return "RGBA";
  }
  return nullptr;
}

// Decodes the pixels; `native` and `rows` are the caller's buffers.
// Rows that are not RGB (palette, grey) are left in `native`, and *expand
// is set, for ExpandRows().
Status RunDecode(PngReader& r, const DecodeLimits& limits, std::vector<uint8_t>& native,
                 std::vector<png_bytep>& rows, DecodedImage* out, int* color_type_out, bool* grey16_out,
                 bool* expand) {
  png_structp png = r.png();
  png_infop info = r.info();
  if (setjmp(png_jmpbuf(png))) {
    if (r.io().ended_after_rows) return Status::Ok();  // every row is in `out`
    return PngError(r.message());
  }

  png_set_user_limits(png, static_cast<png_uint_32>(limits.max_dimension),
                      static_cast<png_uint_32>(limits.max_dimension));
  png_set_chunk_malloc_max(png, kMaxAncillaryChunkBytes);
  // CRCs as PIL checks them: every chunk before the first IDAT (a bad one
  // is an error, ancillary or not), none from IDAT on.
  png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
  png_read_info(png, info);
  png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);

  png_uint_32 w = 0, h = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  png_get_IHDR(png, info, &w, &h, &bit_depth, &color_type, &interlace, nullptr, nullptr);
  EV_RETURN_IF_ERROR(CheckDimensions("png", w, h, limits));
  const char* mode = ModeFor(color_type, bit_depth);
  if (mode == nullptr) return InvalidArgument("png: unknown colour type");
  out->source_mode = mode;
  const int width = static_cast<int>(w);
  const int height = static_cast<int>(h);

  const bool grey = (color_type & PNG_COLOR_MASK_COLOR) == 0;
  const bool grey16 = grey && bit_depth == 16 && (color_type & PNG_COLOR_MASK_ALPHA) == 0;
  if (color_type == PNG_COLOR_TYPE_PALETTE && bit_depth < 8) png_set_packing(png);
  if (grey && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (bit_depth == 16 && !grey16) png_set_strip_16(png);  // high byte, as PIL's ";16B" rawmodes
  const bool alpha = (color_type & PNG_COLOR_MASK_ALPHA) != 0;  // kept, then split off
  if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(png);
  png_read_update_info(png, info);
  r.io().interlaced = interlace != PNG_INTERLACE_NONE;
  r.io().height = h;

  *color_type_out = color_type;
  *grey16_out = grey16;
  const size_t out_channels =
      ((color_type & PNG_COLOR_MASK_COLOR) && color_type != PNG_COLOR_TYPE_PALETTE ? 3 : 1) +
      (alpha ? 1 : 0);
  const size_t sample_bytes = grey16 ? 2 : 1;
  const size_t rowbytes = png_get_rowbytes(png, info);
  if (png_get_channels(png, info) != out_channels ||
      rowbytes != static_cast<size_t>(width) * out_channels * sample_bytes) {
    return Internal("png: unexpected row layout after transforms");
  }

  EV_RETURN_IF_ERROR(AllocateImage(width, height, &out->rgb));
  rows.resize(static_cast<size_t>(height));
  *expand = out_channels != 3;
  if (out_channels == 3) {  // RGB rows land in the image directly
    for (int y = 0; y < height; ++y) rows[y] = out->rgb.Row(y);
  } else {
    native.resize(rowbytes * static_cast<size_t>(height));
    for (int y = 0; y < height; ++y) rows[y] = native.data() + rowbytes * static_cast<size_t>(y);
  }
  r.io().reading_rows = true;
  png_read_image(png, rows.data());
  return Status::Ok();
}

// Palette, grey and 16-bit grey rows (`native`) to RGB8.
void ExpandRows(PngReader& r, int color_type, bool grey16, std::vector<png_bytep>& rows,
                DecodedImage* out) {
  png_structp png = r.png();
  png_infop info = r.info();
  const int width = out->rgb.width;
  const int height = out->rgb.height;
  const bool alpha = (color_type & PNG_COLOR_MASK_ALPHA) != 0;
  const size_t out_channels = png_get_channels(png, info);

  if (alpha) {  // RGBA or grey+alpha (8-bit after strip_16): colour to rgb, alpha aside
    const size_t colour = out_channels - 1;
    out->alpha.resize(static_cast<size_t>(width) * height);
    for (int y = 0; y < height; ++y) {
      const uint8_t* src = rows[y];
      uint8_t* dst = out->rgb.Row(y);
      uint8_t* a = out->alpha.data() + static_cast<size_t>(y) * width;
      for (int x = 0; x < width; ++x, dst += 3, src += out_channels) {
        dst[0] = src[0];
        dst[1] = src[colour == 3 ? 1 : 0];
        dst[2] = src[colour == 3 ? 2 : 0];
        a[x] = src[colour];
      }
    }
  } else if (color_type == PNG_COLOR_TYPE_PALETTE) {
    uint8_t table[256][3];
    for (int i = 0; i < 256; ++i) table[i][0] = table[i][1] = table[i][2] = static_cast<uint8_t>(i);
    png_colorp palette = nullptr;
    int entries = 0;
    if (png_get_PLTE(png, info, &palette, &entries) != 0 && palette != nullptr) {
      for (int i = 0; i < entries && i < 256; ++i) {
        table[i][0] = palette[i].red;
        table[i][1] = palette[i].green;
        table[i][2] = palette[i].blue;
      }
    }
    for (int y = 0; y < height; ++y) {
      const uint8_t* src = rows[y];
      uint8_t* dst = out->rgb.Row(y);
      for (int x = 0; x < width; ++x, dst += 3) std::memcpy(dst, table[src[x]], 3);
    }
  } else if (grey16) {  // mode "I": the samples kept, and their convert("RGB")
    out->grey32.Reshape(width, height);
    for (int y = 0; y < height; ++y) {
      const uint8_t* src = rows[y];
      uint8_t* dst = out->rgb.Row(y);
      int32_t* wide = out->grey32.Row(y);
      for (int x = 0; x < width; ++x, dst += 3) {
        const int v = (src[2 * x] << 8) | src[2 * x + 1];
        wide[x] = v;
        dst[0] = dst[1] = dst[2] = static_cast<uint8_t>(v > 255 ? 255 : v);
      }
    }
  } else {
    for (int y = 0; y < height; ++y) {
      const uint8_t* src = rows[y];
      uint8_t* dst = out->rgb.Row(y);
      for (int x = 0; x < width; ++x, dst += 3) dst[0] = dst[1] = dst[2] = src[x];
    }
  }
}

// Reads the chunks after IDAT (eXIf, text). Failures there are ignored, as
// PIL's load_end() stops quietly at a truncated or broken trailer.
void RunReadEnd(PngReader& r) {
  if (setjmp(png_jmpbuf(r.png()))) return;
  png_read_end(r.png(), r.info());
}

bool HexDecode(std::string_view hex, std::vector<uint8_t>* out) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  int hi = -1;
  for (char c : hex) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f') {
      if (hi >= 0) return false;  // whitespace only between bytes
      continue;
    }
    const int v = nibble(c);
    if (v < 0) return false;
    if (hi < 0) {
      hi = v;
    } else {
      out->push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  return hi < 0;
}

// PIL: bytes.fromhex("".join(text.split("\n")[3:])).
bool DecodeRawProfile(std::string_view text, std::vector<uint8_t>* out) {
  size_t pos = 0;
  for (int i = 0; i < 3; ++i) {
    pos = text.find('\n', pos);
    if (pos == std::string_view::npos) return false;
    ++pos;
  }
  std::string joined;
  for (char c : text.substr(pos)) {
    if (c != '\n') joined.push_back(c);
  }
  return HexDecode(joined, out);
}

// PIL: re.search(r'tiff:Orientation(="|>)([0-9])', xmp).
int XmpOrientation(std::string_view xmp) {
  constexpr std::string_view kKey = "tiff:Orientation";
  for (size_t at = xmp.find(kKey); at != std::string_view::npos; at = xmp.find(kKey, at + 1)) {
    std::string_view rest = xmp.substr(at + kKey.size());
    if (rest.size() >= 3 && rest[0] == '=' && rest[1] == '"' && rest[2] >= '0' && rest[2] <= '9') {
      return rest[2] - '0';
    }
    if (rest.size() >= 2 && rest[0] == '>' && rest[1] >= '0' && rest[1] <= '9')
      return rest[1] - '0';
  }
  return -1;
}

void ReadOrientation(PngReader& r, DecodedImage* out) {
  png_bytep exif = nullptr;
  png_uint_32 exif_size = 0;
  std::vector<uint8_t> raw_profile;
  std::string_view xmp;
  bool have_exif = png_get_eXIf_1(r.png(), r.info(), &exif_size, &exif) != 0 && exif != nullptr;

  png_textp text = nullptr;
  int num_text = 0;
  png_get_text(r.png(), r.info(), &text, &num_text);
  for (int i = 0; i < num_text; ++i) {
    if (text[i].key == nullptr || text[i].text == nullptr) continue;
    std::string_view key = text[i].key;
    std::string_view value(text[i].text);
    if (key == "Raw profile type exif" && raw_profile.empty() && !have_exif) {
      raw_profile.clear();
      if (!DecodeRawProfile(value, &raw_profile)) raw_profile.clear();
    } else if (key == "XML:com.adobe.xmp" && xmp.empty()) {
      xmp = value;
    }
  }
  std::span<const uint8_t> block;
  if (have_exif) {
    block = {exif, exif_size};
  } else if (!raw_profile.empty()) {
    block = raw_profile;
  } else {
    return;  // PIL's PNG _getexif() returns None without EXIF; XMP alone does not count
  }
  bool in_ifd0 = false;
  out->exif_orientation = ExifOrientation(block, &in_ifd0);
  if (out->exif_orientation < 0 && !in_ifd0 && !xmp.empty()) {
    out->exif_orientation = XmpOrientation(xmp);
  }
}

uint32_t Be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

}  // namespace

Status DecodePng(std::span<const uint8_t> bytes, const DecodeLimits& limits, DecodedImage* out) {
  PngReader reader(bytes);
  if (!reader.ok()) return ResourceExhausted("png: cannot create the libpng reader");
  std::vector<uint8_t> native;
  std::vector<png_bytep> rows;
  int color_type = 0;
  bool grey16 = false, expand = false;
  EV_RETURN_IF_ERROR(RunDecode(reader, limits, native, rows, out, &color_type, &grey16, &expand));
  if (expand) ExpandRows(reader, color_type, grey16, rows, out);
  if (!reader.io().ended_after_rows) RunReadEnd(reader);
  ReadOrientation(reader, out);
  return Status::Ok();
}

Result<ImageHeader> ReadPngHeader(std::span<const uint8_t> bytes) {
  // Signature (8), then the first chunk must be IHDR: length, type, width, height.
  if (bytes.size() < 24 || std::memcmp(bytes.data() + 12, "IHDR", 4) != 0) {
    return InvalidArgument("png: missing or truncated IHDR chunk");
  }
  const uint32_t w = Be32(bytes.data() + 16);
  const uint32_t h = Be32(bytes.data() + 20);
  if (w > 0x7FFFFFFFu || h > 0x7FFFFFFFu) return InvalidArgument("png: IHDR size out of range");
  ImageHeader header;
  header.format = "png";
  header.width = static_cast<int>(w);
  header.height = static_cast<int>(h);
  return header;
}

}  // namespace edgevision::image::internal
