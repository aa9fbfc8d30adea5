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

TEST(UpstreamObserverTest, ADetectorRecordBecomesInputWithItsBoxesRounded) {
  std::vector<detect::Detection> detections = {
      {{0.123456789012, 0.2, 0.3, 0.4}, 0.876543219f, 1, "screw"},
      {{-0.05, 0.9, 0.2, 0.3}, 0.25f, 0, "crack"}};
  predict::PredictionRecord record;
  record.id = "id-2";
  record.route = "POST /image";
  record.detections = &detections;
  PredictionInput in = ToPredictionInput(record, false);
  EXPECT_TRUE(in.predictions.empty());
  ASSERT_TRUE(in.detections.has_value());
  ASSERT_EQ(in.detections->size(), 2u);
  const MessageDetection& d = (*in.detections)[0];
  EXPECT_EQ(d.tag, "screw");
  EXPECT_EQ(d.tag_id, 1);
  EXPECT_EQ(d.probability, detect::RoundLikePython(0.876543219f));
  EXPECT_EQ(d.box.left, 0.12345679);  // round(x, 8), as the response
  EXPECT_EQ((*in.detections)[1].box.left, -0.05);  // never clipped
  // A classifier record has no detections.
  predict::Classification result;
  record.detections = nullptr;
  record.result = &result;
  EXPECT_FALSE(ToPredictionInput(record, false).detections.has_value());
}

}  // namespace
}  // namespace edgevision::upstream
