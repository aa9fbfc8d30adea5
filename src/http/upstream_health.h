// The "upstream" member of GET /health: the publisher's status as JSON.
//
//   "upstream": {"target": "mqtts://user:***@broker:8883/results", "kind": "mqtt",
//                "state": "connected", "connected": true, "connectedSince": "…Z",
//                "outbox": {"depth": 0, "bytes": 0, "oldest": null, "lastSeq": 41, "stream": "…",
//                           "dropped": {"total": 0, "full": 0, "expired": 0, "tooLarge": 0,
//                           "corrupt": 0}},
//                "inFlight": 0, "published": 41, "filtered": 3, "enqueueFailures": 0,
//                "connectionFailures": 2, "lastPublish": "…Z", "lastError": "…", "lastErrorAt":
//                "…Z", "nextAttempt": null, "tokenExpires": null, "twinVersion": null, "rule":
//                {"enabled": true, "minProbability": 0, "maxProbability": 1, "tags": []}}
//
// No secrets: the target is the redacted description, errors never carry
// passwords or keys (see upstream/upstream_config.h).
#pragma once

#include <functional>
#include <nlohmann/json_fwd.hpp>

#include "upstream/upstream_status.h"

namespace edgevision::http {

// Writes doc["upstream"] from `status`.
void AddUpstreamJson(const upstream::UpstreamStatus& status, nlohmann::json* doc);

// A HealthApi section that reads the status from `get_status` on each request.
std::function<void(nlohmann::json*)> UpstreamHealthSection(
    std::function<upstream::UpstreamStatus()> get_status);

}  // namespace edgevision::http
