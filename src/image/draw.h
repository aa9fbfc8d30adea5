// Writing a picture of detections: rectangles on an RGB image, and JPEG
// encoding with libjpeg(-turbo), for `edgevision predict --draw`.
//
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/status.h"
#include "image/image.h"

namespace edgevision::image {

// A rectangle outline `thickness` pixels wide, inside [left, right) x
// [top, bottom) in pixels; parts outside the image are clipped (detections
// may cross the border).
void DrawRectangle(Image* image, int left, int top, int right, int bottom, std::array<uint8_t, 3> rgb,
                   int thickness);

// Baseline JPEG, 4:2:0, `quality` 1..100. Errors: InvalidArgument for an
// empty image or a quality out of range; Internal if libjpeg fails.
Result<std::vector<uint8_t>> EncodeJpeg(const Image& image, int quality = 90);

}  // namespace edgevision::image
