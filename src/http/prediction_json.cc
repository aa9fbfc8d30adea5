#include "http/prediction_json.h"

#include <nlohmann/json.hpp>

#include "core/clock.h"

namespace edgevision::http {

namespace {

// The envelope around `predictions`; nlohmann's objects keep keys sorted, as
// Flask's jsonify writes them.
std::string Document(nlohmann::json predictions, const PredictionEnvelope& envelope) {
  nlohmann::json doc = {
      {"created", envelope.style == ResponseStyle::kCloud ? FormatIsoMillisZ(envelope.created)
                                                          : FormatIsoMicros(envelope.created)},
      {"id", envelope.id},
      {"iteration", envelope.iteration},
      {"predictions", std::move(predictions)},
      {"project", envelope.project},
  };
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string PredictionJson(const predict::Classification& result, const PredictionEnvelope& envelope) {
  nlohmann::json predictions = nlohmann::json::array();
  for (const predict::TagScore& score : result.scores) {  // already sorted, descending
    const double p = predict::RoundLikeReference(score.probability);
    if (!(p > 1e-8)) continue;
    predictions.push_back(
        {{"boundingBox", nullptr}, {"probability", p}, {"tagId", ""}, {"tagName", score.tag}});
  }
  return Document(std::move(predictions), envelope);
}

std::string DetectionJson(std::span<const detect::Detection> detections, const PredictionEnvelope& envelope) {
  using detect::RoundLikePython;
  nlohmann::json predictions = nlohmann::json::array();
  for (const detect::Detection& d : detections) {
    predictions.push_back({{"boundingBox",
                            {{"height", RoundLikePython(d.box.height)},
                             {"left", RoundLikePython(d.box.left)},
                             {"top", RoundLikePython(d.box.top)},
                             {"width", RoundLikePython(d.box.width)}}},
                           {"probability", RoundLikePython(d.probability)},
                           {"tagId", d.tag_index},
                           {"tagName", d.tag}});
  }
  return Document(std::move(predictions), envelope);
}

}  // namespace edgevision::http
