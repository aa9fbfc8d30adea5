// Image decoding (JPEG, PNG, GIF, BMP, WebP, EXIF) and the preprocessing that
// follows it, on arbitrary bytes: what POST /image hands to the pipeline.
#include <span>

#include "fuzz_target.h"
#include "image/decode.h"
#include "image/preprocess.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgevision::image;
  const std::span<const uint8_t> bytes(data, size);
  (void)ReadHeader(bytes);
  // Smaller limits than the server's keep each run fast; the checks are the same code.
  DecodeLimits limits;
  limits.max_pixels = 4'000'000;
  limits.max_dimension = 4'000;
  edgevision::Result<DecodedImage> decoded = Decode(bytes, limits);
  if (!decoded.ok()) return 0;
  PreprocessSpec spec;
  spec.input_width = 8;
  spec.input_height = 8;
  spec.resize_to = 12;
  spec.max_dimension = 64;
  (void)PreprocessDecoded(std::move(decoded).value(), spec);
  return 0;
}
