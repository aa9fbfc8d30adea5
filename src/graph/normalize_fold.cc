// Folding passes: Identity removal, constant folding, BatchNorm and
// per-channel affine folding into convolutions.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "core/half.h"
#include "graph/broadcast.h"
#include "graph/normalize_passes.h"
#include "graph/shape_inference.h"

namespace edgevision::graph {

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
// Constant folding may create outputs larger than its inputs only up to this
// many elements.
constexpr int64_t kMaxFoldGrowth = int64_t{1} << 20;

bool HasActivation(const Node& node) {
  return node.attrs.act_min != -kInf || node.attrs.act_max != kInf;
}

float Clamp(const Attrs& a, float v) {
  return std::min(std::max(v, a.act_min), a.act_max);
}

// Evaluates a node whose inputs are all float32 constants; false when the op
// is not one constant folding handles.
Result<bool> EvaluateConstant(const Graph& g, const Node& node, const Shape& out_shape,
                              std::vector<float>* out) {
  auto in = [&](size_t i) -> const Value& { return g.values[node.inputs[i]]; };
  const int64_t count =
      std::accumulate(out_shape.begin(), out_shape.end(), int64_t{1}, std::multiplies<int64_t>());
  out->assign(static_cast<size_t>(count), 0.0f);
  auto unary = [&](auto f) {
    for (size_t i = 0; i < out->size(); ++i) (*out)[i] = f(in(0).f32[i]);
  };
  switch (node.op) {
    case Op::kAdd:
    case Op::kSub:
    case Op::kMul:
    case Op::kDiv: {
      Status s = BroadcastBinary(node.op, in(0).f32, in(0).shape, in(1).f32, in(1).shape, *out);
      if (!s.ok()) return Corrupt("node '" + node.name + "': " + s.message());
      for (float& v : *out) v = Clamp(node.attrs, v);
      return true;
    }
    case Op::kNeg: unary([](float v) { return -v; }); return true;
    case Op::kRsqrt: unary([](float v) { return 1.0f / std::sqrt(v); }); return true;
    case Op::kSqrt: unary([](float v) { return std::sqrt(v); }); return true;
    case Op::kRoundHalf: unary([](float v) { return RoundToHalf(v); }); return true;
    case Op::kRelu: unary([](float v) { return std::max(v, 0.0f); }); return true;
    case Op::kClamp: unary([&](float v) { return Clamp(node.attrs, v); }); return true;
    case Op::kSigmoid:
      unary([](float v) { return static_cast<float>(1.0 / (1.0 + std::exp(-double{v}))); });
      return true;
    case Op::kIdentity:
    case Op::kReshape: *out = in(0).f32; return true;
    case Op::kTranspose: {
      const Shape& xs = in(0).shape;
      const std::vector<int64_t> st = RowMajorStrides(xs);
      const size_t r = xs.size();
      std::vector<int64_t> idx(r, 0);
      for (int64_t o = 0; o < count; ++o) {
        int64_t src = 0;
        for (size_t d = 0; d < r; ++d) {
          const int64_t p = node.attrs.ints[d] < 0 ? node.attrs.ints[d] + r : node.attrs.ints[d];
          src += idx[d] * st[p];
        }
        (*out)[o] = in(0).f32[src];
        for (size_t d = r; d-- > 0;) {
          if (++idx[d] < out_shape[d]) break;
          idx[d] = 0;
        }
      }
      return true;
    }
    case Op::kConcat: {
      const size_t r = out_shape.size();
      const size_t axis = node.attrs.axis < 0 ? node.attrs.axis + r : node.attrs.axis;
      int64_t outer = 1;
      for (size_t d = 0; d < axis; ++d) outer *= out_shape[d];
      const int64_t out_block = count / outer;
      int64_t offset = 0;
      for (size_t i = 0; i < node.inputs.size(); ++i) {
        const int64_t block = static_cast<int64_t>(in(i).f32.size()) / outer;
        for (int64_t o = 0; o < outer; ++o) {
          std::copy_n(in(i).f32.begin() + o * block, block, out->begin() + o * out_block + offset);
        }
        offset += block;
      }
      return true;
    }
    case Op::kBatchNorm: {
      const int64_t c = out_shape.back();
      for (int64_t i = 0; i < count; ++i) {
        const int64_t ch = i % c;
        const double s = in(1).f32[ch] / std::sqrt(double{in(4).f32[ch]} + node.attrs.epsilon);
        (*out)[i] = static_cast<float>((in(0).f32[i] - in(3).f32[ch]) * s + in(2).f32[ch]);
      }
      return true;
    }
    default: return false;
  }
}

// The longest common prefix of the names, cut after its last '/'.
std::string BlockName(const std::vector<std::string>& names) {
  std::string prefix = names.front();
  for (const std::string& n : names) {
    size_t k = 0;
    while (k < prefix.size() && k < n.size() && prefix[k] == n[k]) ++k;
    prefix.resize(k);
  }
  if (names.size() > 1) {
    const size_t slash = prefix.rfind('/');
    prefix = slash == std::string::npos ? std::string() : prefix.substr(0, slash);
  }
  return prefix.empty() ? names.front() : prefix;
}

int Find(std::vector<int>& parent, int i) {
  while (parent[i] != i) i = parent[i] = parent[parent[i]];
  return i;
}

// A copy of `w` (first dimension = outputs) with output o's slice scaled by
// scale[o] (negated when `negate`).
std::vector<float> ScaleRows(const Value& w, const std::vector<double>& scale) {
  std::vector<float> out = w.f32;
  const size_t rows = scale.size();
  const size_t per = out.size() / rows;
  for (size_t o = 0; o < rows; ++o) {
    for (size_t k = 0; k < per; ++k) {
      out[o * per + k] = static_cast<float>(out[o * per + k] * scale[o]);
    }
  }
  return out;
}

// Bias of a Conv2D/FullyConnected as doubles (zeros when absent).
std::vector<double> BiasOf(const Graph& g, const Node& node, int64_t outputs) {
  std::vector<double> b(outputs, 0.0);
  if (node.inputs.size() > 2 && node.inputs[2] != kNoValue) {
    const Value& v = g.values[node.inputs[2]];
    for (int64_t o = 0; o < outputs; ++o) b[o] = v.f32[o];
  }
  return b;
}

// Replaces the weights and bias of Conv2D/FullyConnected `node` by new constants.
void SetWeights(Graph* g, size_t node_index, std::vector<float> weights,
                const std::vector<double>& bias) {
  Node& node = g->nodes[node_index];
  const ValueId old_w = node.inputs[1];
  Shape w_shape = g->values[old_w].shape;
  std::string w_name = g->values[old_w].name;
  std::vector<float> b(bias.begin(), bias.end());
  const int64_t outputs = static_cast<int64_t>(b.size());
  const std::string bias_name = node.name + "/bias_folded";
  const ValueId w = g->AddConstant(w_name + "/folded", std::move(w_shape), std::move(weights));
  const ValueId bv = g->AddConstant(bias_name, {outputs}, std::move(b));
  Node& n = g->nodes[node_index];
  n.inputs.resize(3, kNoValue);
  n.inputs[1] = w;
  n.inputs[2] = bv;
}

bool WeightsConstant(const Graph& g, const Node& node) {
  if (node.inputs.size() < 2 || !IsFloatConstant(g, node.inputs[1])) return false;
  return node.inputs.size() < 3 || node.inputs[2] == kNoValue || IsFloatConstant(g, node.inputs[2]);
}

// A per-channel affine step y = a*v + b described by a Mul/Add/Sub/Div node
// with one constant operand; `v` is the non-constant operand.
struct AffineStep {
  ValueId v = kNoValue;
  std::vector<double> a, b;
};

// Interprets `node` as an affine step over `channels` channels on a rank-`rank`
// tensor; false when it is not one.
bool AsAffineStep(const Graph& g, const Node& node, int64_t channels, size_t rank,
                  AffineStep* step) {
  if (node.op != Op::kMul && node.op != Op::kAdd && node.op != Op::kSub && node.op != Op::kDiv) {
    return false;
  }
  if (HasActivation(node) || node.inputs.size() != 2) return false;
  const bool c0 = g.values[node.inputs[0]].is_constant;
  const bool c1 = g.values[node.inputs[1]].is_constant;
  if (c0 == c1) return false;
  const int k_slot = c0 ? 0 : 1;
  const std::vector<float> k = PerChannel(g.values[node.inputs[k_slot]], channels, rank);
  if (k.empty()) return false;
  step->v = node.inputs[1 - k_slot];
  step->a.assign(channels, 1.0);
  step->b.assign(channels, 0.0);
  for (int64_t c = 0; c < channels; ++c) {
    switch (node.op) {
      case Op::kMul: step->a[c] = k[c]; break;
      case Op::kAdd: step->b[c] = k[c]; break;
      case Op::kSub:
        if (k_slot == 1) {
          step->b[c] = -double{k[c]};
        } else {
          step->a[c] = -1.0;
          step->b[c] = k[c];
        }
        break;
      case Op::kDiv:
        if (k_slot == 0 || k[c] == 0.0f) return false;
        step->a[c] = 1.0 / k[c];
        break;
      default: return false;
    }
  }
  return true;
}

}  // namespace

