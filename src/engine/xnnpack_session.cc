#include "engine/xnnpack_session.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "engine/conv_taps.h"
#include "engine/depthwise_conv.h"
#include "engine/kernel_calls.h"
#include "engine/pointwise_gemm.h"
#include "engine/reference_kernels.h"
#include "engine/winograd.h"
#include "engine/xnnpack_constants.h"
#include "engine/xnnpack_ops.h"

namespace edgevision::engine {

namespace xnnpack_internal {

namespace {

using graph::Node;
using graph::Op;
using graph::ValueId;

constexpr size_t kArenaAlignment = 64;

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using ArenaPtr = std::unique_ptr<float, FreeDeleter>;

size_t LastDim(const graph::Shape& s) {
  return s.empty() ? 1 : static_cast<size_t>(s.back());
}

Status XnnError(const Node& node, const char* what, xnn_status status) {
  std::string message = "node '" + node.name + "' (" + std::string(graph::OpName(node.op)) +
                        "): " + what + " failed: " + std::string(XnnStatusName(status));
  if (status == xnn_status_out_of_memory) return ResourceExhausted(std::move(message));
  return Internal(std::move(message));
}

// Pure data movement (concat copies, channel shuffles, channel slices) runs
// on the calling thread even with a thread pool: XNNPACK splits it per pixel
// row, and on 2 cores the fork-join cost more than the second thread gained
// (the Docker 2.2 export's 13 concat copies took 3x longer on 2 threads).
bool RunsSerially(const Node& node) {
  return node.op == Op::kConcat || node.op == Op::kChannelShuffle || node.op == Op::kSlice;
}

// A kWinograd node's buffers, bound once per Session; `first` is the band's
// first tile.
struct WinogradCall {
  const WinogradStep* step = nullptr;
  size_t first = 0;
  const float* x = nullptr;
  const float* zeros = nullptr;
  float* v = nullptr;
  const float* m = nullptr;
  const float* bias = nullptr;  // may be null
  float lo = 0, hi = 0;
  float* y = nullptr;
};

// Tiles per task of a transform on the thread pool.
constexpr size_t kWinogradTilesPerTask = 8;

// Tasks get tiles [begin, begin + count) of the band.
void WinogradInputTask(void* context, size_t begin, size_t count) {
  const auto& c = *static_cast<const WinogradCall*>(context);
  begin += c.first;
  WinogradTransformInput(c.step->shape, c.x, c.zeros, c.first, begin,
                                           begin + count, c.v);
}

void WinogradOutputTask(void* context, size_t begin, size_t count) {
  const auto& c = *static_cast<const WinogradCall*>(context);
  begin += c.first;
  WinogradTransformOutput(c.step->shape, c.m, c.first, c.bias, c.lo, c.hi,
                                            begin, begin + count, c.y);
}

// A kBandedConv node's operators and buffers, bound once per Session: `op`
// (the Action's) is the convolution over one band of input rows into
// `scratch`, `pool` the max pool over `scratch`.
struct BandCall {
  const BandStep* step = nullptr;
  XnnOperator pool;
  const float* x = nullptr;
  size_t x_row_floats = 0;  // one input row: width * row stride
  float* scratch = nullptr;
  size_t conv_width = 0;
  size_t input_width = 0;
  float* y = nullptr;
  size_t y_row_floats = 0;  // one pool output row: width * row stride
  size_t pool_stride_h = 0;
  size_t conv_stride_h = 0;
};

// One unit of run-time work: an XNNPACK operator, or a reference kernel.
// kWinograd: `op` is the grouped convolution between the two transforms.
struct Action {
  size_t node = 0;  // index in the graph, for profiles
  bool serial = false;  // run without the thread pool (RunsSerially)
  XnnOperator op;
  bool winograd = false;
  WinogradCall winograd_call;
  bool winograd_gemm = false;  // WinogradStep::gemm_products
  WinogradGemmCall winograd_gemm_call;
  size_t winograd_setup_tiles = 0;  // the band size `op` is set up for
  bool banded = false;
  BandCall band;
  bool gemm = false;
  PointwiseGemmCall gemm_call;
  bool conv_gemm = false;
  ConvGemmCall conv_gemm_call;
  bool depthwise = false;
  DepthwiseCall depthwise_call;
  bool block = false;
  BlockCall block_call;
  const Node* reference_node = nullptr;
  std::vector<const float*> reference_inputs;
  float* reference_output = nullptr;
};

class XnnpackSession final : public Session {
 public:
  XnnpackSession(std::shared_ptr<const Program> program, std::shared_ptr<WeightRegistry> weights,
                 ThreadPool pool, ArenaPtr arena)
      : program_(std::move(program)),
        weights_(std::move(weights)),
        pool_(std::move(pool)),
        arena_(std::move(arena)) {
    const graph::Graph& g = program_->graph;
    input_ = Pointer(g.inputs[0]);
    output_ = Pointer(g.outputs[0]);
    input_size_ = static_cast<size_t>(graph::ShapeProduct(g.values[g.inputs[0]].shape));
    output_size_ = static_cast<size_t>(graph::ShapeProduct(g.values[g.outputs[0]].shape));
  }
  XnnpackSession(const XnnpackSession&) = delete;
  XnnpackSession& operator=(const XnnpackSession&) = delete;

