// An allocator for std::vector whose storage starts on a cache line
// (64 bytes). The VNNI kernels (engine/int8_gemm.h, engine/int16_gemm.h)
// load their packed weights 64 bytes at a time: from malloc's 16-byte
// alignment most of those loads would span two lines, and a layer then ran
// at a third of its speed or at full speed depending on where the heap put
// its weights (docs/performance.md, int8 round 7).
//
// Thread-safety: stateless.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

namespace edgevision::engine {

template <typename T>
struct CacheLineAllocator {
  using value_type = T;
  static constexpr size_t kLine = 64;
  CacheLineAllocator() = default;
  template <typename U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}  // rebinding
  T* allocate(size_t n) {
    void* p = std::aligned_alloc(kLine, (n * sizeof(T) + kLine - 1) / kLine * kLine);
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { std::free(p); }
  template <typename U>
  bool operator==(const CacheLineAllocator<U>&) const { return true; }
};

}  // namespace edgevision::engine
