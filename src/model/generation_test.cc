#include "model/generation.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "model/model.h"
#include "test_support.h"

namespace edgevision::model {
namespace {

// The lines that tell the generations apart, as each shipped predict.py has
// them (one or two lines each; the files themselves are never committed).
constexpr const char* kDocker22Compact =
    "import tflite_runtime.interpreter as tflite\nIS_BGR = True\n"
    "self._preprocessor = Preprocessor(input_size, is_bgr=IS_BGR)\n";
constexpr const char* kDocker22S1 = "MODEL_PATH = pathlib.Path('model.tflite')\nIS_BGR = False\n";
constexpr const char* kMscviplibS1 =
    "import mscviplib\n    mscviplib.ColorSpace.RGB, (), ())\n";
constexpr const char* kCustomBilinear =
    "def resize_down_to_1600_max_dim(image):\ndef extract_and_resize(img, targetSize):\n";

ExportEvidence Py(const char* text) {
  ExportEvidence e;
  e.predict_py = text;
  e.predict_py_label = "app/predict.py";
  return e;
}

TEST(GenerationTest, PredictPyDecides) {
  GenerationChoice c = DetectGeneration(Py(kDocker22Compact));
  EXPECT_EQ(c.generation, Generation::kDockerD3);
  ASSERT_TRUE(c.color);
  EXPECT_EQ(*c.color, image::ColorOrder::kBGR);
  EXPECT_NE(c.reason.find("IS_BGR = True"), std::string::npos) << c.reason;

  c = DetectGeneration(Py(kDocker22S1));
  EXPECT_EQ(c.generation, Generation::kDockerD3);
  EXPECT_EQ(c.color, image::ColorOrder::kRGB);

  c = DetectGeneration(Py(kMscviplibS1));
  EXPECT_EQ(c.generation, Generation::kDockerD2);
  EXPECT_EQ(c.color, image::ColorOrder::kRGB);

  c = DetectGeneration(Py(kCustomBilinear));
  EXPECT_EQ(c.generation, Generation::kDockerD1);
  EXPECT_EQ(c.color, image::ColorOrder::kBGR);
}

TEST(GenerationTest, LayoutAndManifestDecideWithoutPredictPy) {
  ExportEvidence e;
  e.docker_app = true;
  e.tflite = true;
  GenerationChoice c = DetectGeneration(e);
  EXPECT_EQ(c.generation, Generation::kDockerD3);
  EXPECT_FALSE(c.color);  // the domain decides (model.cc)

  e.tflite = false;
  e.exported_date = "2021-12-07T09:34:24Z";
  EXPECT_EQ(DetectGeneration(e).generation, Generation::kDockerD2);
  e.exported_date = "2020-11-24T02:21:30.4479483Z";
  EXPECT_EQ(DetectGeneration(e).generation, Generation::kDockerD1);
  e.exported_date = "";
  EXPECT_EQ(DetectGeneration(e).generation, Generation::kDockerD1);

  e.docker_app = false;
  c = DetectGeneration(e);
  EXPECT_EQ(c.generation, Generation::kModelFile);
  // An unknown predict.py falls back on the layout and says so.
  c = DetectGeneration(Py("print('hello')\n"));
  EXPECT_EQ(c.generation, Generation::kModelFile);
  EXPECT_NE(c.reason.find("not a predict.py edgevision knows"), std::string::npos) << c.reason;
}

TEST(GenerationTest, ApplyGenerationSetsTheContainersPipeline) {
  image::PreprocessSpec spec;
  spec.input_width = spec.input_height = 224;
  spec.color = image::ColorOrder::kRGB;  // what metadata_properties.json claims
  spec.scale = 1.0f / 255.0f;
  ApplyGeneration(Generation::kDockerD3, image::ColorOrder::kBGR, image::ColorOrder::kRGB, &spec);
  EXPECT_EQ(spec.color, image::ColorOrder::kBGR);
  EXPECT_EQ(spec.scale, 1.0f);
  EXPECT_EQ(spec.geometry, image::Geometry::kShorterSide);
  EXPECT_EQ(spec.pil_order, image::PilOrder::kConvertLast);
  EXPECT_EQ(AnswerRuleOf(Generation::kDockerD3), AnswerRule::kDoubleRoundAll);

  ApplyGeneration(Generation::kDockerD2, std::nullopt, image::ColorOrder::kRGB, &spec);
  EXPECT_EQ(spec.color, image::ColorOrder::kRGB);  // no word from predict.py: the domain's
  EXPECT_EQ(spec.pil_order, image::PilOrder::kConvertFirst);
  EXPECT_EQ(AnswerRuleOf(Generation::kDockerD2), AnswerRule::kFloat32RoundDropTiny);

  ApplyGeneration(Generation::kDockerD1, std::nullopt, image::ColorOrder::kBGR, &spec);
  EXPECT_EQ(spec.geometry, image::Geometry::kCenterSquare256);
  EXPECT_EQ(spec.resize_to, 256);
}

TEST(GenerationTest, ParsesPreprocessNames) {
  EXPECT_EQ(*ParseGeneration("d3"), Generation::kDockerD3);
  EXPECT_EQ(*ParseGeneration("D2"), Generation::kDockerD2);
  EXPECT_EQ(*ParseGeneration("2019"), Generation::kDockerD1);
  EXPECT_EQ(*ParseGeneration("file"), Generation::kModelFile);
  Result<Generation> bad = ParseGeneration("d4");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("d1, d2, d3"), std::string::npos);
}

// The real 2.2 export, loaded three ways.
TEST(GenerationTest, LoadingTheReal22Export) {
  namespace fs = std::filesystem;
  const fs::path folder = testing::Export("docker22-appleorange-tflite");
  {  // the export folder (Dockerfile + app/): D3 by layout, compact -> BGR
    Result<LoadedModel> m = LoadModel(folder.string());
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m->info.export_generation, Generation::kDockerD3);
    EXPECT_EQ(m->info.answer_rule, AnswerRule::kDoubleRoundAll);
    EXPECT_EQ(m->preprocess.color, image::ColorOrder::kBGR);
    EXPECT_EQ(m->preprocess.scale, 1.0f) << "metadata_properties.json's 0-1 is not applied";
    EXPECT_EQ(m->preprocess.geometry, image::Geometry::kShorterSide);
    EXPECT_EQ(m->preprocess.input_width, 224);
  }
  {  // the bare model file: no container code; still BGR 0-255 (TF family)
    Result<LoadedModel> m = LoadModel((folder / "app" / "model.tflite").string());
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m->info.export_generation, Generation::kModelFile);
    EXPECT_EQ(m->preprocess.color, image::ColorOrder::kBGR);
    EXPECT_EQ(m->preprocess.scale, 1.0f);
    EXPECT_EQ(m->preprocess.geometry, image::Geometry::kCenterSquare256);
  }
  {  // a copy whose predict.py says IS_BGR = False: predict.py wins
    testing::TempDir dir;
    fs::copy(folder, dir.path() / "export", fs::copy_options::recursive);
    std::ofstream(dir.path() / "export" / "app" / "predict.py") << kDocker22S1;
    Result<LoadedModel> m = LoadModel((dir.path() / "export").string());
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m->info.export_generation, Generation::kDockerD3);
    EXPECT_EQ(m->preprocess.color, image::ColorOrder::kRGB);
    EXPECT_NE(m->info.export_generation_reason.find("predict.py"), std::string::npos);
    LoadOptions d1;
    d1.generation = Generation::kDockerD1;
    m = LoadModel((dir.path() / "export").string(), {}, d1);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->info.export_generation, Generation::kDockerD1);
    EXPECT_EQ(m->preprocess.geometry, image::Geometry::kCenterSquare256);
    EXPECT_NE(m->info.export_generation_reason.find("--preprocess"), std::string::npos);
  }
}

}  // namespace
}  // namespace edgevision::model