  // Creates and binds every operator; called once, before the first Run().
  Status Prepare() {
    const graph::Graph& g = program_->graph;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& node = g.nodes[i];
      switch (program_->exec[i]) {
        case Exec::kXnnpack:
        case Exec::kDepthwiseAvgPool: EV_RETURN_IF_ERROR(PrepareOperator(i)); break;
        case Exec::kWinograd: EV_RETURN_IF_ERROR(PrepareWinograd(i)); break;
        case Exec::kPointwiseGemm: PreparePointwiseGemm(i); break;
        case Exec::kBandedConv: EV_RETURN_IF_ERROR(PrepareBandedConv(i)); break;
        case Exec::kInBand: break;  // its kBandedConv node runs it
        case Exec::kConvGemm: PrepareConvGemm(i); break;
        case Exec::kDepthwise: PrepareDepthwise(i); break;
        case Exec::kBlock: PrepareBlock(i); break;
        case Exec::kConcat: EV_RETURN_IF_ERROR(PrepareConcatCopies(i)); break;
        case Exec::kReference: {
          Action action;
          action.node = i;
          action.reference_node = &node;
          for (ValueId v : node.inputs) {
            action.reference_inputs.push_back(v == graph::kNoValue      ? nullptr
                                              : g.values[v].is_constant ? g.values[v].f32.data()
                                                                        : Pointer(v));
          }
          action.reference_output = Pointer(node.outputs[0]);
          actions_.push_back(std::move(action));
          break;
        }
        case Exec::kAlias:
        case Exec::kView:
        case Exec::kFused: break;
      }
    }
    return Status::Ok();
  }

  Status Run(std::span<const float> input, std::span<float> output) override {
    if (input.size() != input_size_ || output.size() != output_size_) {
      return InvalidArgument("XNNPACK session: got " + std::to_string(input.size()) +
                             " input and " + std::to_string(output.size()) +
                             " output floats, the model takes " + std::to_string(input_size_) +
                             " and gives " + std::to_string(output_size_));
    }
    if (input.data() != input_) std::memcpy(input_, input.data(), input_size_ * sizeof(float));
    for (Action& action : actions_) EV_RETURN_IF_ERROR(RunAction(action));
    std::memcpy(output.data(), output_, output_size_ * sizeof(float));
    return Status::Ok();
  }

  std::span<float> input_buffer() override { return {input_, input_size_}; }

