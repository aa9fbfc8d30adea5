#include "engine/int8_backend.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <utility>

#include "engine/graph_check.h"
#include "engine/int8_gemm.h"
#include "engine/int8_ops.h"
#include "engine/int8_program.h"
#include "engine/reference_kernels.h"
#include "engine/xnnpack_ops.h"
#include "engine/xnnpack_weights.h"

namespace edgevision::engine {

namespace {

using graph::Graph;
using graph::Node;
using graph::Op;
using graph::ValueId;
using int8_internal::Elements;
using int8_internal::kAlignment;
using int8_internal::LastDim;
using int8_internal::Program;
using int8_internal::Q8Kind;
using int8_internal::Quant;
using int8_internal::Step;
using xnnpack_internal::XnnOperator;


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
    gemm_.resize(program_->steps.size());
    gemm16_.resize(program_->steps.size());
    folded16_.resize(program_->steps.size());
    pool16_.resize(program_->steps.size());
    peaks_.assign(program_->peak_slots, 0.0f);
    for (size_t s = 0; s < program_->steps.size(); ++s) EV_RETURN_IF_ERROR(PrepareStep(s));
    return Status::Ok();
  }

  // Records every observed value's range into `ranges` while running.
  void Observe(std::vector<ValueRange>* ranges, std::vector<bool>* seen,
               std::vector<std::vector<double>>* channel_sums) {
    ranges_ = ranges;
    seen_ = seen;
    channel_sums_ = channel_sums;
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
    std::fill(peaks_.begin(), peaks_.end(), 0.0f);
    for (size_t s = 0; s < program_->steps.size(); ++s) EV_RETURN_IF_ERROR(RunStep(s));
    std::memcpy(output.data(), Pointer(program_->output_buffer), output_size_ * sizeof(float));
    return Status::Ok();
  }

