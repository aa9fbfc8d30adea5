#include "graph/graph.h"

#include <string>
#include <vector>

namespace edgevision::graph {

int64_t Value::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    n *= d;
  }
  return n;
}

int64_t ShapeProduct(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

std::vector<int64_t> RowMajorStrides(const Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;) st[i - 1] = st[i] * s[i];
  return st;
}

std::string ShapeToString(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ",";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

size_t PayloadSize(const Value& v) {
  switch (v.dtype) {
    case DataType::kFloat32: return v.f32.size();
    case DataType::kInt64: return v.i64.size();
    case DataType::kString: return v.str.size();
  }
  return 0;
}

bool IsExecutableOp(Op op) {
  switch (op) {
    case Op::kConv2D:
    case Op::kMaxPool2D:
    case Op::kAvgPool2D:
    case Op::kGlobalAvgPool:
    case Op::kFullyConnected:
    case Op::kConcat:
    case Op::kAdd:
    case Op::kSub:
    case Op::kMul:
    case Op::kDiv:
    case Op::kRelu:
    case Op::kClamp:
    case Op::kSigmoid:
    case Op::kSoftmax:
    case Op::kHardSwish:
    case Op::kLeakyRelu:
    case Op::kReshape:
    case Op::kPad:
    case Op::kTranspose:
    case Op::kSlice:
    case Op::kChannelShuffle:
    case Op::kRoundHalf: return true;
    default: return false;
  }
}

std::string_view OpName(Op op) {
  switch (op) {
    case Op::kConv2D: return "Conv2D";
    case Op::kMaxPool2D: return "MaxPool2D";
    case Op::kAvgPool2D: return "AvgPool2D";
    case Op::kGlobalAvgPool: return "GlobalAvgPool";
    case Op::kFullyConnected: return "FullyConnected";
    case Op::kConcat: return "Concat";
    case Op::kAdd: return "Add";
    case Op::kSub: return "Sub";
    case Op::kMul: return "Mul";
    case Op::kDiv: return "Div";
    case Op::kRelu: return "Relu";
    case Op::kClamp: return "Clamp";
    case Op::kSigmoid: return "Sigmoid";
    case Op::kSoftmax: return "Softmax";
    case Op::kHardSwish: return "HardSwish";
    case Op::kLeakyRelu: return "LeakyRelu";
    case Op::kReshape: return "Reshape";
    case Op::kPad: return "Pad";
    case Op::kTranspose: return "Transpose";
    case Op::kSlice: return "Slice";
    case Op::kChannelShuffle: return "ChannelShuffle";
    case Op::kReduceMean: return "ReduceMean";
    case Op::kBatchNorm: return "BatchNorm";
    case Op::kIdentity: return "Identity";
    case Op::kNeg: return "Neg";
    case Op::kRsqrt: return "Rsqrt";
    case Op::kSqrt: return "Sqrt";
    case Op::kRoundHalf: return "RoundHalf";
  }
  return "Unknown";
}

ValueId Graph::AddValue(Value value) {
  values.push_back(std::move(value));
  return static_cast<ValueId>(values.size() - 1);
}

ValueId Graph::AddActivation(std::string name, Shape shape) {
  Value v;
  v.name = std::move(name);
  v.shape = std::move(shape);
  return AddValue(std::move(v));
}

ValueId Graph::AddConstant(std::string name, Shape shape, std::vector<float> data) {
  Value v;
  v.name = std::move(name);
  v.shape = std::move(shape);
  v.is_constant = true;
  v.f32 = std::move(data);
  return AddValue(std::move(v));
}

ValueId Graph::AddConstantInt(std::string name, Shape shape, std::vector<int64_t> data) {
  Value v;
  v.name = std::move(name);
  v.dtype = DataType::kInt64;
  v.shape = std::move(shape);
  v.is_constant = true;
  v.i64 = std::move(data);
  return AddValue(std::move(v));
}

size_t Graph::AddNode(Node node) {
  nodes.push_back(std::move(node));
  return nodes.size() - 1;
}

ValueId Graph::FindValue(std::string_view name) const {
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i].name == name) return static_cast<ValueId>(i);
  }
  return kNoValue;
}

int Graph::ProducerOf(ValueId id) const {
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (ValueId out : nodes[i].outputs) {
      if (out == id) return static_cast<int>(i);
    }
  }
  return -1;
}

uint64_t NodeMultiplyAdds(const Graph& g, const Node& node) {
  if (node.op == Op::kConv2D) {
    const Shape& w = g.values[node.inputs[1]].shape;  // OHWI
    const int64_t out = g.values[node.outputs[0]].NumElements();
    if (out > 0 && w.size() == 4) return static_cast<uint64_t>(out) * w[1] * w[2] * w[3];
  } else if (node.op == Op::kFullyConnected) {
    const Shape& w = g.values[node.inputs[1]].shape;  // [O, K]
    const int64_t out = g.values[node.outputs[0]].NumElements();
    if (out > 0 && w.size() == 2) return static_cast<uint64_t>(out) * w[1];
  }
  return 0;
}

uint64_t CountMultiplyAdds(const Graph& g) {
  uint64_t macs = 0;
  for (const Node& node : g.nodes) macs += NodeMultiplyAdds(g, node);
  return macs;
}

int Graph::UseCount(ValueId id) const {
  int n = 0;
  for (const Node& node : nodes) {
    for (ValueId in : node.inputs) n += (in == id);
  }
  for (ValueId out : outputs) n += (out == id);
  return n;
}

std::map<std::string, int> Graph::OpSummary() const {
  std::map<std::string, int> summary;
  for (const Node& node : nodes) ++summary[std::string(OpName(node.op))];
  return summary;
}

namespace {

bool ValidId(const Graph& g, ValueId id) {
  return id >= 0 && static_cast<size_t>(id) < g.values.size();
}

}  // namespace

Status Validate(const Graph& g) {
  std::vector<bool> available(g.values.size(), false);
  std::vector<bool> produced(g.values.size(), false);
  for (size_t i = 0; i < g.values.size(); ++i) {
    const Value& v = g.values[i];
    if (!v.is_constant) continue;
    available[i] = true;
    int64_t n = v.NumElements();
    if (n < 0 || static_cast<size_t>(n) != PayloadSize(v)) {
      return Corrupt("constant '" + v.name + "' has " + std::to_string(PayloadSize(v)) +
                     " elements but its shape holds " + std::to_string(n));
    }
  }
  for (ValueId in : g.inputs) {
    if (!ValidId(g, in)) return Corrupt("graph input id out of range");
    available[in] = true;
  }
  for (const Node& node : g.nodes) {
    for (ValueId in : node.inputs) {
      if (in == kNoValue) continue;
      if (!ValidId(g, in)) return Corrupt("node '" + node.name + "' has an input id out of range");
      if (!available[in]) {
        return Corrupt("node '" + node.name + "' (" + std::string(OpName(node.op)) + ") reads '" +
                       g.values[in].name + "' before it is produced");
      }
    }
    for (ValueId out : node.outputs) {
      if (!ValidId(g, out)) return Corrupt("node '" + node.name + "' has an output id out of range");
      if (produced[out] || g.values[out].is_constant) {
        return Corrupt("value '" + g.values[out].name + "' is produced twice (node '" + node.name + "')");
      }
      produced[out] = true;
      available[out] = true;
    }
  }
  for (ValueId out : g.outputs) {
    if (!ValidId(g, out)) return Corrupt("graph output id out of range");
    if (!available[out]) return Corrupt("graph output '" + g.values[out].name + "' is never produced");
  }
  return Status::Ok();
}

}  // namespace edgevision::graph
