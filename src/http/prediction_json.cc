#include "http/prediction_json.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "core/clock.h"

namespace edgevision::http {

namespace {

// Writes `v` compactly as Python's json.dumps does: objects with their keys
// in nlohmann's (sorted) order, numbers as float.__repr__ (PythonFloatRepr),
// strings escaped by nlohmann (UTF-8 kept; invalid UTF-8 replaced).
void DumpLikePython(const nlohmann::json& v, std::string* out) {
  switch (v.type()) {
    case nlohmann::json::value_t::object: {
      out->push_back('{');
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out->push_back(',');
        first = false;
        *out += nlohmann::json(it.key()).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        out->push_back(':');
        DumpLikePython(it.value(), out);
      }
      out->push_back('}');
      return;
    }
    case nlohmann::json::value_t::array: {
      out->push_back('[');
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) out->push_back(',');
        DumpLikePython(v[i], out);
      }
      out->push_back(']');
      return;
    }
    case nlohmann::json::value_t::number_float:
      *out += PythonFloatRepr(v.get<double>());
      return;
    default:
      *out += v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

// The envelope around `predictions`, keys sorted as Flask's jsonify writes them.
std::string Document(nlohmann::json predictions, const PredictionEnvelope& envelope) {
  nlohmann::json doc = {
      {"created", envelope.style == ResponseStyle::kCloud ? FormatIsoMillisZ(envelope.created)
                                                          : FormatIsoMicros(envelope.created)},
      {"id", envelope.id},
      {"iteration", envelope.iteration},
      {"predictions", std::move(predictions)},
      {"project", envelope.project},
  };
  std::string body;
  DumpLikePython(doc, &body);
  return body;
}

}  // namespace

std::string PythonFloatRepr(double value) {
  if (!std::isfinite(value)) return "null";  // Python writes NaN/Infinity, which is not JSON
  // The shortest digits that read back as `value` (what repr finds too), in
  // scientific form: "d[.ddd]e[+-]XX".
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  if (ec != std::errc()) return "null";
  const std::string sci(buf, end);
  const size_t e = sci.find('e');
  const bool negative = sci[0] == '-';
  std::string digits;
  for (size_t i = negative ? 1 : 0; i < e; ++i) {
    if (sci[i] != '.') digits.push_back(sci[i]);
  }
  const int exponent = std::atoi(sci.c_str() + e + 1);
  std::string out = negative ? "-" : "";
  if (exponent >= -4 && exponent < 16) {  // repr's fixed notation, always with a fraction
    if (exponent < 0) {
      out += "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exponent + 1) {
      out += digits + std::string(static_cast<size_t>(exponent + 1) - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, exponent + 1) + "." + digits.substr(exponent + 1);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  // repr's exponent: a sign and at least two digits ("e-05", "e+300").
  std::string magnitude = std::to_string(std::abs(exponent));
  if (magnitude.size() < 2) magnitude.insert(0, 1, '0');
  return out + 'e' + (exponent < 0 ? '-' : '+') + magnitude;
}

std::string PredictionJson(const predict::Classification& result, const PredictionEnvelope& envelope) {
  std::vector<const predict::TagScore*> order;
  for (const predict::TagScore& score : result.scores) order.push_back(&score);  // by probability
  if (envelope.label_order) {
    std::stable_sort(order.begin(), order.end(),
                     [](const auto* a, const auto* b) { return a->index < b->index; });
  }
  const bool all = envelope.rule == model::AnswerRule::kDoubleRoundAll;
  nlohmann::json predictions = nlohmann::json::array();
  for (const predict::TagScore* s : order) {
    const predict::TagScore& score = *s;
    const double p = all ? detect::RoundLikePython(static_cast<double>(score.probability))
                         : predict::RoundLikeReference(score.probability);
    if (!all && !(p > 1e-8)) continue;
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