  Result<std::vector<NodeProfile>> Profile(std::span<const float> input, int runs) {
    EV_RETURN_IF_ERROR(CheckProfileRequest(input.size(), input_size_, runs));
    const graph::Graph& g = program_->graph;
    std::vector<double> seconds(g.nodes.size(), 0.0);
    std::vector<bool> ran(g.nodes.size(), false);
    for (int r = 0; r < runs; ++r) {
      std::memcpy(input_, input.data(), input_size_ * sizeof(float));
      for (Action& action : actions_) {
        double pool_seconds = 0.0;  // a banded node's max pool, listed as its own node
        const auto start = std::chrono::steady_clock::now();
        EV_RETURN_IF_ERROR(action.banded ? RunBanded(action, &pool_seconds) : RunAction(action));
        seconds[action.node] +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() - pool_seconds;
        ran[action.node] = true;
        if (action.banded) {
          seconds[action.band.step->pool_node] += pool_seconds;
          ran[action.band.step->pool_node] = true;
        }
      }
    }
    std::vector<NodeProfile> profile;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (!ran[i]) continue;
      NodeProfile p;
      p.node = g.nodes[i].name;
      p.op = std::string(graph::OpName(g.nodes[i].op));
      if (program_->exec[i] == Exec::kReference) p.op += " (reference)";
      if (program_->exec[i] == Exec::kConcat) p.op += " (copy)";
      if (program_->exec[i] == Exec::kWinograd) p.op += " (winograd)";
      if (program_->exec[i] == Exec::kBandedConv || program_->exec[i] == Exec::kInBand) p.op += " (row bands)";
      for (int f : {program_->fused_pool[i], program_->fused_epilogue[i]}) {
        if (f >= 0) p.absorbed.push_back(g.nodes[static_cast<size_t>(f)].name);
      }
      if (program_->exec[i] == Exec::kBlock) {
        const BlockStep& step = program_->blocks[i];
        for (int member : {step.depthwise, step.projection}) {
          if (member != static_cast<int>(i)) p.absorbed.push_back(g.nodes[static_cast<size_t>(member)].name);
          const int f = program_->fused_epilogue[static_cast<size_t>(member)];
          if (f >= 0) p.absorbed.push_back(g.nodes[static_cast<size_t>(f)].name);
        }
        p.op += step.depthwise == static_cast<int>(i) ? " (depthwise + 1x1 in row bands)"
                : step.conv_stem                       ? " (conv + depthwise + 1x1 in row bands)"
                                                       : " (1x1 + depthwise + 1x1 in row bands)";
      }
      if (program_->exec[i] == Exec::kDepthwise) {
        p.op += program_->fused_epilogue[i] >= 0 ? " (depthwise + HardSwish)" : " (depthwise)";
      }
      if (program_->exec[i] == Exec::kPointwiseGemm || program_->exec[i] == Exec::kConvGemm) {
        const int fused = program_->fused_pool[i] >= 0 ? program_->fused_pool[i] : program_->fused_epilogue[i];
        std::string gemm = program_->scaled_input[i] >= 0 ? "Mul + gemm" : "gemm";
        if (program_->exec[i] == Exec::kPointwiseGemm && !program_->channel_parts[i].offset.empty()) {
          gemm += " by channels";
          const int d = program_->channel_parts[i].depthwise;
          if (d >= 0) {
            gemm += " + depthwise";
            p.absorbed.push_back(g.nodes[static_cast<size_t>(d)].name);
            const int f = program_->fused_epilogue[static_cast<size_t>(d)];
            if (f >= 0) p.absorbed.push_back(g.nodes[static_cast<size_t>(f)].name);
          }
        }
        p.op += fused >= 0 ? " (" + gemm + " + " + std::string(graph::OpName(g.nodes[fused].op)) + ")"
                           : " (" + gemm + ")";
      }
      p.microseconds = seconds[i] * 1e6 / runs;
      profile.push_back(std::move(p));
    }
    return profile;
  }

 private:
  // Products on XNNPACK: band by band, input transform, the products,
  // output transform (each on the pool).
  Status RunWinograd(Action& action) {
    WinogradCall& c = action.winograd_call;
    const size_t tiles = c.step->shape.tiles();
    for (size_t first = 0; first < tiles; first += c.step->band_tiles) {
      const size_t count = std::min(c.step->band_tiles, tiles - first);
      c.first = first;
      if (count != action.winograd_setup_tiles) {
        const xnn_status status = xnn_setup_convolution2d_nhwc_f32(
            action.op.get(), 1, 1, count, c.v, const_cast<float*>(c.m), pool_.get());
        if (status != xnn_status_success) {
          return XnnError(program_->graph.nodes[action.node], "setting up a band", status);
        }
        action.winograd_setup_tiles = count;
      }
      pthreadpool_parallelize_1d_tile_1d(pool_.get(), WinogradInputTask, &c, count,
                                         kWinogradTilesPerTask, 0);
      const xnn_status status = xnn_run_operator(action.op.get(), pool_.get());
      if (status != xnn_status_success) {
        return XnnError(program_->graph.nodes[action.node], "xnn_run_operator", status);
      }
      pthreadpool_parallelize_1d_tile_1d(pool_.get(), WinogradOutputTask, &c, count,
                                         kWinogradTilesPerTask, 0);
    }
    return Status::Ok();
  }

  // Band by band: the convolution's rows the band's pool rows read, then
  // the pool. Heights never change, so setting up only moves pointers.
  // `pool_seconds` (profiles only): adds the time spent in the pool.
  Status RunBanded(Action& action, double* pool_seconds = nullptr) {
    BandCall& c = action.band;
    const BandStep& b = *c.step;
    const graph::Graph& g = program_->graph;
    for (size_t first = 0; first < b.pool_rows_total; first += b.pool_rows) {
      const size_t q = std::min(first, b.pool_rows_total - b.pool_rows);
      const size_t input_row = q * c.pool_stride_h * c.conv_stride_h;
      xnn_status status = xnn_setup_convolution2d_nhwc_f32(
          action.op.get(), 1, b.input_rows, c.input_width, c.x + input_row * c.x_row_floats,
          c.scratch, pool_.get());
      if (status == xnn_status_success) status = xnn_run_operator(action.op.get(), pool_.get());
      if (status != xnn_status_success) return XnnError(g.nodes[action.node], "a band's convolution", status);
      const auto pool_start =
          pool_seconds ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
      status = xnn_setup_max_pooling2d_nhwc_f32(c.pool.get(), 1, b.conv_rows, c.conv_width, c.scratch,
                                                c.y + q * c.y_row_floats, pool_.get());
      if (status == xnn_status_success) status = xnn_run_operator(c.pool.get(), pool_.get());
      if (status != xnn_status_success) return XnnError(g.nodes[b.pool_node], "a band's max pool", status);
      if (pool_seconds) {
        *pool_seconds +=
            std::chrono::duration<double>(std::chrono::steady_clock::now() - pool_start).count();
      }
    }
    return Status::Ok();
  }

