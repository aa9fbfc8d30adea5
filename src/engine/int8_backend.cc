#include "engine/int8_backend.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <utility>

#include "engine/graph_check.h"
#include "engine/int8_ops.h"
#include "engine/memory_planner.h"
#include "engine/reference_kernels.h"
#include "engine/xnnpack_ops.h"
#include "engine/xnnpack_weights.h"

namespace edgevision::engine {

namespace {

using graph::Graph;
using graph::Node;
using graph::Op;
using graph::ValueId;
using int8_internal::Q8Kind;
using int8_internal::Q8Weights;
using int8_internal::Quant;
using xnnpack_internal::XnnOperator;

constexpr size_t kAlignment = 64;

size_t LastDim(const graph::Shape& s) { return s.empty() ? 1 : static_cast<size_t>(s.back()); }
size_t Elements(const Graph& g, ValueId v) {
  return static_cast<size_t>(graph::ShapeProduct(g.values[v].shape));
}

enum class Rep : uint8_t { kF32 = 0, kQ8 = 1 };
enum class Mode : uint8_t { kQ8, kF32Xnnpack, kF32Reference, kAlias, kConcat };

// One unit of run-time work.
struct Step {
  enum class Kind : uint8_t { kQ8Op, kF32Op, kReference, kToQ8, kToF32, kCopy } kind;
  size_t node = 0;
  ValueId value = graph::kNoValue;  // converts: the value converted; copies: the input
  std::vector<int> reads;           // buffer ids; -1 for a constant or absent input
  int write = -1;
  // kCopy (a concat input): rows of `width` elements, strides and the output
  // offset. kQ8Op: out_offset/out_stride place a convolution's output in its
  // concat (0 stride: dense).
  size_t width = 0, rows = 0, in_stride = 0, out_stride = 0, out_offset = 0;
  bool x8 = false;
  ValueId observe = graph::kNoValue;  // calibration: scan this value after the step
};

struct Buffer {
  size_t bytes = 0;
  int first = 0, last = 0;
  size_t offset = 0;
};

struct Program {
  Graph graph;
  bool int8 = false;
  std::vector<Mode> mode;               // per node
  std::vector<Q8Kind> kind;             // per node (kQ8)
  std::vector<Q8Weights> weights;       // per node (convolution kinds)
  std::vector<Quant> quant;             // per value: its group's quantisation
  std::vector<ValueId> root;            // per value: aliases resolve to their input's root
  // Per value: constants that float32 XNNPACK operators or concat copies read
  // as data, with a readable XNN_EXTRA_BYTES tail (empty for the others).
  std::vector<std::vector<float>> constants;
  std::vector<Step> steps;
  std::vector<Buffer> buffers;
  int input_buffer = -1, output_buffer = -1;
  size_t arena_bytes = 0;
  Int8PlanStats stats;
};

bool PassesBytes(Q8Kind k) {
  return k == Q8Kind::kMaxPool || k == Q8Kind::kClamp || k == Q8Kind::kChannelShuffle ||
         k == Q8Kind::kSlice || k == Q8Kind::kPad;
}

// Union-find over values that must share a quantisation.
struct Groups {
  std::vector<ValueId> parent;
  explicit Groups(size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  ValueId Find(ValueId v) {
    while (parent[v] != v) v = parent[v] = parent[parent[v]];
    return v;
  }
  void Join(ValueId a, ValueId b) { parent[Find(a)] = Find(b); }
};

class Planner {
 public:
  Planner(Program* p, const Int8Calibration* calibration)
      : p_(*p), g_(p->graph), calibration_(calibration) {}

  Status Run() {
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
    PlaceConcatInputs();
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
      if (p_.int8 && !data_constant && !IsTail(i)) {
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
        mode = data_constant && !binary ? Mode::kF32Reference : Mode::kF32Xnnpack;
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
        p_.weights[i] = int8_internal::QuantizeWeights(g_, node, kind, in[0]);
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
      }
    }
    return Status::Ok();
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
      if (status != xnn_status_success) p_.mode[i] = Mode::kF32Reference;
    }
    return Status::Ok();
  }

