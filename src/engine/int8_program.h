// Internal to the int8 backend (engine/int8_backend.h): the compiled
// program (what runs, in which representation, in which buffer) and the
// planner that makes it from a graph and its calibration.
//
// Thread-safety: a Program is immutable once planned and shared by Sessions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <numeric>
#include <vector>

#include "engine/int8_backend.h"
#include "engine/int16_gemm.h"
#include "engine/int8_gemm.h"
#include "engine/int8_ops.h"
#include "graph/graph.h"

namespace edgevision::engine::int8_internal {

inline constexpr size_t kAlignment = 64;

inline size_t LastDim(const graph::Shape& s) { return s.empty() ? 1 : static_cast<size_t>(s.back()); }
inline size_t Elements(const graph::Graph& g, graph::ValueId v) {
  return static_cast<size_t>(graph::ShapeProduct(g.values[v].shape));
}

enum class Rep : uint8_t { kF32 = 0, kQ8 = 1 };
// kFused: a float32 MaxPool2D computed by the int16 convolution before it
// (RunQ16GemmMaxPool), or a Fire module's 1x1 expand computed in its KxK
// expand's tiles (Step::folded_node): no step of its own.
enum class Mode : uint8_t { kQ8, kF32Xnnpack, kF32Reference, kAlias, kConcat, kFused };

// One unit of run-time work.
struct Step {
  enum class Kind : uint8_t { kQ8Op, kF32Op, kReference, kToQ8, kToF32, kCopy } kind;
  size_t node = 0;
  graph::ValueId value = graph::kNoValue;  // converts: the value converted; copies: the input
  std::vector<int> reads;           // buffer ids; -1 for a constant or absent input
  int write = -1;
  int scratch = -1;  // kF32Op on the int16 kernel: the buffer of its quantised input (and rings)
  // kF32Op on the int16 kernel: the MaxPool2D node it computes too (-1:
  // none; `write` is then the pooling's output), and the run's peak slots
  // (Program::peak_slots; -1: none) its input's max |x| is read from and its
  // output's is raised in.
  int pool_node = -1;
  int peak_in = -1, peak_out = -1;
  // kF32Op on the int16 kernel: a Fire module's 1x1 expand computed in its
  // tiles (Q16ConvArgs::folded; -1: none); out_offset is then the 1x1's.
  int folded_node = -1;
  // kCopy (a concat input): rows of `width` elements, strides and the output
  // offset. kQ8Op, kF32Op: out_offset/out_stride (elements) place a
  // convolution's output in its concat (0 stride: dense).
  size_t width = 0, rows = 0, in_stride = 0, out_stride = 0, out_offset = 0;
  bool x8 = false;
  graph::ValueId observe = graph::kNoValue;  // calibration: scan this value after the step
};

struct Buffer {
  size_t bytes = 0;
  int first = 0, last = 0;
  size_t offset = 0;
};

struct Program {
  graph::Graph graph;
  bool int8 = false;
  // Dense int8 convolutions may run on the engine's VNNI kernel
  // (engine/int8_gemm.h) where the CPU has one; false: XNNPACK only
  // (EngineOptions::xnnpack_only).
  bool own_kernels = true;
  int threads = 1;  // EngineOptions::threads: one fused pooling ring per thread
  // Per run: the max |x| of the values int16 convolutions produce for int16
  // convolutions (Step::peak_in / peak_out), zeroed before each run.
  size_t peak_slots = 0;
  std::vector<Mode> mode;               // per node
  std::vector<Q8Kind> kind;             // per node (kQ8)
  std::vector<Q8Weights> weights;       // per node (convolution kinds)
  // Per node: a kConv / kFullyConnected packed for the VNNI kernel (empty
  // kernel: XNNPACK's operator runs it).
  std::vector<Q8GemmWeights> gemm;
  // Per node: a float32 Conv2D packed for the int16 kernel (engine/
  // int16_gemm.h; empty kernel: XNNPACK's f32 operator runs it).
  std::vector<Q16GemmWeights> gemm16;
  std::vector<Quant> quant;             // per value: its group's quantisation
  std::vector<graph::ValueId> root;            // per value: aliases resolve to their input's root
  // Per value: constants that float32 XNNPACK operators or concat copies read
  // as data, with a readable XNN_EXTRA_BYTES tail (empty for the others).
  std::vector<std::vector<float>> constants;
  // Per node: a float32 binary op's constant tiled for a long-row broadcast
  // (xnnpack_ops.h BroadcastWidening: the input normalisation), else empty.
  std::vector<std::vector<float>> wide_constants;
  std::vector<Step> steps;
  std::vector<Buffer> buffers;
  int input_buffer = -1, output_buffer = -1;
  size_t arena_bytes = 0;
  Int8PlanStats stats;
};

inline bool PassesBytes(Q8Kind k) {
  return k == Q8Kind::kMaxPool || k == Q8Kind::kClamp || k == Q8Kind::kChannelShuffle ||
         k == Q8Kind::kSlice || k == Q8Kind::kPad;
}

// Union-find over values that must share a quantisation.
struct Groups {
  std::vector<graph::ValueId> parent;
  explicit Groups(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  graph::ValueId Find(graph::ValueId v) {
    while (parent[v] != v) v = parent[v] = parent[parent[v]];
    return v;
  }
  void Join(graph::ValueId a, graph::ValueId b) { parent[Find(a)] = Find(b); }
};

// Plans `p->graph` (set by the caller, with p->int8): modes, quantisation
// (from `calibration`, nullptr for the float32 calibration program), steps
// and the arena. Errors: Unsupported for a node no engine path can run.
Status PlanProgram(Program* p, const Int8Calibration* calibration);

}  // namespace edgevision::engine::int8_internal
