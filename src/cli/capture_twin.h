// The module twin's desired "capture" section (docs/upstream.md#module-twin)
// turned into the capture recorder's policy, so the twin switches capturing
// on and off and narrows it live (issue: capture "on by a flag or the module
// twin").
#pragma once

#include <string>

#include "core/status.h"
#include "store/capture_policy.h"
#include "upstream/message.h"

namespace edgevision::cli {

struct TwinCapturePolicy {
  store::CapturePolicy policy;  // to apply
  // What could not be applied live (empty when everything was), reported in
  // the twin: maxBytes / maxAgeSeconds are store limits set at start.
  std::string not_applied;
};

// Members absent from `desired` keep the command line's value (`configured`).
// enabled=false captures nothing; enabled=true with a command-line policy of
// "none" captures all (then narrowed by the other members); a probability
// window and tags narrow whatever mode is in force. Errors: InvalidArgument
// for a window that is empty or outside [0, 1].
Result<TwinCapturePolicy> CapturePolicyFromTwin(const upstream::DesiredCapture& desired,
                                                const store::CapturePolicy& configured);

}  // namespace edgevision::cli
