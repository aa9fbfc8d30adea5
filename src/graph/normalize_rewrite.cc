// Rewrite passes: Pad merging, pooling, reshapes, activation fusion.
#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "graph/limits.h"
#include "graph/normalize_passes.h"

namespace edgevision::graph {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Value replacements made during a pass, applied to later nodes as the pass
// walks the (topologically ordered) nodes, and to graph outputs at the end.
class Aliases {
 public:
  explicit Aliases(size_t values) : to_(values, kNoValue) {}
  void Set(ValueId from, ValueId to) { to_[from] = to; }
  ValueId Resolve(ValueId v) const {
    while (v != kNoValue && to_[v] != kNoValue) v = to_[v];
    return v;
  }
  void ResolveInputs(Node* node) const {
    for (ValueId& in : node->inputs) in = Resolve(in);
  }
  void ResolveOutputs(Graph* g) const {
    for (ValueId& out : g->outputs) out = Resolve(out);
  }

 private:
  std::vector<ValueId> to_;
};

// Use counts (node readers + graph outputs) for every value.
std::vector<int> UseCounts(const Graph& g) {
  std::vector<int> uses(g.values.size(), 0);
  for (const Node& n : g.nodes) {
    for (ValueId in : n.inputs) {
      if (in != kNoValue) ++uses[in];
    }
  }
  for (ValueId out : g.outputs) ++uses[out];
  return uses;
}

// True when every element of `v` is >= 0 by construction: the output of a
// Relu, or of a Clamp or a fused activation whose lower bound is >= 0.
bool NonNegative(const Graph& g, const std::vector<int>& producer, ValueId v) {
  if (producer[v] < 0) return false;
  const Node& n = g.nodes[static_cast<size_t>(producer[v])];
  return n.op == Op::kRelu || n.attrs.act_min >= 0.0f;
}

void AddSentence(NormalizeReport* report, size_t n, const std::string& text) {
  if (n > 0) report->rewrites.push_back(text);
}

}  // namespace

Status MergePads(Graph* graph, NormalizeReport* report) {
  Graph& g = *graph;
  const std::vector<std::vector<int>> consumers = ConsumerIndex(g);
  std::vector<int> uses = UseCounts(g);
  Aliases alias(g.values.size());
  std::vector<bool> remove(g.nodes.size(), false);
  std::vector<int> producer(g.values.size(), -1);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (ValueId out : g.nodes[i].outputs) producer[out] = static_cast<int>(i);
  }
  size_t into_max = 0, into_max_zero = 0, into_conv = 0, into_avg = 0, dropped = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    alias.ResolveInputs(&g.nodes[i]);
    const Node& pad = g.nodes[i];
    if (pad.op != Op::kPad) continue;
    const ValueId x = pad.inputs[0];
    const ValueId y = pad.outputs[0];
    const std::vector<int64_t>& p = pad.attrs.ints;
    const size_t rank = g.values[x].shape.size();
    if (p.size() != 2 * rank) continue;
    if (std::all_of(p.begin(), p.end(), [](int64_t v) { return v == 0; }) &&
        !(IsGraphOutput(g, y) && IsGraphInput(g, x))) {
      alias.Set(y, x);
      uses[x] += uses[y] - 1;
      remove[i] = true;
      ++dropped;
      continue;
    }
    if (rank != 4 || p[0] || p[3] || p[4] || p[7] || uses[y] != 1 || IsGraphOutput(g, y) ||
        std::any_of(p.begin(), p.end(), [](int64_t v) { return v > kMaxWindow; })) {
      continue;
    }
    Node& c = g.nodes[consumers[y][0]];
    if (c.inputs.empty() || c.inputs[0] != y) continue;
    if (std::max({c.attrs.pad_top, c.attrs.pad_left, c.attrs.pad_bottom, c.attrs.pad_right}) >
        kMaxWindow) {
      continue;
    }
    Attrs merged = c.attrs;
    merged.pad_top += static_cast<int>(p[1]);
    merged.pad_left += static_cast<int>(p[2]);
    merged.pad_bottom += static_cast<int>(p[5]);
    merged.pad_right += static_cast<int>(p[6]);
    // The merged padding must stay within the limit the engines admit.
    if (std::max({merged.pad_top, merged.pad_left, merged.pad_bottom, merged.pad_right}) >
        kMaxWindow) {
      continue;
    }
    const bool fits = merged.pad_top < merged.kernel_h && merged.pad_bottom < merged.kernel_h &&
                      merged.pad_left < merged.kernel_w && merged.pad_right < merged.kernel_w;
    const bool has_pads =
        c.attrs.pad_top || c.attrs.pad_left || c.attrs.pad_bottom || c.attrs.pad_right;
    // Zero padding before a max pool changes nothing when no input is
    // negative: every window holds at least one real element (`fits`), and
    // max(0, elements >= 0) is the max of the elements. (Pools pad with -inf.)
    if (c.op == Op::kMaxPool2D && pad.attrs.pad_value <= std::numeric_limits<float>::lowest() &&
        fits) {
      ++into_max;
    } else if (c.op == Op::kMaxPool2D && pad.attrs.pad_value == 0.0f && NonNegative(g, producer, x) &&
               fits) {
      ++into_max_zero;
    } else if (c.op == Op::kConv2D && pad.attrs.pad_value == 0.0f) {
      ++into_conv;
    } else if (c.op == Op::kAvgPool2D && pad.attrs.pad_value == 0.0f && fits &&
               (!has_pads || c.attrs.count_include_pad)) {
      merged.count_include_pad = true;
      ++into_avg;
    } else {
      continue;
    }
    c.attrs = merged;
    c.inputs[0] = x;
    remove[i] = true;
  }
  alias.ResolveOutputs(&g);
  EraseNodes(&g, remove);
  AddSentence(report, dropped, "removed " + CountOf(dropped, "Pad") + " that pad nothing");
  AddSentence(
      report, into_max,
      "merged " + CountOf(into_max, "Pad(-FLT_MAX)") + " into the following MaxPool2D pads");
  AddSentence(report, into_max_zero,
              "merged " + CountOf(into_max_zero, "Pad(0)") +
                  " of a non-negative input into the following MaxPool2D pads");
  AddSentence(report, into_conv,
              "merged " + CountOf(into_conv, "Pad(0)") + " into the following Conv2D pads");
  AddSentence(report, into_avg,
              "merged " + CountOf(into_avg, "Pad(0)") +
                  " into the following AvgPool2D pads (counting padded positions)");
  return Status::Ok();
}