  // Mean wall time of each step over `runs` runs, summed per (node, what
  // the step does): conversions are listed under the converted value's name.
  Result<std::vector<NodeProfile>> Profile(std::span<const float> input, int runs) {
    EV_RETURN_IF_ERROR(CheckProfileRequest(input.size(), input_size_, runs));
    const Program& p = *program_;
    std::vector<NodeProfile> profile;
    std::vector<size_t> entry(p.steps.size());
    for (size_t s = 0; s < p.steps.size(); ++s) {
      NodeProfile np = Describe(p.steps[s]);
      auto it = std::find_if(profile.begin(), profile.end(),
                             [&](const NodeProfile& e) { return e.node == np.node && e.op == np.op; });
      entry[s] = static_cast<size_t>(it - profile.begin());
      if (it == profile.end()) profile.push_back(std::move(np));
    }
    std::vector<double> seconds(profile.size(), 0.0);
    for (int r = 0; r < runs; ++r) {
      std::memcpy(Pointer(p.input_buffer), input.data(), input_size_ * sizeof(float));
      std::fill(peaks_.begin(), peaks_.end(), 0.0f);
      for (size_t s = 0; s < p.steps.size(); ++s) {
        const auto start = std::chrono::steady_clock::now();
        EV_RETURN_IF_ERROR(RunStep(s));
        seconds[entry[s]] += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
    }
    for (size_t e = 0; e < profile.size(); ++e) profile[e].microseconds = seconds[e] * 1e6 / runs;
    return profile;
  }

 private:
  Status RunStep(size_t s) {
    const Step& step = program_->steps[s];
    if (ops_[s]) {
      const xnn_status status = xnn_run_operator(ops_[s].get(), pool_.get());
      if (status != xnn_status_success) {
        return Internal("int8 step " + std::to_string(s) + ": xnn_run_operator failed: " +
                        std::string(xnnpack_internal::XnnStatusName(status)));
      }
    } else if (gemm_[s].weights) {
      int8_internal::RunQ8Gemm(gemm_[s], pool_.get());
    } else if (gemm16_[s].weights && step.pool_node >= 0) {
      const Pool16& r = pool16_[s];
      int8_internal::RunQ16GemmMaxPool(gemm16_[s], r.geometry, r.rings, r.ring_floats, r.bands, pool_.get());
    } else if (gemm16_[s].weights) {
      int8_internal::RunQ16Gemm(gemm16_[s], pool_.get());
    } else {
      EV_RETURN_IF_ERROR(RunReference(step));
    }
    if (ranges_ && step.observe != graph::kNoValue) Record(step.observe, step.write);
    return Status::Ok();
  }

  NodeProfile Describe(const Step& step) const {
    const Graph& g = program_->graph;
    NodeProfile np;
    switch (step.kind) {
      case Step::Kind::kToQ8:
      case Step::Kind::kToF32:
        np.node = g.values[step.value].name;
        np.op = step.kind == Step::Kind::kToQ8 ? "Convert f32->int8" : "Convert int8->f32";
        return np;
      default: break;
    }
    const Node& node = g.nodes[step.node];
    np.node = node.name;
    np.op = std::string(graph::OpName(node.op));
    if (step.kind == Step::Kind::kQ8Op) {
      np.op += program_->gemm[step.node].kernel.empty() ? " (int8)" : " (int8 VNNI)";
    }
    if (step.kind == Step::Kind::kF32Op && !program_->gemm16[step.node].kernel.empty()) {
      const bool folded = step.folded_node >= 0;  // a Fire module's 1x1 expand too
      np.op += folded ? " (int16 VNNI + 1x1 expand" : " (int16 VNNI";
      np.op += step.pool_node >= 0 ? " + MaxPool2D)" : ")";
    }
    if (step.kind == Step::Kind::kReference) np.op += " (reference)";
    if (step.kind == Step::Kind::kCopy) np.op += step.x8 ? " (int8 copy)" : " (copy)";
    return np;
  }

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
    std::vector<double>& sums = (*channel_sums_)[v];
    const size_t channels = LastDim(program_->graph.values[v].shape);
    if (sums.empty()) sums.assign(channels, 0.0);
    for (size_t k = 0; k < n; ++k) sums[k % channels] += data[k];
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
        if (!p.gemm[step.node].kernel.empty()) {
          gemm_[s] = int8_internal::Q8GemmArgs(g, node, p.quant[node.outputs[0]], &p.gemm[step.node],
                                               Q(step.reads[0]), Q(step.write) + step.out_offset,
                                               step.out_stride);
          return Status::Ok();
        }
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
        if (!p.gemm16[step.node].kernel.empty()) {
          const int8_internal::Q16GemmWeights& w = p.gemm16[step.node];
          const bool pooled = step.pool_node >= 0;  // the rows go to a ring: dense
          gemm16_[s] = int8_internal::Q16GemmArgs(
              g, node, &w, F(step.reads[0]), reinterpret_cast<int16_t*>(Pointer(step.scratch)),
              F(step.write) + step.out_offset, pooled ? 0 : step.out_stride);
          if (step.peak_in >= 0) gemm16_[s].input_peak = &peaks_[step.peak_in];
          if (step.peak_out >= 0) gemm16_[s].out_peak = &peaks_[step.peak_out];
          if (step.folded_node >= 0) {  // a 1x1 in its tiles: the same input, its channels first
            const auto f = static_cast<size_t>(step.folded_node);
            folded16_[s] = int8_internal::Q16GemmArgs(g, g.nodes[f], &p.gemm16[f], F(step.reads[0]), nullptr,
                                                      nullptr, 0);
            folded16_[s].input_peak = gemm16_[s].input_peak;
            gemm16_[s].folded = &folded16_[s];
            if (pooled) gemm16_[s].y_stride = int8_internal::Q16OutChannels(gemm16_[s]);
          }
          if (pooled) {  // rows to a ring per thread, pooled into `write` (its channels)
            const Node& pool_node = g.nodes[static_cast<size_t>(step.pool_node)];
            Pool16& r = pool16_[s];
            r.geometry = xnnpack_internal::MaxPoolGeometryOf(g, pool_node, F(step.write) + step.out_offset,
                                                             step.out_stride ? step.out_stride : w.n);
            r.bands = pool_ ? pthreadpool_get_threads_count(pool_.get()) : 1;
            r.ring_floats = xnnpack_internal::MaxPoolRingFloats(r.geometry.kernel_h, gemm16_[s].out_w,
                                                                int8_internal::Q16OutChannels(gemm16_[s]));
            r.rings = reinterpret_cast<float*>(
                Pointer(step.scratch) + int8_internal::Q16RingOffset(int8_internal::Q16InputBytes(g, node, w)));
          }
          return Status::Ok();
        }
        {
          xnnpack_internal::AllocationRecording recording;
          xnnpack_internal::OpStrides strides = xnnpack_internal::DenseStrides(g, node);
          if (step.out_stride) strides.output = step.out_stride;  // into its concat
          status = xnnpack_internal::CreateNodeOperator(g, node, xnnpack_internal::Exec::kXnnpack, strides,
                                                        nullptr, &op);
          if (status == xnn_status_success) weights_->AfterCreate(s, op.get(), recording);
        }
        if (status != xnn_status_success) return Fail(step, "creating the operator", status);
        const bool binary = node.op == Op::kAdd || node.op == Op::kSub || node.op == Op::kMul ||
                            node.op == Op::kDiv;
        status = xnnpack_internal::SetupNodeOperator(
            g, node, xnnpack_internal::Exec::kXnnpack, op.get(), Operand(step.reads[0], node.inputs[0]),
            binary ? Operand(step.reads[1], node.inputs[1]) : nullptr, F(step.write) + step.out_offset, pool_.get(),
            p.wide_constants[step.node].empty() ? nullptr : p.wide_constants[step.node].data());
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
  std::vector<XnnOperator> ops_;  // per step; empty for reference and VNNI steps
  std::vector<int8_internal::Q8ConvArgs> gemm_;  // per step; null weights unless on the VNNI kernel
  std::vector<int8_internal::Q16ConvArgs> gemm16_;  // per step; null weights unless on the int16 kernel
  std::vector<int8_internal::Q16ConvArgs> folded16_;  // per step: the 1x1 its gemm16_ computes too (Step::folded_node)
  struct Pool16 {  // an int16 step's fused max pooling (Step::pool_node)
    xnnpack_internal::MaxPoolGeometry geometry;
    float* rings = nullptr;
    size_t ring_floats = 0, bands = 1;
  };
  std::vector<Pool16> pool16_;  // per step
  std::vector<float> peaks_;    // Program::peak_slots, zeroed before each run
  std::vector<ValueRange>* ranges_ = nullptr;
  std::vector<bool>* seen_ = nullptr;
  std::vector<std::vector<double>>* channel_sums_ = nullptr;
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
  program->own_kernels = !options.xnnpack_only;
  program->threads = options.threads;
  EV_RETURN_IF_ERROR(int8_internal::PlanProgram(program.get(), calibration));
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
    compilations_.fetch_add(1, std::memory_order_relaxed);
    EV_ASSIGN_OR_RETURN(std::unique_ptr<Int8Model> model,
                        CompileProgram(graph, options, calibration_.get()));
    return std::unique_ptr<CompiledModel>(std::move(model));
  }
  int compilations() const { return compilations_.load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<const Int8Calibration> calibration_;
  mutable std::atomic<int> compilations_{0};
};

}  // namespace

