// ModelReloader: puts a new iteration into service without a restart — on
// request (POST /model/reload) and, when watching, after the model files
// change.
//
// A reload loads and compiles the model from the same path, then swaps it
// into the ModelSlot. Requests already running keep the snapshot they took,
// so none fails or sees a half-loaded model; a failed load leaves the
// previous model serving (the slot records the error). Reloads are
// serialized.
//
// Watching polls a fingerprint of the path (names, sizes, mtimes and inodes
// of the files under it) every `poll_interval`; a change is acted on once
// two polls agree, so a file still being copied is not loaded. Replace files
// by renaming a complete copy over them (what `docker cp`, `kubectl cp` and
// IoT Edge volume updates do) for an atomic switch.
//
// Model delivery (src/delivery) builds on the same path: Load() compiles a
// new model beside the serving one without swapping, Switch() puts it (or
// the last-known-good one, for a rollback) into service and makes its folder
// the path that later reloads and the watcher use.
//
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/status.h"
#include "predict/model_slot.h"

namespace edgevision::predict {

struct ReloaderOptions {
  // How often the model path is checked for changes; 0 = no watching.
  std::chrono::milliseconds poll_interval{0};
  // Called each time a model goes into service, after the slot holds it (so
  // a request sent on seeing it is served), with the loader's time for it
  // in ms. May log; must not call back into the reloader.
  std::function<void(const Classifier& serving, double load_ms)> on_serving;
};

struct ReloadStats {
  bool watching = false;
  uint64_t reloads = 0;   // successful loads after the first
  uint64_t failures = 0;  // failed loads (the previous model kept serving)
  uint64_t polls = 0;     // fingerprint checks the watcher has finished
  std::string last_error;
  std::optional<std::chrono::system_clock::time_point> last_reload;
};

class ModelReloader {
 public:
  // Loads the model at `path`; called on the reloading thread.
  using Loader = std::function<Result<std::shared_ptr<const Classifier>>(const std::string& path)>;

  ModelReloader(ModelSlot* slot, std::string path, Loader loader, ReloaderOptions options = {});
  ~ModelReloader();  // Stop()
  ModelReloader(const ModelReloader&) = delete;
  ModelReloader& operator=(const ModelReloader&) = delete;

  // Loads the model now and swaps it in; `why` is for the log. Errors: the
  // loader's (the slot keeps the previous model, or records the failure
  // when none was serving).
  Status Reload(const std::string& why);

  // Loads and compiles the model at `path` without putting it into service
  // (the serving model is untouched). Serialized with reloads. Errors: the loader's.
  Result<std::shared_ptr<const Classifier>> Load(const std::string& path);

  // Puts `classifier`, loaded from `path`, into service (requests already
  // running keep their snapshot) and makes `path` the one reloads and the
  // watcher use from now on. Counted as a reload; `why` is for the log.
  void Switch(const std::string& path, std::shared_ptr<const Classifier> classifier, const std::string& why);

  // Makes `path` the one the next Reload() loads (start-up picks between the
  // delivered model, its last-known-good and --model).
  void SetPath(const std::string& path);
  std::string path() const;
  // The model serving now (null while none is).
  std::shared_ptr<const Classifier> Serving() const { return slot_->Get(); }

  // Starts watching the path (when poll_interval > 0). Call after the first load.
  void Start();
  void Stop();

  ReloadStats stats() const;

  // A digest of the files at `path` (a file, or a folder up to 3 levels
  // deep): what the watcher compares. "missing" when the path does not exist.
  static std::string Fingerprint(const std::string& path);

 private:
  void Watch();
  // loader_(path), its time kept in last_load_ms_. Call with reload_mu_ held.
  Result<std::shared_ptr<const Classifier>> TimedLoad(const std::string& path);
  // The slot serves `classifier` from now on; on_serving is told. Call with mu_ held.
  void Serve(std::shared_ptr<const Classifier> classifier);

  ModelSlot* const slot_;
  const Loader loader_;
  const ReloaderOptions options_;

  std::mutex reload_mu_;  // serializes Reload()
  double last_load_ms_ = 0;  // guarded by reload_mu_: the loader's last call

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::string path_;              // guarded by mu_
  bool stopping_ = false;         // guarded by mu_
  std::string loaded_print_;      // guarded by mu_: the files as last loaded (or tried)
  ReloadStats stats_;             // guarded by mu_
  std::thread watcher_;
};

}  // namespace edgevision::predict