  Status RunAction(Action& action) {
    if (action.winograd) return RunWinograd(action);
    if (action.winograd_gemm) {
      RunWinogradGemm(action.winograd_gemm_call, pool_.get());
      return Status::Ok();
    }
    if (action.banded) return RunBanded(action);
    if (action.gemm) {
      RunPointwiseGemm(action.gemm_call, pool_.get());
      return Status::Ok();
    }
    if (action.conv_gemm) {
      RunConvGemm(action.conv_gemm_call, pool_.get());
      return Status::Ok();
    }
    if (action.depthwise) {
      RunDepthwise(action.depthwise_call, pool_.get());
      return Status::Ok();
    }
    if (action.block) {
      RunBlock(action.block_call, pool_.get());
      return Status::Ok();
    }
    if (action.op) {
      const xnn_status status = xnn_run_operator(action.op.get(), action.serial ? nullptr : pool_.get());
      if (status != xnn_status_success) {
        return Internal("node '" + program_->graph.nodes[action.node].name +
                        "': xnn_run_operator failed: " + std::string(XnnStatusName(status)));
      }
      return Status::Ok();
    }
    return reference::RunNode(program_->graph, *action.reference_node, action.reference_inputs,
                              action.reference_output);
  }

  float* Pointer(ValueId v) const {
    const Location& loc = program_->locations[v];
    if (loc.constant) return const_cast<float*>(program_->constants.data()) + loc.offset;
    return arena_.get() + loc.offset;
  }

  Status PrepareOperator(size_t i) {
    const graph::Graph& g = program_->graph;
    const Node& node = g.nodes[i];
    const Exec exec = program_->exec[i];
    OpStrides strides;
    strides.input = program_->locations[node.inputs[0]].row_stride;
    strides.output = program_->locations[node.outputs[0]].row_stride;
    if (node.op == Op::kFullyConnected) {
      const auto k = static_cast<size_t>(g.values[node.inputs[1]].shape[1]);
      if (LastDim(g.values[node.inputs[0]].shape) != k) strides.input = k;  // flattened, dense
    }
    Action action;
    action.node = i;
    action.serial = RunsSerially(node);
    pthreadpool_t pool = action.serial ? nullptr : pool_.get();
    xnn_status status;
    {
      AllocationRecording recording;
      status = CreateNodeOperator(g, node, exec, strides, program_->extra_weights[i].data(),
                                                    &action.op);
      if (status == xnn_status_success) weights_->AfterCreate(i, action.op.get(), recording);
    }
    if (status != xnn_status_success) return XnnError(node, "creating the operator", status);
    const bool binary =
        node.op == Op::kAdd || node.op == Op::kSub || node.op == Op::kMul || node.op == Op::kDiv;
    const std::vector<float>& wide = program_->wide_constants[i];
    status = SetupNodeOperator(
        g, node, exec, action.op.get(), Pointer(node.inputs[0]),
        binary ? Pointer(node.inputs[1]) : nullptr, Pointer(node.outputs[0]), pool,
        wide.empty() ? nullptr : wide.data());
    if (status != xnn_status_success) return XnnError(node, "setting up the operator", status);
    actions_.push_back(std::move(action));
    return Status::Ok();
  }

