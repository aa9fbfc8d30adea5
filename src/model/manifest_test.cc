#include "model/manifest.h"

#include <gtest/gtest.h>

#include <string>

#include "test_support.h"

namespace edgevision::model {
namespace {

std::string ReadText(const std::string& rel) {
  auto bytes = testing::ReadBytes(testing::Export(rel));
  return std::string(bytes.begin(), bytes.end());
}

TEST(ManifestTest, ParsesTheRealTfliteManifest) {
  Result<Manifest> m = ParseManifest(ReadText("android-fruit-tflite/cvexport.manifest"), "m");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->domain_type, "Classification");
  EXPECT_EQ(m->platform, "TensorFlow");
  EXPECT_EQ(m->flavor, "TensorFlowLite");
  EXPECT_EQ(m->iteration_id, "f87da675-127d-e911-b83f-6c2b59f4d3b3");
  EXPECT_EQ(m->model_file_name, "model.tflite");
  EXPECT_EQ(m->label_file_name, "labels.txt");
  EXPECT_EQ(m->model_file_sha1, "7006897fe77fb1289b8b6f8af781fd0c1df1bf2b");
  EXPECT_EQ(m->metadata_props_file_name, "");
}

TEST(ManifestTest, NullFlavorAndMetadataFileName) {
  Result<Manifest> m =
      ParseManifest(ReadText("metadata-only/sordomudo-onnx-classification/cvexport.manifest"), "m");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->platform, "ONNX");
  EXPECT_EQ(m->flavor, "");  // JSON null
  EXPECT_EQ(m->metadata_props_file_name, "metadata_properties.json");
}

TEST(ManifestTest, RejectsNonObjects) {
  EXPECT_EQ(ParseManifest("", "x.manifest").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseManifest("[1,2]", "x.manifest").status().code(), StatusCode::kInvalidArgument);
  Status s = ParseManifest("{\"DomainType\": ", "x.manifest").status();
  EXPECT_NE(s.message().find("x.manifest"), std::string::npos);
}

TEST(ManifestTest, ModernClassificationMetadataMeansRgbZeroToOne) {
  auto props = ParseMetadataProperties(
      ReadText("metadata-only/sordomudo-onnx-classification/metadata_properties.json"), "p");
  ASSERT_TRUE(props.ok());
  EXPECT_EQ(props->at("CustomVision.Metadata.AdditionalModelInfo"), "");  // JSON null
  EXPECT_EQ(props->at("Image.BitmapPixelFormat"), "Rgb8");
  image::PreprocessSpec spec;
  ASSERT_TRUE(ApplyMetadataToPreprocess(*props, &spec).ok());
  EXPECT_EQ(spec.color, image::ColorOrder::kRGB);
  EXPECT_FLOAT_EQ(spec.scale, 1.0f / 255.0f);
  EXPECT_EQ(spec.mean, (std::array<float, 3>{0, 0, 0}));
  EXPECT_EQ(spec.stddev, (std::array<float, 3>{1, 1, 1}));
  EXPECT_EQ(spec.resize_to, 256);
  EXPECT_EQ(spec.input_width, 0) << "the crop size must come from the model, not metadata";
}

TEST(ManifestTest, MeanStdAndBgrFromMetadata) {
  image::PreprocessSpec spec;
  std::map<std::string, std::string> props = {
      {"Image.BitmapPixelFormat", "Bgr8"},
      {"Image.NominalPixelRange", "NominalRange_0_255"},
      {"CustomVision.Preprocess.NormalizeMean", "[0.485, 0.456, 0.406]"},
      {"CustomVision.Preprocess.NormalizeStd", "[0.229, 0.224, 0.225]"}};
  ASSERT_TRUE(ApplyMetadataToPreprocess(props, &spec).ok());
  EXPECT_EQ(spec.color, image::ColorOrder::kBGR);
  EXPECT_FLOAT_EQ(spec.scale, 1.0f);
  EXPECT_FLOAT_EQ(spec.mean[1], 0.456f);
  EXPECT_FLOAT_EQ(spec.stddev[2], 0.225f);
}

TEST(ManifestTest, BadMetadataValuesNameTheKey) {
  image::PreprocessSpec spec;
  Status s = ApplyMetadataToPreprocess({{"Image.BitmapPixelFormat", "Cmyk"}}, &spec);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("Image.BitmapPixelFormat"), std::string::npos);
  s = ApplyMetadataToPreprocess({{"CustomVision.Preprocess.NormalizeMean", "[1, 2]"}}, &spec);
  EXPECT_NE(s.message().find("NormalizeMean"), std::string::npos);
  s = ApplyMetadataToPreprocess({{"CustomVision.Preprocess.NormalizeStd", "[1, 0, 1]"}}, &spec);
  EXPECT_FALSE(s.ok());
}

TEST(LabelsTest, StripsLinesLikePredictPy) {
  EXPECT_EQ(ParseLabels("Apple\nBanana\n"), (std::vector<std::string>{"Apple", "Banana"}));
  EXPECT_EQ(ParseLabels("Apple\r\nBanana"), (std::vector<std::string>{"Apple", "Banana"}));
  EXPECT_EQ(ParseLabels("\xEF\xBB\xBFLetra A\n  Letra E \n\n"),
            (std::vector<std::string>{"Letra A", "Letra E"}));
  EXPECT_TRUE(ParseLabels("").empty());
  EXPECT_EQ(ParseLabels(ReadText("metadata-only/bloodcell-tflite-od/labels.txt")).size(), 8u);
}

}  // namespace
}  // namespace edgevision::model
