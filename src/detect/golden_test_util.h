// Reading tests/data/detection/golden (written by
// tests/parity/make_detection_golden.py from the real reference code).
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "detect/detection.h"
#include "test_support.h"

namespace edgevision::detect::testing {

inline std::filesystem::path GoldenDir() { return edgevision::testing::TestData("detection/golden"); }

inline nlohmann::json ReadGolden(const std::string& file) {
  std::string text = edgevision::testing::ReadText(GoldenDir() / file);
  EXPECT_FALSE(text.empty()) << "missing golden " << file;
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

// The golden case names of one family ("yolo_" / "ssd_" files), sorted.
inline std::vector<std::string> GoldenCases(const std::string& prefix) {
  std::vector<std::string> cases;
  for (const auto& entry : std::filesystem::directory_iterator(GoldenDir())) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && entry.path().extension() == ".json") cases.push_back(entry.path().stem());
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

// "0x1.8p-1" as Python's float.hex() writes it.
inline double Hex(const nlohmann::json& v) { return std::strtod(v.get<std::string>().c_str(), nullptr); }

inline std::vector<std::string> Labels(const nlohmann::json& doc) {
  return doc["labels"].get<std::vector<std::string>>();
}

// An S1 golden's raw detected_* outputs.
struct SsdRaw {
  std::vector<float> boxes, scores;
  std::vector<int64_t> classes;
};

inline SsdRaw ReadSsdRaw(const nlohmann::json& doc) {
  SsdRaw raw;
  for (const auto& row : doc["detected_boxes"])
    for (const auto& v : row) raw.boxes.push_back(static_cast<float>(Hex(v)));
  for (const auto& v : doc["detected_scores"]) raw.scores.push_back(static_cast<float>(Hex(v)));
  for (const auto& v : doc["detected_classes"]) raw.classes.push_back(v.get<int64_t>());
  return raw;
}

// A container's "predictions" JSON (tagName, tagId, probability,
// boundingBox) as detections.
inline std::vector<Detection> PredictionsFromJson(const nlohmann::json& predictions) {
  std::vector<Detection> out;
  for (const nlohmann::json& p : predictions) {
    Detection d;
    d.tag = p["tagName"].get<std::string>();
    d.tag_index = p["tagId"].get<int>();
    d.probability = static_cast<float>(p["probability"].get<double>());
    const nlohmann::json& b = p["boundingBox"];
    d.box = {b["left"].get<double>(), b["top"].get<double>(), b["width"].get<double>(), b["height"].get<double>()};
    out.push_back(d);
  }
  return out;
}

// The largest differences between two lists of detections.
struct DetectionDiff {
  double box = 0;
  double probability = 0;
};

// Same rows in the same order with the same tags, boxes and probabilities
// within `tolerance` (the engines differ in float rounding; the
// preprocessing is bit-exact). Returns the largest differences seen.
inline DetectionDiff ExpectSameDetections(const std::vector<Detection>& got, const std::vector<Detection>& want,
                                          double tolerance = 1e-4) {
  DetectionDiff diff;
  EXPECT_EQ(got.size(), want.size());
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    SCOPED_TRACE("detection " + std::to_string(i));
    EXPECT_EQ(got[i].tag, want[i].tag);
    EXPECT_EQ(got[i].tag_index, want[i].tag_index);
    diff.probability = std::max(diff.probability, std::fabs(double{got[i].probability} - want[i].probability));
    for (auto [a, b] : {std::pair{got[i].box.left, want[i].box.left}, {got[i].box.top, want[i].box.top},
                        {got[i].box.width, want[i].box.width}, {got[i].box.height, want[i].box.height}}) {
      diff.box = std::max(diff.box, std::fabs(a - b));
    }
  }
  EXPECT_LE(diff.probability, tolerance);
  EXPECT_LE(diff.box, tolerance);
  return diff;
}

}  // namespace edgevision::detect::testing
