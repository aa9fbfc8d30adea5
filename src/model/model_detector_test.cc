// LoadModel on object-detection exports: compact (YOLO) exports load with
// their family, evidence and parameters; S1 exports are refused naming the
// family (the engine does not run the NMS inside their graphs). The models are the
// synthetic detectors (tests/data/synthetic/yolo_compact_fruit.onnx, s1_nms_contract.onnx);
// the side files are real exports' (tests/data/detection/exports,
// tests/data/cv-exports/metadata-only).
#include <gtest/gtest.h>

#include <algorithm>
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
// with the 2024 S1 export's side files: an S1 detector, its NMS tail split off.
TEST(LoadDetectorTest, S1OnnxExportLoadsWithItsNmsTail) {
  edgevision::testing::TempDir dir;
  for (const auto& entry : fs::directory_iterator(edgevision::testing::TestData("detection/exports/docker-s1-tflite-2024"))) {
    fs::copy_file(entry.path(), dir.path() / entry.path().filename());
  }
  fs::copy_file(edgevision::testing::TestData("synthetic/s1_nms_contract.onnx"), dir.path() / "model.onnx");
  fs::remove(dir.path() / "cvexport.manifest");  // it names model.tflite; keep its DomainType
  std::ofstream(dir.path() / "cvexport.manifest") << R"({"DomainType": "ObjectDetection", "ModelFileName": "model.onnx"})";
  Result<LoadedModel> m = LoadModel(dir.str());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->detector);
  EXPECT_EQ(m->detector->family, detect::DetectorFamily::kSsd);
  EXPECT_NE(m->detector->family_evidence.find("detected_boxes"), std::string::npos) << m->detector->family_evidence;
  EXPECT_EQ(m->preprocess.color, image::ColorOrder::kRGB);  // the S1 containers' predict.py
  EXPECT_EQ(m->preprocess.input_width, 320);
  // boxes [1, 100, 4], scores [1, 2, 100] and their Squeeze [100, 4] come out of
  // the engine; NMS and the 8 index nodes after it run on the CPU
  ASSERT_EQ(m->detector->ssd_tail.inputs.size(), 3u);
  EXPECT_EQ(m->detector->ssd_tail.nodes.size(), 9u);
  EXPECT_EQ(m->detector->ssd_tail.outputs,
            (std::vector<std::string>{"detected_boxes", "detected_scores", "detected_classes"}));
  // The vehicle export's 3 labels do not fit this 2-class graph: said at load.
  EXPECT_EQ(m->info.labels.size(), 3u);
  EXPECT_TRUE(std::any_of(m->info.warnings.begin(), m->info.warnings.end(), [](const std::string& w) {
    return w.find("NonMaxSuppression scores 2 classes") != std::string::npos;
  })) << m->info.warnings.size();
}

// An ONNX file on its own (no manifest, no metadata): a graph that runs
// NonMaxSuppression is an S1 detector, told by its three outputs.
TEST(LoadDetectorTest, ABareS1OnnxFileIsAnS1Detector) {
  Result<LoadedModel> m = LoadModel(edgevision::testing::TestData("synthetic/s1_fruit.onnx").string());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->detector);
  EXPECT_EQ(m->info.domain, "ObjectDetection");
  EXPECT_EQ(m->detector->family, detect::DetectorFamily::kSsd);
  EXPECT_EQ(m->info.labels, (std::vector<std::string>{"0", "1", "2"}));  // by index, from NMS's scores
}

// Metadata that says Yolo on a graph with NMS inside: the graph decides, and a
// warning says the metadata disagrees.
TEST(LoadDetectorTest, YoloMetadataOnAnS1GraphIsOverruledByTheOutputs) {
  edgevision::testing::TempDir dir;
  fs::copy_file(edgevision::testing::TestData("synthetic/s1_fruit.onnx"), dir.path() / "model.onnx");
  fs::copy_file(edgevision::testing::TestData("detection/exports/onnx-yolo-2024/metadata_properties.json"),
                dir.path() / "metadata_properties.json");
  std::ofstream(dir.path() / "labels.txt") << "apple\nbanana\nfruit\n";
  Result<LoadedModel> m = LoadModel(dir.str());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->detector->family, detect::DetectorFamily::kSsd);
  EXPECT_FALSE(m->info.warnings.empty());
}

}  // namespace
}  // namespace edgevision::model
