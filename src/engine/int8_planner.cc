#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>

#include "engine/int8_program.h"
#include "engine/max_pool_ring.h"
#include "engine/memory_planner.h"
#include "engine/xnnpack_ops.h"
#include "engine/xnnpack_weights.h"

namespace edgevision::engine::int8_internal {

namespace {

using graph::Graph;
using graph::Node;
using graph::Op;
using graph::ValueId;
using xnnpack_internal::XnnOperator;


class Planner {
 public:
  Planner(Program* p, const Int8Calibration* calibration)
      : p_(*p), g_(p->graph), calibration_(calibration) {}

  Status Run() {
    if (calibration_) keep_float_.insert(calibration_->float_nodes.begin(), calibration_->float_nodes.end());
    const size_t nv = g_.values.size();
    p_.root.resize(nv);
    std::iota(p_.root.begin(), p_.root.end(), 0);
    consumers_.assign(nv, {});
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      for (ValueId v : g_.nodes[i].inputs) {
        if (v != graph::kNoValue) consumers_[v].push_back(i);
      }
    }
    DecideModes();
    if (p_.int8) {
      AssignQuant();
      EV_RETURN_IF_ERROR(ProbeQ8());
    }
    EV_RETURN_IF_ERROR(ProbeF32());
    folded_into_.assign(g_.nodes.size(), -1);
    fold_of_.assign(g_.nodes.size(), -1);
    FusePools();
    PlaceConcatInputs();
    FoldExpands();
    PlanPeaks();
    PoolConstants();
    BuildSteps();
    PlanMemory();
    return Status::Ok();
  }

 private:
  bool IsTail(size_t i) const {
    const ValueId out = g_.nodes[i].outputs[0];
    if (out == g_.outputs[0]) return true;
    for (size_t c : consumers_[out]) {
      const Op op = g_.nodes[c].op;
      if (op == Op::kSoftmax || op == Op::kSigmoid) return true;
    }
    return false;
  }

  bool Constant(ValueId v) const { return v != graph::kNoValue && g_.values[v].is_constant; }

