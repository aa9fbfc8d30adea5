#include "detect/numpy_order.h"

#include <gtest/gtest.h>

#include "detect/golden_test_util.h"

namespace edgevision::detect {
namespace {

using testing::Hex;
using testing::ReadGolden;

std::vector<float> Values(const nlohmann::json& hexes) {
  std::vector<float> v;
  for (const auto& h : hexes) v.push_back(static_cast<float>(Hex(h)));
  return v;
}

// numpy_order.json holds numpy's own np.argsort of float32 vectors full of
// ties (1 to 1000 values, 1 to 50 distinct), written by make_detection_golden.py.
TEST(NumpyOrderTest, ArgsortOrdersTiesAsNumpyDoes) {
  const nlohmann::json doc = ReadGolden("numpy_order.json");
  ASSERT_FALSE(doc.is_discarded());
  ASSERT_GT(doc["argsort"].size(), 20u);
  for (const auto& c : doc["argsort"]) {
    const std::vector<float> v = Values(c["values"]);
    std::vector<int64_t> order(v.size());
    NumpyArgsort(v, order);
    EXPECT_EQ(order, c["argsort"].get<std::vector<int64_t>>()) << v.size() << " values";
  }
}

TEST(NumpyOrderTest, PairwiseSumIsNumpysBitForBit) {
  const nlohmann::json doc = ReadGolden("numpy_order.json");
  ASSERT_FALSE(doc.is_discarded());
  for (const auto& c : doc["sum"]) {
    const std::vector<float> v = Values(c["values"]);
    EXPECT_EQ(NumpyPairwiseSum(v), static_cast<float>(Hex(c["sum"]))) << v.size() << " values";
  }
}

TEST(NumpyOrderTest, ArgsortIsASortEvenWithNaNs) {
  std::vector<float> v = {3, NAN, 1, 2, NAN, 0};
  std::vector<int64_t> order(v.size());
  NumpyArgsort(v, order);
  EXPECT_EQ(order, (std::vector<int64_t>{5, 2, 3, 0, 1, 4}));
  std::vector<int64_t> none;
  NumpyArgsort({}, none);
}

}  // namespace
}  // namespace edgevision::detect
