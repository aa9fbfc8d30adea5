#include "engine/xnnpack_program.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>

#include "engine/depthwise_conv.h"
#include "engine/graph_check.h"
#include "engine/memory_planner.h"
#include "engine/xnnpack_constants.h"
#include "engine/xnnpack_fusion.h"
#include "engine/pointwise_gemm.h"

namespace edgevision::engine::xnnpack_internal {

namespace {

using graph::Graph;
using graph::Node;
using graph::Op;
using graph::Shape;
using graph::ValueId;

// Arena buffers start on cache-line boundaries.
constexpr size_t kArenaAlignment = 64;
// Constants in the pool start 16-float aligned; the pool ends with this many
// spare floats because XNNPACK kernels may read XNN_EXTRA_BYTES past an input.
constexpr size_t kConstantAlignmentFloats = 16;
constexpr size_t kConstantTailFloats = 16;
static_assert(kConstantTailFloats * sizeof(float) >= XNN_EXTRA_BYTES);

size_t LastDim(const Shape& s) {
  return s.empty() ? 1 : static_cast<size_t>(s.back());
}

bool IsUnary(Op op) {
  switch (op) {
    case Op::kRelu:
    case Op::kClamp:
    case Op::kSigmoid:
    case Op::kSoftmax:
    case Op::kHardSwish:
    case Op::kLeakyRelu:
    case Op::kChannelShuffle: return true;  // row-wise: any row stride in and out
    default: return false;
  }
}

// Also our kernels that stand in for an XNNPACK operator and take the same
// layouts (strided rows in and out).
bool RunsOnXnnpack(Exec e) {
  return e == Exec::kXnnpack || e == Exec::kDepthwiseAvgPool || e == Exec::kWinograd ||
         e == Exec::kPointwiseGemm || e == Exec::kBandedConv || e == Exec::kInBand ||
         e == Exec::kConvGemm || e == Exec::kDepthwise || e == Exec::kBlock;
}

// A convolution whose output is at least kBandedConvMinBytes and is read
// only by the max pool right after it runs with that pool in bands of at
// most kBandedConvBandBytes of its output (BandStep). On SqueezeNet 1.1 (the
// 2018 exports) the first convolution's 3.1 MiB output and the pool's 0.8
// MiB were the arena's peak: banded, the arena is 4.1 -> 2.7 MiB.
constexpr size_t kBandedConvMinBytes = 2 * 1024 * 1024;
constexpr size_t kBandedConvBandBytes = 1024 * 1024;

// The most V and M one band of a Winograd convolution holds. 28x28 pixels,
// 32 -> 128 channels (2 MB of V and M as one band): 214 us as 2 bands, 262
// as one (one thread; L2 is 2 MB a core on the bench machine).
constexpr size_t kWinogradBandBytes = 1536 * 1024;
// The same with the products on our GEMM (WinogradStep::gemm_products),
// which sets nothing up per band. One thread, AMD EPYC (1 MB of L2 a core),
// a 56x56 16 -> 64 layer alone: 214 us with bands of 1.5 MB, 205-206 with
// 768, 384 or 192 KB. The band is arena scratch: 1.5 MB would raise
// SqueezeNet's arena peak by as much (its largest activation is 1.6 MB).
// With more than one thread, each has its own band of this size / threads,
// so that the scratch, at the arena's peak on SqueezeNet, stays this size.
constexpr size_t kWinogradGemmBandBytes = 256 * 1024;

// Floats, rounded up so that the next buffer starts on a cache line.
size_t RoundFloats(size_t n) {
  constexpr size_t kLine = kArenaAlignment / sizeof(float);
  return (n + kLine - 1) / kLine * kLine;
}

// A transpose that only moves size-1 axes keeps the data order.
bool KeepsDataOrder(const Shape& in, const std::vector<int64_t>& perm) {
  int64_t last = -1;
  for (int64_t axis : perm) {
    if (in[axis] == 1) continue;
    if (axis < last) return false;
    last = axis;
  }
  return true;
}

enum class Link : uint8_t {
  kNone,    // owns its buffer
  kMember,  // lives inside its parent (a channel concat output, or the input of a
            // channel Slice read in place) at a channel offset
  kAlias,   // shares its parent's bytes (Reshape)
};

class Planner {
 public:
  // Plans from `graph` (the caller's); p->graph is filled in afterwards.
  Planner(Program* p, const Graph& graph, int threads, bool xnnpack_only, bool winograd_gemm)
      : p_(*p), g_(graph), threads_(threads), own_kernels_(!xnnpack_only), winograd_gemm_(winograd_gemm) {}

