// CaptureService: the capture store as `edgevision serve` runs it — the
// store, plus the recorder that feeds it when a capture policy is on. One
// object to start at boot and stop at shutdown.
//
// Thread-safety: store() and recorder() may be used from any thread between
// Start and Stop.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "store/capture_policy.h"
#include "store/capture_recorder.h"
#include "store/capture_store.h"

namespace edgevision::store {

struct CaptureServiceOptions {
  std::string data_dir;
  StoreOptions store;
  RecorderOptions recorder;
  // The policy may change while serving (the module twin): with a data
  // directory, the store and the recorder exist even when `policy` is
  // "none", so capturing can be switched on live.
  bool live_policy = false;
};

class CaptureService {
 public:
  // Opens the store when `policy` captures (InvalidArgument without a data
  // directory), when options.live_policy is set and there is a data
  // directory, or when the data directory already holds a store, so
  // captures stay reviewable after capturing is turned off. Returns nullptr
  // when neither applies. Errors: those of CaptureStore::Open.
  static Result<std::unique_ptr<CaptureService>> Start(const CaptureServiceOptions& options,
                                                       const CapturePolicy& policy);

  CaptureService(const CaptureService&) = delete;
  CaptureService& operator=(const CaptureService&) = delete;
  ~CaptureService();

  CaptureStore* store() const { return store_.get(); }
  // nullptr when the policy is "none" and not live.
  CaptureRecorder* recorder() const { return recorder_.get(); }

  // Writes what is queued, stops the writer and closes the store. Idempotent.
  void Stop();

 private:
  CaptureService() = default;
  std::unique_ptr<CaptureStore> store_;
  std::unique_ptr<CaptureRecorder> recorder_;
};

}  // namespace edgevision::store