Status RewritePooling(Graph* graph, NormalizeReport* report) {
  Graph& g = *graph;
  size_t reduce = 0, avg = 0;
  std::vector<std::pair<size_t, Node>> reshapes;  // (node index, Reshape to insert after it)
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& n = g.nodes[i];
    const Shape x = g.values[n.inputs[0]].shape;
    if (x.size() != 4) continue;
    if (n.op == Op::kReduceMean) {
      std::vector<int64_t> axes = n.attrs.ints;
      for (int64_t& a : axes) a = a < 0 ? a + 4 : a;
      std::sort(axes.begin(), axes.end());
      if (axes != std::vector<int64_t>{1, 2}) continue;
      n.op = Op::kGlobalAvgPool;
      const bool keep = n.attrs.keep_dims;
      n.attrs = Attrs{};
      if (!keep) {
        const ValueId pooled = g.AddActivation(n.name + "/pooled", {x[0], 1, 1, x[3]});
        Node& pool = g.nodes[i];
        Node flat;
        flat.op = Op::kReshape;
        flat.name = pool.name + "/squeeze";
        flat.inputs = {pooled};
        flat.outputs = pool.outputs;
        flat.attrs.ints = {x[0], x[3]};
        pool.outputs = {pooled};
        reshapes.emplace_back(i, std::move(flat));
      }
      ++reduce;
    } else if (n.op == Op::kAvgPool2D && n.attrs.kernel_h == x[1] && n.attrs.kernel_w == x[2] &&
               !n.attrs.pad_top && !n.attrs.pad_left && !n.attrs.pad_bottom && !n.attrs.pad_right) {
      n.op = Op::kGlobalAvgPool;
      n.attrs = Attrs{};
      ++avg;
    }
  }
  for (size_t k = reshapes.size(); k-- > 0;) {
    g.nodes.insert(g.nodes.begin() + reshapes[k].first + 1, std::move(reshapes[k].second));
  }
  AddSentence(
      report, reduce,
      "turned " + CountOf(reduce, "ReduceMean") + " over height and width into GlobalAvgPool");
  AddSentence(report, avg,
              "turned " + CountOf(avg, "AvgPool2D") +
                  " whose window covers the whole input into GlobalAvgPool");
  return Status::Ok();
}

