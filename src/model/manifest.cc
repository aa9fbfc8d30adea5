#include "model/manifest.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>

namespace edgevision::model {

namespace {

using nlohmann::json;

Result<json> ParseObject(std::string_view text, const std::string& file_label) {
  json doc = json::parse(text.begin(), text.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InvalidArgument(file_label + ": not valid JSON");
  if (!doc.is_object()) return InvalidArgument(file_label + ": expected a JSON object");
  return doc;
}

// A JSON value as text: strings as-is, null as "", anything else dumped.
std::string AsText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

std::string Field(const json& doc, const char* key) {
  auto it = doc.find(key);
  return it == doc.end() ? "" : AsText(*it);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Parses "[a, b, c]" (three finite numbers) as Custom Vision writes mean/std.
Status ParseTriple(const std::string& key, const std::string& text, std::array<float, 3>* out) {
  json v = json::parse(text, nullptr, false);
  if (v.is_discarded() || !v.is_array() || v.size() != 3) {
    return InvalidArgument("metadata " + key + ": expected a list of 3 numbers, got '" + text + "'");
  }
  for (size_t i = 0; i < 3; ++i) {
    if (!v[i].is_number() || !std::isfinite(v[i].get<double>())) {
      return InvalidArgument("metadata " + key + ": element " + std::to_string(i) + " is not a number");
    }
    (*out)[i] = v[i].get<float>();
  }
  return Status::Ok();
}

const std::string* Find(const std::map<std::string, std::string>& m, const char* key) {
  auto it = m.find(key);
  return it == m.end() || it->second.empty() ? nullptr : &it->second;
}

}  // namespace

Result<Manifest> ParseManifest(std::string_view text, const std::string& file_label) {
  EV_ASSIGN_OR_RETURN(json doc, ParseObject(text, file_label));
  Manifest m;
  m.domain_type = Field(doc, "DomainType");
  m.platform = Field(doc, "Platform");
  m.flavor = Field(doc, "Flavor");
  m.exporter_version = Field(doc, "ExporterVersion");
  m.exported_date = Field(doc, "ExportedDate");
  m.iteration_id = Field(doc, "IterationId");
  m.model_file_name = Field(doc, "ModelFileName");
  m.label_file_name = Field(doc, "LabelFileName");
  m.metadata_props_file_name = Field(doc, "MetadataPropsFileName");
  m.model_file_sha1 = Field(doc, "ModelFileSHA1");
  m.schema_version = Field(doc, "SchemaVersion");
  return m;
}

Result<std::map<std::string, std::string>> ParseMetadataProperties(std::string_view text,
                                                                   const std::string& file_label) {
  EV_ASSIGN_OR_RETURN(json doc, ParseObject(text, file_label));
  std::map<std::string, std::string> out;
  for (auto it = doc.begin(); it != doc.end(); ++it) out[it.key()] = AsText(it.value());
  return out;
}

Status ApplyMetadataToPreprocess(const std::map<std::string, std::string>& metadata,
                                 image::PreprocessSpec* spec) {
  if (const std::string* fmt = Find(metadata, "Image.BitmapPixelFormat")) {
    if (*fmt == "Bgr8" || *fmt == "Bgra8") {
      spec->color = image::ColorOrder::kBGR;
    } else if (*fmt == "Rgb8" || *fmt == "Rgba8") {
      spec->color = image::ColorOrder::kRGB;
    } else {
      return InvalidArgument("metadata Image.BitmapPixelFormat: unknown value '" + *fmt + "'");
    }
  }
  if (const std::string* range = Find(metadata, "Image.NominalPixelRange")) {
    if (*range == "NominalRange_0_255") {
      spec->scale = 1.0f;
    } else if (*range == "Normalized_0_1") {
      spec->scale = 1.0f / 255.0f;
    } else if (*range == "Normalized_1_1") {
      // [-1, 1]: v/127.5 - 1, expressed as scale 1/255 then (x - 0.5) / 0.5.
      spec->scale = 1.0f / 255.0f;
      spec->mean = {0.5f, 0.5f, 0.5f};
      spec->stddev = {0.5f, 0.5f, 0.5f};
    } else {
      return InvalidArgument("metadata Image.NominalPixelRange: unknown value '" + *range + "'");
    }
  }
  if (const std::string* mean = Find(metadata, "CustomVision.Preprocess.NormalizeMean")) {
    EV_RETURN_IF_ERROR(ParseTriple("CustomVision.Preprocess.NormalizeMean", *mean, &spec->mean));
  }
  if (const std::string* std = Find(metadata, "CustomVision.Preprocess.NormalizeStd")) {
    EV_RETURN_IF_ERROR(ParseTriple("CustomVision.Preprocess.NormalizeStd", *std, &spec->stddev));
    for (float s : spec->stddev) {
      if (s == 0.0f) return InvalidArgument("metadata CustomVision.Preprocess.NormalizeStd: zero");
    }
  }
  // TargetWidth/Height ("256.0") is the size the centre square is resized to
  // before the crop; the crop size always comes from the model's input shape.
  if (const std::string* target = Find(metadata, "CustomVision.Preprocess.TargetWidth")) {
    const std::string* method = Find(metadata, "CustomVision.Preprocess.ResizeMethod");
    if (method && *method == "ByShorterSide") {
      char* end = nullptr;
      double v = std::strtod(target->c_str(), &end);
      if (end == target->c_str() || !std::isfinite(v) || v < 1 || v > 4096) {
        return InvalidArgument("metadata CustomVision.Preprocess.TargetWidth: bad value '" + *target +
                               "'");
      }
      spec->resize_to = static_cast<int>(v);
    }
  }
  return Status::Ok();
}

std::vector<std::string> ParseLabels(std::string_view text) {
  // A UTF-8 byte-order mark (Windows editors add one) is not part of the first tag.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<std::string> labels;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    labels.emplace_back(Trim(text.substr(start, end - start)));
    start = end + 1;
  }
  while (!labels.empty() && labels.back().empty()) labels.pop_back();
  return labels;
}

}  // namespace edgevision::model