  Status Run() {
    const size_t nv = g_.values.size();
    link_.assign(nv, Link::kNone);
    parent_.assign(nv, graph::kNoValue);
    link_offset_.assign(nv, 0);
    flow_ = TraceDataflow(g_);
    EV_RETURN_IF_ERROR(DecideExec());
    FusePools(g_, flow_, &p_);
    FuseEpilogues(g_, flow_, &p_);
    FuseInputScales(g_, &flow_, &p_);
    FuseBlocks(g_, flow_, threads_, &p_);
    SplitChannels(g_, flow_, threads_, &p_);
    DecideBands();
    DecideSliceViews();
    PlaceConcatInputs();
    LinkAliases();
    EV_RETURN_IF_ERROR(AssignMemory());
    PoolConstants();
    EV_RETURN_IF_ERROR(CheckDenseWhereRequired());
    CollectExecStats(g_, &p_);
    return Status::Ok();
  }

 private:
  // --- How each node runs -------------------------------------------------

  // True if XNNPACK accepts the node's parameters.
  Result<bool> Probe(size_t i, Exec exec) {
    const Node& node = g_.nodes[i];
    // kWinograd: U only while probing (each Session transforms the kernel
    // again while XNNPACK packs it; see WinogradKernel).
    std::vector<float> winograd_kernel;
    if (exec == Exec::kDepthwiseAvgPool) {
      const graph::Attrs& a = node.attrs;
      const size_t c = LastDim(g_.values[node.inputs[0]].shape);
      const size_t window = static_cast<size_t>(a.kernel_h) * a.kernel_w;
      p_.extra_weights[i].assign(c * window, 1.0f / static_cast<float>(window));
    } else if (exec == Exec::kWinograd) {
      winograd_kernel = WinogradKernel(g_, node);
    }
    XnnOperator op;
    const xnn_status status =
        CreateNodeOperator(g_, node, exec, DenseStrides(g_, node),
                           exec == Exec::kWinograd ? winograd_kernel.data() : p_.extra_weights[i].data(), &op);
    switch (status) {
      case xnn_status_success: return true;
      case xnn_status_invalid_parameter:
      case xnn_status_unsupported_parameter: p_.extra_weights[i].clear(); return false;
      case xnn_status_out_of_memory:
        return ResourceExhausted("node '" + node.name + "': out of memory creating its operator");
      default:
        return Internal("node '" + node.name + "': creating its XNNPACK operator failed: " +
                        std::string(XnnStatusName(status)));
    }
  }

