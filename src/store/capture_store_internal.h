// Helpers shared by the source files of CaptureStore (capture_store.cc and
// the capture_*.cc files beside it). Private to src/store.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

#include "store/capture_store.h"

namespace edgevision::store::internal {

// Microseconds since the epoch: how the database stores a time.
inline int64_t ToMicros(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

// ASCII lowercase (capture ids are stored lowercase).
inline std::string ToLower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// True when `s` is exactly `n` lowercase hex digits.
inline bool IsLowerHex(const std::string& s, size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace edgevision::store::internal
