#include "predict/int8_mode.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <system_error>

#include "core/sha256.h"
#include "engine/int8_backend.h"
#include "engine/xnnpack_backend.h"
#include "image/preprocess.h"
#include "predict/int8_cache.h"
#include "predict/int8_fallback.h"
#include "predict/int8_mixed.h"

namespace edgevision::predict {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Observed ranges are widened by this fraction: images unlike the few
// calibration photos (another subject, other light) then saturate less. 0.25
// (with the augmentation below) gave the best agreement with fp32 over all 37
// real export images among 0, 0.25 and 0.5 (docs/performance.md, "int8").
constexpr float kCalibrationMargin = 0.25f;

// Bias correction (engine/int8_ops.h QuantizeWeights) from this many
// calibration images up: the channel means of one photo (and its variants)
// do not stand for other photos. Over the 273 images of bench/
// int8_agreement.py it took the two fruit exports (5 photos) from 270 and
// 265 to 271/273 top-1, cost the food export (30 photos) near ties only, and
// raised the catdog export's (1 photo) mean |dp| from 0.026 to 0.031
// (docs/performance.md, "int8", round 3).
constexpr size_t kBiasCorrectionMinImages = 5;

// Each calibration tensor (HWC, 3 channels) also mirrored and with its
// channels rotated once and twice, so that a set of one photo (two exports
// ship one) still spans colours and layouts it does not show. (Grey and
// two-level variants were tried: they widened the ranges and cost the
// iotedge and food exports one photo each; docs/performance.md, "int8".)
std::vector<std::vector<float>> Augmented(const std::vector<std::vector<float>>& inputs,
                                          const image::PreprocessSpec& spec) {
  const auto h = static_cast<size_t>(spec.input_height), w = static_cast<size_t>(spec.input_width);
  std::vector<std::vector<float>> out = inputs;
  for (const std::vector<float>& t : inputs) {
    if (t.size() != h * w * 3) continue;
    std::vector<float> mirror(t.size()), rot1(t.size()), rot2(t.size());
    for (size_t y = 0; y < h; ++y) {
      for (size_t x = 0; x < w; ++x) {
        const size_t i = (y * w + x) * 3, m = (y * w + (w - 1 - x)) * 3;
        for (size_t c = 0; c < 3; ++c) {
          mirror[i + c] = t[m + c];
          rot1[i + c] = t[i + (c + 1) % 3];
          rot2[i + c] = t[i + (c + 2) % 3];
        }
      }
    }
    out.push_back(std::move(mirror));
    out.push_back(std::move(rot1));
    out.push_back(std::move(rot2));
  }
  return out;
}

bool IsImageFile(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" || ext == ".webp" ||
         ext == ".gif";
}

std::vector<fs::path> ImagesUnder(const fs::path& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return files;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec) && IsImageFile(it->path())) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  if (files.size() > kMaxCalibrationImages) files.resize(kMaxCalibrationImages);
  return files;
}

Result<std::vector<uint8_t>> ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IOError(path.string() + ": cannot open");
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

int ArgMax(const std::vector<float>& v) {
  return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin());
}

Result<std::vector<std::vector<float>>> RunAll(const engine::CompiledModel& model,
                                               const std::vector<std::vector<float>>& inputs) {
  EV_ASSIGN_OR_RETURN(std::unique_ptr<engine::Session> session, model.CreateSession());
  std::vector<std::vector<float>> outputs;
  for (const std::vector<float>& input : inputs) {
    std::vector<float> out(model.output_size());
    EV_RETURN_IF_ERROR(session->Run(input, out));
    outputs.push_back(std::move(out));
  }
  return outputs;
}