  Status DecideExec() {
    p_.exec.assign(g_.nodes.size(), Exec::kReference);
    p_.extra_weights.assign(g_.nodes.size(), {});
    p_.wide_constants.assign(g_.nodes.size(), {});
    p_.winograd.assign(g_.nodes.size(), {});
    p_.gemm_offset.assign(g_.nodes.size(), 0);
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& node = g_.nodes[i];
      const graph::Value& x = g_.values[node.inputs[0]];
      const graph::Attrs& a = node.attrs;
      Exec& exec = p_.exec[i];
      switch (node.op) {
        case Op::kReshape: exec = x.is_constant ? Exec::kReference : Exec::kAlias; break;
        case Op::kTranspose:
          exec =
              !x.is_constant && KeepsDataOrder(x.shape, a.ints) ? Exec::kAlias : Exec::kReference;
          break;
        case Op::kConcat: exec = Exec::kConcat; break;
        case Op::kPad: {
          const bool crops =
              std::any_of(a.ints.begin(), a.ints.end(), [](int64_t v) { return v < 0; });
          if (!crops) {
            EV_ASSIGN_OR_RETURN(bool ok, Probe(i, Exec::kXnnpack));
            if (ok) exec = Exec::kXnnpack;
          }
          break;
        }
        case Op::kAvgPool2D: {
          // XNNPACK's average pooling leaves padding out of the divisor and
          // rejects 1x1 windows; a depthwise convolution with 1/(KH*KW)
          // weights divides by the whole window, which is exact whenever the
          // padding is counted or there is none.
          const bool padded = a.pad_top || a.pad_left || a.pad_bottom || a.pad_right;
          const bool whole_window = a.count_include_pad || !padded;
          const bool one_by_one = a.kernel_h == 1 && a.kernel_w == 1;
          if (!(whole_window && (padded || one_by_one))) {
            EV_ASSIGN_OR_RETURN(bool ok, Probe(i, Exec::kXnnpack));
            if (ok) {
              exec = Exec::kXnnpack;
              break;
            }
          }
          if (whole_window) {
            EV_ASSIGN_OR_RETURN(bool ok, Probe(i, Exec::kDepthwiseAvgPool));
            if (ok) exec = Exec::kDepthwiseAvgPool;
          }
          break;
        }
        case Op::kConv2D: {
          if (own_kernels_ && PointwiseGemmEligible(g_, node)) {
            PackGemm(g_, i, &p_);
            exec = Exec::kPointwiseGemm;
            break;
          }
          if (own_kernels_ && DepthwiseEligible(g_, node)) {
            const graph::Shape& ws = g_.values[node.inputs[1]].shape;
            const bool bias = node.inputs.size() > 2 && node.inputs[2] != graph::kNoValue;
            StoreAligned(PackDepthwise(g_.values[node.inputs[1]].f32.data(),
                                       bias ? g_.values[node.inputs[2]].f32.data() : nullptr,
                                       static_cast<size_t>(ws[0]), static_cast<size_t>(ws[1]),
                                       static_cast<size_t>(ws[2])),
                         i, &p_);
            exec = Exec::kDepthwise;
            break;
          }
          if (own_kernels_ && winograd_gemm_ && WinogradGemmEligible(g_, node)) {
            PackWinogradGemm(g_, i, &p_);
            exec = Exec::kWinograd;
            break;
          }
          if (own_kernels_ && WinogradEligible(g_, node)) {
            EV_ASSIGN_OR_RETURN(bool ok, Probe(i, Exec::kWinograd));
            if (ok) {
              exec = Exec::kWinograd;
              break;
            }
          }
          if (own_kernels_ && ConvGemmEligible(g_, node)) {
            PackGemm(g_, i, &p_);
            exec = Exec::kConvGemm;
            break;
          }
          EV_ASSIGN_OR_RETURN(bool ok, Probe(i, Exec::kXnnpack));
          if (ok) exec = Exec::kXnnpack;
          break;
        }
        case Op::kFullyConnected: {
          if (own_kernels_ && FullyConnectedGemmEligible(g_, node)) {  // one row
            PackGemm(g_, i, &p_);
            exec = Exec::kPointwiseGemm;
            break;
          }
          EV_ASSIGN_OR_RETURN(bool ok, Probe(i, Exec::kXnnpack));
          if (ok) exec = Exec::kXnnpack;
          break;
        }
        default: {
          EV_ASSIGN_OR_RETURN(bool ok, Probe(i, Exec::kXnnpack));
          if (ok) exec = Exec::kXnnpack;
          if (ok) TileBroadcastConstant(i);
          break;
        }
      }
    }
    return Status::Ok();
  }

  void TileBroadcastConstant(size_t i) { p_.wide_constants[i] = WideConstant(g_, g_.nodes[i]); }


  // --- Convolution and max pool in row bands -----------------------------

  void DecideBands() {
    p_.bands.assign(g_.nodes.size(), {});
    for (size_t c = 0; c + 1 < g_.nodes.size(); ++c) {
      const Node& conv = g_.nodes[c];
      const Node& pool = g_.nodes[c + 1];
      if (conv.op != Op::kConv2D || p_.exec[c] != Exec::kXnnpack || pool.op != Op::kMaxPool2D ||
          p_.exec[c + 1] != Exec::kXnnpack) {
        continue;
      }
      const ValueId x = conv.inputs[0], y = conv.outputs[0];
      if (pool.inputs[0] != y || consumers_[y].size() != 1 || y == g_.outputs[0] ||
          g_.values[x].is_constant) {
        continue;
      }
      const graph::Attrs& ca = conv.attrs;
      const graph::Attrs& pa = pool.attrs;
      // Bands cut rows: no padding above or below, and one image.
      if (ca.groups != 1 || ca.pad_top || ca.pad_bottom || pa.pad_top || pa.pad_bottom) continue;
      const Shape& xs = g_.values[x].shape;
      const Shape& ys = g_.values[y].shape;
      const Shape& ps = g_.values[pool.outputs[0]].shape;
      if (xs.size() != 4 || xs[0] != 1) continue;
      const size_t kernel_h = static_cast<size_t>(g_.values[conv.inputs[1]].shape[1]);
      const size_t reach = (kernel_h - 1) * static_cast<size_t>(ca.dilation_h) + 1;
      const size_t conv_total = static_cast<size_t>(ys[1]);
      const size_t pool_total = static_cast<size_t>(ps[1]);
      const size_t cs = static_cast<size_t>(ca.stride_h), pk = static_cast<size_t>(pa.kernel_h),
                   pstride = static_cast<size_t>(pa.stride_h);
      if ((conv_total - 1) * cs + reach > static_cast<size_t>(xs[1]) ||
          (pool_total - 1) * pstride + pk > conv_total) {
        continue;
      }
      const size_t row_bytes = static_cast<size_t>(ys[2] * ys[3]) * sizeof(float);
      if (conv_total * row_bytes < kBandedConvMinBytes) continue;
      const size_t max_conv_rows = kBandedConvBandBytes / row_bytes;
      if (max_conv_rows < pk) continue;
      const size_t max_pool_rows = (max_conv_rows - pk) / pstride + 1;
      const size_t bands = (pool_total + max_pool_rows - 1) / max_pool_rows;
      BandStep& b = p_.bands[c];
      b.pool_node = c + 1;
      b.pool_rows = (pool_total + bands - 1) / bands;
      b.pool_rows_total = pool_total;
      b.conv_rows = (b.pool_rows - 1) * pstride + pk;
      b.input_rows = (b.conv_rows - 1) * cs + reach;
      p_.exec[c] = Exec::kBandedConv;
      p_.exec[c + 1] = Exec::kInBand;
    }
  }

