// `edgevision inspect`: what a model is and what loading it did.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <optional>
#include <sstream>

#include "cli/commands.h"
#include "cli/load.h"
#include "detect/family.h"
#include "graph/graph.h"
#include "model/model.h"
#include "predict/int8_fallback.h"
#include "predict/int8_mode.h"

namespace edgevision::cli {

namespace {

std::string OpsText(const std::map<std::string, int>& ops) {
  std::string s;
  for (const auto& [op, n] : ops) s += (s.empty() ? "" : ", ") + op + " x" + std::to_string(n);
  return s;
}

std::string Triple(const std::array<float, 3>& v) {
  std::ostringstream o;
  o << "[" << v[0] << ", " << v[1] << ", " << v[2] << "]";
  return o.str();
}

}  // namespace

int RunInspect(const InspectOptions& options) {
  const std::string path = options.model.empty() ? DefaultModelPath() : options.model;
  Result<model::LoadOptions> load = MakeLoadOptions(options.preprocess, false);
  if (!load.ok()) {
    PrintError(load.status());
    return 1;
  }
  Result<model::LoadedModel> loaded = model::LoadModel(path, {}, *load);
  if (!loaded.ok()) {
    PrintError(loaded.status());
    return 1;
  }
  // --precision int8: calibrate (or reuse the cache) and measure the agreement.
  std::optional<predict::Int8Report> int8;
  if (options.precision != "fp32") {
    predict::ClassifierOptions classifier_options;
    if (Status s = ApplyPrecision(options.precision, options.data_dir, options.int8_fallback, &classifier_options); !s.ok()) {
      PrintError(s);
      return 2;
    }
    Result<std::unique_ptr<predict::Classifier>> c =
        predict::CreateInt8Classifier(*loaded, classifier_options, options.data_dir);
    if (!c.ok()) {
      PrintError(c.status());
      return 1;
    }
    int8 = *(*c)->int8_report();
  }
  const model::ModelInfo& m = loaded->info;
  const image::PreprocessSpec& p = loaded->preprocess;
  const char* color = p.color == image::ColorOrder::kBGR ? "BGR" : "RGB";
  const std::string range = p.scale == 1.0f ? "0-255" : "0-1";
  const std::string export_generation(model::GenerationName(m.export_generation));
  const bool shorter = p.geometry == image::Geometry::kShorterSide;
  char geometry[256];
  if (loaded->detector && loaded->detector->family == detect::DetectorFamily::kSsd) {
    std::snprintf(geometry, sizeof geometry,
                  "S1 object detector: convert RGB, stretch to %dx%d (PIL BICUBIC, aspect not kept, no EXIF)",
                  p.input_width, p.input_height);
  } else if (loaded->detector) {
    std::snprintf(geometry, sizeof geometry,
                  "object detector: orient (EXIF), resize to ~512^2 px with sides multiples of 32 "
                  "(PIL BICUBIC, aspect kept, no crop; declared input %dx%d)",
                  p.input_width, p.input_height);
  } else if (shorter) {
    std::snprintf(geometry, sizeof geometry,
                  "%sorient (EXIF), shorter side -> %d (PIL BILINEAR, round), centre crop %dx%d%s",
                  p.pil_order == image::PilOrder::kConvertFirst ? "RGB, " : "",
                  p.input_width, p.input_width, p.input_height,
                  p.pil_order == image::PilOrder::kConvertLast ? ", RGB" : "");
  } else {
    std::snprintf(geometry, sizeof geometry,
                  "orient (EXIF), fit within %d px, centre square -> %dx%d bilinear, centre crop %dx%d",
                  p.max_dimension, p.resize_to, p.resize_to, p.input_width, p.input_height);
  }
  std::string answers =
      std::string(m.answer_rule == model::AnswerRule::kDoubleRoundAll
                      ? "every tag, round(p, 8) of the double"
                      : "tags above 1e-8, float32 rounded to 8 decimals") +
      (m.label_order ? ", label-file order" : ", sorted by probability");
  if (loaded->detector && loaded->detector->family == detect::DetectorFamily::kSsd) {
    answers = "boxes: " + detect::FamilyDisplayName(loaded->detector->family) + " (" +
              loaded->detector->family_evidence + "); NMS inside the model (" +
              std::to_string(loaded->detector->ssd_tail.nodes.size()) +
              " tail nodes run on the CPU), every row it outputs, in its order, round(x, 8)";
  } else if (loaded->detector) {
    const detect::YoloParams& y = loaded->detector->yolo;
    answers = "boxes: " + detect::FamilyDisplayName(loaded->detector->family) + " (" +
              loaded->detector->family_evidence + "); grid decode + per-class NMS, IoU > " +
              nlohmann::json(y.iou_threshold).dump() + ", probability > " +
              nlohmann::json(y.probability_threshold).dump() + ", at most " + std::to_string(y.max_detections) +
              ", round(x, 8)";
  }
  if (options.json) {
    nlohmann::json doc = {
        {"path", m.path}, {"model_file", m.model_file}, {"sha1", m.model_sha1}, {"format", m.format},
        {"generation", m.generation}, {"producer", m.producer}, {"domain", m.domain},
        {"export_generation", {{"name", export_generation}, {"reason", m.export_generation_reason}}},
        {"preprocess", geometry}, {"answers", answers},
        {"iteration", m.iteration_id},
        {"input", {{"name", m.input_name}, {"shape", m.input_shape}, {"layout", m.input_layout},
                   {"width", p.input_width}, {"height", p.input_height}, {"color", color}, {"range", range},
                   {"color_reason", m.color_reason},
                   {"scale", p.scale}, {"mean", p.mean}, {"std", p.stddev}, {"resize_to", p.resize_to}}},
        {"output", {{"name", m.output_name}, {"activation", m.output_activation}}},
        {"labels", m.labels}, {"labels_source", m.labels_source},
        {"source_ops", m.source_ops}, {"engine_ops", m.normalized_ops},
        {"rewrites", m.rewrites}, {"warnings", m.warnings}, {"metadata", m.metadata},
        {"precision", int8 ? "int8" : "fp32"}};
    if (int8) doc["int8"] = predict::Int8ReportJson(*int8);
    // Labels and metadata come from the export's files as they are: bytes
    // that are not UTF-8 are printed as U+FFFD, never an exception.
    std::printf("%s\n", doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return 0;
  }
  std::printf("model       %s\n", m.model_file.c_str());
  std::printf("sha1        %s\n", m.model_sha1.c_str());
  std::printf("format      %s%s%s\n", m.format.c_str(), m.producer.empty() ? "" : ", produced by ",
              m.producer.c_str());
  std::printf("generation  %s\n", m.generation.c_str());
  std::printf("export      %s: %s\n", export_generation.c_str(), m.export_generation_reason.c_str());
  std::printf("domain      %s%s%s\n", m.domain.c_str(), m.iteration_id.empty() ? "" : ", iteration ",
              m.iteration_id.c_str());
  std::printf("input       %s %s %s; fed %dx%d %s, range %s, mean %s, std %s\n", m.input_name.c_str(),
              graph::ShapeToString(m.input_shape).c_str(), m.input_layout.c_str(), p.input_width, p.input_height, color,
              range.c_str(), Triple(p.mean).c_str(), Triple(p.stddev).c_str());
  std::printf("colour      %s %s: %s\n", color, range.c_str(), m.color_reason.c_str());
  std::printf("preprocess  %s\n", geometry);
  std::printf("answers     %s\n", answers.c_str());
  std::printf("output      %s (%s)\n", m.output_name.c_str(), m.output_activation.c_str());
  std::string labels;
  for (const std::string& l : m.labels) labels += (labels.empty() ? "" : ", ") + l;
  std::printf("labels      %zu from %s: %s\n", m.labels.size(), m.labels_source.c_str(), labels.c_str());
  std::printf("ops (file)  %s\n", OpsText(m.source_ops).c_str());
  std::printf("ops (run)   %s\n", OpsText(m.normalized_ops).c_str());
  for (const std::string& r : m.rewrites) std::printf("rewrote     %s\n", r.c_str());
  for (const std::string& w : m.warnings) std::printf("warning     %s\n", w.c_str());
  for (const auto& [k, v] : m.metadata) std::printf("metadata    %s = %s\n", k.c_str(), v.c_str());
  if (int8) {
    const predict::Int8Agreement& a = int8->agreement;
    std::printf("precision   int8: %d nodes int8, %d float32, %d conversions\n", int8->int8_nodes,
                int8->float_nodes, int8->conversions);
    std::printf("calibrated  on %d image(s) from %s%s%s%s\n", int8->calibration_images,
                int8->calibration_source.c_str(), int8->bias_correction ? "; biases corrected" : "",
                int8->cache_file.empty() ? "" : "; cache ",
                int8->cache_file.empty() ? "" : (int8->cache_file + (int8->cache_reused ? " (reused)" : " (written)")).c_str());
    std::printf("vs fp32     top-1 %d/%d (%.1f %%), mean |dp| %.5f, max |dp| %.5f\n", a.top1_agree, a.images,
                100.0 * a.top1_rate, a.mean_abs_diff, a.max_abs_diff);
    const predict::Int8MixedPrecision& mixed = int8->mixed;
    std::printf("float32     %zu node(s) kept: %d leading (%.1f %% of multiply-adds; log-odds error %.3f -> %.3f), "
                "%zu by sensitivity\n",
                mixed.float_nodes.size(), mixed.leading_nodes, 100.0 * mixed.leading_share, mixed.all_int8_error,
                mixed.leading_error, mixed.float_nodes.size() - static_cast<size_t>(mixed.leading_nodes));
    const predict::Int8FallbackBound& fb = int8->fallback;
    if (fb.enabled) {
      std::printf("fallback    %s\n", predict::DescribeFallback(fb).c_str());
    } else {
      std::printf("fallback    off (--int8-fallback off): int8 answers every image\n");
    }
  }
  return 0;
}

}  // namespace edgevision::cli
