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
//  - the first Session's operator for node i registers its blocks: the
//    candidates are the aligned blocks other than the operator descriptor,
//    not all zero (a zeroed block may be scratch written at run time), of at
//    least kMinSharedBlockBytes, each with the words of the operator's other
//    blocks that hold an address inside it (BlockReference);
//  - a later Session's operator for node i (same blocks, same sizes, same
//    order): each candidate block whose bytes equal a registered block of
//    the same size is replaced by that block if the words pointing into it
//    that both operators hold (same word, same distance into the block)
//    include one in the descriptor (its packed-weights pointer). Those words
//    are rewritten to the registered block before the operator is set up,
//    and the duplicate is freed; otherwise the block is kept (sharing is an
//    optimisation, never a condition).
// Why "both operators": a word that only one operator holds is not a pointer
// XNNPACK follows. Debian's XNNPACK copies a whole params union from the
// stack into the descriptor (from byte 384 on x86-64) after initialising only
// the variant the chosen kernels read (8 bytes of scalar min/max for the
// AVX-512 ones), so the rest is stale stack: old heap addresses that land
// inside a freshly packed block at a different place in every run. A pointer
// XNNPACK sets is a function of the node, so it is in every Session's
// operator at the same place.
// Shared blocks are reference counted (the registry holds one reference, each
// operator one); XNNPACK frees a block through the same allocator, which
// frees it when the last reference goes. Packed weights are only read after
// packing, which SessionTest.SessionsShareOnePackedCopyOfTheWeights checks
// against a Session with its own copy.
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

// A word in one of an operator's blocks that holds an address inside a
// candidate block: which block (allocation order), where in it, and how far
// into the candidate it points.
struct BlockReference {
  size_t block = 0;
  size_t offset = 0;
  size_t delta = 0;
  bool operator==(const BlockReference& o) const {
    return block == o.block && offset == o.offset && delta == o.delta;
  }
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
  // for a node registers its blocks, later ones share them. `op` is only
  // compared with the recorded blocks (tests pass a block of their own).
  void AfterCreate(size_t node, xnn_operator_t op, const AllocationRecording& recording);

  XnnpackWeightStats stats() const;

 private:
  struct Registered {
    AllocatedBlock block;                     // holds one reference
    std::vector<BlockReference> references;  // the first operator's words pointing into it
  };
  struct Node {
    bool registered = false;
    std::vector<size_t> layout;        // sizes of the first operator's blocks, in order
    std::vector<Registered> blocks;    // registered candidates
  };
  mutable std::mutex mu_;
  std::vector<Node> nodes_;  // guarded by mu_
  XnnpackWeightStats stats_;  // guarded by mu_
};

}  // namespace edgevision::engine::xnnpack_internal