  // An int8 channel concat's inputs that int8 convolutions produce for it
  // alone are written in place: the convolution's output pixel stride is the
  // concat's channel count (SqueezeNet's Fire modules). Others are copied.
  void PlaceConcatInputs() {
    placed_.assign(g_.values.size(), Placement{});
    if (!p_.int8) return;
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      const Node& node = g_.nodes[i];
      const ValueId y = node.outputs[0];
      const graph::Shape& ys = g_.values[y].shape;
      if (p_.mode[i] != Mode::kConcat || !concat_q8_[y] ||
          node.attrs.axis != static_cast<int>(ys.size()) - 1) {
        continue;
      }
      size_t offset = 0;
      for (ValueId v : node.inputs) {
        const int producer = g_.ProducerOf(v);
        const bool ok = producer >= 0 && p_.mode[producer] == Mode::kQ8 &&
                        p_.kind[producer] == Q8Kind::kConv && consumers_[v].size() == 1 &&
                        v != g_.outputs[0] && p_.root[v] == v && !placed_[v].concat_set;
        if (ok) placed_[v] = Placement{true, static_cast<int>(i), offset, LastDim(ys)};
        offset += LastDim(g_.values[v].shape);
      }
    }
  }

  void PoolConstants() {
    p_.constants.assign(g_.values.size(), {});
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (p_.mode[i] != Mode::kF32Xnnpack && p_.mode[i] != Mode::kConcat) continue;
      const Node& node = g_.nodes[i];
      if (node.op == Op::kConv2D || node.op == Op::kFullyConnected) continue;  // weights are packed
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
          if (placed_[y].concat_set) {  // into its concat's buffer
            const ValueId concat = g_.nodes[placed_[y].concat].outputs[0];
            int& buffer = buffer_of_[p_.root[concat]][static_cast<int>(Rep::kQ8)];
            if (buffer < 0) buffer = NewBuffer(concat, Rep::kQ8);
            step.write = buffer;
            step.out_offset = placed_[y].offset;
            step.out_stride = placed_[y].stride;
          } else {
            step.write = NewBuffer(y, rep);
          }
          p_.steps.push_back(std::move(step));
          if (q8) {
            ++p_.stats.int8_nodes;
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
  std::vector<bool> concat_q8_;  // per value: produced in int8 (decides concat outputs)
  std::vector<std::array<int, 2>> buffer_of_;  // per root value, per Rep
  struct Placement {
    bool concat_set = false;
    int concat = -1;     // the concat node
    size_t offset = 0;   // first channel in the concat output
    size_t stride = 0;   // the concat's channels
  };
  std::vector<Placement> placed_;  // per value
};

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

class Int8Session final : public Session {
 public:
  Int8Session(std::shared_ptr<const Program> program,
              std::shared_ptr<xnnpack_internal::WeightRegistry> weights,
              xnnpack_internal::ThreadPool pool, std::unique_ptr<uint8_t, FreeDeleter> arena)
      : program_(std::move(program)),
        weights_(std::move(weights)),
        pool_(std::move(pool)),
        arena_(std::move(arena)) {
    const Graph& g = program_->graph;
    input_size_ = Elements(g, g.inputs[0]);
    output_size_ = Elements(g, g.outputs[0]);
  }

  Status Prepare() {
    ops_.resize(program_->steps.size());
    for (size_t s = 0; s < program_->steps.size(); ++s) EV_RETURN_IF_ERROR(PrepareStep(s));
    return Status::Ok();
  }

  // Records every observed value's range into `ranges` while running.
  void Observe(std::vector<ValueRange>* ranges, std::vector<bool>* seen) {
    ranges_ = ranges;
    seen_ = seen;
  }

  Status Run(std::span<const float> input, std::span<float> output) override {
    if (input.size() != input_size_ || output.size() != output_size_) {
      return InvalidArgument("int8 session: got " + std::to_string(input.size()) + " input and " +
                             std::to_string(output.size()) + " output floats, the model takes " +
                             std::to_string(input_size_) + " and gives " +
                             std::to_string(output_size_));
    }
    std::memcpy(Pointer(program_->input_buffer), input.data(), input_size_ * sizeof(float));
    if (ranges_) Record(program_->graph.inputs[0], program_->input_buffer);
    for (size_t s = 0; s < program_->steps.size(); ++s) {
      const Step& step = program_->steps[s];
      if (ops_[s]) {
        const xnn_status status = xnn_run_operator(ops_[s].get(), pool_.get());
        if (status != xnn_status_success) {
          return Internal("int8 step " + std::to_string(s) + ": xnn_run_operator failed: " +
                          std::string(xnnpack_internal::XnnStatusName(status)));
        }
      } else {
        EV_RETURN_IF_ERROR(RunReference(step));
      }
      if (ranges_ && step.observe != graph::kNoValue) Record(step.observe, step.write);
    }
    std::memcpy(output.data(), Pointer(program_->output_buffer), output_size_ * sizeof(float));
    return Status::Ok();
  }

 private:
  uint8_t* Pointer(int buffer) const {
    return buffer < 0 ? nullptr : arena_.get() + program_->buffers[buffer].offset;
  }
  float* F(int buffer) const { return reinterpret_cast<float*>(Pointer(buffer)); }
  // A float32 operand: its buffer, or the pooled copy of a constant.
  const float* Operand(int buffer, ValueId v) const {
    return buffer >= 0 ? F(buffer) : program_->constants[v].data();
  }
  int8_t* Q(int buffer) const { return reinterpret_cast<int8_t*>(Pointer(buffer)); }

  void Record(ValueId v, int buffer) {
    const float* data = F(buffer);
    const size_t n = Elements(program_->graph, v);
    ValueRange& r = (*ranges_)[v];
    for (size_t k = 0; k < n; ++k) {
      if (!(*seen_)[v]) {
        r = {data[k], data[k]};
        (*seen_)[v] = true;
      }
      r.min = std::min(r.min, data[k]);
      r.max = std::max(r.max, data[k]);
    }
  }

  Status RunReference(const Step& step) {
    const Graph& g = program_->graph;
    const Node& node = g.nodes[step.node];
    std::vector<const float*> inputs;
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      const ValueId v = node.inputs[k];
      inputs.push_back(v == graph::kNoValue        ? nullptr
                       : g.values[v].is_constant ? g.values[v].f32.data()
                                                 : F(step.reads[k]));
    }
    return reference::RunNode(g, node, inputs, F(step.write));
  }

  Status Fail(const Step& step, const char* what, xnn_status status) const {
    const Graph& g = program_->graph;
    const std::string name =
        step.node < g.nodes.size() ? g.nodes[step.node].name : std::string("(graph output)");
    std::string message = "int8 node '" + name + "': " + what + " failed: " +
                          std::string(xnnpack_internal::XnnStatusName(status));
    if (status == xnn_status_out_of_memory) return ResourceExhausted(std::move(message));
    return Internal(std::move(message));
  }

  Status PrepareStep(size_t s) {
    const Program& p = *program_;
    const Graph& g = p.graph;
    const Step& step = p.steps[s];
    XnnOperator& op = ops_[s];
    xnn_status status = xnn_status_success;
    switch (step.kind) {
      case Step::Kind::kReference: return Status::Ok();
      case Step::Kind::kQ8Op: {
        const Node& node = g.nodes[step.node];
        const Q8Kind kind = p.kind[step.node];
        std::array<Quant, 2> in{p.quant[node.inputs[0]], Quant{}};
        if (kind == Q8Kind::kBinary) in[1] = p.quant[node.inputs[1]];
        {
          xnnpack_internal::AllocationRecording recording;
          status = int8_internal::CreateQ8Operator(g, node, kind, in.data(), p.quant[node.outputs[0]],
                                                   &p.weights[step.node], step.out_stride, &op);
          if (status == xnn_status_success) weights_->AfterCreate(s, op.get(), recording);
        }
        if (status != xnn_status_success) return Fail(step, "creating the operator", status);
        const int8_t* in1 = kind == Q8Kind::kBinary ? Q(step.reads[1]) : nullptr;
        status = int8_internal::SetupQ8Operator(g, node, kind, op.get(), Q(step.reads[0]), in1,
                                                Q(step.write) + step.out_offset, pool_.get());
        break;
      }
      case Step::Kind::kF32Op: {
        const Node& node = g.nodes[step.node];
        {
          xnnpack_internal::AllocationRecording recording;
          status = xnnpack_internal::CreateNodeOperator(g, node, xnnpack_internal::Exec::kXnnpack,
                                                        xnnpack_internal::DenseStrides(g, node),
                                                        nullptr, &op);
          if (status == xnn_status_success) weights_->AfterCreate(s, op.get(), recording);
        }
        if (status != xnn_status_success) return Fail(step, "creating the operator", status);
        const bool binary = node.op == Op::kAdd || node.op == Op::kSub || node.op == Op::kMul ||
                            node.op == Op::kDiv;
        status = xnnpack_internal::SetupNodeOperator(
            g, node, xnnpack_internal::Exec::kXnnpack, op.get(), Operand(step.reads[0], node.inputs[0]),
            binary ? Operand(step.reads[1], node.inputs[1]) : nullptr, F(step.write), pool_.get());
        break;
      }
      case Step::Kind::kToQ8:
      case Step::Kind::kToF32: {
        const graph::Shape& shape = g.values[step.value].shape;
        const size_t c = LastDim(shape);
        const size_t rows = Elements(g, step.value) / c;
        const Quant q = p.quant[step.value];
        xnn_operator_t raw = nullptr;
        if (step.kind == Step::Kind::kToQ8) {
          status = xnn_create_convert_nc_f32_qs8(c, c, c, q.scale, q.zero, -128, 127, 0, &raw);
          op.reset(raw);
          if (status != xnn_status_success) return Fail(step, "creating a conversion", status);
          status = xnn_setup_convert_nc_f32_qs8(op.get(), rows, F(step.reads[0]), Q(step.write),
                                                pool_.get());
        } else {
          status = xnn_create_convert_nc_qs8_f32(c, c, c, q.scale, q.zero, 0, &raw);
          op.reset(raw);
          if (status != xnn_status_success) return Fail(step, "creating a conversion", status);
          status = xnn_setup_convert_nc_qs8_f32(op.get(), rows, Q(step.reads[0]), F(step.write),
                                                pool_.get());
        }
        break;
      }
      case Step::Kind::kCopy: {
        xnn_operator_t raw = nullptr;
        if (step.x8) {
          status = xnn_create_copy_nc_x8(step.width, step.in_stride, step.out_stride, 0, &raw);
          op.reset(raw);
          if (status != xnn_status_success) return Fail(step, "creating a copy", status);
          status = xnn_setup_copy_nc_x8(op.get(), step.rows, Q(step.reads[0]),
                                        Q(step.write) + step.out_offset, pool_.get());
        } else {
          status = xnn_create_copy_nc_x32(step.width, step.in_stride, step.out_stride, 0, &raw);
          op.reset(raw);
          if (status != xnn_status_success) return Fail(step, "creating a copy", status);
          status = xnn_setup_copy_nc_x32(op.get(), step.rows, Operand(step.reads[0], step.value),
                                         F(step.write) + step.out_offset, pool_.get());
        }
        break;
      }
    }
    if (status != xnn_status_success) return Fail(step, "setting up", status);
    return Status::Ok();
  }

  std::shared_ptr<const Program> program_;
  std::shared_ptr<xnnpack_internal::WeightRegistry> weights_;
  xnnpack_internal::ThreadPool pool_;
  std::unique_ptr<uint8_t, FreeDeleter> arena_;
  std::vector<XnnOperator> ops_;  // per step; empty for reference steps
  std::vector<ValueRange>* ranges_ = nullptr;
  std::vector<bool>* seen_ = nullptr;
  size_t input_size_ = 0;
  size_t output_size_ = 0;
};

class Int8Model final : public CompiledModel {
 public:
  Int8Model(std::shared_ptr<const Program> program, int threads)
      : program_(std::move(program)),
        weights_(std::make_shared<xnnpack_internal::WeightRegistry>(program_->steps.size())),
        threads_(threads) {
    const Graph& g = program_->graph;
    input_shape_ = g.values[g.inputs[0]].shape;
    output_size_ = Elements(g, g.outputs[0]);
  }
  const std::vector<int64_t>& input_shape() const override { return input_shape_; }
  size_t output_size() const override { return output_size_; }
  const Int8PlanStats& stats() const { return program_->stats; }

