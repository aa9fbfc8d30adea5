// When a watched source publishes: the debounce and heartbeat rule.
//
// Each classified frame is reduced to a "scene" string (SceneOf): a
// classifier's top tag when its probability reaches the threshold, a
// detector's count of boxes per tag at or over the threshold ("Apple:2,
// Banana:1"), "" when nothing reaches it. A new scene becomes an event (a
// change) once it has been seen on `debounce` consecutive classified frames;
// the first stable scene after start is a change too. While the scene stays,
// a heartbeat is due every `heartbeat` (0 = never) after the last publish.
//
// Thread-safety: none (one per source, used by its worker thread).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "detect/detection.h"
#include "predict/classifier.h"

namespace edgevision::stream {

enum class EventKind { kNone, kChange, kHeartbeat };
const char* EventKindName(EventKind kind);  // "none", "change", "heartbeat"

// A classifier's scene: the top tag if its probability >= threshold, else "".
std::string SceneOf(const predict::Classification& result, double threshold);
// A detector's scene: "tag:count" for each tag with boxes >= threshold, by tag name.
std::string SceneOf(const std::vector<detect::Detection>& detections, double threshold);

class EventTracker {
 public:
  EventTracker(int debounce, std::chrono::steady_clock::duration heartbeat)
      : debounce_(debounce < 1 ? 1 : debounce), heartbeat_(heartbeat) {}

  // One classified frame's scene at `now`: what to publish for it.
  EventKind Observe(const std::string& scene, std::chrono::steady_clock::time_point now);

  bool has_published() const { return has_published_; }
  const std::string& published() const { return published_; }  // the last published scene

 private:
  int debounce_;
  std::chrono::steady_clock::duration heartbeat_;
  std::string candidate_;
  int seen_ = 0;  // consecutive frames with candidate_
  bool has_published_ = false;
  std::string published_;
  std::chrono::steady_clock::time_point last_publish_{};
};

}  // namespace edgevision::stream
