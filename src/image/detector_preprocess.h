// From a decoded image to a detector's input tensor, as the code shipped
// inside Custom Vision's detector exports builds it. No crop is ever applied,
// so detections normalised to the tensor are normalised to the image.
//
// "General (compact)" (YOLO) — object_detection.py of the ONNX (2024) and
// TFLite (2023) exports, ObjectDetection.preprocess + the format's predict():
//   1. EXIF orientation (_update_orientation; for files PIL opens as RGB, as
//      image/orientation.h's ReferenceOrientation decides)
//   2. calculate_target_dimensions: ratio = sqrt(512*512 / w / h);
//      w' = 32 * ceil(int(w * ratio) / 32), h' likewise (each side a multiple
//      of 32, about 512^2 pixels, aspect ratio kept)
//   3. Image.resize((w', h')), i.e. Pillow's default BICUBIC (antialiased)
//   4. np.array(..., float32)[..., (2, 1, 0)]: BGR, 0..255
// The 2022 Docker container resizes with mscviplib (closed source,
// FixedPixelCountNoCropAlign32px, bilinear) instead of step 3; edgevision
// follows the exports' object_detection.py (docs/models.md).
//
// "General (compact) [S1]" (SSD) — predict.py of the S1 Docker containers
// (2023 model.pb, 2024 model.tflite): convert("RGB"), Image.resize((n, n))
// (BICUBIC, a stretch: the aspect ratio is not kept), RGB, 0..255; no EXIF
// orientation.
//
// Thread-safety: pure functions.
#pragma once

#include "core/status.h"
#include "image/decode.h"
#include "image/image.h"
#include "image/preprocess.h"

namespace edgevision::image {

// object_detection.py's DEFAULT_INPUT_SIZE (pixels of the resized image).
inline constexpr int kYoloPixelCount = 512 * 512;
// Named limit: the longest side a compact detector is fed. An extreme aspect
// ratio (a 1 x 20000 strip) would otherwise ask for a huge, thin tensor; the
// reference would run it, edgevision refuses it with InvalidArgument.
inline constexpr int kMaxYoloInputSide = 4096;

struct Size2D {
  int width = 0;
  int height = 0;
  bool operator==(const Size2D&) const = default;
};

// calculate_target_dimensions(width, height): step 2 above. A side may come
// out 0 for extreme aspect ratios (the reference then fails in PIL).
Size2D YoloInputSize(int width, int height, int pixel_count = kYoloPixelCount);

// Steps 1-4 for a compact detector. Errors: InvalidArgument when the image
// has no pixels, a target side is 0 or above kMaxYoloInputSide.
Result<Tensor> PreprocessYolo(DecodedImage decoded, ColorOrder color, int pixel_count = kYoloPixelCount);

// The S1 stretch to width x height (the model's input), RGB 0..255.
// Errors: InvalidArgument when the image has no pixels or the size is < 1.
Result<Tensor> PreprocessStretch(DecodedImage decoded, int width, int height, ColorOrder color);

}  // namespace edgevision::image
