#include "image/orientation.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace edgevision::image {
namespace {

struct Ops {
  bool transpose = false;
  bool flip_top_bottom = false;
  bool flip_left_right = false;
};

// predict.py's update_orientation, literally.
Ops OpsFor(int orientation) {
  const int o = orientation - 1;
  Ops ops;
  ops.transpose = o >= 4;
  ops.flip_top_bottom = o == 2 || o == 3 || o == 6 || o == 7;
  ops.flip_left_right = o == 1 || o == 2 || o == 5 || o == 6;
  return ops;
}

}  // namespace

int ReferenceOrientation(const DecodedImage& decoded) {
  return decoded.source_mode == "RGB" ? decoded.exif_orientation : -1;
}

bool OrientationChangesImage(int orientation) {
  const Ops ops = OpsFor(orientation);
  return ops.transpose || ops.flip_top_bottom || ops.flip_left_right;
}

Image ApplyExifOrientation(Image image, int orientation) {
  if (!OrientationChangesImage(orientation)) return image;
  Image out;
  ApplyExifOrientationInto(image, orientation, &out);
  return out;
}

void ApplyExifOrientationInto(const Image& image, int orientation, Image* out) {
  const Ops ops = OpsFor(orientation);
  if (!ops.transpose && !ops.flip_top_bottom && !ops.flip_left_right) {
    out->Reshape(image.width, image.height);
    std::memcpy(out->pixels.data(), image.pixels.data(), image.pixels.size());
    return;
  }
  out->Reshape(ops.transpose ? image.height : image.width, ops.transpose ? image.width : image.height);
  const int w = out->width;
  const int h = out->height;

  if (!ops.transpose) {
    for (int y = 0; y < h; ++y) {
      const uint8_t* src = image.Row(ops.flip_top_bottom ? h - 1 - y : y);
      uint8_t* dst = out->Row(y);
      if (!ops.flip_left_right) {
        std::memcpy(dst, src, static_cast<size_t>(w) * 3);
      } else {
        for (int x = 0; x < w; ++x) std::memcpy(dst + 3 * x, src + 3 * (w - 1 - x), 3);
      }
    }
    return;
  }

  constexpr int kTile = 32;
  const size_t src_stride = static_cast<size_t>(image.width) * 3;
  for (int ty = 0; ty < h; ty += kTile) {
    for (int tx = 0; tx < w; tx += kTile) {
      const int y_end = std::min(ty + kTile, h);
      const int x_end = std::min(tx + kTile, w);
      for (int y = ty; y < y_end; ++y) {
        const int y1 = ops.flip_top_bottom ? h - 1 - y : y;  // row in the transposed image
        uint8_t* dst = out->Row(y) + 3 * static_cast<size_t>(tx);
        for (int x = tx; x < x_end; ++x, dst += 3) {
          const int x1 = ops.flip_left_right ? w - 1 - x : x;
          // transposed(x1, y1) == source(y1, x1)
          std::memcpy(dst, image.pixels.data() + static_cast<size_t>(x1) * src_stride + 3 * y1, 3);
        }
      }
    }
  }
}

}  // namespace edgevision::image
