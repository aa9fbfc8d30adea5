// The module twin's desired "capture" section (docs/upstream.md#module-twin)
// turned into the capture recorder's policy, so the twin switches capturing
// on and off and narrows it live (issue: capture "on by a flag or the module
// twin").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/status.h"
#include "store/capture_policy.h"
#include "upstream/message.h"

namespace edgevision::cli {

struct TwinCapturePolicy {
  store::CapturePolicy policy;  // to apply
  // The store limits to apply live (CaptureStore::SetLimits); nullopt keeps
  // the one in force. maxAgeSeconds 0 removes the age limit.
  std::optional<uint64_t> max_bytes;
  std::optional<std::chrono::seconds> max_age;
};

// Members absent from `desired` keep the command line's value (`configured`).
// enabled=false captures nothing; enabled=true with a command-line policy of
// "none" captures all (then narrowed by the other members); a probability
// window and tags narrow whatever mode is in force; maxBytes / maxAgeSeconds
// become store limits. Errors: InvalidArgument for a window that is empty or
// outside [0, 1], or a maxBytes that is not > 0.
Result<TwinCapturePolicy> CapturePolicyFromTwin(const upstream::DesiredCapture& desired,
                                                const store::CapturePolicy& configured);

}  // namespace edgevision::cli
