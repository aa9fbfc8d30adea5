// The prediction response body, as the exported container and the cloud
// Prediction API write it, for classifiers and for detectors (DetectionJson).
//
// {"created": ..., "id": ..., "iteration": ..., "predictions": [
//    {"boundingBox": null, "probability": p, "tagId": "", "tagName": t}, ...],
//  "project": ...}
// Keys are in alphabetical order (Flask's jsonify sorts them). Which tags
// appear and how probabilities are rounded follow the model's generation
// (model::AnswerRule): before Docker 2.2 predict.py rounds the float32 to 8
// decimals (predict::RoundLikeReference) and leaves out tags at or below
// 1e-8; Docker 2.2 lists every tag with round(p, 8) of the double.
// Predictions are sorted by probability, descending (the cloud's order),
// unless `label_order` asks for label-file order (every container's).
#pragma once

#include <chrono>
#include <span>
#include <string>

#include "detect/detection.h"
#include "predict/classifier.h"

namespace edgevision::http {

enum class ResponseStyle {
  kContainer,  // created = "2021-07-05T21:44:39.573181" (container's utcnow().isoformat())
  kCloud,      // created = "2021-07-05T21:44:39.573Z"
};

struct PredictionEnvelope {
  std::string id;         // unique per prediction
  std::string project;    // route's project segment, or ""
  std::string iteration;  // route's published name, else the model's iteration id, or ""
  std::chrono::system_clock::time_point created;
  ResponseStyle style = ResponseStyle::kContainer;
  model::AnswerRule rule = model::AnswerRule::kFloat32RoundDropTiny;
  bool label_order = false;
};


std::string PredictionJson(const predict::Classification& result, const PredictionEnvelope& envelope);

// A detector's response, as the object-detection containers write it (the
// 2022 compact Docker container and both S1 containers share the shape):
// {"created", "id", "iteration", "predictions": [
//    {"boundingBox": {"height", "left", "top", "width"}, "probability": p,
//     "tagId": <class index, a number>, "tagName": t}, ...], "project"}
// Every number is rounded as the containers' round(float(v), 8)
// (detect::RoundLikePython); detections keep their order (the compact
// family's is by probability, S1's is the model's); none is dropped, even
// at probability 0 (S1 returns every row). Boxes are normalised and never
// clipped. The envelope is the classification one (same keys, same styles).
std::string DetectionJson(std::span<const detect::Detection> detections, const PredictionEnvelope& envelope);

// A double as Python's repr() writes it, which is how the containers' json
// module writes numbers: the shortest digits that read back exactly, fixed
// notation for exponents -4..15 ("0.22443718", "100.0"), else scientific
// ("1.3000000365082087e-07", "1e+16"). Non-finite values give "null".
// PredictionJson and DetectionJson write every number this way, so their
// bodies are the containers' bytes (less the newline Flask appends).
std::string PythonFloatRepr(double value);

}  // namespace edgevision::http
