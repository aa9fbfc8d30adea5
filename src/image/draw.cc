#include "image/draw.h"

#include <jpeglib.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>

namespace edgevision::image {
namespace {

void FillRect(Image* image, int x0, int y0, int x1, int y1, std::array<uint8_t, 3> rgb) {
  x0 = std::max(x0, 0);
  y0 = std::max(y0, 0);
  x1 = std::min(x1, image->width);
  y1 = std::min(y1, image->height);
  for (int y = y0; y < y1; ++y) {
    uint8_t* row = image->Row(y);
    for (int x = x0; x < x1; ++x) {
      row[3 * x + 0] = rgb[0];
      row[3 * x + 1] = rgb[1];
      row[3 * x + 2] = rgb[2];
    }
  }
}

struct ErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
};

void OnError(j_common_ptr cinfo) {
  std::longjmp(reinterpret_cast<ErrorManager*>(cinfo->err)->jump, 1);
}

// The libjpeg compressor and its memory destination, released together.
struct Compressor {
  jpeg_compress_struct cinfo{};
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  ~Compressor() {
    jpeg_destroy_compress(&cinfo);
    std::free(buffer);
  }
};

}  // namespace

void DrawRectangle(Image* image, int left, int top, int right, int bottom, std::array<uint8_t, 3> rgb,
                   int thickness) {
  if (right <= left || bottom <= top || thickness < 1) return;
  FillRect(image, left, top, right, std::min(bottom, top + thickness), rgb);       // top edge
  FillRect(image, left, std::max(top, bottom - thickness), right, bottom, rgb);    // bottom edge
  FillRect(image, left, top, std::min(right, left + thickness), bottom, rgb);      // left edge
  FillRect(image, std::max(left, right - thickness), top, right, bottom, rgb);     // right edge
}

Result<std::vector<uint8_t>> EncodeJpeg(const Image& image, int quality) {
  if (image.width < 1 || image.height < 1 ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
    return InvalidArgument("jpeg: empty image");
  }
  if (quality < 1 || quality > 100) return InvalidArgument("jpeg: quality must be within 1..100");
  Compressor c;
  ErrorManager err;
  c.cinfo.err = jpeg_std_error(&err.base);
  err.base.error_exit = OnError;
  if (setjmp(err.jump)) return Internal("jpeg: libjpeg failed to encode");
  jpeg_create_compress(&c.cinfo);
  jpeg_mem_dest(&c.cinfo, &c.buffer, &c.size);
  c.cinfo.image_width = static_cast<JDIMENSION>(image.width);
  c.cinfo.image_height = static_cast<JDIMENSION>(image.height);
  c.cinfo.input_components = 3;
  c.cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c.cinfo);
  jpeg_set_quality(&c.cinfo, quality, TRUE);
  jpeg_start_compress(&c.cinfo, TRUE);
  while (c.cinfo.next_scanline < c.cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(image.Row(static_cast<int>(c.cinfo.next_scanline)));
    jpeg_write_scanlines(&c.cinfo, &row, 1);
  }
  jpeg_finish_compress(&c.cinfo);
  return std::vector<uint8_t>(c.buffer, c.buffer + c.size);
}

}  // namespace edgevision::image