  Result<std::unique_ptr<Int8Session>> CreateInt8Session() const {
    xnnpack_internal::ThreadPool pool;
    if (threads_ > 1) {
      pool.reset(pthreadpool_create(static_cast<size_t>(threads_)));
      if (!pool) return ResourceExhausted("cannot create a pool of " + std::to_string(threads_) + " threads");
    }
    size_t bytes = program_->arena_bytes + XNN_EXTRA_BYTES;
    bytes = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    std::unique_ptr<uint8_t, FreeDeleter> arena(static_cast<uint8_t*>(std::aligned_alloc(kAlignment, bytes)));
    if (!arena) return ResourceExhausted("cannot allocate a " + std::to_string(bytes) + "-byte arena");
    std::memset(arena.get(), 0, bytes);
    auto session = std::make_unique<Int8Session>(program_, weights_, std::move(pool), std::move(arena));
    EV_RETURN_IF_ERROR(session->Prepare());
    return session;
  }

  Result<std::unique_ptr<Session>> CreateSession() const override {
    EV_ASSIGN_OR_RETURN(std::unique_ptr<Int8Session> session, CreateInt8Session());
    return std::unique_ptr<Session>(std::move(session));
  }

 private:
  std::shared_ptr<const Program> program_;
  std::shared_ptr<xnnpack_internal::WeightRegistry> weights_;
  int threads_;
  std::vector<int64_t> input_shape_;
  size_t output_size_ = 0;
};

Result<std::unique_ptr<Int8Model>> CompileProgram(const Graph& graph, const EngineOptions& options,
                                                  const Int8Calibration* calibration) {
  EV_RETURN_IF_ERROR(CheckEngineOptions(options));
  EV_RETURN_IF_ERROR(CheckExecutableGraph(graph));
  EV_RETURN_IF_ERROR(xnnpack_internal::InitializeXnnpack());
  auto program = std::make_shared<Program>();
  program->graph = graph;
  program->int8 = calibration != nullptr;
  EV_RETURN_IF_ERROR(Planner(program.get(), calibration).Run());
  return std::make_unique<Int8Model>(std::move(program), options.threads);
}

class Int8Backend final : public Backend {
 public:
  explicit Int8Backend(std::shared_ptr<const Int8Calibration> calibration)
      : calibration_(std::move(calibration)) {}
  std::string_view name() const override { return "xnnpack-int8"; }
  Result<std::unique_ptr<CompiledModel>> Compile(const Graph& graph,
                                                 const EngineOptions& options) const override {
    bool matches = calibration_ && calibration_->value_names.size() == graph.values.size() &&
                   calibration_->ranges.size() == graph.values.size();
    for (size_t v = 0; matches && v < graph.values.size(); ++v) {
      matches = calibration_->value_names[v] == graph.values[v].name;
    }
    if (!matches) {
      return InvalidArgument("int8: the calibration was made for another graph; calibrate again");
    }
    EV_ASSIGN_OR_RETURN(std::unique_ptr<Int8Model> model,
                        CompileProgram(graph, options, calibration_.get()));
    return std::unique_ptr<CompiledModel>(std::move(model));
  }