Status RemoveIdentities(Graph* graph, NormalizeReport* report) {
  Graph& g = *graph;
  std::vector<int> producer = ProducerIndex(g);
  const std::vector<std::vector<int>> consumers = ConsumerIndex(g);
  std::vector<int> uses(g.values.size());
  for (size_t v = 0; v < g.values.size(); ++v)
    uses[v] = Uses(g, consumers, static_cast<ValueId>(v));
  std::vector<ValueId> alias(g.values.size(), kNoValue);
  auto resolve = [&](ValueId v) {
    while (v != kNoValue && alias[v] != kNoValue) v = alias[v];
    return v;
  };
  std::vector<bool> remove(g.nodes.size(), false);
  size_t removed = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& node = g.nodes[i];
    for (ValueId& in : node.inputs) in = resolve(in);
    if (node.op != Op::kIdentity) continue;
    if (node.inputs.size() != 1 || node.inputs[0] == kNoValue) {
      return Corrupt("node '" + node.name + "' (Identity) must have one input");
    }
    const ValueId in = node.inputs[0];
    const ValueId out = node.outputs[0];
    const int p = producer[in];
    if (p >= 0 && uses[in] == 1 && !IsGraphOutput(g, in)) {
      g.nodes[p].outputs[0] = out;  // keep the later (usually more meaningful) name
      producer[out] = p;
      producer[in] = -1;
      uses[in] = 0;
    } else if (g.values[in].is_constant && IsGraphOutput(g, out)) {
      std::string name = g.values[out].name;
      g.values[out] = g.values[in];
      g.values[out].name = std::move(name);
      producer[out] = -1;
      --uses[in];
    } else if (p < 0 && !g.values[in].is_constant && IsGraphOutput(g, out)) {
      continue;  // a graph input passed straight to an output: nothing to run it
    } else {
      alias[out] = in;
      uses[in] += uses[out] - 1;
    }
    remove[i] = true;
    ++removed;
  }
  for (ValueId& out : g.outputs) out = resolve(out);
  EraseNodes(&g, remove);
  if (removed > 0) report->rewrites.push_back("removed " + CountOf(removed, "Identity nodes"));
  return Status::Ok();
}