Status SimplifyReshapes(Graph* graph, NormalizeReport* report) {
  Graph& g = *graph;
  std::vector<int> producer = ProducerIndex(g);
  const std::vector<std::vector<int>> consumers = ConsumerIndex(g);
  std::vector<int> uses = UseCounts(g);
  Aliases alias(g.values.size());
  std::vector<bool> remove(g.nodes.size(), false);
  size_t identities = 0, merged = 0, transposes_as_reshape = 0, before_fc = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    alias.ResolveInputs(&g.nodes[i]);
    Node& n = g.nodes[i];
    if (n.op != Op::kReshape && n.op != Op::kTranspose) continue;
    const ValueId y = n.outputs[0];
    const Shape& ys = g.values[y].shape;
    if (n.op == Op::kTranspose) {
      for (int64_t& p : n.attrs.ints) p = p < 0 ? p + static_cast<int64_t>(ys.size()) : p;
    }
    // Read through a producing Reshape/Transpose of the same kind.
    auto read_through = [&]() {
      const ValueId in = n.inputs[0];
      const int pi = producer[in];
      if (pi < 0 || remove[pi] || g.nodes[pi].op != n.op) return;
      const Node& p = g.nodes[pi];
      if (n.op == Op::kTranspose) {
        std::vector<int64_t> perm(n.attrs.ints.size());
        for (size_t d = 0; d < perm.size(); ++d) perm[d] = p.attrs.ints[n.attrs.ints[d]];
        n.attrs.ints = std::move(perm);
      }
      n.inputs[0] = p.inputs[0];
      --uses[in];
      ++uses[p.inputs[0]];
      ++merged;
    };
    read_through();
    if (n.op == Op::kTranspose) {
      // Moving only size-1 dimensions keeps the data order: a Reshape.
      const Shape& ss = g.values[n.inputs[0]].shape;
      int64_t last = -1;
      bool order_kept = true, moves = false;
      for (size_t d = 0; d < n.attrs.ints.size(); ++d) {
        const int64_t p = n.attrs.ints[d];
        moves |= p != static_cast<int64_t>(d);
        if (ss[p] == 1) continue;
        order_kept &= p > last;
        last = p;
      }
      if (!order_kept) continue;
      n.op = Op::kReshape;
      n.attrs.ints = ys;
      if (moves) ++transposes_as_reshape;
      read_through();
    }
    const ValueId src = n.inputs[0];
    const Shape& ss = g.values[src].shape;
    if (ss == ys && !(IsGraphOutput(g, y) && (IsGraphInput(g, src) || g.values[src].is_constant))) {
      alias.Set(y, src);
      uses[src] += uses[y] - 1;
      remove[i] = true;
      ++identities;
      continue;
    }
    // [N,1,1,K] -> [N,K] feeding only FullyConnected.
    const bool flat = ss.size() == 4 && ss[1] == 1 && ss[2] == 1 && ys.size() == 2 &&
                      ys[0] == ss[0] && ys[1] == ss[3];
    if (!flat || IsGraphOutput(g, y) || consumers[y].empty()) continue;
    bool only_fc = true;
    for (int c : consumers[y]) {
      only_fc &= g.nodes[c].op == Op::kFullyConnected && g.nodes[c].inputs[0] == y &&
                 std::count(g.nodes[c].inputs.begin(), g.nodes[c].inputs.end(), y) == 1;
    }
    if (!only_fc) continue;
    alias.Set(y, src);
    uses[src] += uses[y] - 1;
    remove[i] = true;
    ++before_fc;
  }
  alias.ResolveOutputs(&g);
  EraseNodes(&g, remove);
  AddSentence(report, identities,
              "removed " + CountOf(identities, "Reshape/Transpose") + " that change nothing");
  AddSentence(report, merged,
              "collapsed " + CountOf(merged, "consecutive Reshape/Transpose pairs"));
  AddSentence(report, transposes_as_reshape,
              "turned " + CountOf(transposes_as_reshape, "Transpose") +
                  " that only move size-1 dimensions into Reshape");
  AddSentence(report, before_fc,
              "dropped " + CountOf(before_fc, "Reshape/Flatten") +
                  " from [N,1,1,K] to [N,K] before FullyConnected (it reads [N,1,1,K])");
  return Status::Ok();
}

