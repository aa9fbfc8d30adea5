// LoadModel on object-detection exports: compact (YOLO) exports load with
// their family, evidence and parameters; S1 exports are refused naming the
// family (the engine does not run the NMS inside their graphs). The models are the
// synthetic detectors (tests/data/synthetic/yolo_compact_fruit.onnx, s1_nms_contract.onnx);
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

TEST(LoadDetectorTest, CompactExportLoadsWithTheFamilyFromMetadata) {
  edgevision::testing::TempDir dir;
  fs::path folder = MakeExport(dir, "detection/exports/onnx-yolo-2024");
  fs::remove(folder / "labels.txt");
  std::ofstream(folder / "labels.txt") << "apple\nbanana\n";
  Result<LoadedModel> m = LoadModel(folder.string());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->detector.has_value());
  EXPECT_EQ(m->info.domain, "ObjectDetection");
  EXPECT_EQ(m->detector->family, detect::DetectorFamily::kYolo);
  EXPECT_NE(m->detector->family_evidence.find("metadata CustomVision.Postprocess.Method = Yolo"), std::string::npos)
      << m->detector->family_evidence;
  EXPECT_EQ(m->detector->sum_order, detect::SumOrder::kSequential);
  // The shipped code feeds BGR 0..255 whatever the metadata says (Rgb8, Normalized_0_1).
  EXPECT_EQ(m->preprocess.color, image::ColorOrder::kBGR);
  EXPECT_EQ(m->preprocess.scale, 1.0f);
  EXPECT_EQ(m->preprocess.input_width, 608);
  EXPECT_EQ(m->preprocess.input_height, 448);
}

TEST(LoadDetectorTest, LabelsThatDoNotMatchTheGridAreRefused) {
  edgevision::testing::TempDir dir;
  // The bloodcell export's labels: 6 tags for a 2-class grid.
  Result<LoadedModel> m = LoadModel(MakeExport(dir, "detection/exports/onnx-yolo-2024").string());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("detects 2 classes"), std::string::npos) << m.status().message();
}

TEST(LoadDetectorTest, WithoutMetadataTheModelsOutputTellsTheFamily) {
  // The 2020 ONNX export's manifest names no metadata file.
  edgevision::testing::TempDir dir;
  fs::path folder = MakeExport(dir, "cv-exports/metadata-only/coolmaker-onnx-od");
  fs::remove(folder / "labels.txt");
  std::ofstream(folder / "labels.txt") << "apple\nbanana\n";
  Result<LoadedModel> m = LoadModel(folder.string());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->detector.has_value());
  EXPECT_NE(m->detector->family_evidence.find("1 output (model_outputs0)"), std::string::npos)
      << m->detector->family_evidence;
}

// The synthetic S1 graph (tests/data/synthetic/make_s1_onnx.py: S1's I/O contract, NMS inside)
// with the 2024 S1 export's side files: recognised as S1 and refused, naming the family.
TEST(LoadDetectorTest, S1ExportIsRefusedNamingTheFamily) {
  edgevision::testing::TempDir dir;
  for (const auto& entry : fs::directory_iterator(edgevision::testing::TestData("detection/exports/docker-s1-tflite-2024"))) {
    fs::copy_file(entry.path(), dir.path() / entry.path().filename());
  }
  fs::copy_file(edgevision::testing::TestData("synthetic/s1_nms_contract.onnx"), dir.path() / "model.onnx");
  fs::remove(dir.path() / "cvexport.manifest");  // it names model.tflite; keep its DomainType
  std::ofstream(dir.path() / "cvexport.manifest") << R"({"DomainType": "ObjectDetection", "ModelFileName": "model.onnx"})";
  Result<LoadedModel> m = LoadModel(dir.str());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(m.status().message().find("General (compact) [S1], SSD-style detector"), std::string::npos)
      << m.status().message();
  EXPECT_NE(m.status().message().find("not S1 detectors yet"), std::string::npos) << m.status().message();
}

}  // namespace
}  // namespace edgevision::model
