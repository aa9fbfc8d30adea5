#include "predict/model_reloader.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "core/guard.h"

namespace edgevision::predict {

namespace {

namespace fs = std::filesystem;

// Enough for any export folder; a path with more files is fingerprinted by its first entries.
constexpr size_t kMaxFingerprintEntries = 2000;
constexpr int kMaxFingerprintDepth = 3;

std::string Describe(const std::string& name, const struct stat& st) {
  return name + " " + std::to_string(st.st_size) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec) + " " + std::to_string(st.st_ino) + "\n";
}

}  // namespace

std::string ModelReloader::Fingerprint(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return "missing";
  if (!S_ISDIR(st.st_mode)) return Describe(".", st);
  std::vector<std::string> entries;
  std::error_code ec;
  fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end && entries.size() < kMaxFingerprintEntries; it.increment(ec)) {
    if (it.depth() >= kMaxFingerprintDepth) it.disable_recursion_pending();
    struct stat entry;
    if (::stat(it->path().c_str(), &entry) != 0 || !S_ISREG(entry.st_mode)) continue;
    entries.push_back(Describe(fs::relative(it->path(), path, ec).string(), entry));
  }
  std::sort(entries.begin(), entries.end());
  std::string print;
  for (const std::string& e : entries) print += e;
  return print;
}

ModelReloader::ModelReloader(ModelSlot* slot, std::string path, Loader loader, ReloaderOptions options)
    : slot_(slot), loader_(std::move(loader)), options_(options), path_(std::move(path)) {}

ModelReloader::~ModelReloader() { Stop(); }

Status ModelReloader::Reload(const std::string& why) {
  std::lock_guard<std::mutex> serial(reload_mu_);
  // Fingerprint first: a change during the load is seen by the next poll.
  const std::string path = this->path();
  const std::string print = Fingerprint(path);
  // The first load is the one that puts a model in (start-up may try several paths).
  const bool first = slot_->Get() == nullptr;
  slot_->SetLoading(path);
  Result<std::shared_ptr<const Classifier>> loaded = TimedLoad(path);
  std::lock_guard<std::mutex> lock(mu_);
  loaded_print_ = print;
  if (!loaded.ok()) {
    slot_->SetFailed(loaded.status());
    if (!first) {
      ++stats_.failures;
      stats_.last_error = loaded.status().message();
      spdlog::error("model reload ({}) failed; {}: {}", why,
                    slot_->Get() ? "the previous model keeps serving" : "no model is serving",
                    loaded.status().message());
    }
    return loaded.status();
  }
  Serve(std::move(loaded).value());
  if (!first) {
    ++stats_.reloads;
    stats_.last_error.clear();
    stats_.last_reload = std::chrono::system_clock::now();
    spdlog::info("model reloaded ({})", why);
  }
  return Status::Ok();
}

Result<std::shared_ptr<const Classifier>> ModelReloader::Load(const std::string& path) {
  std::lock_guard<std::mutex> serial(reload_mu_);
  return TimedLoad(path);
}

Result<std::shared_ptr<const Classifier>> ModelReloader::TimedLoad(const std::string& path) {
  const auto start = std::chrono::steady_clock::now();
  Result<std::shared_ptr<const Classifier>> loaded = loader_(path);
  last_load_ms_ = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return loaded;
}

void ModelReloader::Serve(std::shared_ptr<const Classifier> classifier) {
  const Classifier& serving = *classifier;  // the slot keeps it alive
  slot_->SetReady(std::move(classifier));
  if (options_.on_serving) options_.on_serving(serving, last_load_ms_);
}

void ModelReloader::Switch(const std::string& path, std::shared_ptr<const Classifier> classifier,
                           const std::string& why) {
  std::lock_guard<std::mutex> serial(reload_mu_);
  const std::string print = Fingerprint(path);
  std::lock_guard<std::mutex> lock(mu_);
  const bool first = slot_->Get() == nullptr;
  path_ = path;
  loaded_print_ = print;
  Serve(std::move(classifier));
  if (!first) {
    ++stats_.reloads;
    stats_.last_error.clear();
    stats_.last_reload = std::chrono::system_clock::now();
  }
  spdlog::info("model switched to {} ({})", path, why);
}

void ModelReloader::SetPath(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  path_ = path;
}

std::string ModelReloader::path() const {
  std::lock_guard<std::mutex> lock(mu_);
  return path_;
}

void ModelReloader::Start() {
  if (options_.poll_interval.count() <= 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (watcher_.joinable() || stopping_) return;
  stats_.watching = true;
  watcher_ = GuardedThread("model watcher", [this] { Watch(); });
}

void ModelReloader::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    stats_.watching = false;
  }
  wake_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

ReloadStats ModelReloader::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void ModelReloader::Watch() {
  std::string pending;  // a changed fingerprint seen once, waiting for a second look
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (wake_.wait_for(lock, options_.poll_interval, [&] { return stopping_; })) return;
    const std::string loaded = loaded_print_;
    const std::string path = path_;
    lock.unlock();
    const std::string now = Fingerprint(path);
    if (now == loaded) {
      pending.clear();
    } else if (now == pending) {
      pending.clear();
      (void)Reload("the model files changed");  // errors are logged and counted
    } else {
      pending = now;
    }
    lock.lock();
    ++stats_.polls;
  }
}

}  // namespace edgevision::predict
