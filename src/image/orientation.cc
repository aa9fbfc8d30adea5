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

bool OrientationTransposes(int orientation) { return OpsFor(orientation).transpose; }

Image ApplyExifOrientation(Image image, int orientation) {
  if (!OrientationChangesImage(orientation)) return image;
  Image out;
  ApplyExifOrientationInto(image, orientation, &out);
  return out;
}

namespace {

// The transposes on rows of kBytes-byte pixels: `src` is src_w x src_h,
// `dst` (already sized) is its oriented copy, out_w x out_h.
template <size_t kBytes>
void Orient(const uint8_t* src, int src_w, const Ops& ops, uint8_t* dst, int out_w, int out_h) {
  const size_t src_stride = static_cast<size_t>(src_w) * kBytes;
  const size_t dst_stride = static_cast<size_t>(out_w) * kBytes;
  const int w = out_w;
  const int h = out_h;
  if (!ops.transpose) {
    for (int y = 0; y < h; ++y) {
      const uint8_t* s = src + static_cast<size_t>(ops.flip_top_bottom ? h - 1 - y : y) * src_stride;
      uint8_t* d = dst + static_cast<size_t>(y) * dst_stride;
      if (!ops.flip_left_right) {
        std::memcpy(d, s, dst_stride);
      } else {
        for (int x = 0; x < w; ++x) std::memcpy(d + kBytes * x, s + kBytes * (w - 1 - x), kBytes);
      }
    }
    return;
  }

  constexpr int kTile = 32;
  for (int ty = 0; ty < h; ty += kTile) {
    for (int tx = 0; tx < w; tx += kTile) {
      const int y_end = std::min(ty + kTile, h);
      const int x_end = std::min(tx + kTile, w);
      for (int y = ty; y < y_end; ++y) {
        const int y1 = ops.flip_top_bottom ? h - 1 - y : y;  // row in the transposed image
        uint8_t* d = dst + static_cast<size_t>(y) * dst_stride + kBytes * static_cast<size_t>(tx);
        for (int x = tx; x < x_end; ++x, d += kBytes) {
          const int x1 = ops.flip_left_right ? w - 1 - x : x;
          // transposed(x1, y1) == source(y1, x1)
          std::memcpy(d, src + static_cast<size_t>(x1) * src_stride + kBytes * y1, kBytes);
        }
      }
    }
  }
}

}  // namespace

void ApplyExifOrientationInto(const Image& image, int orientation, Image* out) {
  const Ops ops = OpsFor(orientation);
  if (!ops.transpose && !ops.flip_top_bottom && !ops.flip_left_right) {
    out->Reshape(image.width, image.height);
    std::memcpy(out->pixels.data(), image.pixels.data(), image.pixels.size());
    return;
  }
  out->Reshape(ops.transpose ? image.height : image.width, ops.transpose ? image.width : image.height);
  Orient<3>(image.pixels.data(), image.width, ops, out->pixels.data(), out->width, out->height);
}

void ApplyExifOrientationInto(const PlaneI32& plane, int orientation, PlaneI32* out) {
  const Ops ops = OpsFor(orientation);
  out->Reshape(ops.transpose ? plane.height : plane.width, ops.transpose ? plane.width : plane.height);
  Orient<sizeof(int32_t)>(reinterpret_cast<const uint8_t*>(plane.samples.data()), plane.width, ops,
                          reinterpret_cast<uint8_t*>(out->samples.data()), out->width, out->height);
}

}  // namespace edgevision::image