Int8Agreement Compare(const std::vector<std::vector<float>>& fp32,
                      const std::vector<std::vector<float>>& int8) {
  Int8Agreement a;
  a.images = static_cast<int>(fp32.size());
  double sum = 0;
  size_t count = 0;
  for (size_t i = 0; i < fp32.size(); ++i) {
    if (ArgMax(fp32[i]) == ArgMax(int8[i])) ++a.top1_agree;
    for (size_t k = 0; k < fp32[i].size(); ++k) {
      const double d = std::fabs(static_cast<double>(fp32[i][k]) - int8[i][k]);
      sum += d;
      ++count;
      a.max_abs_diff = std::max(a.max_abs_diff, d);
    }
  }
  a.top1_rate = a.images ? static_cast<double>(a.top1_agree) / a.images : 0;
  a.mean_abs_diff = count ? sum / static_cast<double>(count) : 0;
  return a;
}

// PrepareInt8 without a usable cache: calibrates on `files` (the bytes of
// `paths`, decoded here), measures the agreement on the int8 model compiled
// with `engine_options` and fills setup's calibration, backend, compiled
// and report (bias correction, mixed precision, fallback bound, agreement).
// With `fallback` and serving options the calibration's own, setup->fp32 is
// the calibration's float32 compilation (by `float32`; no second one); else
// it stays null.
Status Calibrate(const model::LoadedModel& model, const image::DecodeLimits& limits,
                 const std::vector<fs::path>& paths, std::vector<std::vector<uint8_t>> files,
                 const engine::EngineOptions& engine_options, bool fallback, const engine::Backend& float32,
                 Int8Setup* setup) {
  Int8Report& report = setup->report;
  std::vector<std::vector<float>> inputs;
  for (size_t i = 0; i < files.size(); ++i) {
    Result<image::Tensor> tensor = image::PreprocessBytes(files[i], model.preprocess, limits);
    if (!tensor.ok()) {
      return InvalidArgument("calibration image " + paths[i].string() + ": " + tensor.status().message());
    }
    inputs.push_back(std::move(tensor->data));
  }
  files.clear();
  // The images as they are come first in `augmented`.
  const std::vector<std::vector<float>> augmented = Augmented(inputs, model.preprocess);
  EV_ASSIGN_OR_RETURN(engine::Int8Calibration c, engine::CalibrateInt8(model.graph, augmented));
  for (engine::ValueRange& r : c.ranges) {
    r.min *= 1.0f + kCalibrationMargin;
    r.max *= 1.0f + kCalibrationMargin;
  }
  if (inputs.size() < kBiasCorrectionMinImages) c.channel_means.clear();
  report.bias_correction = !c.channel_means.empty();
  std::vector<std::vector<float>> fp32_out;
  {
    // The calibration's float32 runs on one thread whatever the serving
    // options (its answers, and so the cache, must not depend on them); the
    // fallback keeps this compilation when the options are the same.
    const engine::EngineOptions calibration_options;
    EV_ASSIGN_OR_RETURN(std::unique_ptr<engine::CompiledModel> fp32,
                        float32.Compile(model.graph, calibration_options));
    EV_ASSIGN_OR_RETURN(fp32_out, RunAll(*fp32, augmented));
    if (fallback && engine_options.threads == calibration_options.threads &&
        engine_options.xnnpack_only == calibration_options.xnnpack_only) {
      setup->fp32 = std::move(fp32);
    }
  }
  EV_ASSIGN_OR_RETURN(report.mixed, ChooseFloatNodes(model.graph, c, augmented, fp32_out));
  c.float_nodes = report.mixed.float_nodes;
  setup->calibration = std::make_shared<const engine::Int8Calibration>(std::move(c));
  setup->backend = engine::MakeInt8Backend(setup->calibration);
  EV_ASSIGN_OR_RETURN(setup->compiled, setup->backend->Compile(model.graph, engine_options));
  EV_ASSIGN_OR_RETURN(auto int8_out, RunAll(*setup->compiled, augmented));
  report.fallback = CalibrateFallback(fp32_out, int8_out, fallback);
  fp32_out.resize(inputs.size());
  int8_out.resize(inputs.size());
  report.agreement = Compare(fp32_out, int8_out);
  return Status::Ok();
}

}  // namespace

