#include "delivery/delivery_status.h"

#include <nlohmann/json.hpp>

#include "core/clock.h"

namespace edgevision::delivery {

const char* DeliveryStateName(DeliveryState state) {
  switch (state) {
    case DeliveryState::kIdle: return "idle";
    case DeliveryState::kDownloading: return "downloading";
    case DeliveryState::kVerifying: return "verifying";
    case DeliveryState::kUnpacking: return "unpacking";
    case DeliveryState::kLoading: return "loading";
    case DeliveryState::kApplied: return "applied";
    case DeliveryState::kFailed: return "failed";
    case DeliveryState::kRolledBack: return "rolledBack";
  }
  return "unknown";
}

nlohmann::json DeliveryStatusJson(const DeliveryStatus& s) {
  using nlohmann::json;
  auto text = [](const std::string& v) { return v.empty() ? json(nullptr) : json(v); };
  auto time = [](const std::optional<std::chrono::system_clock::time_point>& t) {
    return t ? json(FormatIsoMillisZ(*t)) : json(nullptr);
  };
  return {{"version", text(s.version)},
          {"sha256", text(s.sha256)},
          {"state", DeliveryStateName(s.state)},
          {"error", text(s.error)},
          {"serving", s.serving},
          {"source", text(s.source)},
          {"bytes", s.bytes},
          {"attempts", s.attempts},
          {"retries", s.retries},
          {"maxRetries", s.max_retries},
          {"nextRetry", time(s.next_retry)},
          {"changed", time(s.changed)},
          {"applied", s.applied},
          {"failed", s.failed},
          {"rolledBack", s.rolled_back}};
}

}  // namespace edgevision::delivery
