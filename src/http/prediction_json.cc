#include "http/prediction_json.h"

#include <nlohmann/json.hpp>

#include "core/clock.h"

namespace edgevision::http {

std::string PredictionJson(const predict::Classification& result, const PredictionEnvelope& envelope) {
  nlohmann::json predictions = nlohmann::json::array();
  for (const predict::TagScore& score : result.scores) {  // already sorted, descending
    const double p = predict::RoundLikeReference(score.probability);
    if (!(p > 1e-8)) continue;
    predictions.push_back(
        {{"boundingBox", nullptr}, {"probability", p}, {"tagId", ""}, {"tagName", score.tag}});
  }
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

}  // namespace edgevision::http