  // With our products (WinogradStep::gemm_products): the call over the
  // node's scratch. Else the grouped 1x1 convolution over the tiles (packed
  // from U, shared like any operator's weights), bound to the scratch.
  Status PrepareWinograd(size_t i) {
    const graph::Graph& g = program_->graph;
    const Node& node = g.nodes[i];
    const WinogradStep& step = program_->winograd[i];
    Action action;
    action.node = i;
    if (step.gemm_products) {
      action.winograd_gemm = true;
      WinogradGemmCall& c = action.winograd_gemm_call;
      c.shape = &step.shape;
      c.x = Pointer(node.inputs[0]);
      c.zeros = program_->zeros.data();
      c.packed = program_->extra_weights[i].data() + program_->gemm_offset[i];
      c.point_floats = step.point_floats;
      c.bias = c.packed + kWinogradPoints * step.point_floats;
      c.lo = node.attrs.act_min;
      c.hi = node.attrs.act_max;
      c.y = Pointer(node.outputs[0]);
      c.scratch = arena_.get() + step.v_offset;
      c.slot_floats = step.slot_floats;
      c.m_offset = step.m_offset - step.v_offset;
      c.band_tiles = step.band_tiles;
      c.slots = step.slots;
      actions_.push_back(std::move(action));
      return Status::Ok();
    }
    action.winograd = true;
    WinogradCall& c = action.winograd_call;
    c.step = &step;
    c.x = Pointer(node.inputs[0]);
    c.zeros = program_->zeros.data();
    c.v = arena_.get() + step.v_offset;
    c.m = arena_.get() + step.m_offset;
    c.lo = node.attrs.act_min;
    c.hi = node.attrs.act_max;
    c.y = Pointer(node.outputs[0]);
    xnn_status status;
    {
      const std::vector<float> u = WinogradKernel(g, node);  // packed by the operator, then dropped
      AllocationRecording recording;
      status = CreateNodeOperator(g, node, Exec::kWinograd, {}, u.data(), &action.op);
      if (status == xnn_status_success) weights_->AfterCreate(i, action.op.get(), recording);
    }
    if (status != xnn_status_success) return XnnError(node, "creating the operator", status);
    status = xnn_setup_convolution2d_nhwc_f32(action.op.get(), 1, 1, step.band_tiles, c.v,
                                              const_cast<float*>(c.m), pool_.get());
    if (status != xnn_status_success) return XnnError(node, "setting up the operator", status);
    action.winograd_setup_tiles = step.band_tiles;
    const bool has_bias = node.inputs.size() > 2 && node.inputs[2] != graph::kNoValue;
    c.bias = has_bias ? g.values[node.inputs[2]].f32.data() : nullptr;
    actions_.push_back(std::move(action));
    return Status::Ok();
  }

  // The convolution and its max pool, each created as for the whole
  // tensors (the same packed weights) but set up for one band.
  Status PrepareBandedConv(size_t i) {
    const graph::Graph& g = program_->graph;
    const Node& conv = g.nodes[i];
    const BandStep& step = program_->bands[i];
    const Node& pool = g.nodes[step.pool_node];
    const graph::Shape& xs = g.values[conv.inputs[0]].shape;
    const graph::Shape& ys = g.values[conv.outputs[0]].shape;
    const graph::Shape& ps = g.values[pool.outputs[0]].shape;
    const size_t channels = LastDim(ys);
    Action action;
    action.node = i;
    action.banded = true;
    BandCall& c = action.band;
    c.step = &step;
    c.x = Pointer(conv.inputs[0]);
    c.input_width = static_cast<size_t>(xs[2]);
    c.x_row_floats = c.input_width * program_->locations[conv.inputs[0]].row_stride;
    c.scratch = arena_.get() + step.scratch_offset;
    c.conv_width = static_cast<size_t>(ys[2]);
    c.y = Pointer(pool.outputs[0]);
    c.y_row_floats = static_cast<size_t>(ps[2]) * program_->locations[pool.outputs[0]].row_stride;
    c.pool_stride_h = static_cast<size_t>(pool.attrs.stride_h);
    c.conv_stride_h = static_cast<size_t>(conv.attrs.stride_h);
    OpStrides conv_strides{program_->locations[conv.inputs[0]].row_stride, channels};
    OpStrides pool_strides{channels, program_->locations[pool.outputs[0]].row_stride};
    xnn_status status;
    {
      AllocationRecording recording;
      status = CreateNodeOperator(g, conv, Exec::kXnnpack, conv_strides,
                                                    program_->extra_weights[i].data(), &action.op);
      if (status == xnn_status_success) weights_->AfterCreate(i, action.op.get(), recording);
    }
    if (status != xnn_status_success) return XnnError(conv, "creating the operator", status);
    status = CreateNodeOperator(g, pool, Exec::kXnnpack, pool_strides, nullptr, &c.pool);
    if (status != xnn_status_success) return XnnError(pool, "creating the operator", status);
    // Set up for the first band here: the indirection buffers are built for
    // these heights once; RunBanded's setups only move the pointers.
    status = xnn_setup_convolution2d_nhwc_f32(action.op.get(), 1, step.input_rows, c.input_width, c.x,
                                              c.scratch, pool_.get());
    if (status != xnn_status_success) return XnnError(conv, "setting up the operator", status);
    status = xnn_setup_max_pooling2d_nhwc_f32(c.pool.get(), 1, step.conv_rows, c.conv_width, c.scratch,
                                              c.y, pool_.get());
    if (status != xnn_status_success) return XnnError(pool, "setting up the operator", status);
    actions_.push_back(std::move(action));
    return Status::Ok();
  }

