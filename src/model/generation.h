// Export generations: which container code a Custom Vision export shipped
// with, and what that code does to an image and to the scores.
//
// The shipped predict.py is the source of truth (metadata_properties.json is
// often wrong, see docs/models.md). DetectGeneration reads it when the export
// has one, else falls back on the export's layout and manifest:
//   - D1  Docker 2.0/2.1 (2018-2020), "custom bilinear" predict.py: the
//         2019 algorithm (max 1600, centre square -> 256, centre crop),
//         BGR, answers > 1e-8 (float32 rounding);
//   - D2  Docker 2.0/2.1 (2021-2023), mscviplib predict.py: closed-source
//         CropCenter + bilinear; edgevision uses the closest documented
//         behaviour (RGB first, shorter side -> input with Pillow BILINEAR,
//         centre crop), colour from ColorSpace.BGR/RGB, answers as D1;
//   - D3  Docker 2.2 (2024+), TFLite + Pillow predict.py: shorter side ->
//         input (BILINEAR, round), centre crop, IS_BGR, every label with
//         round(p, 8) of a double.
// Exports without container code (TF, TFLite, ONNX files) keep the
// format's own rules (model.cc) and the 2019 geometry.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "image/preprocess.h"

namespace edgevision::model {

enum class Generation : uint8_t {
  kModelFile,  // no container code: TF / TFLite / ONNX export or a bare model file
  kDockerD1,   // Docker 2.0/2.1 custom bilinear (2018-2020)
  kDockerD2,   // Docker 2.0/2.1 mscviplib (2021-2023)
  kDockerD3,   // Docker 2.2 TFLite + Pillow (2024+)
};

// How the prediction list is made from the scores.
enum class AnswerRule : uint8_t {
  // Before 2.2: np.float64(round(np.float32(p), 8)), tags <= 1e-8 dropped.
  kFloat32RoundDropTiny,
  // Docker 2.2: round(float(p), 8) for every label, none dropped.
  kDoubleRoundAll,
};

struct GenerationChoice {
  Generation generation = Generation::kModelFile;
  std::string reason;                       // one sentence: what decided it
  std::optional<image::ColorOrder> color;   // what the container code feeds, when it says
};

// Short name for messages and `inspect`: "D3 Docker 2.2 (TFLite + Pillow, 2024+)".
std::string_view GenerationName(Generation g);

// Parses a --preprocess value: d1, d2, d3 (also 2019/2020 for d1, 2.2 for d3)
// or "file". InvalidArgument naming the accepted values otherwise.
Result<Generation> ParseGeneration(std::string_view text);

// What an export's files say. `predict_py` is the shipped predict.py text
// ("" if none), `docker_app` whether the model sits in a Dockerfile export's
// app/ folder, `exported_date` the manifest's ExportedDate ("" if none),
// `tflite` whether the model file is TFLite.
struct ExportEvidence {
  std::string predict_py;
  std::string predict_py_label;
  bool docker_app = false;
  std::string exported_date;
  bool tflite = false;
};
GenerationChoice DetectGeneration(const ExportEvidence& evidence);

// The preprocessing and answer rule of a Docker generation, applied on top
// of `spec` (whose input size is already the model's). For kModelFile the
// spec is left as the format decided. `default_color` is used when the
// container code's colour is not known (no predict.py).
void ApplyGeneration(Generation g, std::optional<image::ColorOrder> color,
                     image::ColorOrder default_color, image::PreprocessSpec* spec);
AnswerRule AnswerRuleOf(Generation g);

}  // namespace edgevision::model
