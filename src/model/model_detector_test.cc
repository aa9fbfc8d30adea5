// LoadModel on object-detection exports: recognised (family and evidence in
// the message), refused until detectors are served. The model is the
// synthetic compact detector (tests/data/synthetic/yolo_compact_fruit.onnx);
// the side files are real exports' (tests/data/detection/exports,
// tests/data/cv-exports/metadata-only).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "model/model.h"
#include "test_support.h"

namespace edgevision::model {
namespace {

namespace fs = std::filesystem;

// An export folder: the synthetic detector as model.onnx plus `side_files`' files.
fs::path MakeExport(const edgevision::testing::TempDir& dir, const std::string& side_files) {
  fs::copy_file(edgevision::testing::TestData("synthetic/yolo_compact_fruit.onnx"), dir.path() / "model.onnx");
  for (const auto& entry : fs::directory_iterator(edgevision::testing::TestData(side_files))) {
    fs::copy_file(entry.path(), dir.path() / entry.path().filename());
  }
  return dir.path();
}

TEST(LoadDetectorTest, CompactExportIsRefusedNamingTheFamilyFromMetadata) {
  edgevision::testing::TempDir dir;
  Result<LoadedModel> m = LoadModel(MakeExport(dir, "detection/exports/onnx-yolo-2024").string());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(m.status().message().find("ObjectDetection export, a General (compact), YOLO-style detector "
                                      "(metadata CustomVision.Postprocess.Method = Yolo)"),
            std::string::npos)
      << m.status().message();
}

TEST(LoadDetectorTest, WithoutMetadataTheModelsOutputTellsTheFamily) {
  // The 2020 ONNX export's manifest names no metadata file.
  edgevision::testing::TempDir dir;
  Result<LoadedModel> m = LoadModel(MakeExport(dir, "cv-exports/metadata-only/coolmaker-onnx-od").string());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(m.status().message().find("YOLO-style detector (1 output (model_outputs0))"), std::string::npos)
      << m.status().message();
}

TEST(LoadDetectorTest, S1MetadataIsNamedSsd) {
  edgevision::testing::TempDir dir;
  fs::path folder = MakeExport(dir, "detection/exports/docker-s1-tflite-2024");
  fs::remove(folder / "cvexport.manifest");  // it names model.tflite; keep its DomainType
  std::ofstream(folder / "cvexport.manifest") << R"({"DomainType": "ObjectDetection", "ModelFileName": "model.onnx"})";
  Result<LoadedModel> m = LoadModel(folder.string());
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("General (compact) [S1], SSD-style detector"), std::string::npos)
      << m.status().message();
}

}  // namespace
}  // namespace edgevision::model
