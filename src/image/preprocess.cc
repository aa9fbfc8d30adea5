#include "image/preprocess.h"

namespace edgevision::image {

// Placeholder until the image pipeline lands.
Tensor CropResizeNormalize(const Image&, const PreprocessSpec&) { return {}; }
Result<Tensor> PreprocessBytes(std::span<const uint8_t>, const PreprocessSpec&, const DecodeLimits&) {
  return Unsupported("image preprocessing is not implemented yet");
}
Tensor PreprocessDecoded(DecodedImage, const PreprocessSpec&) { return {}; }

}  // namespace edgevision::image