  // Node i's pointwise GEMM: its input, weights and output (or its fused
  // epilogue's).
  PointwiseGemmArgs GemmArgsOf(size_t i) const {
    const graph::Graph& g = program_->graph;
    const Node& node = g.nodes[i];
    const graph::Shape& xs = g.values[node.inputs[0]].shape;
    PointwiseGemmArgs a;
    a.k = LastDim(xs);  // NHWC, or a FullyConnected's [batch, k]
    a.m = static_cast<size_t>(graph::ShapeProduct(xs)) / a.k;
    a.n = LastDim(g.values[node.outputs[0]].shape);
    const int mul = program_->scaled_input[i];  // a fused Mul: read its operands
    const int factors = mul >= 0 ? ScaleOperand(g, g.nodes[mul]) : -1;
    const ValueId in = mul >= 0 ? g.nodes[mul].inputs[1 - factors] : node.inputs[0];
    a.a = Pointer(in);
    a.lda = program_->locations[in].row_stride;
    if (mul >= 0) a.a_scale = Pointer(g.nodes[mul].inputs[factors]);
    a.packed = program_->extra_weights[i].data() + program_->gemm_offset[i];
    a.out = GemmOutputOf(i);
    return a;
  }

  void PreparePointwiseGemm(size_t i) {
    Action action;
    action.node = i;
    action.gemm = true;
    PointwiseGemmCall& c = action.gemm_call;
    PointwiseGemmArgs& a = c.args;
    a = GemmArgsOf(i);
    c.pixels_outer = a.m * a.k * sizeof(float) >= kGemmPixelsOuterBytes;
    c.threads = pool_ ? pthreadpool_get_threads_count(pool_.get()) : 1;
    const size_t tiles = (a.m + kGemmTileRows - 1) / kGemmTileRows;
    const size_t tasks = c.threads * kPointwiseTasksPerThread;
    c.rows_per_task = std::max<size_t>(1, (tiles + tasks - 1) / tasks) * kGemmTileRows;
    const ChannelParts& split = program_->channel_parts[i];
    for (size_t part = 0; part < split.offset.size(); ++part) {  // a.packed is not a whole pack then
      const size_t c0 = split.begin[part];
      PointwiseGemmArgs sub = a;
      sub.n = split.begin[part + 1] - c0;
      sub.packed = program_->extra_weights[i].data() + program_->gemm_offset[i] + split.offset[part];
      sub.out.c += c0;
      if (sub.out.residual) sub.out.residual += c0;
      c.parts.push_back(sub);
      if (split.depthwise < 0) continue;
      DepthwiseArgs d = DepthwiseArgsOf(static_cast<size_t>(split.depthwise));
      d.x += c0;
      d.y += c0;
      d.packed += c0 / kDepthwiseTileChannels * (1 + d.kernel_h * d.kernel_w) * kDepthwiseTileChannels;
      d.channels = sub.n;
      c.depthwise_parts.push_back(d);
    }
    actions_.push_back(std::move(action));
  }

  // The expansion (unless the block starts at its depthwise convolution),
  // the depthwise convolution and the projection of kBlock node i.
  void PrepareBlock(size_t i) {
    const graph::Graph& g = program_->graph;
    const BlockStep& step = program_->blocks[i];
    const auto d = static_cast<size_t>(step.depthwise);
    Action action;
    action.node = i;
    action.block = true;
    BlockCall& c = action.block_call;
    InvertedResidualArgs& b = c.args;
    b.expand = d != i;
    DepthwiseArgs& dw = b.depthwise;
    SetConvGeometry(d, dw);
    dw.channels = static_cast<size_t>(g.values[g.nodes[d].inputs[0]].shape[3]);
    b.conv_stem = step.conv_stem;
    if (b.conv_stem) {
      b.stem = ConvGemmArgsOf(i);
      b.stem.out.c = nullptr;  // rows go to the ring
      b.stem.out.ldc = dw.channels;
    } else if (b.expand) {
      b.expansion = GemmArgsOf(i);
    }
    dw.lo = g.nodes[d].attrs.act_min;
    dw.hi = g.nodes[d].attrs.act_max;
    dw.hardswish = program_->fused_epilogue[d] >= 0;
    b.projection = GemmArgsOf(static_cast<size_t>(step.projection));
    b.group_rows = step.group_rows;
    b.ring_rows = step.ring_rows;
    c.scratch = arena_.get() + step.scratch_offset;
    c.band_floats = step.band_floats;
    c.bands = step.bands;
    actions_.push_back(std::move(action));
  }