Status FoldConstants(Graph* graph, NormalizeReport* report) {
  Graph& g = *graph;
  std::vector<bool> remove(g.nodes.size(), false);
  std::vector<int> parent(g.nodes.size());
  std::iota(parent.begin(), parent.end(), 0);
  std::vector<int> folded_by(g.values.size(), -1);  // value -> folded node index
  std::vector<Shape> shapes;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& node = g.nodes[i];
    bool all_const = !node.inputs.empty();
    for (ValueId in : node.inputs) {
      if (in != kNoValue && !IsFloatConstant(g, in)) all_const = false;
    }
    if (!all_const) continue;
    shapes.assign(node.inputs.size(), Shape{});
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      if (node.inputs[k] != kNoValue) shapes[k] = g.values[node.inputs[k]].shape;
    }
    EV_ASSIGN_OR_RETURN(Shape out_shape, InferNodeShape(node, shapes));
    // Folding never multiplies memory: a broadcast that would blow small
    // constants up (a hostile file's [N,1] + [1,N]) stays a node.
    int64_t in_count = 0, out_count = 1;
    for (const Shape& s : shapes)
      in_count += std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<int64_t>());
    for (int64_t d : out_shape) out_count *= d;
    if (out_count > std::max(kMaxFoldGrowth, in_count)) continue;
    std::vector<float> data;
    EV_ASSIGN_OR_RETURN(bool folded, EvaluateConstant(g, node, out_shape, &data));
    if (!folded) continue;
    Value& out = g.values[node.outputs[0]];
    out.is_constant = true;
    out.dtype = DataType::kFloat32;
    out.shape = std::move(out_shape);
    out.f32 = std::move(data);
    remove[i] = true;
    folded_by[node.outputs[0]] = static_cast<int>(i);
    for (ValueId in : node.inputs) {
      if (in != kNoValue && folded_by[in] >= 0) {
        parent[Find(parent, folded_by[in])] = Find(parent, static_cast<int>(i));
      }
    }
  }
  // One sentence per connected block of folded nodes, in graph order.
  std::map<int, std::vector<size_t>> blocks;
  std::vector<int> block_order;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!remove[i]) continue;
    const int root = Find(parent, static_cast<int>(i));
    if (blocks[root].empty()) block_order.push_back(root);
    blocks[root].push_back(i);
  }
  for (int root : block_order) {
    std::vector<std::string> names;
    std::set<std::string> ops;
    for (size_t i : blocks[root]) {
      names.push_back(g.nodes[i].name);
      ops.insert(std::string(OpName(g.nodes[i].op)));
    }
    std::string op_list;
    for (const std::string& op : ops) op_list += (op_list.empty() ? "" : ", ") + op;
    report->rewrites.push_back("folded constant block '" + BlockName(names) + "' (" +
                               CountOf(names.size(), "nodes: ") + op_list + ")");
  }
  EraseNodes(&g, remove);
  return Status::Ok();
}

