// What happens after a prediction: observers (the capture store, the upstream
// publisher) are told about every successful prediction.
//
// Contract: OnPrediction runs on the request thread after the response body
// is computed and before it is sent, so it must be quick (queue, don't do
// I/O that can block for long) and must not throw. The record's spans are
// only valid during the call; copy what you keep.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "detect/detection.h"
#include "predict/classifier.h"

namespace edgevision::predict {

struct PredictionRecord {
  std::string id;  // the response's "id"
  std::chrono::system_clock::time_point created;
  std::chrono::steady_clock::time_point received;  // when the handler started on the request
  std::string route;      // the route pattern that served it, e.g. "POST /image"
  std::string project;    // route parameter, or ""
  std::string iteration;  // the response's "iteration"
  bool nostore = false;   // a /nostore route: never store the image
  std::span<const uint8_t> image;  // the encoded image as received
  const Classification* result = nullptr;
  const std::vector<detect::Detection>* detections = nullptr;  // a detector's result; null for a classifier
  // The image `detections` are normalised to: its size after the EXIF
  // orientation the export's code applies (0 x 0 for a classifier).
  int seen_width = 0;
  int seen_height = 0;
  const model::ModelInfo* model = nullptr;
};

class PredictionObserver {
 public:
  virtual ~PredictionObserver() = default;
  virtual void OnPrediction(const PredictionRecord& record) = 0;
};

}  // namespace edgevision::predict
