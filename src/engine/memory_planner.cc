#include "engine/memory_planner.h"

#include <algorithm>
#include <numeric>

namespace edgevision::engine {

namespace {

size_t AlignUp(size_t v, size_t alignment) {
  return (v + alignment - 1) & ~(alignment - 1);
}

bool Overlap(const BufferRequest& a, const BufferRequest& b) {
  return a.first_step <= b.last_step && b.first_step <= a.last_step;
}

}  // namespace

ArenaPlan PlanArena(std::span<const BufferRequest> requests, size_t alignment) {
  ArenaPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });

  std::vector<size_t> aligned(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    aligned[i] = AlignUp(std::max<size_t>(requests[i].bytes, 1), alignment);
  }
  std::vector<size_t> placed;                   // indices, kept sorted by offset
  std::vector<std::pair<size_t, size_t>> busy;  // [begin, end) of live-overlapping buffers
  for (size_t i : order) {
    const size_t bytes = aligned[i];
    busy.clear();
    for (size_t j : placed) {
      if (Overlap(requests[i], requests[j])) {
        busy.emplace_back(plan.offsets[j], plan.offsets[j] + aligned[j]);
      }
    }
    // `placed` is sorted by offset, so `busy` is too: first fit in the gaps.
    size_t offset = 0;
    for (const auto& [begin, end] : busy) {
      if (offset + bytes <= begin) break;
      offset = std::max(offset, end);
    }
    plan.offsets[i] = offset;
    plan.arena_bytes = std::max(plan.arena_bytes, offset + bytes);
    placed.insert(
        std::upper_bound(placed.begin(), placed.end(), i,
                         [&](size_t a, size_t b) { return plan.offsets[a] < plan.offsets[b]; }),
        i);
  }
  return plan;
}

}  // namespace edgevision::engine