Status FoldBatchNorms(Graph* graph, NormalizeReport* report) {
  Graph& g = *graph;
  std::vector<int> producer = ProducerIndex(g);
  const std::vector<std::vector<int>> consumers = ConsumerIndex(g);
  std::map<std::string, size_t> folded;
  std::vector<std::string> split;
  std::vector<bool> remove(g.nodes.size(), false);
  std::vector<std::pair<size_t, Node>> inserts;  // (after node index, node)
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (g.nodes[i].op != Op::kBatchNorm) continue;
    const Node bn = g.nodes[i];
    if (bn.inputs.size() != 5) return Corrupt("node '" + bn.name + "' (BatchNorm) needs 5 inputs");
    const ValueId x = bn.inputs[0];
    const Shape x_shape = g.values[x].shape;
    if (x_shape.empty()) return Corrupt("node '" + bn.name + "' (BatchNorm) has a scalar input");
    const int64_t c = x_shape.back();
    std::vector<float> p[4];
    for (int k = 0; k < 4; ++k) {
      p[k] = PerChannel(g.values[bn.inputs[k + 1]], c, 1);
      if (p[k].empty()) {
        return Unsupported("node '" + bn.name + "' (BatchNorm): parameter '" +
                           g.values[bn.inputs[k + 1]].name + "' is not a constant of " +
                           std::to_string(c) + " channels");
      }
    }
    std::vector<double> s(c), t(c);
    for (int64_t ch = 0; ch < c; ++ch) {
      const double var = p[3][ch];
      if (!(var + bn.attrs.epsilon > 0.0)) {
        return Unsupported("node '" + bn.name +
                           "' (BatchNorm): variance + epsilon is not positive");
      }
      s[ch] = p[0][ch] / std::sqrt(var + bn.attrs.epsilon);
      t[ch] = p[1][ch] - p[2][ch] * s[ch];
    }
    const int pi = producer[x];
    std::string why = "its input is not a Conv2D/FullyConnected output";
    if (pi >= 0 && (g.nodes[pi].op == Op::kConv2D || g.nodes[pi].op == Op::kFullyConnected)) {
      const Node& prod = g.nodes[pi];
      if (Uses(g, consumers, x) != 1 || IsGraphOutput(g, x)) {
        why = "'" + prod.name + "' has other readers";
      } else if (HasActivation(prod) || !WeightsConstant(g, prod) ||
                 g.values[prod.inputs[1]].shape[0] != c) {
        why = "'" + prod.name + "' has an activation or non-constant weights";
      } else {
        std::vector<double> bias = BiasOf(g, prod, c);
        for (int64_t o = 0; o < c; ++o) bias[o] = bias[o] * s[o] + t[o];
        SetWeights(&g, pi, ScaleRows(g.values[g.nodes[pi].inputs[1]], s), bias);
        g.nodes[pi].outputs[0] = bn.outputs[0];
        producer[bn.outputs[0]] = pi;
        remove[i] = true;
        ++folded[std::string(OpName(g.nodes[pi].op))];
        continue;
      }
    }
    std::vector<float> sf(s.begin(), s.end()), tf(t.begin(), t.end());
    const ValueId sv = g.AddConstant(bn.name + "/scale", {c}, std::move(sf));
    const ValueId tv = g.AddConstant(bn.name + "/shift", {c}, std::move(tf));
    const ValueId mid = g.AddActivation(bn.name + "/scaled", x_shape);
    Node& mul = g.nodes[i];
    mul.op = Op::kMul;
    mul.inputs = {x, sv};
    mul.outputs = {mid};
    mul.attrs = Attrs{};
    Node add;
    add.op = Op::kAdd;
    add.name = bn.name + "/shift";
    add.inputs = {mid, tv};
    add.outputs = bn.outputs;
    inserts.emplace_back(i, std::move(add));
    split.push_back("turned BatchNorm '" + bn.name + "' into Mul + Add by per-channel constants (" +
                    why + ")");
  }
  EraseNodes(&g, remove);
  // Insert the Adds right after their Muls (indices shift by removals and by
  // earlier inserts; recompute by output value).
  for (auto& [unused, add] : inserts) {
    const ValueId mid = add.inputs[0];
    auto it = std::find_if(g.nodes.begin(), g.nodes.end(),
                           [&](const Node& n) { return n.outputs[0] == mid; });
    g.nodes.insert(it + 1, std::move(add));
  }
  for (const auto& [op, n] : folded) {
    report->rewrites.push_back("folded " + CountOf(n, "BatchNorm") + " into the preceding " + op +
                               " weights and bias");
  }
  for (const std::string& sentence : split) report->rewrites.push_back(sentence);
  return Status::Ok();
}

