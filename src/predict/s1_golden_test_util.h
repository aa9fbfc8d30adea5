// Test helpers for S1 (SSD-style) detectors against a golden made by the S1
// containers' own code (tests/data/detection/golden/s1_fruit*.json: per
// photo the runtime's raw detected_* outputs and the container's
// predictions). Shared by ssd_detector_test.cc, s1_tflite_test.cc and
// float16_detector_test.cc.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "detect/golden_test_util.h"
#include "detect/nms_tail.h"
#include "detect/ssd.h"
#include "engine/xnnpack_backend.h"
#include "image/detector_preprocess.h"
#include "model/model.h"
#include "predict/classifier.h"
#include "test_support.h"

namespace edgevision::predict::testing {

// The largest differences seen, and how many rows or detections were compared.
struct S1Diff {
  size_t count = 0;
  double box = 0;
  double score = 0;
};

// The engine and the tail of `m` on the tensor edgevision builds for each
// golden photo (320x320 stretch, RGB), against the golden's raw outputs:
// same row count (at least one) and classes, boxes and scores within 1e-4,
// detected_boxes of rank `boxes_rank` (3 with a batch dimension, 2 without).
inline S1Diff ExpectS1RawOutputs(const model::LoadedModel& m, const nlohmann::json& golden, size_t boxes_rank) {
  S1Diff diff;
  auto compiled = engine::MakeXnnpackBackend()->Compile(m.graph, engine::EngineOptions{});
  EXPECT_TRUE(compiled.ok()) << compiled.status().ToString();
  if (!compiled.ok()) return diff;
  auto session = (*compiled)->CreateSession();
  EXPECT_TRUE(session.ok());
  if (!session.ok()) return diff;
  EXPECT_FALSE(golden["photos"].empty());
  for (const nlohmann::json& photo : golden["photos"]) {
    SCOPED_TRACE(photo["name"].get<std::string>());
    auto decoded = image::Decode(
        edgevision::testing::ReadBytes(edgevision::testing::TestData(photo["photo"].get<std::string>())), {});
    EXPECT_TRUE(decoded.ok());
    if (!decoded.ok()) continue;
    auto tensor = image::PreprocessStretch(std::move(*decoded), 320, 320, image::ColorOrder::kRGB);
    EXPECT_TRUE(tensor.ok());
    if (!tensor.ok()) continue;
    std::vector<float> packed((*compiled)->output_size());
    EXPECT_TRUE((*session)->Run(tensor->data, packed).ok());
    auto outputs = detect::RunTail(m.detector->ssd_tail, packed);
    EXPECT_TRUE(outputs.ok()) << outputs.status().ToString();
    if (!outputs.ok()) continue;
    EXPECT_EQ(outputs->at("detected_boxes").shape.size(), boxes_rank);
    auto rows = detect::SsdFromOutputs(*outputs);
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    if (!rows.ok()) continue;
    const nlohmann::json& raw = photo["raw"];
    EXPECT_EQ(rows->scores.size(), raw["detected_scores"].size());
    EXPECT_FALSE(rows->scores.empty());
    if (rows->scores.size() != raw["detected_scores"].size()) continue;
    for (size_t i = 0; i < rows->scores.size(); ++i) {
      EXPECT_EQ(rows->classes[i], raw["detected_classes"][i].get<int64_t>()) << i;
      diff.score = std::max(diff.score, std::fabs(rows->scores[i] - detect::testing::Hex(raw["detected_scores"][i])));
      for (size_t k = 0; k < 4; ++k) {
        diff.box =
            std::max(diff.box, std::fabs(rows->boxes[i * 4 + k] - detect::testing::Hex(raw["detected_boxes"][i][k])));
      }
    }
    diff.count += rows->scores.size();
  }
  EXPECT_LE(diff.box, 1e-4);
  EXPECT_LE(diff.score, 1e-4);
  return diff;
}

// `c`'s answers to each golden photo against the container's predictions:
// 320x320, the same rows in the same order, boxes and probabilities within
// 1e-4, several classes among them.
inline S1Diff ExpectS1Answers(const Classifier& c, const nlohmann::json& golden) {
  S1Diff diff;
  EXPECT_FALSE(golden["photos"].empty());
  for (const nlohmann::json& photo : golden["photos"]) {
    SCOPED_TRACE(photo["name"].get<std::string>());
    Result<DetectionResult> r =
        c.DetectImage(edgevision::testing::ReadBytes(edgevision::testing::TestData(photo["photo"].get<std::string>())));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) continue;
    EXPECT_EQ(r->input_width, 320);
    EXPECT_EQ(r->input_height, 320);
    const std::vector<detect::Detection> want = detect::testing::PredictionsFromJson(photo["predictions"]);
    const detect::testing::DetectionDiff d = detect::testing::ExpectSameDetections(r->detections, want);
    diff.box = std::max(diff.box, d.box);
    diff.score = std::max(diff.score, d.probability);
    diff.count += want.size();
    std::set<std::string> tags;
    for (const detect::Detection& det : r->detections) tags.insert(det.tag);
    EXPECT_GE(tags.size(), 2u);  // several classes, overlapping boxes
  }
  EXPECT_LE(diff.box, 1e-4);
  EXPECT_LE(diff.score, 1e-4);
  return diff;
}

// Both comparisons of one S1 model with its golden.
struct S1GoldenDiff {
  S1Diff raw;
  S1Diff answers;
};

// `m`'s raw outputs (ExpectS1RawOutputs, detected_boxes of rank
// `boxes_rank`) and then the answers of a Classifier made from it
// (ExpectS1Answers) against `golden`, both printed under `label`.
inline S1GoldenDiff ExpectS1Golden(model::LoadedModel m, const nlohmann::json& golden, size_t boxes_rank,
                                   std::string_view label) {
  S1GoldenDiff diff;
  diff.raw = ExpectS1RawOutputs(m, golden, boxes_rank);
  auto c = Classifier::Create(std::move(m), engine::MakeXnnpackBackend(), ClassifierOptions{});
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  if (!c.ok()) return diff;
  diff.answers = ExpectS1Answers(**c, golden);
  std::printf("[ %.*s ] raw: %zu rows, max |box diff| %.2g, max |score diff| %.2g; answers: %zu detections, "
              "max |box diff| %.2g, max |probability diff| %.2g\n",
              static_cast<int>(label.size()), label.data(), diff.raw.count, diff.raw.box, diff.raw.score,
              diff.answers.count, diff.answers.box, diff.answers.score);
  return diff;
}

}  // namespace edgevision::predict::testing
