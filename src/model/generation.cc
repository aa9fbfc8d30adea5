#include "model/generation.h"

#include <cctype>
#include <string>

namespace edgevision::model {

namespace {

bool Contains(std::string_view text, std::string_view what) {
  return text.find(what) != std::string_view::npos;
}

// The value of a top-level `NAME = True|False` line, if there is one.
std::optional<bool> BoolAssignment(std::string_view text, std::string_view name) {
  size_t pos = 0;
  while ((pos = text.find(name, pos)) != std::string_view::npos) {
    const bool line_start = pos == 0 || text[pos - 1] == '\n';
    size_t i = pos + name.size();
    pos = i;
    if (!line_start) continue;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    if (i >= text.size() || text[i] != '=') continue;
    ++i;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    const std::string_view rest = text.substr(i);
    if (rest.substr(0, 4) == "True") return true;
    if (rest.substr(0, 5) == "False") return false;
  }
  return std::nullopt;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string_view GenerationName(Generation g) {
  switch (g) {
    case Generation::kModelFile: return "model file (no container code)";
    case Generation::kDockerD1: return "D1 Docker 2.0/2.1 custom bilinear (2018-2020)";
    case Generation::kDockerD2: return "D2 Docker 2.0/2.1 mscviplib (2021-2023)";
    case Generation::kDockerD3: return "D3 Docker 2.2 TFLite + Pillow (2024+)";
  }
  return "unknown";
}

Result<Generation> ParseGeneration(std::string_view text) {
  const std::string t = Lower(text);
  if (t == "d1" || t == "2019" || t == "2020") return Generation::kDockerD1;
  if (t == "d2" || t == "mscviplib") return Generation::kDockerD2;
  if (t == "d3" || t == "2.2") return Generation::kDockerD3;
  if (t == "file") return Generation::kModelFile;
  return InvalidArgument("unknown preprocessing generation '" + std::string(text) +
                         "' (expected d1, d2, d3 or file)");
}

GenerationChoice DetectGeneration(const ExportEvidence& e) {
  GenerationChoice c;
  const std::string_view py = e.predict_py;
  const std::string& where = e.predict_py_label;
  if (!py.empty()) {
    if (Contains(py, "IS_BGR")) {
      c.generation = Generation::kDockerD3;
      const std::optional<bool> bgr = BoolAssignment(py, "IS_BGR");
      if (bgr) c.color = *bgr ? image::ColorOrder::kBGR : image::ColorOrder::kRGB;
      c.reason = where + " is the Docker 2.2 code (Preprocessor with IS_BGR" +
                 std::string(bgr ? (*bgr ? " = True" : " = False") : ", value not found") + ")";
      return c;
    }
    if (Contains(py, "mscviplib")) {
      c.generation = Generation::kDockerD2;
      if (Contains(py, "ColorSpace.BGR")) c.color = image::ColorOrder::kBGR;
      if (Contains(py, "ColorSpace.RGB")) c.color = image::ColorOrder::kRGB;
      c.reason = where + " calls mscviplib.PreprocessForInferenceAsTensor" +
                 std::string(c.color ? (*c.color == image::ColorOrder::kBGR ? " with ColorSpace.BGR"
                                                                             : " with ColorSpace.RGB")
                                     : "");
      return c;
    }
    if (Contains(py, "extract_and_resize") || Contains(py, "resize_down_to_1600_max_dim")) {
      c.generation = Generation::kDockerD1;
      c.color = image::ColorOrder::kBGR;  // convert_to_nparray: image[:, :, (2,1,0)]
      c.reason = where + " is the custom-bilinear code (resize_down_to_1600_max_dim, "
                         "extract_and_resize)";
      return c;
    }
  }
  const std::string unknown_py =
      py.empty() ? std::string() : where + " is not a predict.py edgevision knows; ";
  if (e.docker_app && e.tflite) {
    c.generation = Generation::kDockerD3;
    c.reason = unknown_py + "model.tflite in a Dockerfile export's app/ folder (only Docker 2.2 "
                            "ships TFLite); no predict.py to read IS_BGR from";
    return c;
  }
  if (e.docker_app) {
    const int year = e.exported_date.size() >= 4 ? std::atoi(e.exported_date.substr(0, 4).c_str()) : 0;
    c.generation = year >= 2021 ? Generation::kDockerD2 : Generation::kDockerD1;
    c.reason = unknown_py + "model.pb in a Dockerfile export's app/ folder, " +
               (year ? "ExportedDate " + e.exported_date.substr(0, 10) +
                           (year >= 2021 ? " (mscviplib template from 2021)"
                                         : " (custom-bilinear template until 2020)")
                     : std::string("no manifest date (assuming the custom-bilinear template)"));
    return c;
  }
  c.reason = unknown_py + "no predict.py and no Dockerfile export around the model: the format's own rules";
  return c;
}

void ApplyGeneration(Generation g, std::optional<image::ColorOrder> color,
                     image::ColorOrder default_color, image::PreprocessSpec* spec) {
  if (g == Generation::kModelFile) return;
  // Container code feeds 0-255 values in its colour order; nothing else.
  spec->color = color.value_or(default_color);
  spec->scale = 1.0f;
  spec->mean = {0, 0, 0};
  spec->stddev = {1, 1, 1};
  switch (g) {
    case Generation::kDockerD1:
      spec->geometry = image::Geometry::kCenterSquare256;
      spec->pil_order = image::PilOrder::kConvertFirst;
      spec->resize_to = 256;
      spec->max_dimension = 1600;
      break;
    case Generation::kDockerD2:
      spec->geometry = image::Geometry::kShorterSide;
      spec->pil_order = image::PilOrder::kConvertFirst;
      break;
    case Generation::kDockerD3:
      spec->geometry = image::Geometry::kShorterSide;
      spec->pil_order = image::PilOrder::kConvertLast;
      break;
    case Generation::kModelFile: break;
  }
}

AnswerRule AnswerRuleOf(Generation g) {
  return g == Generation::kDockerD3 ? AnswerRule::kDoubleRoundAll
                                    : AnswerRule::kFloat32RoundDropTiny;
}

}  // namespace edgevision::model
