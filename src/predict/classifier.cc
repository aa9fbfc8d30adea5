#include "predict/classifier.h"

#include <algorithm>
#include <cmath>

#include "core/half.h"
#include "engine/int8_backend.h"
#include "image/preprocess.h"

namespace edgevision::predict {

namespace {

double MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

double RoundLikeReference(float probability) {
  const float scaled = probability * 1e8f;  // 1e8 is exact in float32
  return static_cast<double>(std::nearbyint(scaled) / 1e8f);
}

Classifier::Classifier(model::LoadedModel model, const ClassifierOptions& options)
    : model_(std::move(model)), options_(options) {}

Classifier::~Classifier() = default;

const engine::Int8PlanStats* Classifier::int8_plan_stats() const {
  return compiled_ ? engine::GetInt8PlanStats(*compiled_) : nullptr;
}

Status Classifier::SetInt8Fallback(std::unique_ptr<engine::CompiledModel> fp32, const Int8FallbackBound& bound) {
  if (detector_ || !compiled_) return InvalidArgument("the int8 fallback is for classifiers");
  if (!fp32 || fp32->input_shape() != compiled_->input_shape() || fp32->output_size() != compiled_->output_size()) {
    return InvalidArgument("the int8 fallback's float32 model does not match the int8 one");
  }
  for (const std::unique_ptr<Worker>& worker : workers_) {
    EV_ASSIGN_OR_RETURN(worker->fallback_session, fp32->CreateSession());
  }
  fp32->ReleaseSessionCreationData();
  fallback_compiled_ = std::move(fp32);
  fallback_bound_ = bound;
  fallback_counts_ = std::make_unique<Int8FallbackCounts>();
  return Status::Ok();
}

Status WrongModelKind(bool model_is_detector) {
  return model_is_detector
             ? InvalidArgument("this model is an object detector: use a detect route "
                               "(/image, /{project}/detect/iterations/{name}/image, ...)")
             : InvalidArgument("this model is a classifier: use a classify route "
                               "(/image, /{project}/classify/iterations/{name}/image, ...)");
}

Result<std::unique_ptr<Classifier>> Classifier::Create(model::LoadedModel model,
                                                       std::shared_ptr<const engine::Backend> backend,
                                                       const ClassifierOptions& options) {
  if (!model.detector) return Create(std::move(model), *backend, options);
  const InferenceLimits& limits = options;
  model::LoadedModel kept;
  kept.info = model.info;
  kept.preprocess = model.preprocess;
  kept.detector = model.detector;
  std::unique_ptr<Classifier> c(new Classifier(std::move(kept), options));
  EV_ASSIGN_OR_RETURN(c->detector_, Detector::Create(std::move(model), std::move(backend), limits, options.detector));
  return c;
}

Result<std::unique_ptr<Classifier>> Classifier::Create(model::LoadedModel model,
                                                       const engine::Backend& backend,
                                                       const ClassifierOptions& options) {
  if (options.workers < 1 || options.threads_per_inference < 1) {
    return InvalidArgument("workers and threads must be at least 1");
  }
  if (model.detector) return InvalidArgument("a detector needs a shared backend (Classifier::Create)");
  engine::EngineOptions engine_options;
  engine_options.threads = options.threads_per_inference;
  EV_ASSIGN_OR_RETURN(std::unique_ptr<engine::CompiledModel> compiled, backend.Compile(model.graph, engine_options));
  return Create(std::move(model), std::move(compiled), options);
}

Result<std::unique_ptr<Classifier>> Classifier::Create(model::LoadedModel model,
                                                       std::unique_ptr<engine::CompiledModel> compiled,
                                                       const ClassifierOptions& options) {
  if (options.workers < 1 || options.threads_per_inference < 1) {
    return InvalidArgument("workers and threads must be at least 1");
  }
  if (model.detector) return InvalidArgument("a detector needs a shared backend (Classifier::Create)");
  if (!compiled) return InvalidArgument("Classifier::Create: no compiled model");
  std::unique_ptr<Classifier> c(new Classifier(std::move(model), options));
  c->compiled_ = std::move(compiled);
  const auto& shape = c->compiled_->input_shape();
  if (shape.size() != 4 || shape[1] != c->model_.preprocess.input_height ||
      shape[2] != c->model_.preprocess.input_width || shape[3] != 3) {
    return Internal("compiled input shape does not match the model's preprocessing");
  }
  if (c->compiled_->output_size() != c->model_.info.labels.size()) {
    return Internal("compiled output size does not match the labels");
  }
  // The compiled model keeps what it needs; a second copy of the weights
  // would only cost memory.
  c->model_.graph = graph::Graph();
  for (int i = 0; i < options.workers; ++i) {
    auto worker = std::make_unique<Worker>();
    EV_ASSIGN_OR_RETURN(worker->session, c->compiled_->CreateSession());
    c->workers_.push_back(std::move(worker));
  }
  // Every session exists (the pool never grows; a reload builds a new
  // Classifier): the weights they packed need not stay unpacked too.
  c->compiled_->ReleaseSessionCreationData();
  c->pool_ = std::make_unique<InferencePool>(options.workers, options.max_waiting, options.queue_timeout);
  return c;
}

Result<DetectionResult> Classifier::DetectImage(std::span<const uint8_t> image_bytes) const {
  if (!detector_) return WrongModelKind(false);
  return detector_->DetectImage(image_bytes);
}

Result<DetectionResult> Classifier::DetectPixels(const image::Image& rgb) const {
  if (!detector_) return WrongModelKind(false);
  return detector_->DetectPixels(rgb);
}

template <typename Fill>
Result<Classification> Classifier::ClassifyDecoded(Fill fill) const {
  if (detector_) return WrongModelKind(true);
  double queue_ms = 0;
  Result<Classification> result = pool_->Run<Classification>(
      [&](int w) -> Result<Classification> {
        Worker& worker = *workers_[static_cast<size_t>(w)];
        image::Workspace& ws = worker.workspace;
        // Whatever happens below, an outsized image's buffers do not stay.
        struct TrimOnExit {
          image::Workspace& ws;
          size_t keep;
          ~TrimOnExit() { ws.Trim(keep); }
        } trim{ws, options_.keep_buffer_bytes};
        Timings timings;
        auto start = std::chrono::steady_clock::now();
        EV_RETURN_IF_ERROR(fill(&ws.decoded));
        timings.decode_ms = MillisSince(start);

        // Straight into the Session's input where it has one (no tensor
        // buffer, no copy); else into the workspace's tensor.
        std::span<float> target = worker.session->input_buffer();
        const auto& spec = model_.preprocess;
        if (target.size() != static_cast<size_t>(spec.input_height) * static_cast<size_t>(spec.input_width) * 3) {
          target = {};
        }
        start = std::chrono::steady_clock::now();
        EV_RETURN_IF_ERROR(image::PreprocessInto(spec, &ws, target));
        timings.preprocess_ms = MillisSince(start);

        const std::span<const float> input = target.empty() ? std::span<const float>(ws.tensor.data) : target;
        // A fallback preprocesses again, into the float32 session's input.
        const auto again = [&](engine::Session* fp32) -> Result<std::span<const float>> {
          std::span<float> t = fp32->input_buffer();
          if (t.size() != target.size()) t = {};
          EV_RETURN_IF_ERROR(image::PreprocessInto(spec, &ws, t));
          return t.empty() ? std::span<const float>(ws.tensor.data) : std::span<const float>(t);
        };
        EV_ASSIGN_OR_RETURN(Classification out, Infer(input, worker, &timings, again));
        out.image_width = ws.decoded.rgb.width;
        out.image_height = ws.decoded.rgb.height;
        out.image_format = ws.decoded.format;
        out.timings = timings;
        return out;
      },
      &queue_ms);
  if (result.ok()) result->timings.queue_ms = queue_ms;
  return result;
}

Result<Classification> Classifier::ClassifyImage(std::span<const uint8_t> image_bytes) const {
  return ClassifyDecoded(
      [&](image::DecodedImage* out) { return image::DecodeInto(image_bytes, options_.decode, out); });
}

Result<Classification> Classifier::ClassifyPixels(const image::Image& rgb) const {
  return ClassifyDecoded([&](image::DecodedImage* out) { return image::PixelsInto(rgb, options_.decode, out); });
}

Result<Classification> Classifier::ClassifyTensor(const image::Tensor& tensor) const {
  if (detector_) return WrongModelKind(true);
  if (tensor.height != model_.preprocess.input_height || tensor.width != model_.preprocess.input_width ||
      tensor.channels != 3) {
    return InvalidArgument("tensor is " + std::to_string(tensor.height) + "x" + std::to_string(tensor.width) +
                           "x" + std::to_string(tensor.channels) + ", the model takes " +
                           std::to_string(model_.preprocess.input_height) + "x" +
                           std::to_string(model_.preprocess.input_width) + "x3");
  }
  double queue_ms = 0;
  Result<Classification> result = pool_->Run<Classification>(
      [&](int w) -> Result<Classification> {
        Timings timings;
        EV_ASSIGN_OR_RETURN(Classification out,
                            Infer(tensor.data, *workers_[static_cast<size_t>(w)], &timings,
                                  [&](engine::Session*) -> Result<std::span<const float>> {
                                    return std::span<const float>(tensor.data);
                                  }));
        out.timings = timings;
        return out;
      },
      &queue_ms);
  if (result.ok()) result->timings.queue_ms = queue_ms;
  return result;
}

QueueStats Classifier::queue_stats() const {
  if (detector_) return detector_->queue_stats();
  return pool_->stats();
}

template <typename Again>
Result<Classification> Classifier::Infer(std::span<const float> tensor, Worker& worker, Timings* timings,
                                         Again input_again) const {
  auto start = std::chrono::steady_clock::now();
  std::vector<float> scores(compiled_->output_size());
  std::optional<double> int8_margin;
  bool int8_fallback = false;
  Status status = worker.session->Run(tensor, scores);
  if (status.ok() && worker.fallback_session) {
    int8_margin = TopTwoLogOddsMargin(scores);
    int8_fallback = FallsBack(fallback_bound_, scores);
    fallback_counts_->Add(int8_fallback);
    if (int8_fallback) {
      Result<std::span<const float>> again = input_again(worker.fallback_session.get());
      status = again.ok() ? worker.fallback_session->Run(*again, scores) : again.status();
    }
  }
  timings->inference_ms = MillisSince(start);
  EV_RETURN_IF_ERROR(status);
  if (model_.output_float16) RoundToHalf(scores);  // as ONNX Runtime stores a float16 output
  Classification out = ToClassification(scores);
  out.int8_margin = int8_margin;
  out.int8_fallback = int8_fallback;
  return out;
}

Classification Classifier::ToClassification(const std::vector<float>& scores) const {
  Classification result;
  result.scores.reserve(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) {
    result.scores.push_back({model_.info.labels[i], static_cast<int>(i), scores[i]});
  }
  std::stable_sort(result.scores.begin(), result.scores.end(),
                   [](const TagScore& a, const TagScore& b) { return a.probability > b.probability; });
  return result;
}

}  // namespace edgevision::predict
