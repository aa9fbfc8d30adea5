#include "upstream/prediction_publisher.h"

#include <gtest/gtest.h>

namespace edgevision::upstream {
namespace {

TEST(UpstreamObserverTest, RecordBecomesInputRoundedLikeTheResponse) {
  predict::Classification result;
  result.scores = {{"Apple", 0, 0.99956155f}, {"Banana", 1, 0.00043845f}, {"Cherry", 2, 1e-9f}};
  model::ModelInfo info;
  info.model_sha1 = "abc";
  info.iteration_id = "it-3";
  info.labels = {"Apple", "Banana", "Cherry"};
  predict::PredictionRecord record;
  record.id = "id-1";
  record.route = "POST /image";
  record.project = "p";
  record.iteration = "Iteration1";
  record.result = &result;
  record.model = &info;
  PredictionInput in = ToPredictionInput(record, true);
  EXPECT_EQ(in.id, "id-1");
  EXPECT_EQ(in.model_sha1, "abc");
  EXPECT_EQ(in.model_iteration_id, "it-3");
  EXPECT_TRUE(in.captured);
  ASSERT_EQ(in.predictions.size(), 2u);  // Cherry rounds to 0 and is dropped
  EXPECT_EQ(in.predictions[0].tag, "Apple");
  EXPECT_EQ(in.predictions[0].probability, predict::RoundLikeReference(0.99956155f));
  ReportedModel m = ToReportedModel(info);
  EXPECT_EQ(m.labels.size(), 3u);
  EXPECT_EQ(m.sha1, "abc");
}

}  // namespace
}  // namespace edgevision::upstream
