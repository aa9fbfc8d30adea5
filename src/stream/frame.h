// One picture from a camera stream, a video file or a watched directory.
//
// A frame is either the encoded image exactly as the source sent it (an
// MJPEG stream's JPEG, a new file in a watched directory: classified from
// these bytes, so the answer is the one a POST of the same bytes gets) or
// pixels a video decoder produced (H.264 and other codecs, converted to RGB8
// by libswscale: classified from the pixels, docs/streams.md says how this
// differs from posting a JPEG of the frame).
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "image/image.h"

namespace edgevision::stream {

struct Frame {
  std::vector<uint8_t> encoded;  // the image as sent; empty for a decoded frame
  image::Image rgb;              // the decoded pixels when `encoded` is empty
  std::chrono::steady_clock::time_point read_at{};  // when the source returned it

  bool is_encoded() const { return !encoded.empty(); }
};

}  // namespace edgevision::stream
