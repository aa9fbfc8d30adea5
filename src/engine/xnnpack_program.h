// Internal to the XNNPACK backend: the compiled program every Session of a
// model shares. BuildProgram decides how each node executes (probing XNNPACK
// for parameters it rejects), places channel-concat inputs in their concat's
// buffer, aliases Reshapes, and plans the activation arena by liveness.
//
// Thread-safety: a Program is immutable after BuildProgram, except that its
// model frees the weights only Session creation reads in
// ReleaseSessionCreationData (engine/backend.h: not while a Session is
// being created).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "core/status.h"
#include "engine/xnnpack_backend.h"
#include "engine/winograd.h"
#include "engine/xnnpack_ops.h"
#include "graph/graph.h"

namespace edgevision::engine::xnnpack_internal {

// Where a value lives at run time: `offset` floats into the session's arena
// (or into Program::constants), rows of the last dimension `row_stride`
// floats apart. row_stride > last dimension only for values produced in
// place into a channel concat.
struct Location {
  bool constant = false;
  size_t offset = 0;
  size_t row_stride = 1;
};

// A kWinograd node's transforms and the arena scratch they use while the node
// runs: V (the transformed input) at v_offset, M (the products) at m_offset,
// each for band_tiles tiles. The node runs band by band, so that V and M of
// a band stay in the core's cache (kWinogradBandBytes).
struct WinogradStep {
  WinogradShape shape;
  size_t band_tiles = 0;
  size_t v_offset = 0;
  size_t m_offset = 0;
  // The 16 products on our GEMM (one PointwiseGemm per transformed position,
  // the same sums in the same order as XNNPACK's grouped convolution) instead
  // of an XNNPACK operator: the weights are packed once per model
  // (PackWinogradGemm: Program::extra_weights from gemm_offset on, position
  // k's block at k * point_floats, then the bias).
  bool gemm_products = false;
  size_t point_floats = 0;
  // With gemm_products: the tiles are split into `slots` ranges
  // (WinogradSlotTiles, one per thread of the Sessions), each run band by
  // band in its own V and M (slot s's V at v_offset + s * slot_floats, its M
  // m_offset - v_offset floats after it): one fork-join per layer.
  size_t slots = 1;
  size_t slot_floats = 0;
};

// A kBandedConv node: the convolution and the max pool after it run band by
// band of pool output rows, so the convolution's output exists only one band
// at a time, in arena scratch at `scratch_offset` (`conv_rows` rows). Every
// band has the same height (XNNPACK then reuses its indirection buffers and
// only offsets the pointers); the last band starts at `pool_rows_total -
// pool_rows`, recomputing rows the band before wrote with the same values.
// Bands overlap by (pool kernel - pool stride) convolution rows, computed
// twice. Used where the whole output would be at least kBandedConvMinBytes
// (see BuildProgram): SqueezeNet's first convolution (113x113x64, 3.1 MiB).
struct BandStep {
  size_t pool_node = 0;
  size_t pool_rows = 0;        // pool output rows per band
  size_t pool_rows_total = 0;  // of the whole output
  size_t conv_rows = 0;        // convolution output rows per band
  size_t input_rows = 0;       // convolution input rows per band
  size_t scratch_offset = 0;   // floats into the arena
};

// A kBlock node (engine/inverted_residual.h): an inverted-residual block
// that starts at this node, its expansion 1x1 convolution (or its depthwise
// convolution when it has none), then `depthwise` and `projection` (exec
// kFused), each with its fused epilogue, if any (Program::fused_epilogue).
// The expanded tensor and the depthwise output have no buffers: each band of
// output rows keeps the rows it needs in its own `band_floats` of scratch
// from scratch_offset on, live while the node runs.
struct BlockStep {
  int depthwise = -1;
  int projection = -1;
  bool conv_stem = false;  // the first node runs on the conv GEMM (else a 1x1, or none)
  size_t group_rows = 0;  // depthwise output rows computed at a time
  size_t ring_rows = 0;   // expanded rows held
  size_t bands = 1;           // of output rows (tasks on the thread pool), each with its scratch
  size_t band_floats = 0;
  size_t scratch_offset = 0;  // floats into the arena
};

// A kPointwiseGemm node split by output channels into parts, one task each
// (SplitChannels in engine/xnnpack_fusion.h): part p computes channels
// [begin[p], begin[p + 1]) with its own packed weights and bias, from
// gemm_offset + offset[p] floats into Program::extra_weights. Empty: split
// by rows. `depthwise`: the kDepthwise node (exec kFused) that alone reads
// its output, run in the same task on the part's channels (every row: the
// channels are independent), else -1: the expanded rows never cross to the
// other core before the depthwise layer reads them, and the pair costs one
// fork-join.
struct ChannelParts {
  std::vector<size_t> begin;   // parts + 1 channel boundaries
  std::vector<size_t> offset;  // per part
  int depthwise = -1;
};

struct Program {
  graph::Graph graph;  // a private copy (see BuildProgram); Sessions read their constants from here
  std::vector<Exec> exec;                         // per node
  // Per node: the weights CreateNodeOperator gets as `extra_weights`
  // (kDepthwiseAvgPool: the averaging kernel; not kWinograd, whose U each
  // Session makes while creating its operator: WinogradKernel), or
  // kPointwiseGemm's and kConvGemm's packed weights and bias
  // (read at run time, shared by every Session), kDepthwise's (PackDepthwise);
  // empty for other nodes.
  std::vector<std::vector<float>> extra_weights;
  // Per node; kPointwiseGemm, kConvGemm, kDepthwise: where in extra_weights[i]
  // the packed weights start (floats): the first kGemmWeightAlignBytes boundary. (A
  // Program is never copied: the vectors' buffers keep their addresses.)
  std::vector<size_t> gemm_offset;
  std::vector<WinogradStep> winograd;             // per node; kWinograd only
  std::vector<BandStep> bands;                    // per node; kBandedConv only
  // Per node; kConvGemm: the MaxPool2D node (exec kFused) that reads only its
  // output and that it computes too (ConvGemmMaxPool), else -1. Its output
  // then has no buffer: its rows pass through rings of the pooling's height
  // in the arena at ring_offset (one per thread), live while the node runs.
  std::vector<int> fused_pool;
  std::vector<size_t> ring_offset;
  // Per node; kDepthwise: the HardSwish node, kPointwiseGemm and kConvGemm
  // without a fused pool: the HardSwish or residual Add node (exec kFused)
  // that is the only reader of its output and that it computes too in its
  // epilogue, else -1. Its output then has no buffer: the node writes the
  // fused node's output.
  std::vector<int> fused_epilogue;
  std::vector<BlockStep> blocks;  // per node; kBlock only
  std::vector<ChannelParts> channel_parts;  // per node; kPointwiseGemm only
  // Per node; kPointwiseGemm: the Mul node (exec kFused) that alone feeds
  // its input, multiplying a tensor by a per-channel factor computed before
  // (MobileNetV3's squeeze-excite), else -1; the GEMM then reads the Mul's
  // operands (PointwiseGemmScaledTile; which one holds the factors:
  // ScaleOperand) and the Mul's output has no buffer (FusedInputScale).
  std::vector<int> scaled_input;
  std::vector<float> zeros;  // kWinograd, kConvGemm, kDepthwise: padding (>= widest input, then a tail)
  std::vector<std::vector<size_t>> concat_copies;   // per node; kConcat: inputs to copy
  // Per node; binary ops with BroadcastWidening() > 0: their constant operand
  // tiled that many times (then XNN_EXTRA_BYTES of zeros).
  std::vector<std::vector<float>> wide_constants;
  std::vector<Location> locations;                  // per value; set for values nodes use
  std::vector<float> constants;  // data operands of XNNPACK operators, readable past the end
  size_t arena_floats = 0;       // without the XNN_EXTRA_BYTES tail
  XnnpackPlanStats stats;
};

// (ScaleOperand and FusedInputScale are defined in xnnpack_fusion.cc, beside
// the fusion they describe.)
// Which input of `mul` (a Mul node) holds per-channel factors that scale
// its other input, a tensor of the Mul's output shape, both computed (not
// constants): 0 or 1 (0 where both would do), else -1. A function of the
// graph's shapes, so a Program's graph copy gives the same answer.
int ScaleOperand(const graph::Graph& graph, const graph::Node& mul);

// Whether node `i` is a squeeze-excite Mul computed in the input read of
// the 1x1 convolution that alone reads it (Program::scaled_input): it has
// no work and no output buffer of its own.
bool FusedInputScale(const graph::Graph& graph, const Program& p, size_t i);

// Plans `graph` into a Program for Sessions. `threads`: the Sessions' thread
// count (with more than one, the pointwise GEMM takes only convolutions with a fused epilogue; see PointwiseGemmEligible). `xnnpack_only`:
// EngineOptions::xnnpack_only. `winograd_gemm` false: a Winograd
// convolution keeps its products on XNNPACK (WinogradEligible's path) even
// where our GEMM would run them (WinogradGemmEligible), for tests comparing
// the two; the backend always passes true.
// Precondition: CheckExecutableGraph(graph) succeeded and XNNPACK is initialised.
// Errors: ResourceExhausted when probing runs out of memory, Internal on a
// planning invariant that does not hold.
// The Program's graph is a copy of `graph` that holds only the constants
// ConstantsSessionsRead(creating) lists (engine/xnnpack_constants.h); the others keep their shape and an
// empty payload.
// Returned non-const for the model that owns it (ReleaseSessionCreationData);
// Sessions get it const.
Result<std::shared_ptr<Program>> BuildProgram(const graph::Graph& graph, int threads,
                                              bool xnnpack_only = false, bool winograd_gemm = true);

}  // namespace edgevision::engine::xnnpack_internal
