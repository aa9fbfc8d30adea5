// Tail tensors for the NMS tail's unit tests (nms_tail_test.cc,
// combined_nms_test.cc).
#pragma once

#include <cstdint>
#include <vector>

#include "detect/nms_tail.h"

namespace edgevision::detect::testing {

inline TailTensor F(std::vector<int64_t> shape, std::vector<float> v) {
  TailTensor t;
  t.shape = std::move(shape);
  t.f = std::move(v);
  return t;
}

inline TailTensor I(std::vector<int64_t> shape, std::vector<int64_t> v) {
  TailTensor t;
  t.is_int = true;
  t.shape = std::move(shape);
  t.i = std::move(v);
  return t;
}

}  // namespace edgevision::detect::testing