  // Which nodes could run in int8, before probing.
  void DecideModes() {
    const size_t n = g_.nodes.size();
    p_.mode.assign(n, Mode::kF32Xnnpack);
    p_.kind.assign(n, Q8Kind::kConv);
    p_.weights.assign(n, {});
    p_.gemm.assign(n, {});
    p_.gemm16.assign(n, {});
    std::vector<bool> q8(g_.values.size(), false);  // produced in int8
    for (size_t i = 0; i < n; ++i) {
      const Node& node = g_.nodes[i];
      const ValueId x = node.inputs[0];
      const graph::Attrs& a = node.attrs;
      Mode& mode = p_.mode[i];
      if (node.op == Op::kReshape && !Constant(x)) {
        mode = Mode::kAlias;
        p_.root[node.outputs[0]] = p_.root[x];
        q8[node.outputs[0]] = q8[x];
        continue;
      }
      bool data_constant = false;
      for (size_t k = 0; k < node.inputs.size(); ++k) {
        const bool weight = (node.op == Op::kConv2D || node.op == Op::kFullyConnected) && k > 0;
        if (!weight && Constant(node.inputs[k])) data_constant = true;
      }
      if (node.op == Op::kConcat) {
        mode = Mode::kConcat;
        bool any_q8 = false;
        for (ValueId v : node.inputs) any_q8 = any_q8 || q8[v];
        q8[node.outputs[0]] = p_.int8 && any_q8 && !data_constant;
        continue;
      }
      std::optional<Q8Kind> kind;
      if (p_.int8 && !data_constant && !IsTail(i) && keep_float_.count(node.name)) {
        ++p_.stats.kept_float;
      } else if (p_.int8 && !data_constant && !IsTail(i)) {
        const bool in_q8 = q8[x];
        switch (node.op) {
          case Op::kConv2D: kind = Q8Kind::kConv; break;
          case Op::kFullyConnected: kind = Q8Kind::kFullyConnected; break;
          case Op::kAvgPool2D: {
            const bool padded = a.pad_top || a.pad_left || a.pad_bottom || a.pad_right;
            if (a.count_include_pad || !padded) kind = Q8Kind::kAvgPool;
            break;
          }
          case Op::kAdd:
          case Op::kSub:
          case Op::kMul: kind = Q8Kind::kBinary; break;
          case Op::kGlobalAvgPool: kind = Q8Kind::kGlobalAvgPool; break;
          case Op::kMaxPool2D:
            if (in_q8) kind = Q8Kind::kMaxPool;
            break;
          case Op::kRelu:
          case Op::kClamp:
            if (in_q8) kind = Q8Kind::kClamp;
            break;
          case Op::kChannelShuffle:
            if (in_q8) kind = Q8Kind::kChannelShuffle;
            break;
          case Op::kSlice: {
            size_t begin = 0;
            if (in_q8 && xnnpack_internal::IsChannelSlice(g_, node, &begin)) kind = Q8Kind::kSlice;
            break;
          }
          case Op::kPad: {
            const bool crops =
                std::any_of(a.ints.begin(), a.ints.end(), [](int64_t v) { return v < 0; });
            if (in_q8 && !crops) kind = Q8Kind::kPad;
            break;
          }
          default: break;
        }
      }
      if (kind) {
        mode = Mode::kQ8;
        p_.kind[i] = *kind;
        q8[node.outputs[0]] = true;
      } else {
        const bool binary = node.op == Op::kAdd || node.op == Op::kSub || node.op == Op::kMul ||
                            node.op == Op::kDiv;
        // kRoundHalf has no XNNPACK operator: the reference kernel rounds.
        mode = (data_constant && !binary) || node.op == Op::kRoundHalf ? Mode::kF32Reference : Mode::kF32Xnnpack;
      }
    }
    concat_q8_ = q8;
  }

  // Values joined by byte-moving int8 ops (and aliases) share the union of
  // their ranges.
  void AssignQuant() {
    Groups groups(g_.values.size());
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& node = g_.nodes[i];
      const ValueId y = node.outputs[0];
      const bool joins = p_.mode[i] == Mode::kAlias ||
                         (p_.mode[i] == Mode::kQ8 && PassesBytes(p_.kind[i])) ||
                         (p_.mode[i] == Mode::kConcat && concat_q8_[y]);
      if (!joins) continue;
      for (ValueId v : node.inputs) {
        if (v != graph::kNoValue && !Constant(v)) groups.Join(v, y);
      }
    }
    const auto nv = static_cast<ValueId>(g_.values.size());
    std::vector<ValueRange> range(g_.values.size());
    std::vector<bool> seen(g_.values.size(), false);
    for (ValueId v = 0; v < nv; ++v) {
      const ValueId r = groups.Find(v);
      const ValueRange& own = calibration_->ranges[v];
      if (!seen[r]) {
        range[r] = own;
        seen[r] = true;
      } else {
        range[r].min = std::min(range[r].min, own.min);
        range[r].max = std::max(range[r].max, own.max);
      }
    }
    p_.quant.resize(g_.values.size());
    for (ValueId v = 0; v < nv; ++v) p_.quant[v] = int8_internal::QuantFromRange(range[groups.Find(v)]);
  }

