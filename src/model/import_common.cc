#include "model/import_common.h"

#include <algorithm>
#include <bit>

namespace edgevision::model {

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;  // ±0
    } else {        // subnormal: normalise into a binary32 normal number
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3FFu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);  // ±infinity, NaN keeps its payload
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(bits);
}

float BFloat16ToFloat(uint16_t h) {
  return std::bit_cast<float>(static_cast<uint32_t>(h) << 16);
}

std::pair<int, int> SamePadding(int64_t in, int64_t kernel, int64_t stride, int64_t dilation) {
  const int64_t out = (in + stride - 1) / stride;
  const int64_t total = std::max<int64_t>((out - 1) * stride + (kernel - 1) * dilation + 1 - in, 0);
  return {static_cast<int>(total / 2), static_cast<int>(total - total / 2)};
}

Result<int64_t> CheckedElementCount(const graph::Shape& shape, const std::string& what) {
  if (shape.size() > graph::kMaxRank) {
    return Corrupt(what + " has rank " + std::to_string(shape.size()) + ", more than " +
                   std::to_string(graph::kMaxRank));
  }
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) {
      return Corrupt(what + " has a negative dimension in " + graph::ShapeToString(shape));
    }
    if (d > 0 && n > graph::kMaxTensorElements / d) {
      return ResourceExhausted(what + " has shape " + graph::ShapeToString(shape) +
                               ", more than the limit of " +
                               std::to_string(graph::kMaxTensorElements) + " elements");
    }
    n *= d;
  }
  return n;
}

Status CheckPayloadBytes(int64_t count, size_t element_bytes, size_t present_bytes,
                         const graph::Shape& shape, const std::string& what) {
  // count <= kMaxTensorElements and element_bytes <= 8: the product fits.
  const size_t needed = static_cast<size_t>(count) * element_bytes;
  if (present_bytes != needed) {
    return Corrupt(what + " has " + std::to_string(present_bytes) + " bytes, shape " +
                   graph::ShapeToString(shape) + " needs " + std::to_string(needed));
  }
  return Status::Ok();
}

Result<std::vector<int64_t>> PadsFromPairs(const std::vector<int64_t>& pairs, int64_t rank) {
  if (rank < 0 || pairs.size() != static_cast<size_t>(2 * rank)) {
    return Corrupt("paddings hold " + std::to_string(pairs.size()) + " values for rank " +
                   std::to_string(rank));
  }
  std::vector<int64_t> ints(static_cast<size_t>(2 * rank));
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t before = pairs[2 * d], after = pairs[2 * d + 1];
    if (before < 0 || after < 0 || before > graph::kMaxWindow || after > graph::kMaxWindow) {
      return Unsupported("negative or huge padding");
    }
    ints[d] = before;
    ints[rank + d] = after;
  }
  return ints;
}

Status CheckInputImage(int64_t height, int64_t width, int64_t channels, const std::string& what) {
  if (height < 1 || width < 1 || channels < 1 || height > graph::kMaxInputSide ||
      width > graph::kMaxInputSide || channels > graph::kMaxInputChannels) {
    return Unsupported(what + " is " + std::to_string(height) + "x" + std::to_string(width) + "x" +
                       std::to_string(channels) + "; an image of at most " +
                       std::to_string(graph::kMaxInputSide) + " pixels a side and " +
                       std::to_string(graph::kMaxInputChannels) + " channels is expected");
  }
  return Status::Ok();
}

Status ExpansionBudget::Charge(int64_t elements, const std::string& what) {
  if (elements < 0 || elements > kMaxImportExpansionElements - used_) {
    return ResourceExhausted(what + " would create more than " +
                             std::to_string(kMaxImportExpansionElements) +
                             " elements that the file does not store (the import limit)");
  }
  used_ += elements;
  return Status::Ok();
}

}  // namespace edgevision::model