Status FoldInputAffine(Graph* graph, NormalizeReport* report) {
  Graph& g = *graph;
  const std::vector<std::vector<int>> consumers = ConsumerIndex(g);
  for (ValueId x : g.inputs) {
    const Shape x_shape = g.values[x].shape;
    if (x_shape.size() != 4) continue;
    const int64_t c = x_shape[3];
    for (int first : consumers[x]) {
      AffineStep step;
      if (!AsAffineStep(g, g.nodes[first], c, 4, &step) || step.v != x) continue;
      std::vector<double> s = step.a, t = step.b;
      std::vector<int> chain = {first};
      ValueId cur = g.nodes[first].outputs[0];
      int conv = -1;
      while (Uses(g, consumers, cur) == 1 && !IsGraphOutput(g, cur)) {
        const int next = consumers[cur][0];
        const Node& n = g.nodes[next];
        if (n.op == Op::kConv2D) {
          if (n.inputs[0] == cur) conv = next;
          break;
        }
        if (!AsAffineStep(g, n, c, 4, &step) || step.v != cur) break;
        for (int64_t ch = 0; ch < c; ++ch) {
          s[ch] = step.a[ch] * s[ch];
          t[ch] = step.a[ch] * t[ch] + step.b[ch];
        }
        chain.push_back(next);
        cur = n.outputs[0];
      }
      if (conv < 0) continue;
      const Node& cn = g.nodes[conv];
      const std::string chain_text = CountOf(chain.size(), chain.size() == 1 ? "node" : "nodes") +
                                     ", '" + g.nodes[chain.front()].name + "' to '" +
                                     g.nodes[chain.back()].name + "'";
      if (cn.attrs.pad_top || cn.attrs.pad_left || cn.attrs.pad_bottom || cn.attrs.pad_right ||
          !WeightsConstant(g, cn)) {
        report->rewrites.push_back("kept the per-channel affine on input '" + g.values[x].name +
                                   "' (" + chain_text + ") before Conv2D '" + cn.name +
                                   "': the conv pads its input, so folding would not be exact");
        continue;
      }
      const Value& w = g.values[cn.inputs[1]];
      const int64_t o_count = w.shape[0], cg = w.shape[3];
      const int64_t per_group = o_count / cn.attrs.groups;
      const int64_t taps = w.shape[1] * w.shape[2];
      std::vector<float> wf = w.f32;
      std::vector<double> bias = BiasOf(g, cn, o_count);
      for (int64_t o = 0; o < o_count; ++o) {
        const int64_t group = o / per_group;
        double shift = 0.0;
        for (int64_t tap = 0; tap < taps; ++tap) {
          for (int64_t ci = 0; ci < cg; ++ci) {
            const int64_t in_c = group * cg + ci;
            float& wv = wf[(o * taps + tap) * cg + ci];
            shift += double{wv} * t[in_c];
            wv = static_cast<float>(wv * s[in_c]);
          }
        }
        bias[o] += shift;
      }
      SetWeights(&g, conv, std::move(wf), bias);
      g.nodes[conv].inputs[0] = x;
      report->rewrites.push_back("folded the per-channel affine on input '" + g.values[x].name +
                                 "' (" + chain_text + ") into Conv2D '" + g.nodes[conv].name +
                                 "' weights and bias (exact: the conv has no padding)");
      break;  // the consumer index is stale now; one chain per input is all models have
    }
  }
  return Status::Ok();
}

