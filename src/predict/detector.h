// Detector: a loaded object-detection export, ready to turn image bytes into
// detections as the export's own code does.
//
// Per request, on an inference worker's thread (predict/inference_pool.h):
// decode, then
//   - compact (YOLO): resize to the image's own ~512^2 size
//     (image/detector_preprocess.h), run the plan compiled for that input
//     size (predict/plan_cache.h: compiled on the first image of a new size,
//     kept for the next ones, bounded), decode the grid and run the
//     container's NMS (detect/yolo.h);
//   - S1 (SSD): stretch to the model's input (320x320, RGB), run the network,
//     then its NMS tail (detect/nms_tail.h) and format the detected_* rows
//     as the S1 containers do (detect/ssd.h): no threshold, no cap.
//
// Thread-safety: all const methods are safe from any number of threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "detect/detection.h"
#include "engine/backend.h"
#include "image/decode.h"
#include "image/image.h"
#include "model/model.h"
#include "predict/plan_cache.h"
#include "predict/inference_pool.h"

namespace edgevision::predict {

// The user's post-processing choices (serve/predict flags); unset = the
// container's value (detect/detection.h: 0.10, 0.45, 20).
struct DetectorOptions {
  std::optional<double> probability_threshold;  // --probability-threshold
  std::optional<double> iou_threshold;          // --iou-threshold
  std::optional<int> max_detections;            // --max-detections
  int max_plans = kDefaultMaxPlans;             // --max-plans: compiled input sizes kept
};

// Per-stage times of one detection, in milliseconds.
struct DetectionTimings {
  double queue_ms = 0;
  double decode_ms = 0;
  double resize_ms = 0;       // orientation, resize, to float
  double inference_ms = 0;    // including compiling a plan for a new size
  double postprocess_ms = 0;  // grid decode + NMS (S1: the NMS tail + formatting)
};

struct DetectionResult {
  std::vector<detect::Detection> detections;  // in the container's order
  int image_width = 0;                        // as decoded, before orientation
  int image_height = 0;
  // The image the boxes are normalised to: after the EXIF orientation the
  // export's code applies (a rotated JPEG's sides swapped).
  int seen_width = 0;
  int seen_height = 0;
  int input_width = 0;                        // the tensor the model ran on
  int input_height = 0;
  std::string image_format;
  DetectionTimings timings;
};

class Detector {
 public:
  using Limits = InferenceLimits;
  // Errors: InvalidArgument when `model` is not a detector or an option is
  // out of range; the backend's errors for the model's declared
  // input size (compiled once to check the graph runs).
  static Result<std::unique_ptr<Detector>> Create(model::LoadedModel model,
                                                  std::shared_ptr<const engine::Backend> backend,
                                                  const Limits& limits, const DetectorOptions& options);
  Detector(const Detector&) = delete;
  Detector& operator=(const Detector&) = delete;
  ~Detector();

  // Errors: Unavailable (queue full, timeout); InvalidArgument /
  // ResourceExhausted from decoding and resizing; Internal from the engine.
  Result<DetectionResult> DetectImage(std::span<const uint8_t> image_bytes) const;
  // On a frame already decoded to RGB8 (image::PixelsInto: no EXIF
  // orientation). Errors: as DetectImage.
  Result<DetectionResult> DetectPixels(const image::Image& rgb) const;
  // On an already preprocessed tensor (HWC, 0..255 in the model's colour
  // order; a compact detector takes any size, an S1 detector its own).
  Result<DetectionResult> DetectTensor(const image::Tensor& tensor) const;

  const model::ModelInfo& info() const { return info_; }
  const model::DetectorSpec& spec() const { return spec_; }
  // The post-processing parameters in use (metadata, then the options);
  // compact detectors only (an S1 graph's NMS is inside it).
  const detect::YoloParams& params() const { return params_; }
  bool is_ssd() const { return spec_.family == detect::DetectorFamily::kSsd; }
  PlanCacheStats plan_stats() const { return plans_->stats(); }
  QueueStats queue_stats() const { return pool_->stats(); }

 private:
  Detector(model::LoadedModel model, const Limits& limits, const DetectorOptions& options);
  Result<DetectionResult> Run(const image::Tensor& tensor, DetectionResult result) const;
  Status PostprocessSsd(std::span<const float> packed, DetectionResult* result) const;
  // fn() on a pool thread, with the time it queued in timings.queue_ms.
  template <typename Fn>
  Result<DetectionResult> OnWorker(Fn fn) const;
  // Resize and Run on a decoded image (on a pool thread).
  Result<DetectionResult> RunDecoded(image::DecodedImage decoded, DetectionResult result) const;

  model::ModelInfo info_;
  image::PreprocessSpec preprocess_;  // S1: the stretch size and colour
  model::DetectorSpec spec_;
  detect::YoloParams params_;
  Limits limits_;
  std::unique_ptr<ShapePlanCache> plans_;
  std::unique_ptr<InferencePool> pool_;
};

}  // namespace edgevision::predict
