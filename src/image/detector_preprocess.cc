#include "image/detector_preprocess.h"

#include <cmath>
#include <string>

#include "image/orientation.h"
#include "image/resize.h"

namespace edgevision::image {
namespace {

// 0..255 floats in `color` order, no normalisation (both families' predict()).
Tensor ToTensor(const Image& img, ColorOrder color) {
  Tensor out;
  out.height = img.height;
  out.width = img.width;
  out.channels = 3;
  out.data.resize(img.pixels.size());
  const bool bgr = color == ColorOrder::kBGR;
  const uint8_t* src = img.pixels.data();
  float* dst = out.data.data();
  for (size_t i = 0; i < img.pixels.size(); i += 3) {
    dst[i + 0] = src[i + (bgr ? 2 : 0)];
    dst[i + 1] = src[i + 1];
    dst[i + 2] = src[i + (bgr ? 0 : 2)];
  }
  return out;
}

int AlignUp32(int v) { return 32 * ((v + 31) / 32); }

}  // namespace

Size2D YoloInputSize(int width, int height, int pixel_count) {
  // Python: math.sqrt(N / width / height), int() truncation, 32 * ceil(x / 32).
  const double ratio = std::sqrt(static_cast<double>(pixel_count) / width / height);
  const int w = static_cast<int>(width * ratio);
  const int h = static_cast<int>(height * ratio);
  return {AlignUp32(w), AlignUp32(h)};
}

Result<Tensor> PreprocessYolo(DecodedImage decoded, ColorOrder color, int pixel_count) {
  if (decoded.rgb.width < 1 || decoded.rgb.height < 1) return InvalidArgument("preprocess: image has no pixels");
  const int orientation = ReferenceOrientation(decoded);
  Image oriented = ApplyExifOrientation(std::move(decoded.rgb), orientation);
  const Size2D size = YoloInputSize(oriented.width, oriented.height, pixel_count);
  if (size.width < 1 || size.height < 1 || size.width > kMaxYoloInputSide || size.height > kMaxYoloInputSide) {
    return InvalidArgument("a " + std::to_string(oriented.width) + "x" + std::to_string(oriented.height) +
                           " image gives a " + std::to_string(size.width) + "x" + std::to_string(size.height) +
                           " detector input; each side must be 1.." + std::to_string(kMaxYoloInputSide) +
                           " (aspect ratio too extreme)");
  }
  if (size.width == oriented.width && size.height == oriented.height) return ToTensor(oriented, color);
  return ToTensor(ResizeLikePil(oriented, size.width, size.height, ResampleFilter::kBicubic), color);
}

Result<Tensor> PreprocessStretch(DecodedImage decoded, int width, int height, ColorOrder color) {
  if (decoded.rgb.width < 1 || decoded.rgb.height < 1) return InvalidArgument("preprocess: image has no pixels");
  if (width < 1 || height < 1) return InvalidArgument("preprocess: model input size must be at least 1x1");
  if (width == decoded.rgb.width && height == decoded.rgb.height) return ToTensor(decoded.rgb, color);
  return ToTensor(ResizeLikePil(decoded.rgb, width, height, ResampleFilter::kBicubic), color);
}

}  // namespace edgevision::image
