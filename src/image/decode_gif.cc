// GIF first frame through giflib, composed as PIL 9.4's GifImagePlugin does
// for frame 0, then convert("RGB"):
//   - the canvas is the logical screen, grown to hold the frame if the frame
//     reaches beyond it;
//   - pixels outside the frame hold the frame's transparent index if its
//     graphic control extension sets one, else index 0 (the background colour
//     index is not used for frame 0);
//   - every frame pixel is written, transparent index included;
//   - indices map through the local colour table, else the global one; with
//     neither, or for entries the table lacks, index i reads as (i, i, i);
//   - bytes where a record should start but none does are skipped; a first
//     frame of no pixels is refused, unless it sits at x 0 (PIL then decodes
//     its data over the whole canvas);
//   - the LZW data is decoded by PilLzw(), PIL's GifDecode.c rule for rule
//     (giflib reads the headers and extensions only): the frame is done at
//     its last pixel, whatever follows; a first code above the clear code, a
//     code beyond the next free one, or data that ends (an end code, the
//     sub-blocks run out) before the last pixel is refused, as PIL refuses it.
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

// PIL's ImagingGifDecode() on the whole rest of the file: sub-blocks are
// read as PIL reads them (a size byte, then that many bytes; a zero size is
// just an empty block). Writes the frame's palette indices to `out`
// (width * height). `bits` is the file's LZW minimum code size.
Status PilLzw(std::span<const uint8_t> data, int bits, int width, int height, bool interlaced,
              uint8_t* out) {
  constexpr int kTable = 4096;  // GIFTABLE = GIFBUFFER = 1 << 12
  if (bits < 0 || bits > 12) return InvalidArgument("gif: LZW code size " + std::to_string(bits) + " above 12");
  const int clear = 1 << bits, end = clear + 1;
  std::vector<uint8_t> table_data(kTable, 0), buffer(kTable, 0);
  std::vector<int> table_link(kTable, 0);
  int next = 0, codesize = 0, codemask = 0, bufferindex = kTable;
  int lastdata = 0, lastcode = 0;
  int state = 1;  // 1: reset, 2: first code after a clear, 3: decoding
  uint32_t bitbuffer = 0;
  int bitcount = 0;
  size_t pos = 0, blocksize = 0;
  int x = 0, y = 0, step = interlaced ? 8 : 1, pass = interlaced ? 1 : 0;
  const Status truncated = InvalidArgument("gif: LZW data ends before the frame is complete");

  // PIL's NEWLINE: false once the last row is done.
  auto newline = [&]() {
    x = 0;
    y += step;
    while (y >= height) {
      switch (pass) {
        case 1: y = 4; pass = 2; break;
        case 2: step = 4; y = 2; pass = 3; break;
        case 3: step = 2; y = 1; pass = 0; break;
        default: return false;
      }
    }
    return true;
  };
  for (;;) {
    if (state == 1) {
      next = clear + 2;
      codesize = bits + 1;
      codemask = (1 << codesize) - 1;
      bufferindex = kTable;
      state = 2;
    }
    const uint8_t* p = nullptr;
    int count = 1;
    uint8_t single = 0;
    if (bufferindex < kTable) {  // the rest of the last string
      count = kTable - bufferindex;
      p = &buffer[bufferindex];
      bufferindex = kTable;
    } else {
      while (bitcount < codesize) {
        if (blocksize > 0) {
          if (pos >= data.size()) return truncated;
          bitbuffer |= static_cast<uint32_t>(data[pos++]) << bitcount;
          bitcount += 8;
          --blocksize;
        } else {  // a new sub-block, only once it is complete
          if (pos >= data.size() || data.size() - pos < static_cast<size_t>(data[pos]) + 1) return truncated;
          blocksize = data[pos++];
        }
      }
      int c = static_cast<int>(bitbuffer & static_cast<uint32_t>(codemask));
      bitbuffer >>= codesize;
      bitcount -= codesize;
      if (c == clear) {
        if (state != 2) state = 1;
        continue;
      }
      if (c == end) return truncated;  // PIL then reads past the trailer: "truncated"
      if (state == 2) {
        if (c > clear) return InvalidArgument("gif: LZW code after a clear code out of range");
        lastdata = lastcode = c;
        state = 3;
      } else {
        const int thiscode = c;
        if (c > next) return InvalidArgument("gif: LZW code beyond the table");
        if (c == next) {
          if (bufferindex <= 0) return InvalidArgument("gif: LZW string too long");
          buffer[--bufferindex] = static_cast<uint8_t>(lastdata);
          c = lastcode;
        }
        while (c >= clear) {
          if (bufferindex <= 0 || c >= kTable) return InvalidArgument("gif: LZW string too long");
          buffer[--bufferindex] = table_data[c];
          c = table_link[c];
        }
        lastdata = c;
        if (next < kTable) {
          table_data[next] = static_cast<uint8_t>(c);
          table_link[next] = lastcode;
          if (next == codemask && codesize < 12) {
            ++codesize;
            codemask = (1 << codesize) - 1;
          }
          ++next;
        }
        lastcode = thiscode;
      }
      single = static_cast<uint8_t>(lastdata);
      p = &single;
    }
    if (y >= height) return InvalidArgument("gif: LZW data overruns the frame");
    for (int k = 0; k < count; ++k) {
      out[static_cast<size_t>(y) * width + x] = p[k];
      if (++x >= width && !newline()) return Status::Ok();
    }
  }
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
    // PIL skips bytes that start no record; giflib would call them an error.
    while (input.pos < bytes.size() && bytes[input.pos] != ',' && bytes[input.pos] != '!' &&
           bytes[input.pos] != ';') {
      ++input.pos;
    }
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

    // PIL's tile placement (decode.c setimage): x0 == x1 == 0 means the whole
    // image; any other frame of no pixels cannot be placed and is refused.
    int left = frame.Left, top = frame.Top, fw = frame.Width, fh = frame.Height;
    if (left == 0 && fw == 0) {
      top = 0;
      fw = width;
      fh = height;
    } else if (fw <= 0 || fh <= 0) {
      return InvalidArgument("gif: the first frame has no pixels");
    }
    // giflib has read the LZW code size byte; the sub-blocks follow.
    if (input.pos == 0 || input.pos > bytes.size()) return InvalidArgument("gif: truncated image data");
    std::vector<uint8_t> indices(static_cast<size_t>(fw) * static_cast<size_t>(fh));
    EV_RETURN_IF_ERROR(
        PilLzw(bytes.subspan(input.pos), bytes[input.pos - 1], fw, fh, frame.Interlace, indices.data()));
    for (int y = 0; y < fh; ++y) {
      const uint8_t* src = &indices[static_cast<size_t>(y) * fw];
      uint8_t* dst = out->rgb.Row(top + y) + static_cast<size_t>(left) * 3;
      for (int x = 0; x < fw; ++x, dst += 3) std::memcpy(dst, table[src[x]], 3);
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
