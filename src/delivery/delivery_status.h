// DeliveryStatus: model delivery's state as every reader shows it, and its
// one JSON form, used by GET /admin/model, /health's "delivery" and the
// module twin's reported "modelDelivery" alike (docs/model-delivery.md,
// "Status"). A plain value with no dependency on the delivery machinery, so
// upstream publishing can carry it without linking model delivery.
//
// Thread-safety: plain values and functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

namespace edgevision::delivery {

enum class DeliveryState {
  kIdle,         // nothing delivered: serving --model
  kDownloading,  // includes waiting for the next round (DeliveryStatus::next_retry)
  kVerifying,
  kUnpacking,
  kLoading,      // loading and running the export's test images
  kApplied,      // serving the delivered model
  kFailed,       // the last request failed; the model before it keeps serving
  kRolledBack,   // the delivered model failed after the swap or at start-up; last-known-good serving
};
const char* DeliveryStateName(DeliveryState state);  // "idle", "downloading", ..., "rolledBack"

struct DeliveryStatus {
  DeliveryState state = DeliveryState::kIdle;
  std::string version;  // of the model the state is about
  std::string sha256;
  std::string error;
  std::string source;  // the URL without its query (which may hold a token)
  uint64_t bytes = 0;  // downloaded so far
  int attempts = 0;    // in the current round
  // Rounds of attempts retried for this request (0: the first round), the
  // limit (DeliveryLimits::max_retry_rounds), and when the next round starts
  // (set while waiting for it; `error` then holds the last round's error).
  // Kept in delivery.state, so a restart keeps them.
  int retries = 0;
  int max_retries = 0;
  std::optional<std::chrono::system_clock::time_point> next_retry;
  std::string serving;  // the version serving ("-" for --model)
  std::optional<std::chrono::system_clock::time_point> changed;
  uint64_t applied = 0, failed = 0, rolled_back = 0;  // since start
  uint64_t downloaded_bytes = 0;                      // since start

  bool operator==(const DeliveryStatus&) const = default;
};

// {version, sha256, state, error, serving, source, bytes, attempts, retries,
//  maxRetries, nextRetry, changed, applied, failed, rolledBack}; empty
// strings and unset times are null, times ISO 8601 UTC with milliseconds.
nlohmann::json DeliveryStatusJson(const DeliveryStatus& status);

}  // namespace edgevision::delivery
