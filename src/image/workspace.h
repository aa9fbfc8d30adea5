// The buffers one image needs on its way from bytes to tensor, kept by a
// server worker and reused for every request it serves.
//
// Decoding into `decoded` and preprocessing with PreprocessInto()
// (preprocess.h) resize these buffers instead of allocating new ones, and a
// Buffer's resize() does not zero what the next step overwrites anyway, so
// in steady state a request maps and touches no new memory for its image.
// Trim() gives back the buffers an outsized image grew, so a rare 40 MP
// upload does not pin its memory in every worker.
//
// Thread-safety: none; one worker uses a Workspace at a time.
#pragma once

#include <cstddef>

#include "image/decode.h"
#include "image/image.h"

namespace edgevision::image {

struct Workspace {
  DecodedImage decoded;  // DecodeInto's target
  Image oriented;        // EXIF-oriented copy, when the orientation changes the image
  Image resized;         // downscaled or shorter-side resized image
  Image temp;            // the horizontal pass of a resize
  Tensor tensor;         // the model's input

  // Bytes the buffers hold (their capacity), for tests and logs.
  size_t CapacityBytes() const;
  // Frees each buffer whose capacity exceeds `max_bytes`.
  void Trim(size_t max_bytes);
};

}  // namespace edgevision::image
