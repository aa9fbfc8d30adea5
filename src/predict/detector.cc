#include "predict/detector.h"

#include <chrono>

#include "core/half.h"
#include "detect/ssd.h"
#include "detect/yolo.h"
#include "image/detector_preprocess.h"
#include "image/orientation.h"

namespace edgevision::predict {
namespace {

double MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

Detector::Detector(model::LoadedModel model, const Limits& limits, const DetectorOptions& options)
    : info_(std::move(model.info)),
      preprocess_(model.preprocess),
      spec_(*model.detector),
      params_(spec_.yolo),
      limits_(limits),
      pool_(std::make_unique<InferencePool>(limits.workers, limits.max_waiting, limits.queue_timeout)) {
  if (options.probability_threshold) params_.probability_threshold = *options.probability_threshold;
  if (options.iou_threshold) params_.iou_threshold = *options.iou_threshold;
  if (options.max_detections) params_.max_detections = *options.max_detections;
}

Detector::~Detector() = default;

Result<std::unique_ptr<Detector>> Detector::Create(model::LoadedModel model,
                                                   std::shared_ptr<const engine::Backend> backend,
                                                   const Limits& limits, const DetectorOptions& options) {
  if (!model.detector) return InvalidArgument("not an object detector");
  if (limits.workers < 1 || limits.threads_per_inference < 1) {
    return InvalidArgument("workers and threads must be at least 1");
  }
  if (options.probability_threshold && !(*options.probability_threshold >= 0 && *options.probability_threshold <= 1)) {
    return InvalidArgument("--probability-threshold must be within 0..1");
  }
  if (options.iou_threshold && !(*options.iou_threshold > 0 && *options.iou_threshold <= 1)) {
    return InvalidArgument("--iou-threshold must be within (0, 1]");
  }
  if (options.max_detections && *options.max_detections < 1) {
    return InvalidArgument("--max-detections must be at least 1");
  }
  if (options.max_plans < 1) return InvalidArgument("--max-plans must be at least 1");
  const int height = model.preprocess.input_height, width = model.preprocess.input_width;
  graph::Graph graph = std::move(model.graph);
  std::unique_ptr<Detector> d(new Detector(std::move(model), limits, options));
  engine::EngineOptions engine_options;
  engine_options.threads = limits.threads_per_inference;
  d->plans_ = std::make_unique<ShapePlanCache>(std::move(graph), std::move(backend), engine_options,
                                               options.max_plans);
  // Compile the declared size now: a graph the engine cannot run fails the
  // load, not the first request.
  EV_ASSIGN_OR_RETURN(ShapePlanCache::Lease lease, d->plans_->Acquire(height, width));
  return d;
}

template <typename Fn>
Result<DetectionResult> Detector::OnWorker(Fn fn) const {
  double queue_ms = 0;
  Result<DetectionResult> result = pool_->Run<DetectionResult>([&](int) { return fn(); }, &queue_ms);
  if (result.ok()) result->timings.queue_ms = queue_ms;
  return result;
}

Result<DetectionResult> Detector::DetectImage(std::span<const uint8_t> image_bytes) const {
  return OnWorker([&]() -> Result<DetectionResult> {
    DetectionResult result;
    auto start = std::chrono::steady_clock::now();
    EV_ASSIGN_OR_RETURN(image::DecodedImage decoded, image::Decode(image_bytes, limits_.decode));
    result.timings.decode_ms = MillisSince(start);
    return RunDecoded(std::move(decoded), std::move(result));
  });
}

Result<DetectionResult> Detector::DetectPixels(const image::Image& rgb) const {
  return OnWorker([&]() -> Result<DetectionResult> {
    DetectionResult result;
    auto start = std::chrono::steady_clock::now();
    image::DecodedImage decoded;
    EV_RETURN_IF_ERROR(image::PixelsInto(rgb, limits_.decode, &decoded));
    result.timings.decode_ms = MillisSince(start);
    return RunDecoded(std::move(decoded), std::move(result));
  });
}

Result<DetectionResult> Detector::RunDecoded(image::DecodedImage decoded, DetectionResult result) const {
  result.image_width = decoded.rgb.width;
  result.image_height = decoded.rgb.height;
  const bool transposed = image::OrientationTransposes(image::ReferenceOrientation(decoded));
  result.seen_width = transposed ? decoded.rgb.height : decoded.rgb.width;
  result.seen_height = transposed ? decoded.rgb.width : decoded.rgb.height;
  result.image_format = decoded.format;
  auto start = std::chrono::steady_clock::now();
  Result<image::Tensor> tensor =
      is_ssd() ? image::PreprocessStretch(std::move(decoded), preprocess_.input_width, preprocess_.input_height,
                                          preprocess_.color)
               : image::PreprocessYolo(std::move(decoded), image::ColorOrder::kBGR);
  if (!tensor.ok()) return tensor.status();
  result.timings.resize_ms = MillisSince(start);
  return Run(*tensor, std::move(result));
}

Result<DetectionResult> Detector::DetectTensor(const image::Tensor& tensor) const {
  if (tensor.channels != 3 || tensor.height < 1 || tensor.width < 1 ||
      tensor.data.size() != static_cast<size_t>(tensor.height) * tensor.width * 3) {
    return InvalidArgument("the tensor must be HxWx3");
  }
  if (is_ssd() && (tensor.height != preprocess_.input_height || tensor.width != preprocess_.input_width)) {
    return InvalidArgument("an S1 detector takes " + std::to_string(preprocess_.input_width) + "x" +
                           std::to_string(preprocess_.input_height) + " tensors");
  }
  return OnWorker([&]() -> Result<DetectionResult> { return Run(tensor, DetectionResult()); });
}

Result<DetectionResult> Detector::Run(const image::Tensor& tensor, DetectionResult result) const {
  result.input_width = tensor.width;
  result.input_height = tensor.height;
  auto start = std::chrono::steady_clock::now();
  EV_ASSIGN_OR_RETURN(ShapePlanCache::Lease lease, plans_->Acquire(tensor.height, tensor.width));
  std::vector<float> grid(lease.output_size());
  Status status = lease.session()->Run(tensor.data, grid);
  result.timings.inference_ms = MillisSince(start);
  EV_RETURN_IF_ERROR(status);
  if (is_ssd()) {
    EV_RETURN_IF_ERROR(PostprocessSsd(grid, &result));
    return result;
  }
  const graph::Shape& shape = lease.output_shape();
  if (shape.size() != 4) return Internal("detector output is not [1, H, W, C]");

  start = std::chrono::steady_clock::now();
  if (spec_.output_float16) RoundToHalf(grid);
  detect::YoloOutput output;
  output.data = grid;
  output.height = static_cast<int>(shape[1]);
  output.width = static_cast<int>(shape[2]);
  output.channels = static_cast<int>(shape[3]);
  output.layout = detect::GridLayout::kHWC;  // the engine's graphs are NHWC
  EV_ASSIGN_OR_RETURN(result.detections,
                      detect::PostprocessYolo(output, params_, info_.labels, spec_.sum_order));
  result.timings.postprocess_ms = MillisSince(start);
  return result;
}

Status Detector::PostprocessSsd(std::span<const float> packed, DetectionResult* result) const {
  const auto start = std::chrono::steady_clock::now();
  EV_ASSIGN_OR_RETURN(auto outputs, detect::RunTail(spec_.ssd_tail, packed));
  EV_ASSIGN_OR_RETURN(detect::SsdTensors rows, detect::SsdFromOutputs(outputs));
  Result<std::vector<detect::Detection>> detections = detect::PostprocessSsd(rows.view(), info_.labels);
  // A class without a label is the model's fault, not the request's.
  if (!detections.ok()) return Internal(detections.status().message());
  result->detections = std::move(detections).value();
  result->timings.postprocess_ms = MillisSince(start);
  return Status::Ok();
}

}  // namespace edgevision::predict
