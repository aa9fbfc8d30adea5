#include "detect/family.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "model/manifest.h"
#include "test_support.h"

namespace edgevision::detect {
namespace {

using Metadata = std::map<std::string, std::string>;

// The side files of real exports, as shipped (tests/data/detection/exports,
// tests/data/cv-exports/metadata-only; see their SOURCE.md).
Metadata RealMetadata(const std::string& folder) {
  auto props = model::ParseMetadataProperties(
      edgevision::testing::ReadText(edgevision::testing::TestData(folder + "/metadata_properties.json")), folder);
  EXPECT_TRUE(props.ok()) << props.status().ToString();
  return props.ok() ? *props : Metadata{};
}

model::Manifest RealManifest(const std::string& folder) {
  auto m = model::ParseManifest(
      edgevision::testing::ReadText(edgevision::testing::TestData(folder + "/cvexport.manifest")), folder);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? *m : model::Manifest{};
}

TEST(DetectorFamilyTest, RealCompactExportsAreYolo) {
  for (const char* folder : {"detection/exports/docker-yolo-2022", "detection/exports/onnx-yolo-2024",
                             "detection/exports/tflite-yolo-2023", "cv-exports/metadata-only/bloodcell-tflite-od"}) {
    SCOPED_TRACE(folder);
    EXPECT_EQ(RealManifest(folder).domain_type, "ObjectDetection");
    auto d = DetectFamily(RealMetadata(folder), {});
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->family, DetectorFamily::kYolo);
    EXPECT_EQ(d->evidence, "metadata CustomVision.Postprocess.Method = Yolo");
    EXPECT_TRUE(d->warnings.empty());
  }
}

TEST(DetectorFamilyTest, RealS1ExportIsSsd) {
  const std::string folder = "detection/exports/docker-s1-tflite-2024";
  EXPECT_EQ(RealManifest(folder).domain_type, "ObjectDetection");
  EXPECT_EQ(RealManifest(folder).model_file_name, "model.tflite");
  auto d = DetectFamily(RealMetadata(folder), {});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->family, DetectorFamily::kSsd);
  // With the model's outputs known, both pieces of evidence are named.
  const std::vector<std::string> outputs = {"detected_boxes", "detected_scores", "detected_classes"};
  d = DetectFamily(RealMetadata(folder), outputs);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->family, DetectorFamily::kSsd);
  EXPECT_NE(d->evidence.find("SSD and outputs detected_boxes"), std::string::npos) << d->evidence;
}

TEST(DetectorFamilyTest, WithoutMetadataTheOutputsDecide) {
  // The 2020 ONNX export (coolmaker) ships no metadata_properties.json.
  const model::Manifest m = RealManifest("cv-exports/metadata-only/coolmaker-onnx-od");
  EXPECT_EQ(m.domain_type, "ObjectDetection");
  EXPECT_EQ(m.metadata_props_file_name, "");
  EXPECT_EQ(DetectFamily({}, {}).status().code(), StatusCode::kUnsupported);
  auto yolo = DetectFamily({}, std::vector<std::string>{"model_outputs0"});
  ASSERT_TRUE(yolo.ok());
  EXPECT_EQ(yolo->family, DetectorFamily::kYolo);
  auto ssd = DetectFamily({}, std::vector<std::string>{"detected_classes:0", "detected_boxes:0", "detected_scores:0"});
  ASSERT_TRUE(ssd.ok());
  EXPECT_EQ(ssd->family, DetectorFamily::kSsd);
  auto three = DetectFamily({}, std::vector<std::string>{"Identity", "Identity_1", "Identity_2"});  // TF.js counts
  ASSERT_TRUE(three.ok());
  EXPECT_EQ(three->family, DetectorFamily::kSsd);
  EXPECT_EQ(DetectFamily({}, std::vector<std::string>{"a", "b"}).status().code(), StatusCode::kUnsupported);
}

TEST(DetectorFamilyTest, TheModelWinsOverContradictingMetadata) {
  auto d = DetectFamily(RealMetadata("detection/exports/onnx-yolo-2024"),
                        std::vector<std::string>{"detected_boxes", "detected_scores", "detected_classes"});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->family, DetectorFamily::kSsd);
  ASSERT_EQ(d->warnings.size(), 1u);
  EXPECT_NE(d->warnings[0].find("contradicts"), std::string::npos);
}

TEST(DetectorFamilyTest, ClassificationMetadataIsNotADetector) {
  const Metadata cls = RealMetadata("cv-exports/metadata-only/sordomudo-onnx-classification");
  Status s = DetectFamily(cls, {}).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("ClassificationMultiLabel"), std::string::npos) << s.message();
}

TEST(YoloParamsTest, RealMetadataGivesTheContainersValues) {
  for (const char* folder : {"detection/exports/docker-yolo-2022", "detection/exports/onnx-yolo-2024",
                             "cv-exports/metadata-only/bloodcell-tflite-od"}) {
    SCOPED_TRACE(folder);
    std::vector<std::string> notes;
    auto p = YoloParamsFromMetadata(RealMetadata(folder), &notes);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    // The metadata's unrounded anchors are the known set: the container's rounded copy is used.
    ASSERT_EQ(p->anchors.size(), 5u);
    EXPECT_EQ(p->anchors[0], (Anchor{0.573, 0.677}));
    EXPECT_EQ(p->anchors[4], (Anchor{9.77, 9.17}));
    EXPECT_EQ(p->iou_threshold, 0.45);
    EXPECT_EQ(p->probability_threshold, 0.10);
    EXPECT_EQ(p->max_detections, 20);
    EXPECT_EQ(notes.size(), 2u);
  }
  // S1 metadata: "[]" and "0.0" keep the defaults.
  auto s1 = YoloParamsFromMetadata(RealMetadata("detection/exports/docker-s1-tflite-2024"));
  ASSERT_TRUE(s1.ok());
  EXPECT_EQ(s1->iou_threshold, 0.45);
  EXPECT_EQ(s1->anchors.size(), 5u);
}

TEST(YoloParamsTest, OtherAnchorsAndThresholdsComeFromMetadata) {
  Metadata m = {{kYoloBiasesKey, "[1.0, 2.0, 3.5, 4.5]"}, {kYoloNmsThresholdKey, "0.3"}};
  auto p = YoloParamsFromMetadata(m);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->anchors.size(), 2u);
  EXPECT_EQ(p->anchors[1], (Anchor{3.5, 4.5}));
  EXPECT_EQ(p->iou_threshold, 0.3);
}

TEST(YoloParamsTest, UnparseableValuesAreNamed) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {kYoloBiasesKey, "[1.0, 2.0, 3.0]"}, {kYoloBiasesKey, "[1, -2]"}, {kYoloBiasesKey, "nope"},
           {kYoloBiasesKey, "[\"a\", 1]"}, {kYoloNmsThresholdKey, "0.45x"}, {kYoloNmsThresholdKey, "2"}}) {
    Status s = YoloParamsFromMetadata({{key, value}}).status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << value;
    EXPECT_NE(s.message().find(key), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace edgevision::detect
