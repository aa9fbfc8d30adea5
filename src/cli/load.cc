#include "cli/load.h"

#include <spdlog/spdlog.h>

#include <malloc.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "engine/xnnpack_backend.h"
#include "model/model.h"
#include "predict/int8_mode.h"

namespace edgevision::cli {

Result<std::unique_ptr<predict::Classifier>> LoadClassifier(const std::string& path,
                                                            const predict::ClassifierOptions& options,
                                                            const model::LoadOptions& load) {
  EV_ASSIGN_OR_RETURN(model::LoadedModel loaded, model::LoadModel(path, {}, load));
  // The file and its parse are gone, their pages still held by the heap:
  // give them back before compiling and packing, or the process's peak is
  // the file, the parse and the packed weights at once (VmHWM,
  // docs/performance.md#footprint).
  malloc_trim(0);
  for (const std::string& warning : loaded.info.warnings) spdlog::warn("{}", warning);
  if (options.int8) return predict::CreateInt8Classifier(std::move(loaded), options, options.int8_data_dir);
  std::shared_ptr<const engine::Backend> backend = engine::MakeXnnpackBackend();
  return predict::Classifier::Create(std::move(loaded), std::move(backend), options);
}

Result<model::LoadOptions> MakeLoadOptions(const std::string& preprocess, bool label_order) {
  model::LoadOptions load;
  load.label_order = label_order;
  if (!preprocess.empty() && preprocess != "auto") {
    EV_ASSIGN_OR_RETURN(load.generation, model::ParseGeneration(preprocess));
  }
  return load;
}

Status ApplyPrecision(const std::string& precision, const std::string& data_dir, const std::string& int8_fallback,
                      predict::ClassifierOptions* options) {
  if (precision != "fp32" && precision != "int8") {
    return InvalidArgument("--precision must be fp32 or int8, not '" + precision + "'");
  }
  if (int8_fallback != "on" && int8_fallback != "off") {
    return InvalidArgument("--int8-fallback must be on or off, not '" + int8_fallback + "'");
  }
  options->int8_fallback = int8_fallback == "on";
  options->int8 = precision == "int8";
  options->int8_data_dir = data_dir;
  return Status::Ok();
}

predict::DetectorOptions MakeDetectorOptions(const DetectionFlags& flags) {
  predict::DetectorOptions d;
  d.probability_threshold = flags.probability_threshold;
  d.iou_threshold = flags.iou_threshold;
  d.max_detections = flags.max_detections;
  d.max_plans = flags.max_plans;
  return d;
}

Result<std::vector<uint8_t>> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IOError(path + ": cannot open");
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void PrintError(const Status& status) {
  std::fprintf(stderr, "edgevision: %s\n", status.message().c_str());
}

}  // namespace edgevision::cli