namespace {

// The value of a one-element float constant `v` that does not raise the rank
// of a rank-`rank` tensor it broadcasts against; NaN otherwise.
float ScalarConstant(const Graph& g, ValueId v, size_t rank) {
  if (!IsFloatConstant(g, v)) return std::numeric_limits<float>::quiet_NaN();
  const Value& c = g.values[v];
  if (c.f32.size() != 1 || c.shape.size() > rank) return std::numeric_limits<float>::quiet_NaN();
  return c.f32[0];
}

bool Plain(const Node& n) {
  return n.attrs.act_min == -kInf && n.attrs.act_max == kInf;
}

}  // namespace

Status FuseHardSwish(Graph* graph, NormalizeReport* report) {
  Graph& g = *graph;
  const std::vector<int> producer = ProducerIndex(g);
  const std::vector<int> uses = UseCounts(g);
  // The single-use node producing `v` with op `op`, or nullptr.
  auto sole = [&](ValueId v, Op op) -> const Node* {
    const int p = producer[v];
    if (p < 0 || uses[v] != 1 || IsGraphOutput(g, v) || g.nodes[p].op != op) return nullptr;
    return &g.nodes[p];
  };
  // True when `b` is relu6(x + 3): Clamp(0,6)(Add(x, 3)) or Add(x, 3) with a
  // fused [0, 6] clamp.
  auto relu6_of_x_plus_3 = [&](ValueId b, ValueId x) {
    const size_t rank = g.values[x].shape.size();
    const Node* add = nullptr;
    if (const Node* clamp = sole(b, Op::kClamp)) {
      if (clamp->attrs.act_min != 0.0f || clamp->attrs.act_max != 6.0f) return false;
      add = sole(clamp->inputs[0], Op::kAdd);
      if (add == nullptr || !Plain(*add)) return false;
    } else {
      add = sole(b, Op::kAdd);
      if (add == nullptr || add->attrs.act_min != 0.0f || add->attrs.act_max != 6.0f) return false;
    }
    for (int k = 0; k < 2; ++k) {
      if (add->inputs[k] == x && ScalarConstant(g, add->inputs[1 - k], rank) == 3.0f) return true;
    }
    return false;
  };
  // `v` divided by 6 (Div by 6 or Mul by 1/6): the divided value, or kNoValue.
  auto over_six = [&](const Node& n) -> ValueId {
    if (!Plain(n) || n.inputs.size() != 2) return kNoValue;
    const size_t rank = g.values[n.outputs[0]].shape.size();
    if (n.op == Op::kDiv && ScalarConstant(g, n.inputs[1], rank) == 6.0f) return n.inputs[0];
    if (n.op == Op::kMul) {
      for (int k = 0; k < 2; ++k) {
        if (std::fabs(ScalarConstant(g, n.inputs[1 - k], rank) - 1.0f / 6.0f) < 1e-7f) {
          return n.inputs[k];
        }
      }
    }
    return kNoValue;
  };
  size_t fused = 0;
  for (Node& n : g.nodes) {
    ValueId x = kNoValue;
    // x * relu6(x + 3) / 6, divided last.
    if (const ValueId m = over_six(n); m != kNoValue) {
      if (const Node* mul = sole(m, Op::kMul); mul != nullptr && Plain(*mul)) {
        for (int k = 0; k < 2 && x == kNoValue; ++k) {
          if (relu6_of_x_plus_3(mul->inputs[1 - k], mul->inputs[k])) x = mul->inputs[k];
        }
      }
    }
    // x * (relu6(x + 3) / 6).
    if (x == kNoValue && n.op == Op::kMul && Plain(n) && n.inputs.size() == 2) {
      for (int k = 0; k < 2 && x == kNoValue; ++k) {
        const int p = producer[n.inputs[1 - k]];
        if (p < 0 || uses[n.inputs[1 - k]] != 1) continue;
        const ValueId b = over_six(g.nodes[p]);
        if (b != kNoValue && relu6_of_x_plus_3(b, n.inputs[k])) x = n.inputs[k];
      }
    }
    if (x == kNoValue) continue;
    n.op = Op::kHardSwish;
    n.inputs = {x};
    n.attrs = Attrs{};
    ++fused;
  }
  AddSentence(report, fused,
              "fused " + CountOf(fused, "x * relu6(x + 3) / 6 patterns") + " into HardSwish");
  return Status::Ok();
}

