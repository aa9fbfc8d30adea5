// Classifier: a loaded model, compiled for a backend, ready to turn image
// bytes into tag probabilities. It is also what serves an object-detection
// export: then it holds a Detector (predict/detector.h), DetectImage answers
// and ClassifyImage refuses (and the reverse for a classifier), so the model
// slot, the reloader and the routes handle one type.
//
// This is where a request's image meets the model: decode, preprocess and
// the graph run on one of `workers` inference workers, each with its own
// engine session and image buffers (predict/inference_pool.h: on the
// caller's thread when a worker is idle, else queued for the worker's own
// thread). When every worker is busy, callers wait in a bounded queue; past
// `max_waiting` waiters, or after `queue_timeout`, Classify returns
// Unavailable so the HTTP layer can answer 503 quickly.
//
// Thread-safety: all const methods are safe from any number of threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/backend.h"
#include "image/decode.h"
#include "image/image.h"
#include "image/workspace.h"
#include "model/model.h"
#include "predict/detector.h"
#include "predict/inference_pool.h"
#include "predict/int8_fallback.h"
#include "predict/int8_report.h"

namespace edgevision::engine {
struct Int8PlanStats;  // engine/int8_backend.h
}  // namespace edgevision::engine

namespace edgevision::predict {

struct ClassifierOptions : InferenceLimits {
  // Post-processing choices for a detector (ignored for a classifier).
  DetectorOptions detector;
  // Each classifier worker keeps its image buffers (image/workspace.h)
  // between requests so that a request allocates nothing large; a buffer
  // that an outsized image grew past this is freed after that request.
  // 8 MiB holds every buffer of a 1600x1200 frame (5.8 MB decoded).
  size_t keep_buffer_bytes = 8u << 20;
  // --precision int8 (predict/int8_mode.h): load through CreateInt8Classifier,
  // caching the calibration under `int8_data_dir` (empty: no cache, and no
  // captures to calibrate from). Default: float32, the containers' answers.
  bool int8 = false;
  std::string int8_data_dir;
  // With int8: answer near ties with float32 (predict/int8_fallback.h);
  // costs a float32 compilation and a session per worker.
  bool int8_fallback = true;
};

struct TagScore {
  std::string tag;
  int index = 0;            // position in the model's output / labels
  float probability = 0.0f; // as the model output it (sigmoid or softmax)
};

struct Timings {
  double decode_ms = 0;
  double preprocess_ms = 0;
  double queue_ms = 0;
  double inference_ms = 0;
};

struct Classification {
  std::vector<TagScore> scores;  // sorted by probability, descending; ties by index
  int image_width = 0;           // as decoded, before orientation
  int image_height = 0;
  std::string image_format;
  Timings timings;  // inference_ms includes a fallback's float32 run
  // An int8 classifier with the fallback (predict/int8_fallback.h): int8's
  // top-two log-odds margin, and whether float32 answered instead.
  std::optional<double> int8_margin;
  bool int8_fallback = false;
};

class Classifier {
 public:
  // Compiles `model` with `backend` and creates the sessions.
  // Errors: the backend's (Unsupported naming the node and op).
  static Result<std::unique_ptr<Classifier>> Create(model::LoadedModel model, const engine::Backend& backend,
                                                    const ClassifierOptions& options);
  // The same with `model`'s graph already compiled (with
  // options.threads_per_inference threads): --precision int8 compiles once
  // to measure its agreement and serves that very model. Errors: Internal
  // when `compiled` does not fit the model's input or labels.
  static Result<std::unique_ptr<Classifier>> Create(model::LoadedModel model,
                                                    std::unique_ptr<engine::CompiledModel> compiled,
                                                    const ClassifierOptions& options);
  // The same, for any export: a detector keeps the backend to compile a plan
  // per input size. Errors: as above, and Detector::Create's.
  static Result<std::unique_ptr<Classifier>> Create(model::LoadedModel model,
                                                    std::shared_ptr<const engine::Backend> backend,
                                                    const ClassifierOptions& options);

  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;
  ~Classifier();

  // Decode, preprocess, infer. The request first waits for an inference
  // worker, then decodes on it: at most `workers` images are decoded at once
  // (bounded memory and no oversubscribed cores), and a full queue is refused
  // before any decoding work. Errors: Unavailable when the queue is full or
  // the wait timed out; InvalidArgument / ResourceExhausted from decoding;
  // Internal from the engine.
  Result<Classification> ClassifyImage(std::span<const uint8_t> image_bytes) const;

