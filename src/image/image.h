// Image and tensor types shared by the image pipeline.
//
// A JPEG becomes a tensor in four steps, each in its own header:
//   decode.h      bytes -> RGB8 Image (+ EXIF orientation), refusing bombs
//   orientation.h EXIF orientation applied as the reference predict.py does
//   resize.h      PIL-exact downscale to at most 1600 px
//   preprocess.h  centre-square crop + bilinear resize to 256, centre crop to
//                 the model's size, channel order, range, mean/std -> Tensor
#pragma once

#include <cstdint>
#include <vector>

namespace edgevision::image {

// An 8-bit RGB image, rows top to bottom, pixels interleaved R,G,B.
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // size == width * height * 3

  uint8_t* Row(int y) { return pixels.data() + static_cast<size_t>(y) * width * 3; }
  const uint8_t* Row(int y) const { return pixels.data() + static_cast<size_t>(y) * width * 3; }
};

// A float32 HWC tensor (channels interleaved), as fed to the model before any
// NCHW transpose.
struct Tensor {
  int height = 0;
  int width = 0;
  int channels = 0;
  std::vector<float> data;  // size == height * width * channels
};

}  // namespace edgevision::image
