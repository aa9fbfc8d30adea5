// The opt-in int8 engine (`--precision int8`): the XNNPACK backend's ops in
// signed 8-bit (qs8) wherever Debian 12's XNNPACK (0.0~git20220216) has a
// kernel, float32 elsewhere.
//
//  - Weights: per-output-channel symmetric int8 (xnn_create_convolution2d_
//    nhwc_qc8) for Conv2D, depthwise Conv2D, whole-window AvgPool (as a
//    depthwise qc8 convolution) and FullyConnected (as a 1x1 qc8
//    convolution); bias int32 at input_scale * weight_scale[c]. With the
//    calibration's channel means (from 5 calibration images up, predict/
//    int8_mode.h) each convolution's bias is corrected for the rounding of
//    its weights (bias correction, int8_ops.h QuantizeWeights).
//  - Activations: asymmetric qs8, scale and zero point from the value's range
//    observed on calibration inputs (CalibrateInt8). Ops that only move bytes
//    (MaxPool, Relu/Clamp, Concat, channel Slice/Shuffle, Pad, Reshape) keep
//    their input's quantisation: such values share one range (the union).
//  - Mixed precision: the nodes named in Int8Calibration::float_nodes
//    (predict/int8_mixed.h picks the most sensitive ones) run in float32.
//  - qs8 kernels: the convolutions above, Add/Sub/Mul of two activations,
//    GlobalAvgPool, MaxPool (s8), Clamp (s8), Concat and Slice (x8 copies),
//    ChannelShuffle (x8), Pad (x8). On x86-64 CPUs with AVX512-VNNI the
//    dense convolutions (one group, up to 7x7) and FullyConnected layers run
//    on the engine's own VNNI kernel instead (engine/int8_gemm.h), with the
//    same bytes as XNNPACK's; depthwise convolutions, AvgPool and the rest
//    stay on XNNPACK, and so does everything on ARM and other x86 CPUs
//    (and with EngineOptions::xnnpack_only).
//  - Everything else runs in float32 (XNNPACK f32 operators, else the
//    reference kernels), with convert operators (qs8 <-> f32) where a value
//    changes representation. The classifier tail stays float32: the node
//    whose output is the graph output or feeds Softmax or Sigmoid (the
//    logits: a FullyConnected, or SqueezeNet's GlobalAvgPool), and the
//    Softmax/Sigmoid themselves.
//  - Buffers share one arena by liveness (engine/memory_planner.h). A
//    channel concat's inputs that convolutions of its precision (int8 or
//    float32) produce for it alone are written in place (output pixel stride = the concat's channels); other
//    inputs are copied. Packed weights are shared by a model's Sessions as
//    in the float32 backend.
//
// Thread-safety: as engine/backend.h.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/backend.h"
#include "engine/xnnpack_backend.h"
#include "graph/graph.h"

namespace edgevision::engine {

struct ValueRange {
  float min = 0.0f;
  float max = 0.0f;
};

// Observed ranges of one normalised graph's values (by value id; constants
// and values never computed keep {0, 0}).
struct Int8Calibration {
  std::vector<std::string> value_names;  // graph.values[i].name, to check the graph matches
  std::vector<ValueRange> ranges;
  // Per value, the mean of each channel (the last dimension) over the
  // calibration inputs; empty for values never computed. The int8 weights
  // use them for bias correction (int8_ops.h QuantizeWeights). An empty
  // vector of vectors (an older calibration) means no correction.
  std::vector<std::vector<float>> channel_means;
  // Mixed precision: nodes (by name) kept in float32 although an int8 kernel
  // exists for them (predict/int8_mixed.h chooses them). Unknown names are
  // ignored.
  std::vector<std::string> float_nodes;
};

// Runs `graph` in float32 on each of `inputs` (NHWC batch-1 tensors of the
// graph input's size) and records every value's min, max and channel means.
// Errors: InvalidArgument without inputs or for a wrong input size; the
// engine's errors (Unsupported for a graph it cannot run).
Result<Int8Calibration> CalibrateInt8(const graph::Graph& graph,
                                      std::span<const std::vector<float>> inputs);

// True where an int8 program runs its float32 convolutions (the prefix that
// mixed precision keeps) on the engine's int16 kernel (engine/int16_gemm.h:
// x86-64 with AVX512-VNNI, unless EngineOptions::xnnpack_only), about 2.5x
// cheaper per multiply-add than XNNPACK's float32 there; elsewhere XNNPACK's
// f32 operators run them.
bool Int8FloatConvolutionsOnInt16();

// A backend that compiles graphs into the int8 program above, using
// `calibration` (which must come from the same normalised graph: Compile
// returns InvalidArgument when the value names differ).
std::unique_ptr<Backend> MakeInt8Backend(std::shared_ptr<const Int8Calibration> calibration);

// How many times `backend` (made by MakeInt8Backend) compiled a graph; -1
// for another backend. Start-up reports it (a load compiles once).
int Int8Compilations(const Backend& backend);

// How a model compiled by the int8 backend runs, for `inspect` and tests.
struct Int8PlanStats {
  int int8_nodes = 0;     // nodes run by qs8/s8/x8 operators
  int float_nodes = 0;    // nodes run in float32 (XNNPACK or reference)
  int free_nodes = 0;     // aliases and concats written fully in place
  int inplace_concat_inputs = 0;  // concat inputs written in place by their convolution
  int conversions = 0;    // qs8 <-> f32 convert operators
  int vnni_nodes = 0;     // of int8_nodes: on the engine's VNNI kernel (engine/int8_gemm.h)
  int int16_nodes = 0;    // of float_nodes: convolutions on the int16 kernel (engine/int16_gemm.h)
  int fused_pools = 0;    // of float_nodes: max poolings computed by the int16 convolution before them
  // Of int16_nodes: Fire modules' 1x1 expands computed in their KxK expand's
  // tiles (engine/int16_gemm.h Q16ConvArgs::folded).
  int folded_expands = 0;
  size_t arena_bytes = 0;
  std::vector<std::string> float_node_names;  // non-free nodes run in float32
  // Nodes that compute in int8 (convolutions, FullyConnected, pools, Add/Sub/
  // Mul): the candidates for Int8Calibration::float_nodes.
  std::vector<std::string> int8_compute_names;
  int kept_float = 0;  // nodes run in float32 because of Int8Calibration::float_nodes
};
// nullptr for a model of another backend.
const Int8PlanStats* GetInt8PlanStats(const CompiledModel& model);

// Mean wall time per node over `runs` runs, as ProfileXnnpackSession, for
// `bench --per-op --precision int8`: a node's int8 and float32 work are
// listed apart ("Conv2D (int8)"), and each qs8 <-> f32 conversion under the
// converted value's name ("Convert f32->int8"). Errors: InvalidArgument if
// `session` is not an int8 session, if runs < 1 or for a wrong input size;
// Run()'s errors otherwise.
Result<std::vector<NodeProfile>> ProfileInt8Session(Session& session, std::span<const float> input,
                                                    int runs);

}  // namespace edgevision::engine