  // Quantises the weights and probes XNNPACK; a node it refuses runs in float32.
  Status ProbeQ8() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (p_.mode[i] != Mode::kQ8) continue;
      const Node& node = g_.nodes[i];
      const Q8Kind kind = p_.kind[i];
      std::array<Quant, 2> in{p_.quant[node.inputs[0]], Quant{}};
      if (kind == Q8Kind::kBinary) in[1] = p_.quant[node.inputs[1]];
      if (kind == Q8Kind::kConv || kind == Q8Kind::kFullyConnected || kind == Q8Kind::kAvgPool) {
        // Bias correction when the calibration has channel means (empty
        // otherwise: Int8Calibration::channel_means).
        static const std::vector<float> kNoMeans;
        const std::vector<float>& means = calibration_->channel_means.size() == g_.values.size()
                                              ? calibration_->channel_means[node.inputs[0]]
                                              : kNoMeans;
        p_.weights[i] = int8_internal::QuantizeWeights(g_, node, kind, in[0], means);
      }
      XnnOperator op;
      const xnn_status status = int8_internal::CreateQ8Operator(
          g_, node, kind, in.data(), p_.quant[node.outputs[0]], &p_.weights[i], 0, &op);
      if (status == xnn_status_out_of_memory) {
        return ResourceExhausted("node '" + node.name + "': out of memory creating its operator");
      }
      if (status != xnn_status_success) {
        p_.mode[i] = Mode::kF32Xnnpack;
        p_.weights[i] = {};
        continue;
      }
      PackGemm(i, in[0]);
    }
    return Status::Ok();
  }

  // A dense convolution or FullyConnected that XNNPACK accepted runs on the
  // VNNI kernel where the CPU has one (engine/int8_gemm.h): the same bytes.
  void PackGemm(size_t i, int8_internal::Quant input) {
    const Node& node = g_.nodes[i];
    const Q8Kind kind = p_.kind[i];
    if (!p_.own_kernels || !int8_internal::Q8GemmAvailable()) return;
    const graph::Shape& ws = g_.values[node.inputs[1]].shape;
    size_t taps = 1;
    if (kind == Q8Kind::kConv) {
      const graph::Attrs& a = node.attrs;
      if (a.groups != 1 || ws.size() != 4 || g_.values[node.inputs[0]].shape.size() != 4) return;
      taps = static_cast<size_t>(ws[1] * ws[2]);
      if (taps > int8_internal::kQ8GemmMaxTaps || a.stride_h < 1 || a.stride_w < 1 ||
          a.dilation_h < 1 || a.dilation_w < 1) {
        return;
      }
    } else if (kind != Q8Kind::kFullyConnected || ws.size() != 2) {
      return;
    }
    const auto n = static_cast<size_t>(ws[0]);
    const size_t k = static_cast<size_t>(graph::ShapeProduct(ws)) / n / taps;
    p_.gemm[i] = int8_internal::PackQ8Gemm(p_.weights[i], n, taps, k, input,
                                           p_.quant[node.outputs[0]]);
    p_.weights[i].kernel = {};  // XNNPACK's copy is not needed
    ++p_.stats.vnni_nodes;
  }

  Status ProbeF32() {
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (p_.mode[i] != Mode::kF32Xnnpack) continue;
      const Node& node = g_.nodes[i];
      XnnOperator op;
      const xnn_status status = xnnpack_internal::CreateNodeOperator(
          g_, node, xnnpack_internal::Exec::kXnnpack, xnnpack_internal::DenseStrides(g_, node),
          nullptr, &op);
      if (status == xnn_status_out_of_memory) {
        return ResourceExhausted("node '" + node.name + "': out of memory creating its operator");
      }
      if (status != xnn_status_success) {
        p_.mode[i] = Mode::kF32Reference;
        continue;
      }
      PackGemm16(i);
    }
    return Status::Ok();
  }

  // In an int8 program, a dense float32 convolution that XNNPACK accepted
  // runs on the int16 kernel where the CPU has one (engine/int16_gemm.h);
  // the calibration program and the logits stay float32.
  void PackGemm16(size_t i) {
    const Node& node = g_.nodes[i];
    if (!p_.int8 || !p_.own_kernels || !int8_internal::Q16GemmAvailable() || IsTail(i)) return;
    if (node.op != Op::kConv2D || node.attrs.groups != 1 || !Constant(node.inputs[1])) return;
    const ValueId bias = node.inputs.size() > 2 ? node.inputs[2] : graph::kNoValue;
    if (bias != graph::kNoValue && !Constant(bias)) return;
    const graph::Shape& ws = g_.values[node.inputs[1]].shape;
    if (ws.size() != 4 || g_.values[node.inputs[0]].shape.size() != 4) return;
    const auto taps = static_cast<size_t>(ws[1] * ws[2]);
    if (taps > int8_internal::kQ16GemmMaxTaps) return;
    p_.gemm16[i] = int8_internal::PackQ16GemmNode(g_, node);
    ++p_.stats.int16_nodes;
  }

  // A max pooling that alone reads an int16 convolution's output is computed
  // with it (RunQ16GemmMaxPool): the first layers of the SqueezeNet exports
  // (113x113x64 floats written and read back, then 56x56x64 quantised). So
  // is one that alone reads a channel concat of int16 convolutions' outputs
  // (a Fire module's, then its pooling): each convolution pools its own
  // channels into the pooling's output (pooling is per channel), and the
  // concat is never written.
  void FusePools() {
    fused_pool_.assign(g_.nodes.size(), {});
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& node = g_.nodes[i];
      const ValueId y = node.outputs[0];
      const bool concat = p_.mode[i] == Mode::kConcat && !concat_q8_[y] &&
                          node.attrs.axis == static_cast<int>(g_.values[y].shape.size()) - 1;
      if (!concat && !Int16(static_cast<int>(i))) continue;
      const int j = OnlyReader(y);
      if (j < 0 || p_.mode[j] != Mode::kF32Xnnpack || !xnnpack_internal::FusablePool(g_, g_.nodes[j])) continue;
      if (!concat) {
        fused_pool_[i] = {j, 0, 0};
      } else {
        bool all = true;  // every input an int16 convolution's output that only the concat reads
        for (ValueId v : node.inputs) {
          const int producer = g_.ProducerOf(v);
          all = all && Int16(producer) && v != g_.outputs[0] && p_.root[v] == v &&
                consumers_[v].size() == 1 && fused_pool_[producer].pool < 0;
        }
        if (!all) continue;
        size_t offset = 0;
        for (ValueId v : node.inputs) {
          fused_pool_[g_.ProducerOf(v)] = {j, offset, LastDim(g_.values[y].shape)};
          offset += LastDim(g_.values[v].shape);
        }
        p_.mode[i] = Mode::kFused;  // no concat
      }
      p_.mode[j] = Mode::kFused;
      ++p_.stats.fused_pools;
    }
  }

  bool Int16(int node) const { return node >= 0 && !p_.gemm16[node].kernel.empty(); }

  // A Fire module's 1x1 expand runs in the tiles of the other convolution
  // that reads its input (its KxK expand) when their outputs are adjacent
  // in that order in their concat or fused pooling (Step::folded_node): one
  // walk over the output pixels, the squeeze output read once while it is in
  // cache; each keeps its own weights and input scale (the same floats).
  void FoldExpands() {
    for (size_t a = 0; a < g_.nodes.size(); ++a) {
      if (!Int16(static_cast<int>(a)) || folded_into_[a] >= 0 || fold_of_[a] >= 0) continue;
      for (size_t b : consumers_[g_.nodes[a].inputs[0]]) {
        if (b == a || !Foldable(a, b)) continue;
        const ValueId ya = g_.nodes[a].outputs[0], yb = g_.nodes[b].outputs[0];
        if (fused_pool_[a].pool >= 0) {
          fused_pool_[b].offset = fused_pool_[a].offset;
        } else {
          placed_[yb].offset = placed_[ya].offset;
        }
        p_.mode[a] = Mode::kFused;
        folded_into_[a] = static_cast<int>(b);
        fold_of_[b] = static_cast<int>(a);
        ++p_.stats.folded_expands;
        break;
      }
    }
  }

  // FoldExpands' conditions for 1x1 node a and node b.
  bool Foldable(size_t a, size_t b) const {
    const Node& na = g_.nodes[a];
    const Node& nb = g_.nodes[b];
    if (!Int16(static_cast<int>(b)) || fold_of_[b] >= 0 || folded_into_[b] >= 0 || fold_of_[a] >= 0) return false;
    if (nb.inputs[0] != na.inputs[0] || !int8_internal::Q16QuantisesInTile(na, p_.gemm16[a])) return false;
    const ValueId ya = na.outputs[0], yb = nb.outputs[0];
    const graph::Shape &sa = g_.values[ya].shape, &sb = g_.values[yb].shape;
    if (sa.size() != 4 || sb.size() != 4 || sa[1] != sb[1] || sa[2] != sb[2]) return false;  // the same pixels
    const size_t na_channels = p_.gemm16[a].n;
    const FusedPool &fa = fused_pool_[a], &fb = fused_pool_[b];
    if (fa.pool >= 0 || fb.pool >= 0) return fa.pool == fb.pool && fa.offset + na_channels == fb.offset;
    return placed_[ya].concat_set && placed_[yb].concat_set && placed_[ya].concat == placed_[yb].concat &&
           placed_[ya].offset + na_channels == placed_[yb].offset;
  }

  // The node that alone reads `v` (as its first input), else -1.
  int OnlyReader(ValueId v) const {
    if (v == g_.outputs[0] || p_.root[v] != v || consumers_[v].size() != 1) return -1;
    const size_t j = consumers_[v][0];
    return g_.nodes[j].inputs[0] == v ? static_cast<int>(j) : -1;
  }

  // The int16 convolutions whose input other int16 convolutions produce
  // whole (directly, through a fused pooling, or as every input of a concat
  // they write in place) take its max |x| from them: one peak slot per such
  // value (Program::peak_slots).
  void PlanPeaks() {
    std::vector<int> measured(g_.values.size(), -1);  // per root value: its slot, if its producers measure it
    int slots = 0;
    std::vector<ValueId> out(g_.nodes.size(), graph::kNoValue);  // per int16 node: the value it writes
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (!Int16(static_cast<int>(i))) continue;
      const ValueId y = g_.nodes[i].outputs[0];
      bool whole = true;
      if (fused_pool_[i].pool >= 0) {
        out[i] = g_.nodes[fused_pool_[i].pool].outputs[0];
      } else if (placed_[y].concat_set) {
        const Node& concat = g_.nodes[placed_[y].concat];
        out[i] = concat.outputs[0];
        for (ValueId v : concat.inputs) {
          const int producer = g_.ProducerOf(v);
          whole = whole && placed_[v].concat_set && Int16(producer) && fused_pool_[producer].pool < 0;
        }
      } else {
        out[i] = y;
      }
      int& slot = measured[p_.root[out[i]]];
      if (whole && slot < 0) slot = slots++;
    }
    peak_slot_.assign(g_.nodes.size(), -1);
    peak_in_.assign(g_.nodes.size(), -1);
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (!Int16(static_cast<int>(i))) continue;
      peak_slot_[i] = measured[p_.root[out[i]]];
      peak_in_[i] = measured[p_.root[g_.nodes[i].inputs[0]]];
    }
    p_.peak_slots = static_cast<size_t>(slots);
  }

  // A channel concat's inputs that convolutions of its representation
  // produce for it alone are written in place: the convolution's output
  // pixel stride is the concat's channel count (SqueezeNet's Fire modules;
  // in float32 too, where mixed precision keeps a Fire module float32: the
  // XNNPACK f32 convolution takes an output stride as well). Others are
  // copied. Not in the calibration program, which reads each value's
  // buffer whole.
  void PlaceConcatInputs() {
    placed_.assign(g_.values.size(), Placement{});
    if (!p_.int8) return;
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& node = g_.nodes[i];
      const ValueId y = node.outputs[0];
      const graph::Shape& ys = g_.values[y].shape;
      if (p_.mode[i] != Mode::kConcat || node.attrs.axis != static_cast<int>(ys.size()) - 1) continue;
      size_t offset = 0;
      for (ValueId v : node.inputs) {
        const int producer = g_.ProducerOf(v);
        const bool conv =
            producer >= 0 &&
            (concat_q8_[y] ? p_.mode[producer] == Mode::kQ8 && p_.kind[producer] == Q8Kind::kConv
                           : p_.mode[producer] == Mode::kF32Xnnpack && g_.nodes[producer].op == Op::kConv2D);
        const bool ok = conv && consumers_[v].size() == 1 && v != g_.outputs[0] && p_.root[v] == v &&
                        !placed_[v].concat_set;
        if (ok) placed_[v] = Placement{true, static_cast<int>(i), offset, LastDim(ys)};
        offset += LastDim(g_.values[v].shape);
      }
    }
  }

  void PoolConstants() {
    p_.constants.assign(g_.values.size(), {});
    p_.wide_constants.assign(g_.nodes.size(), {});
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (p_.mode[i] != Mode::kF32Xnnpack && p_.mode[i] != Mode::kConcat) continue;
      const Node& node = g_.nodes[i];
      if (node.op == Op::kConv2D || node.op == Op::kFullyConnected) continue;  // weights are packed
      if (p_.mode[i] == Mode::kF32Xnnpack) p_.wide_constants[i] = xnnpack_internal::WideConstant(g_, node);
      for (const ValueId v : node.inputs) {
        if (!Constant(v) || !p_.constants[v].empty()) continue;
        p_.constants[v] = g_.values[v].f32;
        p_.constants[v].resize(p_.constants[v].size() + XNN_EXTRA_BYTES / sizeof(float) + 1, 0.0f);
      }
    }
  }

  int NewBuffer(ValueId v, Rep rep) {
    const ValueId r = p_.root[v];
    const size_t bytes = Elements(g_, r) * (rep == Rep::kQ8 ? 1 : sizeof(float));
    Buffer b;
    b.bytes = bytes;
    b.first = b.last = static_cast<int>(p_.steps.size());
    p_.buffers.push_back(b);
    const int id = static_cast<int>(p_.buffers.size()) - 1;
    buffer_of_[r][static_cast<int>(rep)] = id;
    return id;
  }

  // A buffer that lives during the next step only.
  int NewScratch(size_t bytes) {
    Buffer b;
    b.bytes = bytes;
    b.first = b.last = static_cast<int>(p_.steps.size());
    p_.buffers.push_back(b);
    return static_cast<int>(p_.buffers.size()) - 1;
  }

  // The buffer holding `v` in `rep`, converting it (once) if it lives in the other.
  int Ensure(ValueId v, Rep rep, size_t node) {
    if (v == graph::kNoValue || Constant(v)) return -1;
    const ValueId r = p_.root[v];
    const int have = buffer_of_[r][static_cast<int>(rep)];
    if (have >= 0) return have;
    Step step;
    step.kind = rep == Rep::kQ8 ? Step::Kind::kToQ8 : Step::Kind::kToF32;
    step.node = node;
    step.value = r;
    step.reads = {buffer_of_[r][1 - static_cast<int>(rep)]};
    const int id = NewBuffer(r, rep);
    step.write = id;
    p_.steps.push_back(std::move(step));
    ++p_.stats.conversions;
    return id;
  }

  void BuildSteps() {
    buffer_of_.assign(g_.values.size(), {-1, -1});
    p_.input_buffer = NewBuffer(g_.inputs[0], Rep::kF32);
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& node = g_.nodes[i];
      const ValueId y = node.outputs[0];
      switch (p_.mode[i]) {
        case Mode::kAlias: ++p_.stats.free_nodes; continue;
        case Mode::kFused:  // computed by the int16 convolution(s) before it
          if (node.op == Op::kConcat) {
            ++p_.stats.free_nodes;
            continue;
          }
          ++p_.stats.float_nodes;
          p_.stats.float_node_names.push_back(node.name);
          continue;
        case Mode::kConcat: BuildConcat(i); break;
        case Mode::kQ8:
        case Mode::kF32Xnnpack:
        case Mode::kF32Reference: {
          const bool q8 = p_.mode[i] == Mode::kQ8;
          const Rep rep = q8 ? Rep::kQ8 : Rep::kF32;
          Step step;
          step.kind = q8                                       ? Step::Kind::kQ8Op
                      : p_.mode[i] == Mode::kF32Xnnpack ? Step::Kind::kF32Op
                                                               : Step::Kind::kReference;
          step.node = i;
          const bool weights = node.op == Op::kConv2D || node.op == Op::kFullyConnected;
          for (size_t k = 0; k < node.inputs.size(); ++k) {
            step.reads.push_back(weights && k > 0 ? -1 : Ensure(node.inputs[k], rep, i));
          }
          if (fused_pool_[i].pool >= 0) {  // writes (its channels of) the pooling's output
            const FusedPool& f = fused_pool_[i];
            int& buffer = buffer_of_[p_.root[g_.nodes[f.pool].outputs[0]]][static_cast<int>(rep)];
            if (buffer < 0) buffer = NewBuffer(g_.nodes[f.pool].outputs[0], rep);
            step.pool_node = f.pool;
            step.write = buffer;
            step.out_offset = f.offset;
            step.out_stride = f.stride;
          } else if (placed_[y].concat_set) {  // into its concat's buffer
            const ValueId concat = g_.nodes[placed_[y].concat].outputs[0];
            int& buffer = buffer_of_[p_.root[concat]][static_cast<int>(rep)];  // the concat's rep
            if (buffer < 0) buffer = NewBuffer(concat, rep);
            step.write = buffer;
            step.out_offset = placed_[y].offset;
            step.out_stride = placed_[y].stride;
          } else {
            step.write = NewBuffer(y, rep);
          }
          if (!p_.gemm16[i].kernel.empty()) {
            size_t bytes = int8_internal::Q16InputBytes(g_, node, p_.gemm16[i]);
            if (fused_pool_[i].pool >= 0) {  // and a ring per thread
              const graph::Shape& ys = g_.values[y].shape;
              bytes = int8_internal::Q16RingOffset(bytes) +
                      sizeof(float) * static_cast<size_t>(std::max(p_.threads, 1)) *
                          xnnpack_internal::MaxPoolRingFloats(
                              static_cast<size_t>(g_.nodes[fused_pool_[i].pool].attrs.kernel_h),
                              static_cast<size_t>(ys[2]),
                              p_.gemm16[i].n + (fold_of_[i] >= 0 ? p_.gemm16[fold_of_[i]].n : 0));
            }
            step.scratch = NewScratch(bytes);
            step.peak_in = peak_in_[i];
            step.peak_out = peak_slot_[i];
            step.folded_node = fold_of_[i];
          }
          p_.steps.push_back(std::move(step));
          if (q8) {
            ++p_.stats.int8_nodes;
            if (!PassesBytes(p_.kind[i])) p_.stats.int8_compute_names.push_back(node.name);
          } else {
            ++p_.stats.float_nodes;
            p_.stats.float_node_names.push_back(node.name);
          }
          break;
        }
      }
      if (!p_.int8) p_.steps.back().observe = y;
    }
    p_.output_buffer = Ensure(g_.outputs[0], Rep::kF32, g_.nodes.size());
  }

  // One strided copy per input into the concat output (int8 or float32).
  void BuildConcat(size_t i) {
    const Node& node = g_.nodes[i];
    const ValueId y = node.outputs[0];
    const Rep rep = concat_q8_[y] ? Rep::kQ8 : Rep::kF32;
    const graph::Shape& out_shape = g_.values[y].shape;
    const size_t axis = static_cast<size_t>(node.attrs.axis);
    size_t outer = 1;
    for (size_t d = 0; d < axis; ++d) outer *= static_cast<size_t>(out_shape[d]);
    const size_t out_row = Elements(g_, y) / outer;
    std::vector<int> reads;
    for (ValueId v : node.inputs) reads.push_back(placed_[v].concat_set ? -1 : Ensure(v, rep, i));
    int write = buffer_of_[p_.root[y]][static_cast<int>(rep)];  // set when an input was placed
    if (write < 0) write = NewBuffer(y, rep);
    size_t offset = 0;
    bool copied = false;
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      const size_t width = Elements(g_, node.inputs[k]) / outer;
      if (placed_[node.inputs[k]].concat_set) {
        ++p_.stats.inplace_concat_inputs;
        offset += width;
        continue;
      }
      copied = true;
      Step step;
      step.kind = Step::Kind::kCopy;
      step.node = i;
      step.value = node.inputs[k];
      step.reads = {reads[k]};
      step.write = write;
      step.width = width;
      step.rows = outer;
      step.in_stride = width;
      step.out_stride = out_row;
      step.out_offset = offset;
      step.x8 = rep == Rep::kQ8;
      offset += width;
      p_.steps.push_back(std::move(step));
    }
    if (!copied) {
      ++p_.stats.free_nodes;
      return;
    }
    if (rep == Rep::kQ8) {
      ++p_.stats.int8_nodes;
    } else {
      ++p_.stats.float_nodes;
      p_.stats.float_node_names.push_back(node.name);
    }
  }

  void PlanMemory() {
    const int end = static_cast<int>(p_.steps.size());
    for (size_t s = 0; s < p_.steps.size(); ++s) {
      for (int b : p_.steps[s].reads) {
        if (b >= 0) p_.buffers[b].last = std::max(p_.buffers[b].last, static_cast<int>(s));
      }
    }
    p_.buffers[p_.output_buffer].last = end;
    std::vector<BufferRequest> requests;
    for (const Buffer& b : p_.buffers) {
      BufferRequest r;
      r.bytes = b.bytes;
      r.first_step = b.first;
      r.last_step = std::max(b.first, b.last);
      requests.push_back(r);
    }
    const ArenaPlan plan = PlanArena(requests, kAlignment);
    for (size_t b = 0; b < p_.buffers.size(); ++b) p_.buffers[b].offset = plan.offsets[b];
    p_.arena_bytes = plan.arena_bytes;
    p_.stats.arena_bytes = plan.arena_bytes;
  }

  Program& p_;
  const Graph& g_;
  const Int8Calibration* calibration_;
  std::vector<std::vector<size_t>> consumers_;
  std::unordered_set<std::string> keep_float_;  // Int8Calibration::float_nodes
  std::vector<bool> concat_q8_;  // per value: produced in int8 (decides concat outputs)
  std::vector<std::array<int, 2>> buffer_of_;  // per root value, per Rep
  struct Placement {
    bool concat_set = false;
    int concat = -1;     // the concat node
    size_t offset = 0;   // first channel in the concat output
    size_t stride = 0;   // the concat's channels
  };
  std::vector<Placement> placed_;  // per value
  struct FusedPool {
    int pool = -1;       // the MaxPool2D node an int16 convolution computes too
    size_t offset = 0;   // its first channel in the pooling's output (after a concat)
    size_t stride = 0;   // the pooling's channels (0: the convolution's own)
  };
  std::vector<FusedPool> fused_pool_;  // per node
  std::vector<int> folded_into_;  // per node: the node whose tiles compute this 1x1 (FoldExpands), else -1
  std::vector<int> fold_of_;      // per node: the 1x1 computed in its tiles, else -1
  std::vector<int> peak_slot_;   // per node: an int16 convolution's output peak slot, else -1
  std::vector<int> peak_in_;     // per node: an int16 convolution's input peak slot, else -1
};

}  // namespace

Status PlanProgram(Program* p, const Int8Calibration* calibration) {
  return Planner(p, calibration).Run();
}

}  // namespace edgevision::engine::int8_internal
