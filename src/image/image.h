// Image and tensor types shared by the image pipeline.
//
// A JPEG becomes a tensor in four steps, each in its own header:
//   decode.h      bytes -> RGB8 Image (+ EXIF orientation), refusing bombs
//   orientation.h EXIF orientation applied as the reference predict.py does
//   resize.h      PIL-exact downscale to at most 1600 px
//   preprocess.h  centre-square crop + bilinear resize to 256, centre crop to
//                 the model's size, channel order, range, mean/std -> Tensor
//
// Pixel and tensor storage is a Buffer: a std::vector whose resize() leaves
// new elements uninitialised, because every producer overwrites all of them.
// Resizing a reused Buffer within its capacity neither allocates nor touches
// memory, which is what lets a server worker keep one set of buffers for
// every request (image/workspace.h).
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace edgevision::image {

// std::allocator, except that value-initialisation (resize(n), vector(n))
// default-initialises: for uint8_t and float, leaves the bytes as they are.
template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  DefaultInitAllocator() = default;
  template <typename U>
  DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}
  template <typename U>
  void construct(U* p) noexcept(noexcept(::new (static_cast<void*>(p)) U)) {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

template <typename T>
using Buffer = std::vector<T, DefaultInitAllocator<T>>;

// An 8-bit RGB image, rows top to bottom, pixels interleaved R,G,B.
struct Image {
  int width = 0;
  int height = 0;
  Buffer<uint8_t> pixels;  // size == width * height * 3

  // Sets the size and makes `pixels` hold width * height * 3 bytes, reusing
  // its capacity; the contents are unspecified until written.
  void Reshape(int w, int h) {
    width = w;
    height = h;
    pixels.resize(static_cast<size_t>(w) * static_cast<size_t>(h) * 3);
  }
  uint8_t* Row(int y) { return pixels.data() + static_cast<size_t>(y) * width * 3; }
  const uint8_t* Row(int y) const { return pixels.data() + static_cast<size_t>(y) * width * 3; }
};

// A single-band image of 32-bit signed samples: what PIL calls mode "I"
// (a 16-bit greyscale PNG opens as one, samples 0..65535). Rows top to
// bottom.
struct PlaneI32 {
  int width = 0;
  int height = 0;
  Buffer<int32_t> samples;  // size == width * height

  void Reshape(int w, int h) {
    width = w;
    height = h;
    samples.resize(static_cast<size_t>(w) * static_cast<size_t>(h));
  }
  bool empty() const { return samples.empty(); }
  int32_t* Row(int y) { return samples.data() + static_cast<size_t>(y) * width; }
  const int32_t* Row(int y) const { return samples.data() + static_cast<size_t>(y) * width; }
};

// A float32 HWC tensor (channels interleaved), as fed to the model before any
// NCHW transpose.
struct Tensor {
  int height = 0;
  int width = 0;
  int channels = 0;
  // A std::vector: a worker's tensor keeps its size from request to request,
  // so Reshape does not touch it.
  std::vector<float> data;  // size == height * width * channels

  void Reshape(int h, int w, int c) {
    height = h;
    width = w;
    channels = c;
    data.resize(static_cast<size_t>(h) * static_cast<size_t>(w) * static_cast<size_t>(c));
  }
};

}  // namespace edgevision::image
