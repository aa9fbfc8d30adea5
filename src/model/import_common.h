// What the three importers (ONNX, TensorFlow GraphDef, TFLite) share: the
// admission limits for model files, float16 decoding, TensorFlow's SAME
// padding rule and checked element counts.
//
// The limits on what a graph may hold (rank, tensor elements, window sizes,
// input image size) live in graph/limits.h, where the engines read them too;
// this header adds the ones that only concern reading a file. Both sets are
// listed in docs/security.md. Every importer checks a tensor's declared size
// against the bytes the file actually holds before it allocates anything, and
// anything it creates beyond those bytes (TensorFlow's short value lists,
// constants folded at import) is charged to kMaxImportExpansionElements.
//
// Thread-safety: pure functions and constants.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"
#include "graph/limits.h"

namespace edgevision::model {

// Largest model file an importer parses (protobuf and the flatbuffers
// verifier stop at 2 GiB anyway; model::PackageLimits is tighter still).
inline constexpr size_t kMaxModelFileBytes = size_t{1} << 30;
// Most elements one import may create beyond the bytes stored in the file:
// TensorFlow constants whose value list is shorter than their shape (the last
// value repeats), and ONNX constants evaluated at import (ConstantOfShape,
// Gather, broadcasts...). Shape arithmetic needs a few hundred; the bound
// keeps a file of a few hundred bytes from allocating gigabytes.
inline constexpr int64_t kMaxImportExpansionElements = int64_t{1} << 22;

// Microsoft's Android sample subtracts this BGR mean for Custom Vision models
// without a normalisation layer (obsolete/MSCognitiveServicesClassifier.java);
// the TensorFlow and TFLite importers require it for those generations.
inline constexpr std::array<float, 3> kOldCompactMeanBgr = {105.0f, 117.0f, 124.0f};

// A constant read from a TensorFlow or TFLite file: float32 (`f`) or integers
// widened to int64 (`i`), row-major in `shape`.
struct ConstTensor {
  graph::Shape shape;
  bool is_float = true;
  std::vector<float> f;
  std::vector<int64_t> i;
  int64_t size() const {
    return is_float ? static_cast<int64_t>(f.size()) : static_cast<int64_t>(i.size());
  }
};

// IEEE 754 binary16 -> binary32, exact for every input: subnormals, ±0,
// ±infinity, and NaN with its sign and payload.
float HalfToFloat(uint16_t h);
// bfloat16 -> binary32 (the high half of the float's bits).
float BFloat16ToFloat(uint16_t h);

// TensorFlow's SAME padding for one axis (TFLite and ONNX SAME_UPPER use the
// same rule): out = ceil(in / stride); the total padding is
// max((out - 1) * stride + (kernel - 1) * dilation + 1 - in, 0), the smaller
// half first. Returns {begin, end}. Arguments must be within graph/limits.h.
std::pair<int, int> SamePadding(int64_t in, int64_t kernel, int64_t stride, int64_t dilation);

// Element count of a declared shape. Corrupt when the rank exceeds
// graph::kMaxRank or a dimension is negative; ResourceExhausted when the count
// exceeds graph::kMaxTensorElements. `what` names the tensor in messages.
Result<int64_t> CheckedElementCount(const graph::Shape& shape, const std::string& what);

// Corrupt unless `count` elements of `element_bytes` each are exactly the
// `present_bytes` the file holds; call it before allocating the decoded tensor.
Status CheckPayloadBytes(int64_t count, size_t element_bytes, size_t present_bytes,
                         const graph::Shape& shape, const std::string& what);

// Converts TensorFlow/TFLite paddings ([rank,2] pairs of before/after, as
// `pairs` row-major) into graph::Attrs::ints ([begin_0..begin_{r-1},
// end_0..end_{r-1}]). Unsupported when a pad is negative or above
// graph::kMaxWindow.
Result<std::vector<int64_t>> PadsFromPairs(const std::vector<int64_t>& pairs, int64_t rank);

// Unsupported unless an input image of height x width x channels is within
// graph::kMaxInputSide and graph::kMaxInputChannels (all at least 1).
Status CheckInputImage(int64_t height, int64_t width, int64_t channels, const std::string& what);

// Counts the elements an import creates beyond the bytes in its file, against
// kMaxImportExpansionElements. Not thread-safe; one per import.
class ExpansionBudget {
 public:
  // ResourceExhausted naming `what` once the total would exceed the limit.
  Status Charge(int64_t elements, const std::string& what);
  int64_t used() const { return used_; }

 private:
  int64_t used_ = 0;
};

}  // namespace edgevision::model
