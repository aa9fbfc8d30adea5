#include "graph/graph.h"

#include <gtest/gtest.h>

namespace edgevision::graph {
namespace {

Graph TinyGraph() {
  Graph g;
  ValueId x = g.AddActivation("x", {1, 2, 2, 1});
  ValueId w = g.AddConstant("w", {1, 1, 1, 1}, {2.0f});
  ValueId y = g.AddActivation("y");
  ValueId z = g.AddActivation("z");
  g.inputs = {x};
  g.AddNode({Op::kConv2D, "conv", {x, w, kNoValue}, {y}, {}});
  g.AddNode({Op::kRelu, "relu", {y}, {z}, {}});
  g.outputs = {z};
  return g;
}

TEST(GraphTest, LookupsAndCounts) {
  Graph g = TinyGraph();
  EXPECT_EQ(g.FindValue("y"), 2);
  EXPECT_EQ(g.FindValue("nope"), kNoValue);
  EXPECT_EQ(g.ProducerOf(2), 0);
  EXPECT_EQ(g.ProducerOf(0), -1);
  EXPECT_EQ(g.UseCount(2), 1);
  EXPECT_EQ(g.UseCount(3), 1);  // graph output
  EXPECT_EQ(g.OpSummary().at("Conv2D"), 1);
  EXPECT_TRUE(Validate(g).ok());
}

TEST(GraphTest, ValidateRejectsOutOfOrderNodes) {
  Graph g = TinyGraph();
  std::swap(g.nodes[0], g.nodes[1]);
  Status s = Validate(g);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_NE(s.message().find("relu"), std::string::npos) << s.message();
}

TEST(GraphTest, ValidateRejectsBadConstantsAndDoubleProducers) {
  Graph g = TinyGraph();
  g.values[1].f32.push_back(1.0f);  // 2 elements for a 1-element shape
  EXPECT_EQ(Validate(g).code(), StatusCode::kCorrupt);
  Graph h = TinyGraph();
  h.AddNode({Op::kRelu, "again", {0}, {2}, {}});
  EXPECT_NE(Validate(h).message().find("produced twice"), std::string::npos);
}

}  // namespace
}  // namespace edgevision::graph