Result<CalibrationImages> FindCalibrationImages(const std::string& model_path, const std::string& data_dir) {
  std::error_code ec;
  const fs::path path(model_path);
  std::vector<fs::path> candidates;
  if (fs::is_directory(path, ec)) {
    candidates = {path / "images", path.parent_path() / "images"};
  } else {
    candidates = {path.parent_path() / "images", path.parent_path().parent_path() / "images"};
  }
  for (const fs::path& dir : candidates) {
    if (dir.empty()) continue;
    std::vector<fs::path> files = ImagesUnder(dir);
    if (!files.empty()) return CalibrationImages{"export images (" + dir.string() + ")", std::move(files)};
  }
  if (!data_dir.empty()) {
    const fs::path captures = fs::path(data_dir) / "captures";
    std::vector<fs::path> files = ImagesUnder(captures);
    if (!files.empty()) return CalibrationImages{"captures (" + captures.string() + ")", std::move(files)};
  }
  return NotFound("--precision int8 needs calibration images: none in the export's images/ folder" +
                  std::string(data_dir.empty() ? " and no --data-dir with captures"
                                               : " nor in " + (fs::path(data_dir) / "captures").string()) +
                  " (capture some images with fp32 first, or put an images/ folder beside the model)");
}

Result<Int8Setup> PrepareInt8(const model::LoadedModel& model, const image::DecodeLimits& limits,
                              const std::string& data_dir, const engine::EngineOptions& engine_options,
                              bool fallback, const engine::Backend* float32) {
  if (model.detector) {
    return InvalidArgument(
        "--precision int8 serves classifiers only; this export is an object detector (use fp32)");
  }
  EV_ASSIGN_OR_RETURN(CalibrationImages set, FindCalibrationImages(model.info.path, data_dir));
  Int8Setup setup;
  Int8Report& report = setup.report;
  report.calibration_source = set.source;
  report.calibration_images = static_cast<int>(set.files.size());

  // The set's hash keys the cache; the images are decoded only when the
  // cache cannot be used (a cached calibration was made from these very bytes).
  std::vector<std::vector<uint8_t>> files;
  Sha256Hasher set_hasher;
  for (const fs::path& file : set.files) {
    EV_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadBytes(file));
    const std::string digest = Sha256Hex(bytes);
    set_hasher.Update({reinterpret_cast<const uint8_t*>(digest.data()), digest.size()});
    files.push_back(std::move(bytes));
  }
  const std::string set_hash = set_hasher.HexDigest();

  fs::path cache_file;
  if (!data_dir.empty()) {
    cache_file = fs::path(data_dir) / "int8-calibration" /
                 (model.info.model_sha1 + "-" + set_hash.substr(0, 16) + ".json");
    report.cache_file = cache_file.string();
  }
  std::unique_ptr<engine::Backend> xnnpack;
  if (!float32) {
    xnnpack = engine::MakeXnnpackBackend();
    float32 = xnnpack.get();
  }
  std::optional<engine::Int8Calibration> cached;
  if (!cache_file.empty()) {
    cached = ReadInt8Cache(cache_file, model.graph, &report);
  }
  if (cached) {
    report.cache_reused = true;
    report.bias_correction = !cached->channel_means.empty();
    report.fallback.enabled = fallback;
    setup.calibration = std::make_shared<const engine::Int8Calibration>(std::move(*cached));
    setup.backend = engine::MakeInt8Backend(setup.calibration);
    EV_ASSIGN_OR_RETURN(setup.compiled, setup.backend->Compile(model.graph, engine_options));
  } else {
    EV_RETURN_IF_ERROR(
        Calibrate(model, limits, set.files, std::move(files), engine_options, fallback, *float32, &setup));
  }
  // The fallback's float32 model, unless Calibrate kept its own.
  if (fallback && !setup.fp32) {
    EV_ASSIGN_OR_RETURN(setup.fp32, float32->Compile(model.graph, engine_options));
  }
  if (!report.cache_reused && !cache_file.empty()) {
    EV_RETURN_IF_ERROR(
        WriteInt8Cache(cache_file, Int8CacheJson(*setup.calibration, report, model.info.model_sha1, set_hash)));
  }
  return setup;
}

