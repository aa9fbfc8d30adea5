// Reading tests/data/detection/golden (written by
// tests/parity/make_detection_golden.py from the real reference code).
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

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

}  // namespace edgevision::detect::testing