 private:
  std::shared_ptr<const Int8Calibration> calibration_;
};

}  // namespace

Result<Int8Calibration> CalibrateInt8(const Graph& graph, std::span<const std::vector<float>> inputs) {
  if (inputs.empty()) return InvalidArgument("int8 calibration needs at least one input");
  EV_ASSIGN_OR_RETURN(std::unique_ptr<Int8Model> model, CompileProgram(graph, {}, nullptr));
  EV_ASSIGN_OR_RETURN(std::unique_ptr<Int8Session> session, model->CreateInt8Session());
  Int8Calibration calibration;
  calibration.ranges.assign(graph.values.size(), ValueRange{});
  std::vector<bool> seen(graph.values.size(), false);
  session->Observe(&calibration.ranges, &seen);
  std::vector<float> output(model->output_size());
  for (const std::vector<float>& input : inputs) EV_RETURN_IF_ERROR(session->Run(input, output));
  // Aliases (Reshape) share their root's bytes, hence its range.
  for (const Node& node : graph.nodes) {
    if (node.op == Op::kReshape && !seen[node.outputs[0]] && seen[node.inputs[0]]) {
      calibration.ranges[node.outputs[0]] = calibration.ranges[node.inputs[0]];
    }
  }
  for (const graph::Value& v : graph.values) calibration.value_names.push_back(v.name);
  return calibration;
}

std::unique_ptr<Backend> MakeInt8Backend(std::shared_ptr<const Int8Calibration> calibration) {
  return std::make_unique<Int8Backend>(std::move(calibration));
}

const Int8PlanStats* GetInt8PlanStats(const CompiledModel& model) {
  const auto* int8 = dynamic_cast<const Int8Model*>(&model);
  return int8 ? &int8->stats() : nullptr;
}

}  // namespace edgevision::engine