  // --- Channel slices read in place ---------------------------------------

  // A channel Slice whose readers all take strided rows becomes a view of its
  // input: no copy, its readers get the input's row stride and a channel
  // offset (ShuffleNet's split). Decided once every reader's exec is known.
  void DecideSliceViews() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& node = g_.nodes[i];
      size_t begin = 0;
      if (!IsChannelSlice(g_, node, &begin)) continue;
      const ValueId x = node.inputs[0], y = node.outputs[0];
      if (g_.values[x].is_constant || y == g_.outputs[0]) continue;
      bool readers_ok = true;
      for (const Use& use : consumers_[y]) readers_ok = readers_ok && AcceptsStrided(use, y);
      if (!readers_ok) continue;
      p_.exec[i] = Exec::kView;
      link_[y] = Link::kMember;
      parent_[y] = x;
      link_offset_[y] = begin;
    }
  }

  // --- In-place concatenation ---------------------------------------------

  bool ChannelConcat(int node) const {
    const Node& n = g_.nodes[node];
    return n.op == Op::kConcat &&
           n.attrs.axis == static_cast<int>(g_.values[n.outputs[0]].shape.size()) - 1;
  }

  // Can node `p` write its output with a row stride larger than its width?
  bool ProducesStrided(int p) const {
    const Node& n = g_.nodes[p];
    if (p_.exec[p] == Exec::kConcat) return ChannelConcat(p);
    if (p_.exec[p] == Exec::kFused) return true;  // ConvGemmMaxPool, DepthwiseRows take a row stride
    if (!RunsOnXnnpack(p_.exec[p])) return false;
    switch (n.op) {
      case Op::kConv2D:
      case Op::kMaxPool2D:
      case Op::kAvgPool2D:
      case Op::kGlobalAvgPool:
      case Op::kFullyConnected: return true;
      default: return IsUnary(n.op);
    }
  }

  // Can node `u` read its input `k` (value `v`) with a row stride larger
  // than its width?
  bool AcceptsStrided(const Use& use, ValueId v) const {
    const Node& n = g_.nodes[use.node];
    const Exec exec = p_.exec[use.node];
    if (exec == Exec::kConcat) return ChannelConcat(use.node);
    if (exec == Exec::kView) return true;  // its readers take strided rows too
    if (FusedInputScale(g_, p_, static_cast<size_t>(use.node))) {  // read by its convolution's GEMM
      return use.input != static_cast<size_t>(ScaleOperand(g_, n));
    }
    if (!RunsOnXnnpack(exec) || use.input != 0) return false;
    switch (n.op) {
      case Op::kConv2D:
      case Op::kMaxPool2D:
      case Op::kAvgPool2D:
      case Op::kGlobalAvgPool: return true;
      case Op::kFullyConnected:
        return static_cast<int64_t>(LastDim(g_.values[v].shape)) == g_.values[n.inputs[1]].shape[1];
      default: return IsUnary(n.op);
    }
  }

  bool CanPlace(ValueId v, int concat, size_t input_index) const {
    const graph::Value& value = g_.values[v];
    if (value.is_constant || v == g_.inputs[0] || v == g_.outputs[0]) return false;
    if (link_[v] != Link::kNone) return false;  // already placed (or an alias)
    const int p = producer_[v];
    if (p < 0 || !ProducesStrided(p)) return false;
    for (const Use& use : consumers_[v]) {
      if (use.node == concat && use.input == input_index) continue;
      if (!AcceptsStrided(use, v)) return false;
    }
    return true;
  }

  // Later concats first, so a concat placed inside an outer one has its own
  // location settled before its inputs are placed relative to it.
  void PlaceConcatInputs() {
    p_.concat_copies.assign(g_.nodes.size(), {});
    for (size_t i = g_.nodes.size(); i-- > 0;) {
      if (p_.exec[i] != Exec::kConcat) continue;
      const Node& node = g_.nodes[i];
      const bool channel = ChannelConcat(static_cast<int>(i));
      size_t channel_offset = 0;
      for (size_t k = 0; k < node.inputs.size(); ++k) {
        const ValueId v = node.inputs[k];
        if (channel && CanPlace(v, static_cast<int>(i), k)) {
          link_[v] = Link::kMember;
          parent_[v] = node.outputs[0];
          link_offset_[v] = channel_offset;
          ++p_.stats.inplace_concat_inputs;
        } else {
          p_.concat_copies[i].push_back(k);
          ++p_.stats.copied_concat_inputs;
        }
        channel_offset += LastDim(g_.values[v].shape);
      }
    }
  }

  void LinkAliases() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (p_.exec[i] != Exec::kAlias) continue;
      const ValueId out = g_.nodes[i].outputs[0];
      link_[out] = Link::kAlias;
      parent_[out] = g_.nodes[i].inputs[0];
    }
  }

  // --- Memory -------------------------------------------------------------

  ValueId Root(ValueId v) const {
    while (link_[v] != Link::kNone) v = parent_[v];
    return v;
  }

  Status AssignMemory() {
    const int n = static_cast<int>(g_.nodes.size());
    std::vector<ValueId> used{g_.inputs[0]};
    // Where a value is written when that is not its producer's step: a fused
    // pool's output in its convolution's, an in-band pool's in its banded
    // convolution's.
    std::vector<int> def_step(g_.values.size(), -1);
    // A block's expanded tensor and depthwise output have no buffer; its
    // output is written in its first node's step.
    std::vector<bool> no_buffer(g_.values.size(), false);
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (p_.exec[i] != Exec::kBlock) continue;
      for (size_t member : {i, static_cast<size_t>(p_.blocks[i].depthwise)}) {
        no_buffer[g_.nodes[member].outputs[0]] = true;
        no_buffer[Written(g_, p_, member)] = true;
      }
    }
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const ValueId out = g_.nodes[i].outputs[0];
      if (no_buffer[out]) continue;
      if (p_.exec[i] == Exec::kBandedConv) {  // only ever one band, in scratch
        p_.stats.activation_bytes +=
            static_cast<size_t>(graph::ShapeProduct(g_.values[out].shape)) * sizeof(float);
        def_step[g_.nodes[p_.bands[i].pool_node].outputs[0]] = static_cast<int>(i) + 1;
        continue;
      }
      if (FusedInputScale(g_, p_, i)) continue;  // no output
      const int fused = p_.fused_pool[i] >= 0 ? p_.fused_pool[i] : p_.fused_epilogue[i];
      if (fused >= 0) {
        def_step[g_.nodes[fused].outputs[0]] = static_cast<int>(i) + 1;
        continue;  // the convolution's output has no buffer
      }
      used.push_back(out);
    }
    for (size_t i = 0; i < g_.nodes.size(); ++i) {  // a depthwise layer run in its expansion's step
      const int d = p_.channel_parts[i].depthwise;
      if (d >= 0) def_step[Written(g_, p_, static_cast<size_t>(d))] = static_cast<int>(i) + 1;
      if (p_.exec[i] == Exec::kBlock) def_step[Written(g_, p_, static_cast<size_t>(p_.blocks[i].projection))] = static_cast<int>(i) + 1;
    }

    std::vector<int> group_of(g_.values.size(), -1);
    std::vector<ValueId> group_root;
    std::vector<BufferRequest> requests;
    for (ValueId v : used) {
      const int def = v == g_.inputs[0] ? 0 : def_step[v] >= 0 ? def_step[v] : producer_[v] + 1;
      int last = def;
      for (const Use& use : consumers_[v]) last = std::max(last, use.node + 1);
      if (v == g_.outputs[0]) last = n + 1;
      const ValueId root = Root(v);
      if (group_of[root] < 0) {
        group_of[root] = static_cast<int>(requests.size());
        group_root.push_back(root);
        BufferRequest r;
        r.bytes = static_cast<size_t>(graph::ShapeProduct(g_.values[root].shape)) * sizeof(float);
        r.first_step = def;
        r.last_step = last;
        requests.push_back(r);
      }
      BufferRequest& r = requests[group_of[root]];
      r.first_step = std::min(r.first_step, def);
      r.last_step = std::max(r.last_step, last);
      p_.stats.activation_bytes +=
          static_cast<size_t>(graph::ShapeProduct(g_.values[v].shape)) * sizeof(float);
    }
    // kWinograd scratch (V, then M, then XNNPACK's readable tail), live only
    // while its node runs: it may reuse any buffer dead at that step.
    std::vector<std::pair<size_t, size_t>> scratch;  // (node, request)
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (p_.exec[i] != Exec::kWinograd) continue;
      const Node& node = g_.nodes[i];
      const Shape& xs = g_.values[node.inputs[0]].shape;
      const Shape& ys = g_.values[node.outputs[0]].shape;
      WinogradShape& w = p_.winograd[i].shape;
      w.in_h = static_cast<size_t>(xs[1]);
      w.in_w = static_cast<size_t>(xs[2]);
      w.out_h = static_cast<size_t>(ys[1]);
      w.out_w = static_cast<size_t>(ys[2]);
      w.pad_top = static_cast<size_t>(node.attrs.pad_top);
      w.pad_left = static_cast<size_t>(node.attrs.pad_left);
      w.in_channels = static_cast<size_t>(xs[3]);
      w.out_channels = static_cast<size_t>(ys[3]);
      const size_t tile_bytes = kWinogradPoints * (w.in_channels + w.out_channels) * sizeof(float);
      WinogradStep& step = p_.winograd[i];
      // With our products, each thread its range of tiles (one fork-join
      // per layer); the bands are cut within a range.
      step.slots = step.gemm_products ? std::max<size_t>(1, static_cast<size_t>(threads_)) : 1;
      const size_t band_bytes = step.gemm_products ? kWinogradGemmBandBytes / step.slots : kWinogradBandBytes;
      const size_t slot_tiles = (w.tiles() + step.slots - 1) / step.slots;
      const size_t bands = std::max<size_t>(1, (slot_tiles * tile_bytes + band_bytes - 1) / band_bytes);
      step.band_tiles = (slot_tiles + bands - 1) / bands;
      const size_t v = RoundFloats(step.band_tiles * kWinogradPoints * w.in_channels);
      const size_t m = RoundFloats(step.band_tiles * kWinogradPoints * w.out_channels);
      step.slot_floats = step.gemm_products ? RoundFloats(v + m) : 0;
      BufferRequest r;
      r.bytes = (step.slots * RoundFloats(v + m) + kConstantTailFloats) * sizeof(float);
      r.first_step = r.last_step = static_cast<int>(i) + 1;
      scratch.emplace_back(i, requests.size());
      requests.push_back(r);
      p_.winograd[i].m_offset = v;  // relative until the plan is made
      p_.zeros.resize(std::max(p_.zeros.size(), w.in_channels + kConstantTailFloats), 0.0f);
    }
    // kBandedConv: one band of the convolution's output (and XNNPACK's
    // readable tail), live while the node runs.
    std::vector<std::pair<size_t, size_t>> band_scratch;  // (node, request)
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (p_.exec[i] != Exec::kBandedConv) continue;
      const Shape& ys = g_.values[g_.nodes[i].outputs[0]].shape;
      BufferRequest r;
      r.bytes = (p_.bands[i].conv_rows * static_cast<size_t>(ys[2] * ys[3]) + kConstantTailFloats) *
                sizeof(float);
      r.first_step = r.last_step = static_cast<int>(i) + 1;
      band_scratch.emplace_back(i, requests.size());
      requests.push_back(r);
    }
    for (size_t i = 0; i < g_.nodes.size(); ++i) {  // kDepthwise (or paired): padding taps read zeros
      const int d = p_.exec[i] == Exec::kDepthwise ? static_cast<int>(i) : p_.channel_parts[i].depthwise;
      if (d < 0) continue;
      const size_t c = LastDim(g_.values[g_.nodes[static_cast<size_t>(d)].inputs[0]].shape);
      p_.zeros.resize(std::max(p_.zeros.size(), c + kDepthwiseTileChannels), 0.0f);
    }
    std::vector<std::pair<size_t, size_t>> rings;  // (node, request)
    for (size_t i = 0; i < g_.nodes.size(); ++i) {  // kConvGemm: padding taps read zeros
      if (p_.exec[i] != Exec::kConvGemm) continue;
      const size_t c = LastDim(g_.values[g_.nodes[i].inputs[0]].shape);
      p_.zeros.resize(std::max(p_.zeros.size(), c + kConstantTailFloats), 0.0f);
      if (p_.fused_pool[i] < 0) continue;
      const Shape& ys = g_.values[g_.nodes[i].outputs[0]].shape;
      BufferRequest r;  // a ring per thread (each takes a band of pooled rows)
      r.bytes = static_cast<size_t>(g_.nodes[p_.fused_pool[i]].attrs.kernel_h * ys[2] * ys[3]) *
                sizeof(float) * static_cast<size_t>(threads_);
      r.first_step = r.last_step = static_cast<int>(i) + 1;
      rings.emplace_back(i, requests.size());
      requests.push_back(r);
    }
    std::vector<std::pair<size_t, size_t>> block_scratch;  // (node, request)
    for (size_t i = 0; i < g_.nodes.size(); ++i) {  // kBlock: a band's rows per thread
      if (p_.exec[i] != Exec::kBlock) continue;
      const size_t c = LastDim(g_.values[g_.nodes[p_.blocks[i].depthwise].inputs[0]].shape);
      p_.zeros.resize(std::max(p_.zeros.size(), c + kDepthwiseTileChannels), 0.0f);
      if (p_.blocks[i].conv_stem) {  // as kConvGemm's
        const size_t ci = LastDim(g_.values[g_.nodes[i].inputs[0]].shape);
        p_.zeros.resize(std::max(p_.zeros.size(), ci + kConstantTailFloats), 0.0f);
      }
      BufferRequest r;
      r.bytes = p_.blocks[i].band_floats * sizeof(float) * p_.blocks[i].bands;
      r.first_step = r.last_step = static_cast<int>(i) + 1;
      block_scratch.emplace_back(i, requests.size());
      requests.push_back(r);
    }
    const ArenaPlan plan = PlanArena(requests, kArenaAlignment);
    for (const auto& [i, r] : block_scratch) p_.blocks[i].scratch_offset = plan.offsets[r] / sizeof(float);
    for (const auto& [i, r] : rings) p_.ring_offset[i] = plan.offsets[r] / sizeof(float);
    for (const auto& [i, r] : scratch) {
      p_.winograd[i].v_offset = plan.offsets[r] / sizeof(float);
      p_.winograd[i].m_offset += p_.winograd[i].v_offset;
    }
    for (const auto& [i, r] : band_scratch) p_.bands[i].scratch_offset = plan.offsets[r] / sizeof(float);
    p_.arena_floats = plan.arena_bytes / sizeof(float);
    p_.stats.arena_bytes = plan.arena_bytes;

    p_.locations.assign(g_.values.size(), Location{});
    std::vector<ValueId> chain;
    for (ValueId v : used) {
      chain.assign(1, v);
      while (link_[chain.back()] != Link::kNone) chain.push_back(parent_[chain.back()]);
      const ValueId root = chain.back();
      Location loc;
      loc.offset = plan.offsets[group_of[root]] / sizeof(float);
      loc.row_stride = LastDim(g_.values[root].shape);
      for (size_t i = chain.size() - 1; i-- > 0;) {
        const ValueId w = chain[i];
        if (link_[w] == Link::kMember) {
          loc.offset += link_offset_[w];
        } else {
          loc.row_stride = LastDim(g_.values[w].shape);
        }
      }
      p_.locations[v] = loc;
    }
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (p_.exec[i] != Exec::kWinograd) continue;
      p_.winograd[i].shape.in_stride = p_.locations[g_.nodes[i].inputs[0]].row_stride;
      p_.winograd[i].shape.out_stride = p_.locations[g_.nodes[i].outputs[0]].row_stride;
    }
    return Status::Ok();
  }

  // Constants that XNNPACK operators read as data (not weights, which are
  // packed) are copied into one pool with a readable tail.
  void PoolConstants() {
    std::vector<bool> pooled(g_.values.size(), false);
    auto add = [&](ValueId v) {
      if (v == graph::kNoValue || !g_.values[v].is_constant || pooled[v]) return;
      pooled[v] = true;
      const std::vector<float>& data = g_.values[v].f32;
      const size_t offset = (p_.constants.size() + kConstantAlignmentFloats - 1) /
                            kConstantAlignmentFloats * kConstantAlignmentFloats;
      p_.constants.resize(offset);
      p_.constants.insert(p_.constants.end(), data.begin(), data.end());
      p_.locations[v] = Location{true, offset, LastDim(g_.values[v].shape)};
    };
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& node = g_.nodes[i];
      if (RunsOnXnnpack(p_.exec[i])) {
        add(node.inputs[0]);
        if (node.op == Op::kAdd || node.op == Op::kSub || node.op == Op::kMul ||
            node.op == Op::kDiv) {
          add(node.inputs[1]);
        }
      } else if (p_.exec[i] == Exec::kConcat) {
        for (size_t k : p_.concat_copies[i]) add(node.inputs[k]);
      }
    }
    p_.constants.resize(p_.constants.size() + kConstantTailFloats, 0.0f);
  }

  bool Dense(ValueId v) const {
    return g_.values[v].is_constant || p_.locations[v].row_stride == LastDim(g_.values[v].shape);
  }

  // Defensive: the placement rules above must leave these buffers dense.
  Status CheckDenseWhereRequired() const {
    auto fail = [&](const Node& node) {
      return Internal("node '" + node.name +
                      "': planned a strided buffer where a dense one is "
                      "required");
    };
    if (!Dense(g_.inputs[0]) || !Dense(g_.outputs[0])) {
      return Internal("planned a strided graph input or output");
    }
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const int mul = p_.scaled_input[i];
      if (mul >= 0 && !Dense(g_.nodes[mul].inputs[ScaleOperand(g_, g_.nodes[mul])])) return fail(g_.nodes[i]);
    }
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& node = g_.nodes[i];
      const bool any_layout = RunsOnXnnpack(p_.exec[i]) && node.op != Op::kAdd &&
                              node.op != Op::kSub && node.op != Op::kMul && node.op != Op::kDiv &&
                              node.op != Op::kPad;
      if (any_layout || p_.exec[i] == Exec::kView || p_.exec[i] == Exec::kFused) continue;
      if (p_.exec[i] == Exec::kConcat && ChannelConcat(static_cast<int>(i))) continue;
      for (ValueId v : node.inputs) {
        if (v != graph::kNoValue && !Dense(v)) return fail(node);
      }
      if (!Dense(node.outputs[0])) return fail(node);
    }
    return Status::Ok();
  }

  Program& p_;
  const Graph& g_;
  std::vector<Link> link_;
  std::vector<ValueId> parent_;
  std::vector<size_t> link_offset_;  // kMember: channel offset in the parent
  Dataflow flow_;
  const std::vector<int>& producer_ = flow_.producer;
  const std::vector<std::vector<Use>>& consumers_ = flow_.consumers;
  int threads_;
  bool own_kernels_;
  bool winograd_gemm_;  // BuildProgram's
};

}  // namespace

