// `--precision int8`: a classifier on the int8 engine (engine/int8_backend.h),
// calibrated on real images, with its agreement with float32 measured.
//
// Calibration images, first found wins:
//  1. the export's own test images: an `images/` folder (searched
//     recursively) in the model directory, or beside or above the model file
//     (a Docker export's app/model.tflite has them in ../images);
//  2. the images captured under the data directory (`<data-dir>/captures`);
//  3. none: NotFound naming both places (int8 is never guessed
//     from synthetic inputs).
// At most kMaxCalibrationImages are used (sorted by path). Each also runs
// mirrored and with its colour channels rotated, and every observed range is
// widened by 25 % (int8_mode.cc: a set of one photo must still cover photos
// unlike it). The agreement is measured on the images as they are.
//
// The calibration (each value's range) and the agreement are cached
// (predict/int8_cache.h) in
// `<data-dir>/int8-calibration/<model sha1>-<set hash>.json`, keyed by the
// model file's SHA-1 and the SHA-256 of the images' contents; the next start
// with the same model and images reuses it (no float32 pass). A cache of
// another model or image set is deleted when a new one is written. Without a
// data directory nothing is cached.
//
// The confidence fallback (predict/int8_fallback.h, on unless
// ClassifierOptions::int8_fallback is false): the bound is calibrated with
// the rest and cached; a float32 compilation of the model is kept for the
// answers that fall back.
//
// Object-detection exports are refused (InvalidArgument): int8 serves
// classifiers only (so there is no fallback for boxes either).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/int8_backend.h"
#include "image/decode.h"
#include "model/model.h"
#include "predict/classifier.h"
#include "predict/int8_fallback.h"

namespace edgevision::predict {

inline constexpr size_t kMaxCalibrationImages = 200;

struct CalibrationImages {
  std::string source;  // "export images (<dir>)" or "captures (<dir>)"
  std::vector<std::filesystem::path> files;
};

// Errors: NotFound when neither place has an image.
Result<CalibrationImages> FindCalibrationImages(const std::string& model_path,
                                                const std::string& data_dir);

// The calibration for `model`, the int8 model compiled from it (with
// `engine_options`) and the report so far (plan counts unset): from the
// cache when it matches, else calibrated on the images, with the agreement
// measured on the compiled model and the cache written. The model is
// compiled once either way. With `fallback`, `fp32` is the model compiled
// for float32 (with `engine_options`) and report.fallback.enabled is set.
// `float32` compiles the float32 models (the calibration's, the fallback's);
// nullptr: XNNPACK's (engine/xnnpack_backend.h).
// Errors: InvalidArgument for a detector; FindCalibrationImages's; an image
// that does not decode (InvalidArgument naming it); the engines' errors;
// IOError writing the cache.
struct Int8Setup {
  std::shared_ptr<const engine::Int8Calibration> calibration;
  std::shared_ptr<const engine::Backend> backend;     // the int8 backend of `calibration`
  std::unique_ptr<engine::CompiledModel> compiled;   // by `backend`
  std::unique_ptr<engine::CompiledModel> fp32;       // the fallback's; null without it
  Int8Report report;
};
Result<Int8Setup> PrepareInt8(const model::LoadedModel& model, const image::DecodeLimits& limits,
                              const std::string& data_dir, const engine::EngineOptions& engine_options = {},
                              bool fallback = true, const engine::Backend* float32 = nullptr);

// PrepareInt8, then the classifier on the int8 engine; its int8_report()
// says what happened. Errors: PrepareInt8's, Classifier::Create's.
Result<std::unique_ptr<Classifier>> CreateInt8Classifier(model::LoadedModel model,
                                                         const ClassifierOptions& options,
                                                         const std::string& data_dir);

// The report as `inspect --json` and GET /health show it ("int8" object);
// with `counts`, the fallback's live counts too (fallback.inferences,
// .fallbacks, .rate).
nlohmann::json Int8ReportJson(const Int8Report& report, const Int8FallbackCounts* counts = nullptr);

}  // namespace edgevision::predict
