// WeightRegistry on operators built by hand through the sharing allocator: a
// descriptor block and a packed-weights block, with the words XNNPACK would
// write. Which words are the operator's pointers and which are coincidences
// (stale stack bytes copied into a descriptor) is decided here, not by chance.
#include "engine/xnnpack_weights.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

namespace edgevision::engine::xnnpack_internal {
namespace {

constexpr size_t kDescriptorBytes = 2112;  // Debian XNNPACK's sizeof(xnn_operator) on x86-64
constexpr size_t kWeightsBytes = 4096;
constexpr size_t kPointerAt = 64;   // where "packed_weights" lives in the fake descriptor
constexpr size_t kInteriorAt = 72;  // a second pointer, into the block, when a test wants one
constexpr size_t kStaleAt = 400;    // where the stale params bytes are

uintptr_t Word(const void* block, size_t at) {
  uintptr_t w;
  std::memcpy(&w, static_cast<const char*>(block) + at, sizeof w);
  return w;
}

void SetWord(void* block, size_t at, uintptr_t w) { std::memcpy(static_cast<char*>(block) + at, &w, sizeof w); }

// One fake operator: blocks allocated the way XNNPACK's create does.
struct FakeOperator {
  void* descriptor = nullptr;
  void* weights = nullptr;

  // interior: the descriptor also points `interior` bytes into the weights
  // (0: no such pointer); stale: a word at kStaleAt holds an address
  // `stale` bytes into the weights (0: none).
  void Create(WeightRegistry& registry, size_t interior, size_t stale, bool points_to_weights = true) {
    const xnn_allocator* a = SharingAllocator();
    AllocationRecording recording;
    descriptor = a->aligned_allocate(nullptr, 64, kDescriptorBytes);
    std::memset(descriptor, 0, kDescriptorBytes);
    weights = a->aligned_allocate(nullptr, 64, kWeightsBytes);
    for (size_t i = 0; i < kWeightsBytes; ++i) static_cast<unsigned char*>(weights)[i] = static_cast<unsigned char>(i * 7 + 1);
    const auto base = reinterpret_cast<uintptr_t>(weights);
    if (points_to_weights) SetWord(descriptor, kPointerAt, base);
    if (interior != 0) SetWord(descriptor, kInteriorAt, base + interior);
    if (stale != 0) SetWord(descriptor, kStaleAt, base + stale);
    registry.AfterCreate(0, static_cast<xnn_operator_t>(descriptor), recording);
  }
  // What xnn_delete_operator does: both blocks go back to the allocator.
  void Delete() {
    const xnn_allocator* a = SharingAllocator();
    a->aligned_deallocate(nullptr, reinterpret_cast<void*>(Word(descriptor, kPointerAt)));
    a->aligned_deallocate(nullptr, descriptor);
  }
};

TEST(WeightRegistryTest, AStaleWordInsideTheBlockDoesNotStopSharing) {
  WeightRegistry registry(1);
  FakeOperator first, second;
  first.Create(registry, 0, /*stale=*/1000);  // stale words in both, at different places
  second.Create(registry, 0, /*stale=*/2000);
  EXPECT_EQ(registry.stats().packed_bytes, kWeightsBytes);
  EXPECT_EQ(registry.stats().shared_bytes, kWeightsBytes);
  // The pointer now names the first operator's block; the stale word is left as it was.
  EXPECT_EQ(Word(second.descriptor, kPointerAt), reinterpret_cast<uintptr_t>(first.weights));
  EXPECT_EQ(Word(second.descriptor, kStaleAt), reinterpret_cast<uintptr_t>(second.weights) + 2000);
  second.Delete();
  first.Delete();
}

TEST(WeightRegistryTest, APointerIntoTheBlockThatBothOperatorsHoldIsRewrittenToo) {
  WeightRegistry registry(1);
  FakeOperator first, second;
  first.Create(registry, /*interior=*/256, 0);
  second.Create(registry, /*interior=*/256, /*stale=*/512);
  EXPECT_EQ(registry.stats().shared_bytes, kWeightsBytes);
  const auto shared = reinterpret_cast<uintptr_t>(first.weights);
  EXPECT_EQ(Word(second.descriptor, kPointerAt), shared);
  EXPECT_EQ(Word(second.descriptor, kInteriorAt), shared + 256);
  second.Delete();
  first.Delete();
}

TEST(WeightRegistryTest, AnOperatorWhoseDescriptorDoesNotNameTheBlockKeepsItsOwn) {
  WeightRegistry registry(1);
  FakeOperator first, second;
  first.Create(registry, 0, 0);
  // Only a pointer into the middle, which the first operator does not hold.
  second.Create(registry, /*interior=*/128, 0, /*points_to_weights=*/false);
  EXPECT_EQ(registry.stats().shared_bytes, 0u);
  EXPECT_EQ(registry.stats().packed_bytes, 2 * kWeightsBytes);
  EXPECT_EQ(Word(second.descriptor, kInteriorAt), reinterpret_cast<uintptr_t>(second.weights) + 128);
  SharingAllocator()->aligned_deallocate(nullptr, second.weights);
  SharingAllocator()->aligned_deallocate(nullptr, second.descriptor);
  first.Delete();
}

}  // namespace
}  // namespace edgevision::engine::xnnpack_internal
