// UpstreamStatus: a snapshot of the publisher for /health and logs. Holds no
// secrets (the target is described with its password redacted).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "upstream/message.h"
#include "upstream/outbox.h"

namespace edgevision::upstream {

struct UpstreamStatus {
  std::string kind;    // "mqtt", "iothub", "iotedge"
  std::string target;  // redacted description
  std::string state;   // "connecting", "connected", "waiting" (backoff), "stopped"
  bool connected = false;
  PublishRule rule;  // as applied (command line + twin)
  OutboxStats outbox;
  uint64_t in_flight = 0;
  uint64_t sent = 0;                 // PUBLISH packets handed to the broker since start (resends included)
  uint64_t published = 0;            // acknowledged by the broker since start
  uint64_t filtered = 0;             // predictions the rule left out since start
  uint64_t enqueue_failures = 0;     // predictions that could not be written to the outbox
  uint64_t connection_failures = 0;  // failed attempts and lost connections since start
  std::optional<std::chrono::system_clock::time_point> connected_since;
  std::optional<std::chrono::system_clock::time_point> last_publish;  // last PUBACK
  std::optional<std::chrono::system_clock::time_point> next_attempt;  // while waiting
  std::string last_error;
  std::optional<std::chrono::system_clock::time_point> last_error_at;
  std::optional<std::chrono::system_clock::time_point> token_expires;  // IoT Hub / Edge
  std::optional<int64_t> twin_version;                                 // desired $version applied
};

}  // namespace edgevision::upstream
