// cvexport.manifest and metadata_properties.json: the side files of modern
// Custom Vision exports, and what they mean for preprocessing.
//
// Thread-safety: pure functions.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "image/preprocess.h"

namespace edgevision::model {

// cvexport.manifest (JSON). Unknown keys are ignored; missing keys stay "".
struct Manifest {
  std::string domain_type;       // "Classification" / "ObjectDetection"
  std::string platform;          // "TensorFlow", "ONNX", ...
  std::string flavor;            // "TensorFlowLite", "" (null) ...
  std::string exporter_version;
  std::string exported_date;
  std::string iteration_id;
  std::string model_file_name;
  std::string label_file_name;
  std::string metadata_props_file_name;
  std::string model_file_sha1;
  std::string schema_version;
};

// Errors: InvalidArgument naming `file_label` when the text is not a JSON object.
Result<Manifest> ParseManifest(std::string_view text, const std::string& file_label);

// metadata_properties.json: a flat JSON object of strings (values that are
// JSON null become ""). Errors as ParseManifest.
Result<std::map<std::string, std::string>> ParseMetadataProperties(std::string_view text,
                                                                   const std::string& file_label);

// Applies the preprocessing keys Custom Vision writes (Image.BitmapPixelFormat,
// Image.NominalPixelRange, CustomVision.Preprocess.NormalizeMean/Std, ...)
// to `spec`. Input size is never taken from metadata: the model decides it.
// Errors: InvalidArgument for a value we cannot parse (naming the key).
Status ApplyMetadataToPreprocess(const std::map<std::string, std::string>& metadata,
                                 image::PreprocessSpec* spec);

// labels.txt: one tag per line, stripped as predict.py does; a missing
// trailing newline is fine. Empty trailing lines and a UTF-8 byte-order mark
// are dropped.
std::vector<std::string> ParseLabels(std::string_view text);

}  // namespace edgevision::model
