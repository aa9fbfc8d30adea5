// From a decoded image to the exact tensor a model is fed.
//
// Two reference pipelines, chosen by PreprocessSpec::geometry.
//
// Geometry::kShorterSide is the Docker 2.2 (2024+) predict.py, whose
// Preprocessor runs on the image as opened (PilOrder::kConvertLast):
//   1. EXIF orientation for every file PIL gives _getexif (JPEG, PNG, WebP),
//      whatever its mode
//   2. resize so the shorter side equals the input size, the other side
//      round()ed (half to even), with PIL BILINEAR (antialiased when
//      shrinking); palette and bilevel files resize NEAREST (Pillow forces it);
//      RGBA and LA files premultiplied by their alpha (DecodedImage::alpha);
//      CMYK/YCCK JPEGs as CMYK (DecodedImage::cmy, black), then cmyk2rgb;
//      16-bit grey PNGs (PIL mode I) in 32 bits (DecodedImage::grey32), then
//      clipped to 0..255 (convert("RGB")'s i2rgb)
//   3. centre crop, offsets floor((side - input) / 2)
//   4. convert("RGB"), then BGR or RGB per IS_BGR, 0..255
//
// Geometry::kCenterSquare256 is the 2018-2020 predict.py (manual path):
//   1. convert to RGB                                  (decode.h)
//   2. EXIF orientation, only for files PIL opened as RGB (orientation.h)
//   3. if either side >= 1600: PIL resize so the longer side is 1600,
//      BILINEAR if the scale is >= 0.5 else BICUBIC   (resize.h)
//   4. RGB -> BGR (or keep RGB, per the model)
//   5. centre square crop + 4-tap bilinear resize to 256x256 in one pass,
//      computed in double, stored as float (extract_and_resize)
//   6. centre crop to the model's input size (crop_center)
//   7. scale / mean / std as the model's metadata says (modern exports)
// Steps 5 and 6 are fused: only the cropped window is computed, with the
// same per-pixel arithmetic, so the values are those of the full 256x256.
//
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "core/status.h"
#include "image/decode.h"
#include "image/image.h"
#include "image/workspace.h"

namespace edgevision::image {

enum class ColorOrder { kBGR, kRGB };

// How the image is brought to the model's size (see the top of this file).
enum class Geometry : uint8_t {
  kCenterSquare256,  // 2018-2020: max 1600, centre square -> resize_to (custom bilinear), crop
  kShorterSide,      // Docker 2.2: shorter side -> input size (PIL BILINEAR), centre crop
};

// When predict.py converts the opened image to RGB, which decides EXIF and
// resampling for non-RGB files.
enum class PilOrder : uint8_t {
  kConvertFirst,  // 2018-2023: convert("RGB") first; EXIF only for files opened as RGB
  kConvertLast,   // Docker 2.2: orientation and resize on the file's own mode, convert last
};

// How a model wants its input. Produced by model import (model/model.h) from
// the graph, cvexport.manifest and metadata_properties.json.
struct PreprocessSpec {
  int input_width = 0;  // from the model's input shape, never assumed
  int input_height = 0;
  ColorOrder color = ColorOrder::kBGR;
  // Applied in this order to each 0..255 channel value v:
  //   (v * scale - mean[c]) / stddev[c]      (c in the model's channel order)
  float scale = 1.0f;  // 1 or 1/255 ("Normalized_0_1")
  std::array<float, 3> mean = {0, 0, 0};
  std::array<float, 3> stddev = {1, 1, 1};
  int resize_to = 256;       // the centre square is resized to this before cropping
  int max_dimension = 1600;  // step 3's limit
  Geometry geometry = Geometry::kCenterSquare256;
  PilOrder pil_order = PilOrder::kConvertFirst;

  bool operator==(const PreprocessSpec&) const = default;
};

// OK when the spec can be applied: for kCenterSquare256 1 <= input_width,
// input_height <= resize_to (predict.py's crop cannot produce a larger
// tensor), max_dimension >= 1; for kShorterSide a square input of at most
// kMaxShorterSideInput; finite scale/mean and non-zero finite stddev. Else
// InvalidArgument naming the field.
Status ValidateSpec(const PreprocessSpec& spec);

// Largest model input side kShorterSide accepts (bounds the resized image).
inline constexpr int kMaxShorterSideInput = 4096;

// The Docker 2.2 geometry for a width x height image and input side n:
// the resized size and the crop's top-left corner.
struct ShorterSidePlan {
  int width = 0, height = 0;  // after the resize
  int left = 0, top = 0;      // crop offsets
};
ShorterSidePlan PlanShorterSide(int width, int height, int n);

// Steps 4-7 on an already oriented and downscaled image. Returns an empty
// Tensor if `rgb` has no pixels or ValidateSpec(spec) fails.
Tensor CropResizeNormalize(const Image& rgb, const PreprocessSpec& spec);
// The same into `out`, reusing its buffer (an empty tensor where the above
// returns one).
void CropResizeNormalizeInto(const Image& rgb, const PreprocessSpec& spec, Tensor* out);

// Steps 1-7 from encoded bytes. Errors: Decode()'s, ValidateSpec()'s, and
// InvalidArgument when step 3 would produce a zero-sized image (predict.py
// fails on those too).
Result<Tensor> PreprocessBytes(std::span<const uint8_t> bytes, const PreprocessSpec& spec,
                               const DecodeLimits& limits = {});

// Steps 2-7 from a decoded image. Errors as PreprocessBytes() after decoding.
Result<Tensor> PreprocessDecoded(DecodedImage decoded, const PreprocessSpec& spec);

// Steps 2-7 from ws->decoded into ws->tensor, with ws's intermediate
// buffers: nothing is allocated once the buffers have grown to the sizes a
// stream of images needs (see workspace.h). Errors as PreprocessDecoded().
// With a `target` (input_height * input_width * 3 floats, else
// InvalidArgument), the tensor is written there instead and ws->tensor is
// left alone: a server worker writes straight into its engine Session's
// input (engine::Session::input_buffer), one copy and buffer fewer.
Status PreprocessInto(const PreprocessSpec& spec, Workspace* ws, std::span<float> target = {});

}  // namespace edgevision::image
