// The production backend: XNNPACK operators (Debian 12's 2022-02 build,
// operator API), one activation arena per Session.
//
// Compile() admits the graph (engine/graph_check.h), decides how each node
// runs and plans memory once; the resulting program (graph, plan, constant
// pool) is immutable and shared by every Session of the model.
//  - Most ops run as one XNNPACK operator; fused act_min/act_max become the
//    operator's output range. Ops or parameters XNNPACK rejects (e.g. general
//    Transpose, cropping Pad, 1x1 max pooling) run the reference kernels on
//    the same arena.
//  - Channel concatenation runs in place where it can: the producers of its
//    inputs write straight into their channel slice of the concat output
//    (output pixel stride = total channels) and consumers read it with the
//    same stride, so no copy runs. Inputs that cannot be produced in place
//    (a graph input or constant, a producer without strided output, a value
//    also read by an op that needs dense input) are copied.
//  - Reshape, and a Transpose that keeps the data order, alias their input.
//  - Activations share an arena by liveness (engine/memory_planner.h).
// CreateSession() creates and sets up every operator bound to that session's
// arena and thread pool (EngineOptions::threads; 1 = the caller's thread), so
// Session::Run() only copies the input in, runs the operators and copies the
// output out. The arena is not zeroed, so its pages are mapped only when the
// Session first runs. Packed weights are made once per model: each Session's
// operators point at the first Session's packed blocks (xnnpack_weights.h).
//
// Thread-safety: as engine/backend.h.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/backend.h"

namespace edgevision::engine {

std::unique_ptr<Backend> MakeXnnpackBackend();

// How a compiled model executes, for logs, `edgevision inspect` and tests.
struct XnnpackPlanStats {
  int xnnpack_nodes = 0;    // nodes run by XNNPACK operators (concat copies excluded)
  int reference_nodes = 0;  // nodes run by reference kernels
  int free_nodes = 0;       // aliases and fully in-place concats: no work at run time
  int winograd_nodes = 0;   // of xnnpack_nodes: 3x3 convolutions run as Winograd F(2x2, 3x3)
  int winograd_gemm_nodes = 0;  // of winograd_nodes: with the products on our GEMM (AVX-512)
  int pointwise_gemm_nodes = 0;  // of xnnpack_nodes: 1x1 convolutions on our AVX-512 GEMM
  int banded_conv_nodes = 0;  // of xnnpack_nodes: convolutions run in row bands with their max pool
  int conv_gemm_nodes = 0;  // of xnnpack_nodes: other convolutions on it (per-tap pointers)
  int depthwise_nodes = 0;  // of xnnpack_nodes: 3x3 and 5x5 depthwise convolutions on our AVX-512 kernel
  int fused_pools = 0;      // of free_nodes: max poolings computed by the convolution before them
  int fused_epilogues = 0;  // of free_nodes: HardSwishes and residual Adds computed by the
                            // convolution before them (our kernels' epilogue)
  int fused_blocks = 0;     // inverted-residual blocks run in row bands (Program::blocks)
  int fused_block_stems = 0;  // of fused_blocks: those whose first layer is a conv-GEMM convolution
  int threaded_blocks = 0;  // of fused_blocks: those under the size thresholds, fused because of
                            // threads (one band per thread)
  int block_bands = 0;      // the fused blocks' row bands, summed (each a task on the thread pool)
  int channel_split_gemms = 0;  // of pointwise_gemm_nodes: split by output channels with threads
  int paired_depthwise = 0;  // of free_nodes: depthwise layers run in such a split's tasks
  int fused_input_scales = 0;  // of free_nodes: per-channel Muls (squeeze-excite) computed by
                               // the 1x1 convolution that reads them (its input read)
  int inplace_concat_inputs = 0;
  int copied_concat_inputs = 0;
  size_t arena_bytes = 0;       // activation memory of one Session
  size_t activation_bytes = 0;  // sum of all activation sizes (no reuse, no aliasing)
  std::vector<std::string> reference_node_names;
};

// The stats of a model compiled by the XNNPACK backend; nullptr for a model
// of another backend. The pointer lives as long as `model`.
const XnnpackPlanStats* GetXnnpackPlanStats(const CompiledModel& model);

// Packed-weight memory of a compiled model, over all its Sessions so far.
struct XnnpackWeightStats {
  size_t packed_bytes = 0;  // packed blocks held (once per model when shared)
  size_t shared_bytes = 0;  // what later Sessions packed and dropped for a shared block
  // Unpacked weights the model holds only to create Sessions (what their
  // XNNPACK operators pack); 0 after ReleaseSessionCreationData. Never our
  // kernels' weights (packed once at Compile) nor a Winograd node's
  // transformed kernel (made per operator).
  size_t unpacked_bytes = 0;
};
// Zeros for a model of another backend. Not thread-safe against
// CreateSession or ReleaseSessionCreationData.
XnnpackWeightStats GetXnnpackWeightStats(const CompiledModel& model);

// Mean wall time per node over `runs` runs, for profiling (engine_benchmark
// --profile). Nodes without run-time work are left out. The steps run one by
// one with a clock read between them, so the sum slightly exceeds a Run().
struct NodeProfile {
  std::string node;
  std::string op;  // op name; "(reference)", "(copy)", "(winograd)" or "(gemm)" appended
                   // when not one XNNPACK operator
  double microseconds = 0;
  // Nodes whose work this entry also did (an inverted-residual block's
  // depthwise convolution and projection, a fused epilogue or pooling):
  // their multiply-adds belong to it.
  std::vector<std::string> absorbed;
};
// The checks every backend's profiler makes before it runs: InvalidArgument if
// runs < 1 or `input_floats` is not the model's input size.
Status CheckProfileRequest(size_t input_floats, size_t model_input_floats, int runs);

// Errors: InvalidArgument if `session` is not an XNNPACK session, if runs < 1,
// or for wrong input size; Run()'s errors otherwise.
Result<std::vector<NodeProfile>> ProfileXnnpackSession(Session& session,
                                                       std::span<const float> input, int runs);

}  // namespace edgevision::engine
