#include "store/capture_service.h"

#include <spdlog/spdlog.h>

namespace edgevision::store {

Result<std::unique_ptr<CaptureService>> CaptureService::Start(const CaptureServiceOptions& options,
                                                              const CapturePolicy& policy) {
  if (options.data_dir.empty()) {
    if (policy.enabled()) {
      return InvalidArgument("--capture " + policy.ToString() +
                             " needs --data-dir to store captures in");
    }
    return std::unique_ptr<CaptureService>();
  }
  if (!policy.enabled() && !options.live_policy &&
      !DefaultEnv()->FileExists(options.data_dir + "/captures.db")) {
    return std::unique_ptr<CaptureService>();
  }
  std::unique_ptr<CaptureService> service(new CaptureService());
  EV_ASSIGN_OR_RETURN(service->store_, CaptureStore::Open(options.data_dir, options.store));
  if (policy.enabled() || options.live_policy) {
    service->recorder_ =
        std::make_unique<CaptureRecorder>(service->store_.get(), policy, options.recorder);
  }
  const StoreHealth h = service->store_->Health();
  spdlog::info("capture store {}: {} captures, {} bytes of {} quota; capturing: {}",
               options.data_dir, h.captures, h.image_bytes + h.db_bytes, h.quota_bytes,
               policy.ToString());
  return service;
}

CaptureService::~CaptureService() {
  Stop();
}

void CaptureService::Stop() {
  if (recorder_) recorder_->Stop();
  recorder_.reset();
  store_.reset();
}

}  // namespace edgevision::store