Status FuseActivations(Graph* graph, NormalizeReport* report) {
  Graph& g = *graph;
  std::vector<int> producer = ProducerIndex(g);
  std::vector<int> uses = UseCounts(g);
  std::vector<bool> remove(g.nodes.size(), false);
  std::map<std::pair<std::string, std::string>, size_t> fused;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& a = g.nodes[i];
    if (a.op != Op::kRelu && a.op != Op::kClamp) continue;
    const ValueId x = a.inputs[0];
    const int pi = producer[x];
    if (pi < 0 || uses[x] != 1 || IsGraphOutput(g, x)) continue;
    Node& p = g.nodes[pi];
    if (p.op != Op::kConv2D && p.op != Op::kFullyConnected && p.op != Op::kAdd &&
        p.op != Op::kSub && p.op != Op::kMul) {
      continue;
    }
    const float lo = a.op == Op::kRelu ? 0.0f : a.attrs.act_min;
    const float hi = a.op == Op::kRelu ? kInf : a.attrs.act_max;
    const float new_lo = std::max(p.attrs.act_min, lo);
    const float new_hi = std::min(p.attrs.act_max, hi);
    if (!(new_lo <= new_hi)) continue;
    p.attrs.act_min = new_lo;
    p.attrs.act_max = new_hi;
    p.outputs[0] = a.outputs[0];
    producer[a.outputs[0]] = pi;
    producer[x] = -1;
    remove[i] = true;
    ++fused[{std::string(OpName(a.op)), std::string(OpName(p.op))}];
  }
  EraseNodes(&g, remove);
  for (const auto& [ops, n] : fused) {
    report->rewrites.push_back("fused " + CountOf(n, ops.first) + " into " + ops.second);
  }
  return Status::Ok();
}

Status LowerUnaryOps(Graph* graph, NormalizeReport* report) {
  Graph& g = *graph;
  size_t negs = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (g.nodes[i].op != Op::kNeg) continue;
    const ValueId minus_one = g.AddConstant(g.nodes[i].name + "/minus_one", {1}, {-1.0f});
    Node& n = g.nodes[i];
    n.op = Op::kMul;
    n.inputs.push_back(minus_one);
    ++negs;
  }
  AddSentence(report, negs, "turned " + CountOf(negs, "Neg") + " into Mul by -1");
  return Status::Ok();
}

namespace {

bool IsTransposeBy(const Node& n, std::initializer_list<int64_t> perm) {
  return n.op == Op::kTranspose && n.attrs.ints == std::vector<int64_t>(perm);
}

// The same shuffle written in NCHW (ONNX): on an NHWC value x [N,H,W,C] the
// ONNX importer emits Transpose to NCHW -> Reshape [N,G,K,H,W] -> Transpose
// [0,2,1,3,4] -> Reshape [N,C,H,W] -> Transpose to NHWC. Channel k*G+g of
// the result is channel g*K+k of x, as in the NHWC form. Returns how many
// chains became one ChannelShuffle.
size_t FuseNchwChannelShuffles(Graph& g) {
  const std::vector<int> producer = ProducerIndex(g);
  const std::vector<int> uses = UseCounts(g);
  std::vector<bool> remove(g.nodes.size(), false);
  size_t fused = 0;
  // Walks back from node i through its single-use input; -1 if absent.
  auto back = [&](int i) {
    if (i < 0 || g.nodes[i].inputs.empty()) return -1;
    const ValueId in = g.nodes[i].inputs[0];
    return uses[in] == 1 ? producer[in] : -1;
  };
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& to_nhwc = g.nodes[i];
    if (!IsTransposeBy(to_nhwc, {0, 2, 3, 1})) continue;
    const int r2 = back(static_cast<int>(i));
    const int t2 = back(r2);
    const int r1 = back(t2);
    const int t1 = back(r1);
    if (t1 < 0 || g.nodes[r2].op != Op::kReshape || !IsTransposeBy(g.nodes[t2], {0, 2, 1, 3, 4}) ||
        g.nodes[r1].op != Op::kReshape || !IsTransposeBy(g.nodes[t1], {0, 3, 1, 2})) {
      continue;
    }
    const ValueId x = g.nodes[t1].inputs[0];
    const Shape& xs = g.values[x].shape;                         // [N,H,W,C]
    const Shape& split = g.values[g.nodes[r1].outputs[0]].shape;  // [N,G,K,H,W]
    const Shape& ys = g.values[to_nhwc.outputs[0]].shape;         // [N,H,W,C]
    if (xs.size() != 4 || split.size() != 5 || ys != xs) continue;
    const int64_t groups = split[1];
    if (split[0] != xs[0] || split[3] != xs[1] || split[4] != xs[2] || groups < 2 ||
        groups * split[2] != xs[3]) {
      continue;
    }
    Node shuffle;
    shuffle.op = Op::kChannelShuffle;
    shuffle.name = g.nodes[t2].name;
    shuffle.inputs = {x};
    shuffle.outputs = {to_nhwc.outputs[0]};
    shuffle.attrs.groups = static_cast<int>(groups);
    to_nhwc = std::move(shuffle);
    remove[r2] = remove[t2] = remove[r1] = remove[t1] = true;
    ++fused;
  }
  EraseNodes(&g, remove);
  return fused;
}

}  // namespace

