// GIF first frame through giflib, composed as PIL 9.4's GifImagePlugin does
// for frame 0, then convert("RGB"):
//   - the canvas is the logical screen, grown to hold the frame if the frame
//     reaches beyond it;
//   - pixels outside the frame hold the frame's transparent index if its
//     graphic control extension sets one, else index 0 (the background colour
//     index is not used for frame 0);
//   - every frame pixel is written, transparent index included;
//   - indices map through the local colour table, else the global one; with
//     neither, or for entries the table lacks, index i reads as (i, i, i).
#include <gif_lib.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "image/decode_internal.h"

namespace edgevision::image::internal {
namespace {

struct Input {
  std::span<const uint8_t> bytes;
  size_t pos = 0;
};

extern "C" {  // giflib callback: C linkage, internal linkage

static int GifOnRead(GifFileType* gif, GifByteType* dst, int n) {
  auto* in = static_cast<Input*>(gif->UserData);
  if (n <= 0) return 0;
  const size_t take = std::min(static_cast<size_t>(n), in->bytes.size() - in->pos);
  std::memcpy(dst, in->bytes.data() + in->pos, take);
  in->pos += take;
  return static_cast<int>(take);
}

}  // extern "C"

struct GifCloser {
  void operator()(GifFileType* gif) const {
    int error = 0;
    DGifCloseFile(gif, &error);
  }
};
using GifPtr = std::unique_ptr<GifFileType, GifCloser>;

Status GifError(const char* what, int code) {
  const char* reason = GifErrorString(code);
  return InvalidArgument(std::string("gif: ") + what + ": " + (reason ? reason : "error"));
}

// Rows in the order an interlaced frame stores them.
std::vector<int> RowOrder(int height, bool interlaced) {
  std::vector<int> order;
  order.reserve(static_cast<size_t>(height));
  if (!interlaced) {
    for (int y = 0; y < height; ++y) order.push_back(y);
    return order;
  }
  static constexpr int kStart[4] = {0, 4, 2, 1};
  static constexpr int kStep[4] = {8, 8, 4, 2};
  for (int pass = 0; pass < 4; ++pass) {
    for (int y = kStart[pass]; y < height; y += kStep[pass]) order.push_back(y);
  }
  return order;
}

}  // namespace

Status DecodeGif(std::span<const uint8_t> bytes, const DecodeLimits& limits, DecodedImage* out) {
  Input input{bytes, 0};
  int error = 0;
  GifPtr gif(DGifOpen(&input, GifOnRead, &error));
  if (!gif) return GifError("cannot read the header", error);

  int transparency = -1;
  for (;;) {
    GifRecordType type = UNDEFINED_RECORD_TYPE;
    if (DGifGetRecordType(gif.get(), &type) == GIF_ERROR) {
      return GifError("cannot read a record", gif->Error);
    }
    if (type == TERMINATE_RECORD_TYPE) return InvalidArgument("gif: no image in file");
    if (type == EXTENSION_RECORD_TYPE) {
      int code = 0;
      GifByteType* block = nullptr;
      if (DGifGetExtension(gif.get(), &code, &block) == GIF_ERROR) {
        return GifError("cannot read an extension", gif->Error);
      }
      // Graphic control extension: block[0] is the length, then flags,
      // delay (2 bytes), transparent index.
      if (code == GRAPHICS_EXT_FUNC_CODE && block != nullptr && block[0] >= 4 && (block[1] & 1)) {
        transparency = block[4];
      }
      while (block != nullptr) {
        if (DGifGetExtensionNext(gif.get(), &block) == GIF_ERROR) {
          return GifError("cannot read an extension", gif->Error);
        }
      }
      continue;
    }
    if (type != IMAGE_DESC_RECORD_TYPE) continue;

    if (DGifGetImageDesc(gif.get()) == GIF_ERROR) {
      return GifError("cannot read the image descriptor", gif->Error);
    }
    const GifImageDesc& frame = gif->Image;
    const int64_t canvas_w = std::max<int64_t>(gif->SWidth, int64_t{frame.Left} + frame.Width);
    const int64_t canvas_h = std::max<int64_t>(gif->SHeight, int64_t{frame.Top} + frame.Height);
    EV_RETURN_IF_ERROR(CheckDimensions("gif", canvas_w, canvas_h, limits));

    const ColorMapObject* map = frame.ColorMap != nullptr ? frame.ColorMap : gif->SColorMap;
    uint8_t table[256][3];
    for (int i = 0; i < 256; ++i) table[i][0] = table[i][1] = table[i][2] = static_cast<uint8_t>(i);
    out->source_mode = "L";
    if (map != nullptr && map->Colors != nullptr) {
      const int n = std::min(map->ColorCount, 256);
      for (int i = 0; i < n; ++i) {
        table[i][0] = map->Colors[i].Red;
        table[i][1] = map->Colors[i].Green;
        table[i][2] = map->Colors[i].Blue;
        if (map->Colors[i].Red != i || map->Colors[i].Green != i || map->Colors[i].Blue != i) {
          out->source_mode = "P";  // PIL keeps "L" for an identity grey table
        }
      }
    }

    const int width = static_cast<int>(canvas_w);
    const int height = static_cast<int>(canvas_h);
    EV_RETURN_IF_ERROR(AllocateImage(width, height, &out->rgb));
    const uint8_t* fill = table[transparency >= 0 ? transparency : 0];
    uint8_t* px = out->rgb.pixels.data();
    for (size_t i = 0, n = static_cast<size_t>(width) * height; i < n; ++i, px += 3) {
      std::memcpy(px, fill, 3);
    }

    if (frame.Width > 0 && frame.Height > 0) {
      std::vector<GifPixelType> line(static_cast<size_t>(frame.Width));
      for (int y : RowOrder(frame.Height, frame.Interlace)) {
        if (DGifGetLine(gif.get(), line.data(), frame.Width) == GIF_ERROR) {
          return GifError("truncated or corrupt image data", gif->Error);
        }
        uint8_t* dst = out->rgb.Row(frame.Top + y) + static_cast<size_t>(frame.Left) * 3;
        for (int x = 0; x < frame.Width; ++x, dst += 3) std::memcpy(dst, table[line[x]], 3);
      }
    }
    return Status::Ok();  // the first frame is all predict.py sees
  }
}

Result<ImageHeader> ReadGifHeader(std::span<const uint8_t> bytes) {
  if (bytes.size() < 10) return InvalidArgument("gif: truncated header");
  ImageHeader header;
  header.format = "gif";
  header.width = bytes[6] | bytes[7] << 8;
  header.height = bytes[8] | bytes[9] << 8;
  return header;
}

}  // namespace edgevision::image::internal
