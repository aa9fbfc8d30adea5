#include "detect/family.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <string_view>

namespace edgevision::detect {

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const std::string* Find(const std::map<std::string, std::string>& m, const char* key) {
  auto it = m.find(key);
  return it == m.end() || it->second.empty() ? nullptr : &it->second;
}

// "detected_boxes:0" -> "detected_boxes".
std::string_view TensorName(std::string_view name) {
  const size_t colon = name.rfind(':');
  return colon == std::string_view::npos ? name : name.substr(0, colon);
}

bool HasSsdOutputNames(std::span<const std::string> names) {
  for (const char* want : {"detected_boxes", "detected_scores", "detected_classes"}) {
    if (std::none_of(names.begin(), names.end(), [&](const std::string& n) { return TensorName(n) == want; })) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string_view FamilyName(DetectorFamily family) {
  return family == DetectorFamily::kYolo ? "yolo" : "ssd";
}

std::string FamilyDisplayName(DetectorFamily family) {
  return family == DetectorFamily::kYolo ? "General (compact), YOLO-style"
                                         : "General (compact) [S1], SSD-style";
}

Result<FamilyDecision> DetectFamily(const std::map<std::string, std::string>& metadata,
                                    std::span<const std::string> output_names) {
  FamilyDecision decision;
  bool from_outputs = false;
  if (HasSsdOutputNames(output_names)) {
    decision.family = DetectorFamily::kSsd;
    decision.evidence = "outputs detected_boxes, detected_scores, detected_classes";
    from_outputs = true;
  } else if (output_names.size() == 3) {
    decision.family = DetectorFamily::kSsd;
    decision.evidence = "3 outputs";
    from_outputs = true;
  } else if (output_names.size() == 1) {
    decision.family = DetectorFamily::kYolo;
    decision.evidence = "1 output (" + output_names[0] + ")";
    from_outputs = true;
  } else if (!output_names.empty()) {
    return Unsupported("a detector has 1 output (compact) or 3 (S1); this model has " +
                       std::to_string(output_names.size()));
  }

  const std::string* method = Find(metadata, kPostprocessMethodKey);
  if (method == nullptr) {
    if (from_outputs) return decision;
    return Unsupported(std::string("cannot tell the detector family: no ") + kPostprocessMethodKey +
                       " in the metadata and the model's outputs are unknown");
  }
  const std::string m = Lower(*method);
  const std::string said = std::string("metadata ") + kPostprocessMethodKey + " = " + *method;
  if (m != "yolo" && m != "ssd") {
    if (from_outputs) {
      decision.warnings.push_back(said + " is not a detection method; going by the model's " +
                                  decision.evidence);
      return decision;
    }
    return InvalidArgument(said + " is not a detection method (Yolo or SSD)");
  }
  const DetectorFamily by_metadata = m == "yolo" ? DetectorFamily::kYolo : DetectorFamily::kSsd;
  if (!from_outputs) {
    decision.family = by_metadata;
    decision.evidence = said;
  } else if (by_metadata != decision.family) {
    decision.warnings.push_back(said + " contradicts the model's " + decision.evidence + "; going by the model");
  } else {
    decision.evidence = said + " and " + decision.evidence;
  }
  return decision;
}

Result<YoloParams> YoloParamsFromMetadata(const std::map<std::string, std::string>& metadata,
                                          std::vector<std::string>* notes) {
  YoloParams params;
  auto note = [&](std::string s) {
    if (notes) notes->push_back(std::move(s));
  };
  if (const std::string* biases = Find(metadata, kYoloBiasesKey)) {
    nlohmann::json v = nlohmann::json::parse(*biases, nullptr, false);
    if (v.is_discarded() || !v.is_array() || v.size() % 2 != 0) {
      return InvalidArgument(std::string("metadata ") + kYoloBiasesKey +
                             ": expected a list of anchor width, height pairs, got '" + *biases + "'");
    }
    std::vector<Anchor> anchors;
    for (size_t i = 0; i < v.size(); i += 2) {
      if (!v[i].is_number() || !v[i + 1].is_number()) {
        return InvalidArgument(std::string("metadata ") + kYoloBiasesKey + ": element " + std::to_string(i) +
                               " is not a number");
      }
      const Anchor a = {v[i].get<double>(), v[i + 1].get<double>()};
      if (!(a[0] > 0 && a[1] > 0 && std::isfinite(a[0]) && std::isfinite(a[1]))) {
        return InvalidArgument(std::string("metadata ") + kYoloBiasesKey + ": anchor " + std::to_string(i / 2) +
                               " is not positive");
      }
      anchors.push_back(a);
    }
    const bool known = std::equal(anchors.begin(), anchors.end(), kMetadataAnchors.begin(), kMetadataAnchors.end());
    if (anchors.empty()) {
      note("metadata has no anchors; using the container's");
    } else if (known) {
      note("metadata anchors are Custom Vision's standard set; using the container's rounded copy "
           "(0.573, 0.677, ...), as the shipped object_detection.py does");
    } else {
      params.anchors = std::move(anchors);
      note("anchors from metadata (" + std::to_string(params.anchors.size()) + ")");
    }
  }
  if (const std::string* nms = Find(metadata, kYoloNmsThresholdKey)) {
    double t = 0;
    const char* end = nms->data() + nms->size();
    auto [ptr, ec] = std::from_chars(nms->data(), end, t);
    if (ec != std::errc() || ptr != end || !std::isfinite(t) || t < 0 || t > 1) {
      return InvalidArgument(std::string("metadata ") + kYoloNmsThresholdKey + ": expected a number in [0, 1], got '" +
                             *nms + "'");
    }
    if (t > 0) {
      params.iou_threshold = t;
      note("NMS IoU threshold " + *nms + " from metadata");
    }
  }
  return params;
}

}  // namespace edgevision::detect