  // The window, strides, input, output size, padding buffer and packed
  // weights of convolution node i, fields ConvGemmArgs and DepthwiseArgs share.
  template <typename Args>
  void SetConvGeometry(size_t i, Args& a) const {
    const graph::Graph& g = program_->graph;
    const Node& node = g.nodes[i];
    SetWindowGeometry(g, node, &a);
    a.in_stride = program_->locations[node.inputs[0]].row_stride;
    a.x = Pointer(node.inputs[0]);
    a.zeros = program_->zeros.data();
    a.packed = program_->extra_weights[i].data() + program_->gemm_offset[i];
  }

  // kConvGemm node i's convolution: geometry, input, weights and output (or
  // its fused epilogue's).
  ConvGemmArgs ConvGemmArgsOf(size_t i) const {
    const graph::Graph& g = program_->graph;
    const Node& node = g.nodes[i];
    ConvGemmArgs a;
    SetConvGeometry(i, a);
    a.in_channels = static_cast<size_t>(g.values[node.inputs[0]].shape[3]);
    a.out_channels = static_cast<size_t>(g.values[node.outputs[0]].shape[3]);
    a.out = GemmOutputOf(i);
    return a;
  }

  void PrepareConvGemm(size_t i) {
    const graph::Graph& g = program_->graph;
    Action action;
    action.node = i;
    action.conv_gemm = true;
    ConvGemmArgs& a = action.conv_gemm_call.args;
    action.conv_gemm_call.bands = pool_ ? pthreadpool_get_threads_count(pool_.get()) : 1;
    a = ConvGemmArgsOf(i);
    if (program_->fused_pool[i] >= 0) {
      const Node& pool_node = g.nodes[program_->fused_pool[i]];
      MaxPoolGeometry& pool = action.conv_gemm_call.pool;
      pool = MaxPoolGeometryOf(g, pool_node, Pointer(pool_node.outputs[0]),
                               program_->locations[pool_node.outputs[0]].row_stride);
      a.out.c = nullptr;  // rows go to the ring
      a.out.ldc = a.out_channels;
      action.conv_gemm_call.rings = arena_.get() + program_->ring_offset[i];
      action.conv_gemm_call.ring_floats = pool.kernel_h * a.out_w * a.out_channels;
    }
    actions_.push_back(std::move(action));
  }

  void PrepareDepthwise(size_t i) {
    Action action;
    action.node = i;
    action.depthwise = true;
    action.depthwise_call.threads = pool_ ? pthreadpool_get_threads_count(pool_.get()) : 1;
    action.depthwise_call.args = DepthwiseArgsOf(i);
    actions_.push_back(std::move(action));
  }

  // kDepthwise node i (or one paired with its expansion): geometry, input,
  // weights and output (or its fused HardSwish's).
  DepthwiseArgs DepthwiseArgsOf(size_t i) const {
    const graph::Graph& g = program_->graph;
    const Node& node = g.nodes[i];
    DepthwiseArgs a;
    SetConvGeometry(i, a);
    a.channels = static_cast<size_t>(g.values[node.inputs[0]].shape[3]);
    a.lo = node.attrs.act_min;
    a.hi = node.attrs.act_max;
    const int hardswish = program_->fused_epilogue[i];
    const ValueId out = hardswish >= 0 ? g.nodes[hardswish].outputs[0] : node.outputs[0];
    a.hardswish = hardswish >= 0;
    a.y = Pointer(out);
    a.out_stride = program_->locations[out].row_stride;
    return a;
  }

  // Node i's output, or that of the HardSwish or Add fused into it.
  GemmOutput GemmOutputOf(size_t i) const {
    const graph::Graph& g = program_->graph;
    const Node& node = g.nodes[i];
    const int fused = program_->fused_epilogue[i];
    const ValueId out = fused >= 0 ? g.nodes[fused].outputs[0] : node.outputs[0];
    GemmOutput o;
    o.c = Pointer(out);
    o.ldc = program_->locations[out].row_stride;
    o.lo = node.attrs.act_min;
    o.hi = node.attrs.act_max;
    if (fused < 0) return o;
    const Node& next = g.nodes[fused];
    o.hardswish = next.op == Op::kHardSwish;
    if (next.op == Op::kAdd) {
      const ValueId r = next.inputs[0] == node.outputs[0] ? next.inputs[1] : next.inputs[0];
      o.residual = Pointer(r);
      o.residual_stride = program_->locations[r].row_stride;
      o.add_lo = next.attrs.act_min;
      o.add_hi = next.attrs.act_max;
    }
    return o;
  }

