#include "stream/event_tracker.h"

#include <map>

namespace edgevision::stream {

const char* EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kNone: return "none";
    case EventKind::kChange: return "change";
    case EventKind::kHeartbeat: return "heartbeat";
  }
  return "none";
}

std::string SceneOf(const predict::Classification& result, double threshold) {
  if (result.scores.empty() || result.scores[0].probability < threshold) return "";
  return result.scores[0].tag;
}

std::string SceneOf(const std::vector<detect::Detection>& detections, double threshold) {
  std::map<std::string, int> counts;
  for (const detect::Detection& d : detections) {
    if (d.probability >= threshold) ++counts[d.tag];
  }
  std::string scene;
  for (const auto& [tag, n] : counts) {
    if (!scene.empty()) scene += ',';
    scene += tag + ":" + std::to_string(n);
  }
  return scene;
}

EventKind EventTracker::Observe(const std::string& scene, std::chrono::steady_clock::time_point now) {
  if (seen_ > 0 && scene == candidate_) {
    ++seen_;
  } else {
    candidate_ = scene;
    seen_ = 1;
  }
  if ((!has_published_ || candidate_ != published_) && seen_ >= debounce_) {
    has_published_ = true;
    published_ = candidate_;
    last_publish_ = now;
    return EventKind::kChange;
  }
  if (has_published_ && heartbeat_.count() > 0 && now - last_publish_ >= heartbeat_) {
    last_publish_ = now;
    return EventKind::kHeartbeat;
  }
  return EventKind::kNone;
}

}  // namespace edgevision::stream
