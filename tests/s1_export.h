// Test export folders for the S1 (SSD-style) detector family and the
// symbolic-size compact detector (beside test_support.h's compact one).
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "test_support.h"

namespace edgevision::testing {

// An S1 ONNX export folder: a synthetic S1 graph
// (tests/data/synthetic/make_s1_onnx.py; "s1_fruit.onnx" by default) as
// model.onnx, the real 2024 S1 export's metadata_properties.json, an ONNX
// manifest (the 2024 ONNX export's fields, DomainType ObjectDetection,
// Flavor `flavor`: "null" or "\"OnnxFloat16\"") and the fruit labels.
// Returns the folder.
inline std::string MakeSyntheticS1Export(const TempDir& dir, const std::string& model = "s1_fruit.onnx",
                                         const std::string& flavor = "null") {
  namespace fs = std::filesystem;
  fs::copy_file(TestData("synthetic/" + model), dir.path() / "model.onnx");
  fs::copy_file(TestData("detection/exports/docker-s1-tflite-2024/metadata_properties.json"),
                dir.path() / "metadata_properties.json");
  std::ofstream(dir.path() / "cvexport.manifest")
      << R"({"DomainType": "ObjectDetection", "Platform": "ONNX", "Flavor": )" << flavor
      << R"(, "ExporterVersion": "2.0", )"
      << R"("ModelFileName": "model.onnx", "LabelFileName": "labels.txt", )"
      << R"("MetadataPropsFileName": "metadata_properties.json", "SchemaVersion": "1.0"})";
  std::ofstream(dir.path() / "labels.txt") << "apple\nbanana\nfruit\n";
  return dir.str();
}

// MakeSyntheticDetectorExport with the symbolic-size copy of the model
// (tests/data/synthetic/make_symbolic_yolo.py).
inline std::string MakeSymbolicDetectorExport(const TempDir& dir) {
  const std::string folder = MakeSyntheticDetectorExport(dir);
  std::filesystem::copy_file(TestData("synthetic/yolo_compact_fruit_symbolic.onnx"), dir.path() / "model.onnx",
                             std::filesystem::copy_options::overwrite_existing);
  return folder;
}

// MakeSyntheticDetectorExport as the OnnxFloat16 flavour: the float16 copy
// of the model (tests/data/synthetic/make_float16_detectors.py) and the real
// 2024 ONNX manifest with its Flavor set to "OnnxFloat16".
inline std::string MakeFloat16DetectorExport(const TempDir& dir) {
  const std::string folder = MakeSyntheticDetectorExport(dir);
  std::filesystem::copy_file(TestData("synthetic/yolo_compact_fruit_float16.onnx"), dir.path() / "model.onnx",
                             std::filesystem::copy_options::overwrite_existing);
  std::string manifest = ReadText(dir.path() / "cvexport.manifest");
  const std::string null_flavor = "\"Flavor\": null";
  manifest.replace(manifest.find(null_flavor), null_flavor.size(), "\"Flavor\": \"OnnxFloat16\"");
  std::ofstream(dir.path() / "cvexport.manifest", std::ios::trunc) << manifest;
  return folder;
}

}  // namespace edgevision::testing