Result<std::unique_ptr<Classifier>> CreateInt8Classifier(model::LoadedModel model,
                                                         const ClassifierOptions& options,
                                                         const std::string& data_dir) {
  engine::EngineOptions engine_options;
  engine_options.threads = options.threads_per_inference;
  EV_ASSIGN_OR_RETURN(Int8Setup setup,
                      PrepareInt8(model, options.decode, data_dir, engine_options, options.int8_fallback));
  Int8Report& report = setup.report;
  EV_ASSIGN_OR_RETURN(std::unique_ptr<Classifier> classifier,
                      Classifier::Create(std::move(model), std::move(setup.compiled), options));
  if (setup.fp32) EV_RETURN_IF_ERROR(classifier->SetInt8Fallback(std::move(setup.fp32), report.fallback));
  report.compilations = engine::Int8Compilations(*setup.backend);
  if (const engine::Int8PlanStats* stats = classifier->int8_plan_stats()) {
    report.int8_nodes = stats->int8_nodes;
    report.float_nodes = stats->float_nodes;
    report.conversions = stats->conversions;
  }
  const Int8Agreement& a = report.agreement;
  const Int8MixedPrecision& m = report.mixed;
  std::string kept;
  for (const std::string& n : m.float_nodes) kept += (kept.empty() ? "" : ", ") + n;
  spdlog::info(
      "int8: calibrated on {} image(s) from {}{}{}; agrees with fp32 on {}/{} top-1, mean |dp| "
      "{:.4f}, max {:.4f}; {} nodes int8, {} float32; mixed precision keeps {} node(s) float32 ({} leading, "
      "{:.1f} % of multiply-adds; log-odds error {:.3f} -> {:.3f}){}{}{} "
      "(bar {}: {}/{} top-1, max |dp| {:.4f} on the {} calibration inputs; all-int8 max {:.4f}); {}",
      report.calibration_images, report.calibration_source, report.cache_reused ? " (cached)" : "",
      report.bias_correction ? ", biases corrected" : "",
      a.top1_agree, a.images, a.mean_abs_diff, a.max_abs_diff, report.int8_nodes, report.float_nodes,
      m.float_nodes.size(), m.leading_nodes, 100.0 * m.leading_share, m.all_int8_error, m.leading_error,
      kept.empty() ? "" : " [", kept, kept.empty() ? "" : "]",
      m.bar_met ? "met" : "MISSED", m.top1_agree, m.inputs, m.max_abs_diff, m.inputs, m.all_int8_max_abs_diff,
      report.fallback.enabled ? DescribeFallback(report.fallback)
                              : std::string("no fp32 fallback (--int8-fallback off)"));
  classifier->SetInt8Report(std::move(report));
  return classifier;
}

nlohmann::json Int8ReportJson(const Int8Report& r, const Int8FallbackCounts* counts) {
  const Int8Agreement& a = r.agreement;
  json fallback = Int8FallbackJson(r.fallback);
  fallback["enabled"] = r.fallback.enabled;
  if (counts) {
    const uint64_t n = counts->inferences(), f = counts->fallbacks();
    fallback["inferences"] = n;
    fallback["fallbacks"] = f;
    fallback["rate"] = n ? static_cast<double>(f) / static_cast<double>(n) : 0.0;
  }
  return json{{"calibration", {{"source", r.calibration_source},
                               {"images", r.calibration_images},
                               {"cache_file", r.cache_file},
                               {"cache_reused", r.cache_reused},
                               {"bias_correction", r.bias_correction}}},
              {"agreement_with_fp32", {{"images", a.images},
                                       {"top1_agree", a.top1_agree},
                                       {"top1_rate", a.top1_rate},
                                       {"mean_abs_prob_diff", a.mean_abs_diff},
                                       {"max_abs_prob_diff", a.max_abs_diff}}},
              {"mixed_precision", Int8MixedJson(r.mixed)},
              {"fallback", std::move(fallback)},
              {"nodes", {{"int8", r.int8_nodes}, {"float32", r.float_nodes}, {"conversions", r.conversions}}},
              {"compilations", r.compilations}};
}

}  // namespace edgevision::predict
