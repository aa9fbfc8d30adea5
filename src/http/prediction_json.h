// The prediction response body, as the exported container and the cloud
// Prediction API write it.
//
// {"created": ..., "id": ..., "iteration": ..., "predictions": [
//    {"boundingBox": null, "probability": p, "tagId": "", "tagName": t}, ...],
//  "project": ...}
// Keys are in alphabetical order (Flask's jsonify sorts them); probabilities
// are rounded as predict.py rounds them (predict::RoundLikeReference) and tags
// at or below 1e-8 are left out, as predict.py does; predictions are sorted by
// probability, descending (the cloud's order; the container keeps label order).
#pragma once

#include <chrono>
#include <string>

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
};

std::string PredictionJson(const predict::Classification& result, const PredictionEnvelope& envelope);

}  // namespace edgevision::http