  // One strided copy per input that was not produced in place. For a concat
  // on the last axis a row is one pixel; otherwise a row is everything from
  // the axis on, and all buffers are dense.
  Status PrepareConcatCopies(size_t i) {
    const graph::Graph& g = program_->graph;
    const Node& node = g.nodes[i];
    const graph::Shape& out_shape = g.values[node.outputs[0]].shape;
    const size_t axis = static_cast<size_t>(node.attrs.axis);
    const bool channel = axis + 1 == out_shape.size();
    size_t outer = 1;
    for (size_t d = 0; d < axis; ++d) outer *= static_cast<size_t>(out_shape[d]);
    const size_t out_row = static_cast<size_t>(graph::ShapeProduct(out_shape)) / outer;
    const size_t rows =
        channel ? static_cast<size_t>(graph::ShapeProduct(out_shape)) / LastDim(out_shape) : outer;
    std::vector<size_t> prefix(node.inputs.size(), 0);
    for (size_t k = 1; k < node.inputs.size(); ++k) {
      const graph::Shape& s = g.values[node.inputs[k - 1]].shape;
      prefix[k] = prefix[k - 1] + static_cast<size_t>(graph::ShapeProduct(s)) / outer;
    }
    for (size_t k : program_->concat_copies[i]) {
      const ValueId v = node.inputs[k];
      const size_t width = static_cast<size_t>(graph::ShapeProduct(g.values[v].shape)) / outer;
      const size_t in_stride = channel ? program_->locations[v].row_stride : width;
      const size_t out_stride = channel ? program_->locations[node.outputs[0]].row_stride : out_row;
      Action action;
      action.node = i;
      action.serial = RunsSerially(node);
      xnn_operator_t op = nullptr;
      xnn_status status = xnn_create_copy_nc_x32(width, in_stride, out_stride, 0, &op);
      action.op.reset(op);
      if (status != xnn_status_success) return XnnError(node, "creating a copy", status);
      status = xnn_setup_copy_nc_x32(action.op.get(), rows, Pointer(v),
                                     Pointer(node.outputs[0]) + prefix[k], nullptr);
      if (status != xnn_status_success) return XnnError(node, "setting up a copy", status);
      actions_.push_back(std::move(action));
    }
    return Status::Ok();
  }

  std::shared_ptr<const Program> program_;
  std::shared_ptr<WeightRegistry> weights_;
  ThreadPool pool_;  // nullptr: run on the caller's thread
  ArenaPtr arena_;
  std::vector<Action> actions_;
  float* input_ = nullptr;
  const float* output_ = nullptr;
  size_t input_size_ = 0;
  size_t output_size_ = 0;
};

}  // namespace

Result<std::unique_ptr<Session>> CreateXnnpackSession(std::shared_ptr<const Program> program,
                                                      std::shared_ptr<WeightRegistry> weights,
                                                      int threads) {
  ThreadPool pool;
  if (threads > 1) {
    pool.reset(pthreadpool_create(static_cast<size_t>(threads)));
    if (!pool) {
      return ResourceExhausted("cannot create a pool of " + std::to_string(threads) +
                               " threads");
    }
  }
  // XNNPACK may read XNN_EXTRA_BYTES past the end of any input.
  size_t bytes = program->arena_floats * sizeof(float) + XNN_EXTRA_BYTES;
  bytes = (bytes + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
  ArenaPtr arena(static_cast<float*>(std::aligned_alloc(kArenaAlignment, bytes)));
  if (!arena) {
    return ResourceExhausted("cannot allocate a " + std::to_string(bytes) +
                             "-byte activation arena");
  }
  // Not zeroed: every value is written before it is read, and XNNPACK
  // ignores what it reads past an input's end. Its pages are mapped when
  // the Session first runs, so a worker that never runs (a server's second
  // worker while requests come one at a time) costs no arena memory.
  auto session = std::make_unique<XnnpackSession>(std::move(program), std::move(weights), std::move(pool), std::move(arena));
  EV_RETURN_IF_ERROR(session->Prepare());
  return std::unique_ptr<Session>(std::move(session));
}

}  // namespace xnnpack_internal

Result<std::vector<NodeProfile>> ProfileXnnpackSession(Session& session,
                                                       std::span<const float> input, int runs) {
  auto* xnnpack = dynamic_cast<xnnpack_internal::XnnpackSession*>(&session);
  if (!xnnpack) return InvalidArgument("profile: not an XNNPACK session");
  return xnnpack->Profile(input, runs);
}

}  // namespace edgevision::engine
