#include "engine/xnnpack_weights.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

namespace edgevision::engine::xnnpack_internal {

struct RecordingAccess {
  static std::vector<AllocatedBlock>& Blocks(AllocationRecording* r) { return r->blocks_; }
};

namespace {

thread_local AllocationRecording* t_recording = nullptr;

void Record(void* ptr, size_t size, bool aligned) {
  if (t_recording == nullptr || ptr == nullptr) return;
  RecordingAccess::Blocks(t_recording).push_back({ptr, size, aligned});
}

// Takes the block's address as a number: after realloc the old pointer may be
// freed, and only its value is compared, never the pointer used.
void Forget(std::uintptr_t address) {
  if (t_recording == nullptr || address == 0) return;
  auto& blocks = RecordingAccess::Blocks(t_recording);
  blocks.erase(std::remove_if(blocks.begin(), blocks.end(),
                              [&](const AllocatedBlock& b) { return reinterpret_cast<std::uintptr_t>(b.ptr) == address; }),
               blocks.end());
}

// Reference counts of shared blocks; a block not listed has one owner.
class SharedBlocks {
 public:
  static SharedBlocks& Get() {
    static SharedBlocks* shared = new SharedBlocks;  // outlives every operator
    return *shared;
  }
  void AddRef(void* ptr) {
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, inserted] = counts_.try_emplace(ptr, 1);
    ++it->second;
  }
  // Drops one reference; true when the caller must free the block.
  bool Release(void* ptr) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = counts_.find(ptr);
    if (it == counts_.end()) return true;
    if (--it->second > 0) return false;
    counts_.erase(it);
    return true;
  }

 private:
  std::mutex mu_;
  std::unordered_map<void*, size_t> counts_;
};

void* Allocate(void*, size_t size) {
  void* p = std::malloc(size);
  Record(p, size, false);
  return p;
}

void* Reallocate(void*, void* pointer, size_t size) {
  const auto old_address = reinterpret_cast<std::uintptr_t>(pointer);
  void* p = std::realloc(pointer, size);
  if (p != nullptr) {
    Forget(old_address);
    Record(p, size, false);
  }
  return p;
}

void Deallocate(void*, void* pointer) {
  Forget(reinterpret_cast<std::uintptr_t>(pointer));
  std::free(pointer);
}

void* AlignedAllocate(void*, size_t alignment, size_t size) {
  const size_t rounded = (std::max<size_t>(size, 1) + alignment - 1) / alignment * alignment;
  void* p = std::aligned_alloc(alignment, rounded);
  Record(p, size, true);
  return p;
}

void AlignedDeallocate(void*, void* pointer) {
  if (pointer == nullptr) return;
  Forget(reinterpret_cast<std::uintptr_t>(pointer));
  if (SharedBlocks::Get().Release(pointer)) std::free(pointer);
}

const xnn_allocator kAllocator = {nullptr, Allocate, Reallocate, Deallocate, AlignedAllocate, AlignedDeallocate};

bool AllZero(const AllocatedBlock& b) {
  const auto* p = static_cast<const unsigned char*>(b.ptr);
  return std::all_of(p, p + b.size, [](unsigned char c) { return c == 0; });
}

bool IsCandidate(const AllocatedBlock& b, xnn_operator_t op) {
  return b.aligned && b.ptr != static_cast<void*>(op) && b.size >= kMinSharedBlockBytes && !AllZero(b);
}

// Every word of the blocks in `owned` (other than the target) that holds an
// address in [target, target + size).
std::vector<BlockReference> FindReferences(const std::vector<AllocatedBlock>& owned, const AllocatedBlock& target) {
  std::vector<BlockReference> refs;
  const auto lo = reinterpret_cast<uintptr_t>(target.ptr);
  const uintptr_t hi = lo + target.size;
  for (size_t i = 0; i < owned.size(); ++i) {
    const AllocatedBlock& b = owned[i];
    if (b.ptr == target.ptr) continue;
    const auto start = reinterpret_cast<uintptr_t>(b.ptr);
    uintptr_t first = (start + alignof(uintptr_t) - 1) / alignof(uintptr_t) * alignof(uintptr_t);
    for (uintptr_t at = first; at + sizeof(uintptr_t) <= start + b.size; at += sizeof(uintptr_t)) {
      uintptr_t value;
      std::memcpy(&value, reinterpret_cast<const void*>(at), sizeof value);
      if (value >= lo && value < hi) refs.push_back({i, at - start, value - lo});
    }
  }
  return refs;
}

std::vector<size_t> Layout(const std::vector<AllocatedBlock>& owned) {
  std::vector<size_t> sizes;
  for (const AllocatedBlock& b : owned) sizes.push_back(b.size);
  return sizes;
}

}  // namespace

const xnn_allocator* SharingAllocator() { return &kAllocator; }

AllocationRecording::AllocationRecording() { t_recording = this; }
AllocationRecording::~AllocationRecording() { t_recording = nullptr; }
std::vector<AllocatedBlock> AllocationRecording::Blocks() const { return blocks_; }

WeightRegistry::~WeightRegistry() {
  for (Node& node : nodes_) {
    for (const Registered& r : node.blocks) {
      if (SharedBlocks::Get().Release(r.block.ptr)) std::free(r.block.ptr);
    }
  }
}

void WeightRegistry::AfterCreate(size_t index, xnn_operator_t op, const AllocationRecording& recording) {
  const std::vector<AllocatedBlock> owned = recording.Blocks();
  std::lock_guard<std::mutex> lock(mu_);
  if (index >= nodes_.size()) return;
  Node& node = nodes_[index];
  if (!node.registered) {
    node.registered = true;
    node.layout = Layout(owned);
    for (const AllocatedBlock& b : owned) {
      if (!IsCandidate(b, op)) continue;
      SharedBlocks::Get().AddRef(b.ptr);  // the registry's reference
      node.blocks.push_back({b, FindReferences(owned, b)});
      stats_.packed_bytes += b.size;
    }
    return;
  }
  const bool same_layout = Layout(owned) == node.layout;
  for (const AllocatedBlock& b : owned) {
    if (!IsCandidate(b, op)) continue;
    const auto same = std::find_if(node.blocks.begin(), node.blocks.end(), [&](const Registered& r) {
      return r.block.size == b.size && std::memcmp(r.block.ptr, b.ptr, b.size) == 0;
    });
    // The references both operators hold (same word, same distance into the
    // block) are the operator's pointers; a word only one of them holds is a
    // coincidence (see the header).
    std::vector<BlockReference> real;
    if (same != node.blocks.end()) {
      for (const BlockReference& ref : FindReferences(owned, b)) {
        if (std::find(same->references.begin(), same->references.end(), ref) != same->references.end()) {
          real.push_back(ref);
        }
      }
    }
    const bool from_descriptor = std::any_of(real.begin(), real.end(), [&](const BlockReference& ref) {
      return owned[ref.block].ptr == static_cast<void*>(op);
    });
    if (!same_layout || !from_descriptor) {
      stats_.packed_bytes += b.size;
      continue;
    }
    SharedBlocks::Get().AddRef(same->block.ptr);  // the operator's reference
    for (const BlockReference& ref : real) {
      const uintptr_t value = reinterpret_cast<uintptr_t>(same->block.ptr) + ref.delta;
      std::memcpy(static_cast<char*>(owned[ref.block].ptr) + ref.offset, &value, sizeof value);
    }
    std::free(b.ptr);  // the duplicate: never shared, so it has no count
    stats_.shared_bytes += b.size;
  }
}

XnnpackWeightStats WeightRegistry::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace edgevision::engine::xnnpack_internal