Status FoldAffineIntoProducers(Graph* graph, NormalizeReport* report) {
  Graph& g = *graph;
  std::vector<int> producer = ProducerIndex(g);
  const std::vector<std::vector<int>> consumers = ConsumerIndex(g);
  std::vector<bool> remove(g.nodes.size(), false);
  std::map<std::string, size_t> folded;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.op != Op::kMul && n.op != Op::kAdd && n.op != Op::kSub && n.op != Op::kDiv) continue;
    if (n.inputs.size() != 2) continue;
    const ValueId v = g.values[n.inputs[0]].is_constant ? n.inputs[1] : n.inputs[0];
    const int pi = producer[v];
    if (pi < 0 || Uses(g, consumers, v) != 1 || IsGraphOutput(g, v)) continue;
    const Node& p = g.nodes[pi];
    if ((p.op != Op::kConv2D && p.op != Op::kFullyConnected) || HasActivation(p) ||
        !WeightsConstant(g, p)) {
      continue;
    }
    const Shape& out_shape = g.values[v].shape;
    const int64_t c = g.values[p.inputs[1]].shape[0];
    AffineStep step;
    Node plain = n;
    plain.attrs.act_min = -kInf;
    plain.attrs.act_max = kInf;
    if (!AsAffineStep(g, plain, c, out_shape.size(), &step) || step.v != v) continue;
    std::vector<double> bias = BiasOf(g, p, c);
    for (int64_t o = 0; o < c; ++o) bias[o] = step.a[o] * bias[o] + step.b[o];
    SetWeights(&g, pi, ScaleRows(g.values[g.nodes[pi].inputs[1]], step.a), bias);
    Node& pm = g.nodes[pi];
    pm.attrs.act_min = g.nodes[i].attrs.act_min;
    pm.attrs.act_max = g.nodes[i].attrs.act_max;
    pm.outputs[0] = g.nodes[i].outputs[0];
    producer[pm.outputs[0]] = pi;
    remove[i] = true;
    ++folded[std::string(OpName(pm.op))];
  }
  EraseNodes(&g, remove);
  for (const auto& [op, n] : folded) {
    report->rewrites.push_back("folded " + CountOf(n, "per-channel Mul/Add/Sub/Div") +
                               " by constants into the preceding " + op + " weights and bias");
  }
  return Status::Ok();
}

}  // namespace edgevision::graph
