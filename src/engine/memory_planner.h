// Static memory planning: packs buffers with known sizes and lifetimes into
// one arena so that buffers whose lifetimes overlap never share bytes.
//
// Greedy by size: the largest buffers are placed first, each at the lowest
// aligned offset that does not overlap an already placed buffer live at the
// same time (the strategy of TensorFlow Lite's arena planner).
//
// Thread-safety: pure function.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace edgevision::engine {

struct BufferRequest {
  size_t bytes = 0;
  // Lifetime in execution steps, both ends inclusive (first <= last).
  int first_step = 0;
  int last_step = 0;
};

struct ArenaPlan {
  std::vector<size_t> offsets;  // one per request, multiples of `alignment`
  size_t arena_bytes = 0;       // end of the furthest buffer
};

// `alignment` must be a power of two.
ArenaPlan PlanArena(std::span<const BufferRequest> requests, size_t alignment);

}  // namespace edgevision::engine
