// Internal to the XNNPACK backend: one packed copy of the weights for every
// Session of a model.
//
// Each Session creates its own XNNPACK operators (an operator binds one
// session's buffers), and creating an operator packs its weights into a new
// block. Debian 12's XNNPACK (0.0~git20220216) predates the weights cache
// (xnn_create_weights_cache, mid-2022), so the backend shares packed weights
// itself, through the allocator it gives xnn_initialize:
//  - while a Session creates the operator for node i, every block XNNPACK
//    allocates on that thread is recorded (AllocationRecording);
//  - the first Session's operator for node i registers its blocks
//    (WeightRegistry::Adopt): the candidates are the aligned blocks other
//    than the operator descriptor, not all zero (a zeroed block may be
//    scratch written at run time), of at least kMinSharedBlockBytes;
//  - a later Session's operator for node i (WeightRegistry::Share): each
//    candidate block whose bytes equal a registered block of the same size
//    is replaced by that block, if the operator refers to it exactly once,
//    by its address, from its descriptor, and nothing the operator allocated
//    points inside it (else it is kept; sharing is an optimisation, never a
//    condition). The descriptor's pointer is rewritten before the operator
//    is set up, and the duplicate freed.
// Shared blocks are reference counted (the registry holds one reference, each
// operator one); XNNPACK frees a block through the same allocator, which
// frees it when the last reference goes. Packed weights are only read after
// packing, which xnnpack_weights_test checks by running Sessions of one
// model concurrently against unshared ones.
//
// Thread-safety: the registry and the reference counts are guarded by mutexes;
// recording is per thread.
#pragma once

#include <xnnpack.h>

#include <cstddef>
#include <mutex>
#include <vector>

#include "engine/xnnpack_backend.h"

namespace edgevision::engine::xnnpack_internal {

// The allocator xnn_initialize gets (plain malloc/aligned_alloc underneath).
const xnn_allocator* SharingAllocator();

// Blocks smaller than this are never shared (bias-only blocks, tiny tables).
inline constexpr size_t kMinSharedBlockBytes = 256;

struct AllocatedBlock {
  void* ptr = nullptr;
  size_t size = 0;
  bool aligned = false;  // from aligned_allocate (packed weights, descriptors)
};

// Records what XNNPACK allocates on this thread while alive (not nested).
class AllocationRecording {
 public:
  AllocationRecording();
  ~AllocationRecording();
  AllocationRecording(const AllocationRecording&) = delete;
  AllocationRecording& operator=(const AllocationRecording&) = delete;
  // Blocks still allocated, in allocation order.
  std::vector<AllocatedBlock> Blocks() const;

 private:
  friend struct RecordingAccess;
  std::vector<AllocatedBlock> blocks_;
};

// The packed blocks of one model's operators, by node.
class WeightRegistry {
 public:
  explicit WeightRegistry(size_t nodes) : nodes_(nodes) {}
  ~WeightRegistry();
  WeightRegistry(const WeightRegistry&) = delete;
  WeightRegistry& operator=(const WeightRegistry&) = delete;

  // Called right after CreateNodeOperator for node `node` returned `op`,
  // with what `recording` saw; before the operator is set up. The first call
  // for a node registers its blocks, later ones share them.
  void AfterCreate(size_t node, xnn_operator_t op, const AllocationRecording& recording);

  XnnpackWeightStats stats() const;

 private:
  struct Node {
    bool registered = false;
    std::vector<AllocatedBlock> blocks;  // registered candidates (one reference each)
  };
  mutable std::mutex mu_;
  std::vector<Node> nodes_;  // guarded by mu_
  XnnpackWeightStats stats_;  // guarded by mu_
};

}  // namespace edgevision::engine::xnnpack_internal
