// Loading a model for a command: import, normalise, compile for XNNPACK.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "core/status.h"
#include "model/model.h"
#include "predict/classifier.h"

namespace edgevision::cli {

// Errors name the path and the reason (model::LoadModel's, the backend's).
Result<std::unique_ptr<predict::Classifier>> LoadClassifier(const std::string& path,
                                                            const predict::ClassifierOptions& options,
                                                            const model::LoadOptions& load = {});

// --preprocess and --label-order as LoadOptions ("" / "auto": detect).
// InvalidArgument for an unknown generation name.
Result<model::LoadOptions> MakeLoadOptions(const std::string& preprocess, bool label_order);

// --precision ("fp32" or "int8") and the data dir int8 caches its
// calibration in (and calibrates from, when the export has no images).
// With int8, `int8_fallback` ("on" or "off"): float32 answers int8's near
// ties (predict/int8_fallback.h). InvalidArgument for another precision or
// fallback value.
Status ApplyPrecision(const std::string& precision, const std::string& data_dir, const std::string& int8_fallback,
                      predict::ClassifierOptions* options);

// The detector post-processing flags as predict::DetectorOptions.
predict::DetectorOptions MakeDetectorOptions(const DetectionFlags& flags);
// A whole file's bytes. IOError naming the path when it cannot be opened.
Result<std::vector<uint8_t>> ReadFile(const std::string& path);

// Prints an error for the user: "edgevision: <message>" on stderr.
void PrintError(const Status& status);

}  // namespace edgevision::cli