Result<std::shared_ptr<Program>> BuildProgram(const Graph& graph, int threads, bool xnnpack_only,
                                              bool winograd_gemm) {
  auto program = std::make_shared<Program>();
  EV_RETURN_IF_ERROR(Planner(program.get(), graph, threads, xnnpack_only, winograd_gemm).Run());
  // The private copy leaves out the weights our kernels' packing made
  // unnecessary: two copies of them would only raise the load-time peak
  // (docs/performance.md#footprint).
  const std::vector<bool> read = ConstantsSessionsRead(
      graph, program->exec, PackedWeightNodes(*program), /*creating=*/true);
  Graph& copy = program->graph;
  copy.nodes = graph.nodes;
  copy.inputs = graph.inputs;
  copy.outputs = graph.outputs;
  copy.values.reserve(graph.values.size());
  for (size_t v = 0; v < graph.values.size(); ++v) {
    const graph::Value& value = graph.values[v];
    if (!value.is_constant || read[v]) {
      copy.values.push_back(value);
      continue;
    }
    graph::Value shell;  // all but the float payload
    shell.name = value.name;
    shell.dtype = value.dtype;
    shell.shape = value.shape;
    shell.is_constant = true;
    shell.i64 = value.i64;
    shell.str = value.str;
    copy.values.push_back(std::move(shell));
  }
  return program;
}

}  // namespace edgevision::engine::xnnpack_internal