// Reshape [.., G, K] -> Transpose (last two swapped) -> Reshape back, on a
// value whose last dimension is C = G * K: ShuffleNet's channel shuffle.
// Also its NCHW form (FuseNchwChannelShuffles).
Status FuseChannelShuffles(Graph* graph, NormalizeReport* report) {
  Graph& g = *graph;
  const std::vector<int> producer = ProducerIndex(g);
  const std::vector<int> uses = UseCounts(g);
  std::vector<bool> remove(g.nodes.size(), false);
  size_t fused = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& back = g.nodes[i];
    if (back.op != Op::kReshape) continue;
    const int ti = producer[back.inputs[0]];
    if (ti < 0 || g.nodes[ti].op != Op::kTranspose || uses[back.inputs[0]] != 1) continue;
    const Node& transpose = g.nodes[ti];
    const int ri = producer[transpose.inputs[0]];
    if (ri < 0 || g.nodes[ri].op != Op::kReshape || uses[transpose.inputs[0]] != 1) continue;
    const Node& split = g.nodes[ri];
    const ValueId x = split.inputs[0];
    const Shape& xs = g.values[x].shape;
    const Shape& ss = g.values[split.outputs[0]].shape;
    const Shape& ys = g.values[back.outputs[0]].shape;
    const size_t r = ss.size();
    if (xs.empty() || ys.empty() || r < 3 || xs.back() < 1 || ys.back() != xs.back()) continue;
    // The permutation swaps the last two axes and keeps the others.
    const std::vector<int64_t>& perm = transpose.attrs.ints;
    bool swap_last_two = perm.size() == r;
    for (size_t d = 0; swap_last_two && d < r; ++d) {
      const int64_t p = perm[d] < 0 ? perm[d] + static_cast<int64_t>(r) : perm[d];
      const size_t want = d + 2 < r ? d : (d + 2 == r ? r - 1 : r - 2);
      swap_last_two = p == static_cast<int64_t>(want);
    }
    const int64_t groups = ss[r - 2], per_group = ss[r - 1];
    if (!swap_last_two || groups < 2 || groups * per_group != xs.back()) continue;
    // Same rows before and after: only the channels move.
    if (ShapeProduct(xs) != ShapeProduct(ys) || ShapeProduct(ss) != ShapeProduct(xs)) continue;
    Node shuffle;
    shuffle.op = Op::kChannelShuffle;
    shuffle.name = transpose.name;
    shuffle.inputs = {x};
    shuffle.attrs.groups = static_cast<int>(groups);
    if (ys == xs) {
      shuffle.outputs = {back.outputs[0]};
      back = std::move(shuffle);
    } else {  // keep the final Reshape, now of the shuffled value
      shuffle.outputs = {transpose.outputs[0]};
      g.values[transpose.outputs[0]].shape = xs;
      g.nodes[ti] = std::move(shuffle);
      remove[i] = false;
      remove[ri] = true;
      ++fused;
      continue;
    }
    remove[ti] = true;
    remove[ri] = true;
    ++fused;
  }
  EraseNodes(&g, remove);
  AddSentence(report, fused,
              "recognised " + CountOf(fused, "channel shuffle(s)") +
                  " (Reshape -> Transpose -> Reshape) as ChannelShuffle");
  const size_t nchw = FuseNchwChannelShuffles(g);
  AddSentence(report, nchw,
              "recognised " + CountOf(nchw, "NCHW channel shuffle(s)") +
                  " (Reshape [N,G,K,H,W] -> Transpose -> Reshape) as ChannelShuffle");
  return Status::Ok();
}

}  // namespace edgevision::graph