Result<Int8Calibration> CalibrateInt8(const Graph& graph, std::span<const std::vector<float>> inputs) {
  if (inputs.empty()) return InvalidArgument("int8 calibration needs at least one input");
  EV_ASSIGN_OR_RETURN(std::unique_ptr<Int8Model> model, CompileProgram(graph, {}, nullptr));
  EV_ASSIGN_OR_RETURN(std::unique_ptr<Int8Session> session, model->CreateInt8Session());
  Int8Calibration calibration;
  calibration.ranges.assign(graph.values.size(), ValueRange{});
  std::vector<bool> seen(graph.values.size(), false);
  std::vector<std::vector<double>> sums(graph.values.size());
  session->Observe(&calibration.ranges, &seen, &sums);
  std::vector<float> output(model->output_size());
  for (const std::vector<float>& input : inputs) EV_RETURN_IF_ERROR(session->Run(input, output));
  calibration.channel_means.resize(graph.values.size());
  for (size_t v = 0; v < graph.values.size(); ++v) {
    if (sums[v].empty()) continue;
    const double per_channel = static_cast<double>(inputs.size()) *
                               static_cast<double>(Elements(graph, static_cast<ValueId>(v))) /
                               static_cast<double>(sums[v].size());
    for (double sum : sums[v]) calibration.channel_means[v].push_back(static_cast<float>(sum / per_channel));
  }
  // Aliases (Reshape) share their root's bytes, hence its range.
  for (const Node& node : graph.nodes) {
    if (node.op == Op::kReshape && !seen[node.outputs[0]] && seen[node.inputs[0]]) {
      calibration.ranges[node.outputs[0]] = calibration.ranges[node.inputs[0]];
      if (LastDim(graph.values[node.outputs[0]].shape) == calibration.channel_means[node.inputs[0]].size()) {
        calibration.channel_means[node.outputs[0]] = calibration.channel_means[node.inputs[0]];
      }
    }
  }
  for (const graph::Value& v : graph.values) calibration.value_names.push_back(v.name);
  return calibration;
}

bool Int8FloatConvolutionsOnInt16() {
  return int8_internal::Q16GemmAvailable();
}

std::unique_ptr<Backend> MakeInt8Backend(std::shared_ptr<const Int8Calibration> calibration) {
  return std::make_unique<Int8Backend>(std::move(calibration));
}

Result<std::vector<NodeProfile>> ProfileInt8Session(Session& session, std::span<const float> input,
                                                    int runs) {
  auto* int8 = dynamic_cast<Int8Session*>(&session);
  if (!int8) return InvalidArgument("profile: not an int8 session");
  return int8->Profile(input, runs);
}

int Int8Compilations(const Backend& backend) {
  const auto* int8 = dynamic_cast<const Int8Backend*>(&backend);
  return int8 ? int8->compilations() : -1;
}

const Int8PlanStats* GetInt8PlanStats(const CompiledModel& model) {
  const auto* int8 = dynamic_cast<const Int8Model*>(&model);
  return int8 ? &int8->stats() : nullptr;
}

}  // namespace edgevision::engine