  // The same on a frame already decoded to RGB8 (a video frame, src/stream):
  // everything after decoding is ClassifyImage's, on a frame with no EXIF
  // orientation (image::PixelsInto). Errors: as ClassifyImage.
  Result<Classification> ClassifyPixels(const image::Image& rgb) const;

  // Infer on an already preprocessed tensor (HWC, the model's input size).
  Result<Classification> ClassifyTensor(const image::Tensor& tensor) const;

  // An object detector's answer (Detector::DetectImage). Errors: those, and
  // InvalidArgument when the model is a classifier (ClassifyImage and
  // ClassifyTensor return InvalidArgument on a detector).
  Result<DetectionResult> DetectImage(std::span<const uint8_t> image_bytes) const;
  // DetectImage on a frame already decoded to RGB8 (Detector::DetectPixels).
  Result<DetectionResult> DetectPixels(const image::Image& rgb) const;

  // The detector, or nullptr for a classifier.
  const Detector* detector() const { return detector_.get(); }

  const model::ModelInfo& info() const { return model_.info; }
  const image::PreprocessSpec& preprocess() const { return model_.preprocess; }
  const ClassifierOptions& options() const { return options_; }
  QueueStats queue_stats() const;

  // --precision int8 (predict/int8_mode.h): what calibration found; nullptr
  // for a float32 classifier.
  const Int8Report* int8_report() const { return int8_report_ ? &*int8_report_ : nullptr; }
  void SetInt8Report(Int8Report report) { int8_report_ = std::move(report); }
  // The int8 engine's plan, or nullptr for another engine.
  const engine::Int8PlanStats* int8_plan_stats() const;
  // --precision int8's confidence fallback (predict/int8_fallback.h): `fp32`
  // is the same model compiled for float32 (with threads_per_inference
  // threads); each worker gets a session of it, and answers whose int8
  // margin is under `bound` come from it. Call before the classifier serves
  // (CreateInt8Classifier does). Errors: InvalidArgument on a detector or an
  // fp32 model of another input or output size; CreateSession's.
  Status SetInt8Fallback(std::unique_ptr<engine::CompiledModel> fp32, const Int8FallbackBound& bound);
  // Its live counts; nullptr without the fallback.
  const Int8FallbackCounts* int8_fallback_counts() const { return fallback_counts_.get(); }

 private:
  Classifier(model::LoadedModel model, const ClassifierOptions& options);
  // One inference worker: an engine session and the image buffers it reuses.
  struct Worker {
    std::unique_ptr<engine::Session> session;
    std::unique_ptr<engine::Session> fallback_session;  // int8's float32 fallback, if any
    image::Workspace workspace;
  };
  // The scores of `tensor` on `worker`'s session, labelled and sorted
  // (ToClassification); with the int8 fallback, float32's when int8's fall
  // back, on the input `input_again(session)` returns (int8's Run may have
  // overwritten `tensor`), and the answer's int8 fields set. Sets
  // timings->inference_ms; the caller fills the rest (image, timings).
  template <typename Again>
  Result<Classification> Infer(std::span<const float> tensor, Worker& worker, Timings* timings,
                               Again input_again) const;
  Classification ToClassification(const std::vector<float>& scores) const;
  // ClassifyImage after `fill` has written the decoded image into the worker's
  // workspace (decode_ms times `fill`).
  template <typename Fill>
  Result<Classification> ClassifyDecoded(Fill fill) const;

  model::LoadedModel model_;
  ClassifierOptions options_;
  std::unique_ptr<engine::CompiledModel> compiled_;
  std::unique_ptr<Detector> detector_;  // set for an object-detection export
  std::optional<Int8Report> int8_report_;
  std::unique_ptr<engine::CompiledModel> fallback_compiled_;  // SetInt8Fallback's
  Int8FallbackBound fallback_bound_;
  std::unique_ptr<Int8FallbackCounts> fallback_counts_;

  std::vector<std::unique_ptr<Worker>> workers_;  // indexed by pool_'s worker number
  // Declared after workers_ so that its threads stop first.
  std::unique_ptr<InferencePool> pool_;
};

// The refusal of a classification on a detector or the reverse: which
// route to use instead.
Status WrongModelKind(bool model_is_detector);

// predict.py's rounding: numpy rounds the float32 probability to 8 decimals in
// float32 arithmetic, then it is widened to float64 (so 0.99956155f becomes
// 0.9995615482330322). Tags whose rounded value is <= 1e-8 are dropped.
double RoundLikeReference(float probability);

}  // namespace edgevision::predict
