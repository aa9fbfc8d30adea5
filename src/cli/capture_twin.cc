#include "cli/capture_twin.h"

namespace edgevision::cli {

Result<TwinCapturePolicy> CapturePolicyFromTwin(const upstream::DesiredCapture& desired,
                                                const store::CapturePolicy& configured) {
  TwinCapturePolicy out;
  store::CapturePolicy& p = out.policy;
  p = configured;
  if (desired.min_probability) p.min_probability = *desired.min_probability;
  if (desired.max_probability) p.max_probability = *desired.max_probability;
  if (p.min_probability < 0 || p.max_probability > 1 || p.min_probability >= p.max_probability) {
    return InvalidArgument("capture: minProbability and maxProbability must satisfy 0 <= min < max <= 1");
  }
  if (desired.tags) p.tags = std::set<std::string>(desired.tags->begin(), desired.tags->end());
  if (desired.enabled) {
    if (!*desired.enabled) {
      p.mode = store::CapturePolicy::Mode::kNone;
    } else if (p.mode == store::CapturePolicy::Mode::kNone) {
      p.mode = store::CapturePolicy::Mode::kAll;
    }
  }
  if (desired.max_bytes) {
    if (*desired.max_bytes <= 0) return InvalidArgument("capture: maxBytes must be > 0");
    out.max_bytes = static_cast<uint64_t>(*desired.max_bytes);
  }
  if (desired.max_age_s) {
    if (*desired.max_age_s < 0) return InvalidArgument("capture: maxAgeSeconds must be >= 0");
    out.max_age = std::chrono::seconds(*desired.max_age_s);
  }
  return out;
}

}  // namespace edgevision::cli
