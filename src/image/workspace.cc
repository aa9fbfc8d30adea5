#include "image/workspace.h"

namespace edgevision::image {
namespace {

template <typename Vector>
size_t Capacity(const Vector& b) {
  return b.capacity() * sizeof(typename Vector::value_type);
}

template <typename Vector>
void TrimBuffer(Vector* b, size_t max_bytes) {
  if (Capacity(*b) > max_bytes) Vector().swap(*b);
}

}  // namespace

size_t Workspace::CapacityBytes() const {
  return Capacity(decoded.rgb.pixels) + Capacity(decoded.alpha) + Capacity(oriented.pixels) +
         Capacity(resized.pixels) + Capacity(temp.pixels) + Capacity(tensor.data);
}

void Workspace::Trim(size_t max_bytes) {
  TrimBuffer(&decoded.rgb.pixels, max_bytes);
  TrimBuffer(&decoded.alpha, max_bytes);
  TrimBuffer(&oriented.pixels, max_bytes);
  TrimBuffer(&resized.pixels, max_bytes);
  TrimBuffer(&temp.pixels, max_bytes);
  TrimBuffer(&tensor.data, max_bytes);
}

}  // namespace edgevision::image
