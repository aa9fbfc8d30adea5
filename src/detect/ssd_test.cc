#include "detect/ssd.h"

#include <gtest/gtest.h>

#include "detect/golden_test_util.h"

namespace edgevision::detect {
namespace {

using testing::GoldenCases;
using testing::Labels;
using testing::ReadGolden;

class SsdGoldenTest : public ::testing::TestWithParam<std::string> {};

// S1 post-processing has no transcendental functions: every value must equal
// the containers' after rounding, bit for bit.
TEST_P(SsdGoldenTest, MatchesBothS1ContainersExactly) {
  const nlohmann::json doc = ReadGolden(GetParam() + ".json");
  ASSERT_FALSE(doc.is_discarded());
  const testing::SsdRaw raw = testing::ReadSsdRaw(doc);
  const std::vector<std::string> labels = Labels(doc);

  auto got = PostprocessSsd({raw.boxes, raw.scores, raw.classes}, labels);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  const nlohmann::json& want = doc["predictions"];
  ASSERT_EQ(got->size(), want.size());
  for (size_t i = 0; i < got->size(); ++i) {
    SCOPED_TRACE("row " + std::to_string(i));
    const Detection& d = (*got)[i];
    const nlohmann::json& b = want[i]["boundingBox"];
    EXPECT_EQ(RoundLikePython(d.probability), want[i]["probability"].get<double>());
    EXPECT_EQ(d.tag_index, want[i]["tagId"].get<int>());
    EXPECT_EQ(d.tag, want[i]["tagName"].get<std::string>());
    EXPECT_EQ(RoundLikePython(d.box.left), b["left"].get<double>());
    EXPECT_EQ(RoundLikePython(d.box.top), b["top"].get<double>());
    EXPECT_EQ(RoundLikePython(d.box.width), b["width"].get<double>());
    EXPECT_EQ(RoundLikePython(d.box.height), b["height"].get<double>());
  }
}

INSTANTIATE_TEST_SUITE_P(Golden, SsdGoldenTest, ::testing::ValuesIn(GoldenCases("ssd_")),
                         [](const auto& param_info) { return param_info.param; });

TEST(SsdTest, RefusesOutputsThatDisagreeOrClassesWithoutLabels) {
  const std::vector<std::string> labels = {"a", "b"};
  std::vector<float> boxes = {0, 0, 1, 1, 0.1f, 0.1f, 0.2f, 0.2f};
  std::vector<float> scores = {0.9f, 0.8f};
  std::vector<int64_t> classes = {0, 1};
  EXPECT_TRUE(PostprocessSsd({boxes, scores, classes}, labels).ok());
  EXPECT_EQ(PostprocessSsd({std::span<const float>(boxes).first(4), scores, classes}, labels).status().code(),
            StatusCode::kInvalidArgument);
  classes[1] = 2;
  EXPECT_EQ(PostprocessSsd({boxes, scores, classes}, labels).status().code(), StatusCode::kInvalidArgument);
  classes[1] = -1;  // Python would wrap around to the last label; we refuse
  EXPECT_EQ(PostprocessSsd({boxes, scores, classes}, labels).status().code(), StatusCode::kInvalidArgument);
}

TEST(SsdTest, NoRowsNoDetections) {
  auto r = PostprocessSsd({}, std::vector<std::string>{"a"});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

}  // namespace
}  // namespace edgevision::detect
