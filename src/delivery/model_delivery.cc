#include "delivery/model_delivery.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "core/durable_files.h"
#include "core/guard.h"
#include "delivery/unpack.h"
#include "model/package.h"

namespace edgevision::delivery {

namespace {

namespace fs = std::filesystem;

constexpr const char* kConfigured = "-";
constexpr size_t kMaxUrlLength = 8192;
constexpr size_t kMaxVersionLength = 64;

bool IsHex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The file name at the end of the URL's path ("" when none).
std::string UrlFileName(const std::string& url) {
  std::string path = url.substr(0, url.find_first_of("?#"));
  const size_t scheme = path.find("://");
  if (scheme != std::string::npos) {
    const size_t slash = path.find('/', scheme + 3);
    path = slash == std::string::npos ? "" : path.substr(slash);
  }
  const size_t last = path.rfind('/');
  return last == std::string::npos ? path : path.substr(last + 1);
}

bool IsImageName(const std::string& name) {
  const std::string n = Lower(name);
  for (const char* ext : {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}) {
    if (n.size() > std::strlen(ext) && n.compare(n.size() - std::strlen(ext), std::string::npos, ext) == 0) return true;
  }
  return false;
}

// The export's own test images: image files in a folder named images, test,
// tests, test_images or test-images (up to three levels down), sorted.
std::vector<std::string> FindTestImages(const std::string& root, const DeliveryLimits& limits) {
  static const std::set<std::string> kFolders = {"images", "test", "tests", "test_images", "test-images"};
  std::vector<std::string> found;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return found;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (it.depth() >= 3) it.disable_recursion_pending();
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    if (!IsImageName(it->path().filename().string())) continue;
    if (!kFolders.count(Lower(it->path().parent_path().filename().string()))) continue;
    found.push_back(it->path().string());
  }
  std::sort(found.begin(), found.end());
  if (found.size() > static_cast<size_t>(limits.max_test_images)) found.resize(limits.max_test_images);
  return found;
}

// The longest wait between two rounds (the first wait when it is longer).
std::chrono::milliseconds LongestRoundDelay(const DeliveryLimits& l) {
  return std::max(l.max_retry_round_delay, l.retry_round_delay);
}

bool ModelError(const Status& s) {
  return s.code() == StatusCode::kInternal || s.code() == StatusCode::kCorrupt;
}

}  // namespace

std::string RedactUrl(const std::string& url) {
  std::string out = url.substr(0, url.find_first_of("?#"));
  const size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    const size_t host = scheme + 3;
    const size_t slash = out.find('/', host);
    const size_t at = out.rfind('@', slash == std::string::npos ? out.size() : slash);
    if (at != std::string::npos && at >= host) out.erase(host, at + 1 - host);
  }
  return out;
}

Result<std::unique_ptr<ModelDelivery>> ModelDelivery::Open(DeliveryOptions options, predict::ModelReloader* reloader,
                                                           const FileDownloader* downloader) {
  if (options.data_dir.empty()) return InvalidArgument("model delivery needs --data-dir");
  const std::string models = options.data_dir + "/models";
  EV_RETURN_IF_ERROR(MakeDirs(models + "/downloads"));
  EV_ASSIGN_OR_RETURN(DeliveryRecord record, ReadRecord(models + "/delivery.state"));
  return std::unique_ptr<ModelDelivery>(new ModelDelivery(std::move(options), reloader, downloader, std::move(record)));
}

ModelDelivery::ModelDelivery(DeliveryOptions options, predict::ModelReloader* reloader,
                             const FileDownloader* downloader, DeliveryRecord record)
    : options_(std::move(options)), reloader_(reloader), downloader_(downloader), record_(std::move(record)) {
  status_.serving = record_.current ? record_.current->version : kConfigured;
  status_.max_retries = options_.limits.max_retry_rounds;
  if (record_.current) {
    status_.state = DeliveryState::kApplied;
    status_.version = record_.current->version;
    status_.sha256 = record_.current->sha256;
  }
  if (!record_.error.empty() && !record_.pending) {
    status_.state = DeliveryState::kFailed;
    status_.error = record_.error;
  }
  if (record_.pending) {
    status_.state = DeliveryState::kDownloading;
    status_.version = record_.pending->version;
    status_.sha256 = record_.pending->sha256;
    status_.source = RedactUrl(record_.pending->url);
    RestoreRetries();
  }
}

void ModelDelivery::RestoreRetries() {
  if (record_.retries <= 0) return;
  // The rounds a failing request took before the restart still count, and
  // the next one starts when it was due (at most one longest wait from now,
  // should the clock have moved): a restart is no free extra round.
  retry_round_ = record_.retries;
  retry_sha_ = record_.pending->sha256;
  status_.retries = record_.retries;
  status_.error = record_.error;
  const auto now = std::chrono::system_clock::now();
  if (!record_.next_retry || *record_.next_retry <= now) return;  // due: the thread starts it at once
  const std::chrono::milliseconds cap = LongestRoundDelay(options_.limits);
  const auto due = std::chrono::duration_cast<std::chrono::milliseconds>(*record_.next_retry - now);
  const std::chrono::milliseconds wait = std::min(due, cap);
  retry_at_ = std::chrono::steady_clock::now() + wait;
  status_.next_retry = due <= cap ? *record_.next_retry : now + wait;
  spdlog::info("model delivery: version {}: {} later rounds so far (of {}); the next in {} ms",
               record_.pending->version, retry_round_, options_.limits.max_retry_rounds, wait.count());
}

ModelDelivery::~ModelDelivery() { Stop(); }

std::vector<std::string> ModelDelivery::StartupPaths() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> paths;
  for (const std::optional<ModelRef>& m : {record_.current, record_.previous}) {
    if (m && std::find(paths.begin(), paths.end(), m->path) == paths.end()) paths.push_back(m->path);
  }
  if (std::find(paths.begin(), paths.end(), options_.configured_model) == paths.end()) {
    paths.push_back(options_.configured_model);
  }
  return paths;
}

void ModelDelivery::StartedOn(const std::string& path, const std::string& skipped) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!record_.current || record_.current->path == path) return;
  // The current model did not load: fall back for good (its last-known-good, or --model).
  DeliveryRecord r = record_;
  const ModelRef bad = *r.current;
  if (r.previous && r.previous->path == path && r.previous->sha256 != kConfigured) {
    r.current = r.previous;
  } else {
    r.current.reset();
  }
  r.previous.reset();
  r.error = "version " + bad.version + " did not load at start-up: " + skipped;
  if (Status s = Commit(r); !s.ok()) spdlog::error("model delivery: {}", s.message());
  status_.serving = r.current ? r.current->version : kConfigured;
  ++status_.rolled_back;
  lock.unlock();
  spdlog::error("model delivery: rolled back to {}: {}", path, r.error);
  SetState(DeliveryState::kRolledBack, &bad, r.error);
}

void ModelDelivery::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = GuardedThread("model delivery", [this] { Run(); });
}

void ModelDelivery::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cancel_ = true;
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status ModelDelivery::Request(const DeliveryRequest& request) {
  if (request.url.empty() || request.url.size() > kMaxUrlLength) return InvalidArgument("model: url is missing or too long");
  for (char c : request.url) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return InvalidArgument("model: url has a space or control character");
  }
  const std::string scheme = Lower(request.url.substr(0, request.url.find("://")));
  if (request.url.find("://") == std::string::npos || (scheme != "http" && scheme != "https")) {
    return InvalidArgument("model: url must be http:// or https://");
  }
  if (!IsHex64(request.sha256)) return InvalidArgument("model: sha256 must be 64 hexadecimal digits");
  if (request.version.size() > kMaxVersionLength) return InvalidArgument("model: version is longer than 64 characters");
  for (char c : request.version) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
      return InvalidArgument("model: version may hold only letters, digits, '.', '-' and '_'");
    }
  }
  const std::string sha = Lower(request.sha256);
  ModelRef target{sha, request.version.empty() ? sha.substr(0, 12) : request.version, ModelsDir() + "/" + sha,
                  request.url};
  std::function<void()> listener;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (record_.current && record_.current->sha256 == sha) return Status::Ok();  // already serving
    if (record_.pending && record_.pending->sha256 == sha) {                     // already on its way
      if (retry_at_) {  // waiting for its next round: start it now
        DeliveryRecord r = record_;
        r.next_retry.reset();
        if (Status s = Commit(r); !s.ok()) spdlog::error("model delivery: {}", s.message());
        retry_at_.reset();
        status_.next_retry.reset();
        wake_.notify_all();
      }
      return Status::Ok();
    }
    DeliveryRecord r = record_;
    r.ClearPending();
    r.pending = target;
    r.error.clear();
    EV_RETURN_IF_ERROR(Commit(r));
    status_.bytes = 0;
    status_.attempts = 0;
    status_.retries = 0;
    status_.next_retry.reset();
    retry_round_ = 0;
    retry_at_.reset();
    // Before the lock goes: the thread may take the request the moment it
    // does (it may be awake already) and fail it at once (a 404), and that
    // state must not be overwritten by this "downloading"; nor may the
    // cancel meant for an older download stop this one (Run clears it under
    // mu_ when it takes a request).
    spdlog::info("model delivery: version {} (sha256 {}) requested from {}", target.version, sha,
                 RedactUrl(target.url));
    cancel_ = true;  // a download of an older request stops
    listener = SetStateLocked(DeliveryState::kDownloading, &target, "");
  }
  wake_.notify_all();
  if (listener) listener();
  return Status::Ok();
}

DeliveryStatus ModelDelivery::status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

void ModelDelivery::SetListener(std::function<void()> listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listener_ = std::move(listener);
}

void ModelDelivery::OnOutcome(const predict::Classifier* model, const Status& outcome) {
  if (model == nullptr || probation_.load(std::memory_order_acquire) != model) return;
  const int seen = ++probation_seen_;
  const int failed = ModelError(outcome) ? ++probation_failed_ : probation_failed_.load();
  const DeliveryLimits& l = options_.limits;
  if (failed >= l.max_probation_failures) {
    const predict::Classifier* expected = model;
    if (!probation_.compare_exchange_strong(expected, nullptr)) return;  // someone else decided
    {
      std::lock_guard<std::mutex> lock(mu_);
      rollback_requested_ = true;
      rollback_reason_ = std::to_string(failed) + " of its first " + std::to_string(seen) +
                         " predictions failed (last: " + outcome.message() + ")";
    }
    wake_.notify_all();
  } else if (seen >= l.probation_predictions) {
    const predict::Classifier* expected = model;
    if (probation_.compare_exchange_strong(expected, nullptr)) {
      wake_.notify_all();  // the thread drops the fallback
    }
  }
}

void ModelDelivery::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  const auto ready = [&] {
    return stopping_ || rollback_requested_ || (record_.pending.has_value() && !WaitingForRetry()) ||
           (fallback_model_ && probation_.load() == nullptr);
  };
  for (;;) {
    if (retry_at_) {
      wake_.wait_until(lock, *retry_at_, ready);
    } else {
      wake_.wait(lock, ready);
    }
    if (stopping_) return;
    if (rollback_requested_) {
      rollback_requested_ = false;
      const std::string why = rollback_reason_;
      lock.unlock();
      RollBack(why);
      lock.lock();
      continue;
    }
    if (fallback_model_ && probation_.load() == nullptr) {
      // Probation passed: the last-known-good stays on disk, not in memory.
      spdlog::info("model delivery: version {} passed its first {} predictions", status_.serving,
                   options_.limits.probation_predictions);
      fallback_model_.reset();
      probation_model_.reset();
      continue;
    }
    if (!record_.pending || WaitingForRetry()) continue;
    const ModelRef target = *record_.pending;
    const bool later_round = retry_round_ > 0 && retry_sha_ == target.sha256;
    const std::string last_error = status_.error;
    retry_at_.reset();
    status_.next_retry.reset();
    cancel_ = false;
    lock.unlock();
    if (later_round) SetState(DeliveryState::kDownloading, &target, last_error);
    Deliver(target);
    lock.lock();
  }
}

bool ModelDelivery::WaitingForRetry() const {
  return retry_at_ && record_.pending && record_.pending->sha256 == retry_sha_ &&
         std::chrono::steady_clock::now() < *retry_at_;
}

bool ModelDelivery::Superseded(const ModelRef& target) const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopping_ || !record_.pending || record_.pending->sha256 != target.sha256;
}

void ModelDelivery::Deliver(const ModelRef& target) {
  struct stat st;
  if (::stat(target.path.c_str(), &st) != 0) {  // else unpacked (and verified) before a restart
    if (Status fetched = FetchAndVerify(target); !fetched.ok()) {
      if (!Superseded(target) && !ScheduleRetry(target, fetched)) Fail(target, fetched);
      return;
    }
    if (Superseded(target)) return;
  }
  SetState(DeliveryState::kUnpacking, &target);
  Result<std::string> path = Unpack(target);
  if (!path.ok()) return Fail(target, path.status());
  if (Superseded(target)) return;
  SetState(DeliveryState::kLoading, &target);
  Result<std::shared_ptr<const predict::Classifier>> model = reloader_->Load(*path);
  if (!model.ok()) {
    (void)RemoveTree(target.path);
    return Fail(target, model.status().WithContext("the new model did not load"));
  }
  if (Status accepted = Accept(**model, *path); !accepted.ok()) {
    (void)RemoveTree(target.path);
    return Fail(target, accepted);
  }
  if (Superseded(target)) return;
  Apply(target, std::move(model).value());
}

Status ModelDelivery::FetchAndVerify(const ModelRef& target) {
  bool resumed = false;
  EV_RETURN_IF_ERROR(Download(target, &resumed));
  if (Superseded(target)) return Status::Ok();
  SetState(DeliveryState::kVerifying, &target);
  const std::string part = PartPath(target.sha256);
  EV_ASSIGN_OR_RETURN(std::string sha, Sha256OfFile(part));
  if (sha != target.sha256 && resumed) {
    // The resumed part may be what a power cut left: once more from byte 0.
    spdlog::warn("model delivery: checksum mismatch after resuming; downloading again from the start");
    EV_RETURN_IF_ERROR(RemoveTree(part));
    SetState(DeliveryState::kDownloading, &target);
    EV_RETURN_IF_ERROR(Download(target, &resumed));
    if (Superseded(target)) return Status::Ok();
    SetState(DeliveryState::kVerifying, &target);
    EV_ASSIGN_OR_RETURN(sha, Sha256OfFile(part));
  }
  if (sha != target.sha256) {
    (void)RemoveTree(part);
    return InvalidArgument("checksum mismatch: the download's sha256 is " + sha + ", expected " + target.sha256);
  }
  return Status::Ok();
}

bool ModelDelivery::ScheduleRetry(const ModelRef& target, const Status& error) {
  if (error.code() != StatusCode::kUnavailable && error.code() != StatusCode::kDeadlineExceeded) return false;
  const DeliveryLimits& l = options_.limits;
  std::chrono::milliseconds delay = l.retry_round_delay;
  int round = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (retry_round_ >= l.max_retry_rounds) return false;
    const std::chrono::milliseconds cap = LongestRoundDelay(l);
    for (int i = 0; i < retry_round_ && delay < cap; ++i) delay *= 2;
    delay = std::min(delay, cap);
    round = ++retry_round_;
    retry_sha_ = target.sha256;
    retry_at_ = std::chrono::steady_clock::now() + delay;
    status_.retries = round;
    status_.next_retry = std::chrono::system_clock::now() + delay;
    status_.error = error.message();  // seen with next_retry (SetState below tells the listener)
    // On disk too: a restart keeps the count and the time of the next round.
    DeliveryRecord r = record_;
    r.retries = round;
    r.next_retry = status_.next_retry;
    r.error = error.message();
    if (Status s = Commit(r); !s.ok()) spdlog::error("model delivery: {}", s.message());
  }
  spdlog::warn("model delivery: version {}: {} attempts failed ({}); retry {} of {} in {} ms", target.version,
               l.max_attempts, error.message(), round, l.max_retry_rounds, delay.count());
  SetState(DeliveryState::kDownloading, &target, error.message());
  return true;
}

Status ModelDelivery::Download(const ModelRef& target, bool* resumed) {
  const std::string part = PartPath(target.sha256);
  struct stat st;
  const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return IOError("cannot open " + part + ": " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  const DeliveryLimits& l = options_.limits;
  std::chrono::milliseconds backoff = l.retry_backoff;
  Status last;
  for (int attempt = 1; attempt <= l.max_attempts; ++attempt) {
    if (::fstat(fd, &st) != 0) return IOError("cannot stat " + part + ": " + std::strerror(errno));
    uint64_t offset = static_cast<uint64_t>(st.st_size);
    if (offset > l.max_download_bytes) {
      if (::ftruncate(fd, 0) != 0) return IOError("cannot truncate " + part);
      offset = 0;
    }
    *resumed = *resumed || offset > 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      status_.attempts = attempt;
      status_.bytes = offset;
    }
    if (offset > 0) spdlog::info("model delivery: resuming the download at byte {}", offset);
    uint64_t before = offset;
    last = downloader_->Download(target.url, fd, offset, l.max_download_bytes, [&](uint64_t on_disk) {
      std::lock_guard<std::mutex> lock(mu_);
      status_.bytes = on_disk;
      status_.downloaded_bytes += on_disk - before;
      before = on_disk;
      return !cancel_.load();
    });
    if (::fsync(fd) != 0) return IOError("cannot fsync " + part + ": " + std::strerror(errno));
    if (last.ok()) return Status::Ok();
    if (Superseded(target)) return last;
    if (last.code() == StatusCode::kUnsupported) {
      // The server cannot resume: start again from byte 0.
      if (::ftruncate(fd, 0) != 0) return IOError("cannot truncate " + part);
      continue;
    }
    if (last.code() != StatusCode::kUnavailable && last.code() != StatusCode::kDeadlineExceeded) return last;
    spdlog::warn("model delivery: attempt {} of {}: {}", attempt, l.max_attempts, last.message());
    std::unique_lock<std::mutex> lock(mu_);
    if (wake_.wait_for(lock, backoff, [&] { return stopping_ || !record_.pending || record_.pending->sha256 != target.sha256; })) {
      return last;
    }
    backoff *= 2;
  }
  return last;
}

Result<std::string> ModelDelivery::Unpack(const ModelRef& target) {
  struct stat st;
  if (::stat(target.path.c_str(), &st) == 0) return target.path;  // complete: renamed in before a restart
  const std::string part = PartPath(target.sha256);
  const std::string staging = target.path + ".tmp";
  EV_RETURN_IF_ERROR(RemoveTree(staging));
  if (LooksLikeZip(part)) {
    Result<UnpackStats> unpacked = UnpackZip(part, staging, options_.limits);
    if (!unpacked.ok()) {
      (void)RemoveTree(staging);
      (void)RemoveTree(part);
      return unpacked.status().WithContext("unpacking the model");
    }
    spdlog::info("model delivery: unpacked {} files, {} bytes", unpacked->files, unpacked->bytes);
  } else {
    const std::string name = UrlFileName(target.url);
    if (!model::IsModelFileName(name) || !CheckMemberName(name, options_.limits).ok()) {
      (void)RemoveTree(part);
      return InvalidArgument("the download is not a zip, and the URL does not end in a model file name "
                             "(.onnx, .pb, .tflite, model.json)");
    }
    if (::mkdir(staging.c_str(), 0700) != 0) return IOError("cannot create " + staging + ": " + std::strerror(errno));
    if (::rename(part.c_str(), (staging + "/" + name).c_str()) != 0) {
      return IOError("cannot move the download into " + staging + ": " + std::strerror(errno));
    }
    EV_RETURN_IF_ERROR(SyncPath(staging));
  }
  if (::rename(staging.c_str(), target.path.c_str()) != 0) {
    return IOError("cannot rename " + staging + ": " + std::strerror(errno));
  }
  EV_RETURN_IF_ERROR(SyncPath(ModelsDir()));
  (void)RemoveTree(part);
  return target.path;
}

Status ModelDelivery::Accept(const predict::Classifier& model, const std::string& path) {
  const std::vector<std::string> images = FindTestImages(path, options_.limits);
  for (const std::string& image : images) {
    Result<std::string> bytes = ReadSmallFile(image, options_.limits.max_test_image_bytes);
    if (!bytes.ok()) return bytes.status().WithContext("the export's test image");
    const std::span<const uint8_t> data(reinterpret_cast<const uint8_t*>(bytes->data()), bytes->size());
    const Status s = model.detector() ? model.DetectImage(data).status() : model.ClassifyImage(data).status();
    if (!s.ok()) {
      return s.WithContext("the export's test image " + fs::relative(image, path).string() + " failed");
    }
  }
  if (!images.empty()) spdlog::info("model delivery: the export's {} test images ran", images.size());
  return Status::Ok();
}

void ModelDelivery::Apply(const ModelRef& target, std::shared_ptr<const predict::Classifier> model) {
  std::shared_ptr<const predict::Classifier> previous = reloader_->Serving();
  {
    std::unique_lock<std::mutex> lock(mu_);
    DeliveryRecord r = record_;
    r.previous = r.current ? *r.current : ModelRef{kConfigured, kConfigured, reloader_->path(), kConfigured};
    r.current = target;
    r.ClearPending();
    r.error.clear();
    if (Status s = Commit(r); !s.ok()) {
      lock.unlock();
      return Fail(target, s);
    }
    // The commit point is passed: from here a restart comes up on the new model.
    status_.serving = target.version;
    ++status_.applied;
    fallback_model_ = options_.limits.probation_predictions > 0 ? std::move(previous) : nullptr;
    probation_model_ = fallback_model_ ? model : nullptr;
  }
  probation_seen_ = 0;
  probation_failed_ = 0;
  const predict::Classifier* watched = probation_model_ ? model.get() : nullptr;
  reloader_->Switch(target.path, std::move(model), "model delivery: version " + target.version);
  probation_.store(watched, std::memory_order_release);
  CollectGarbage();  // before the state says so: what the state says is settled on disk
  spdlog::info("model delivery: version {} (sha256 {}) is serving", target.version, target.sha256);
  SetState(DeliveryState::kApplied, &target);
}

void ModelDelivery::RollBack(const std::string& why) {
  ModelRef bad, good;
  std::shared_ptr<const predict::Classifier> fallback;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!fallback_model_ || !record_.current || !record_.previous) return;
    bad = *record_.current;
    good = *record_.previous;
    DeliveryRecord r = record_;
    if (good.sha256 == kConfigured) {
      r.current.reset();
    } else {
      r.current = good;
    }
    r.previous.reset();
    r.error = "version " + bad.version + " rolled back: " + why;
    if (Status s = Commit(r); !s.ok()) spdlog::error("model delivery: {}", s.message());
    fallback = std::move(fallback_model_);
    probation_model_.reset();
    status_.serving = good.version;
    ++status_.rolled_back;
  }
  reloader_->Switch(good.path, std::move(fallback), "model delivery: rollback from version " + bad.version);
  spdlog::error("model delivery: version {} rolled back to the last-known-good model: {}", bad.version, why);
  CollectGarbage();
  SetState(DeliveryState::kRolledBack, &bad, why);
}

void ModelDelivery::Fail(const ModelRef& target, const Status& error) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    DeliveryRecord r = record_;
    if (r.pending && r.pending->sha256 == target.sha256) r.ClearPending();
    r.error = "version " + target.version + ": " + error.message();
    if (Status s = Commit(r); !s.ok()) spdlog::error("model delivery: {}", s.message());
    ++status_.failed;
  }
  spdlog::error("model delivery: version {} failed; the serving model keeps serving: {}", target.version,
                error.message());
  SetState(DeliveryState::kFailed, &target, error.message());
}

void ModelDelivery::SetState(DeliveryState state, const ModelRef* about, const std::string& error) {
  std::function<void()> listener;
  {
    std::lock_guard<std::mutex> lock(mu_);
    listener = SetStateLocked(state, about, error);
  }
  if (listener) listener();
}

std::function<void()> ModelDelivery::SetStateLocked(DeliveryState state, const ModelRef* about,
                                                    const std::string& error) {
  status_.state = state;
  if (about) {
    status_.version = about->version;
    status_.sha256 = about->sha256;
    status_.source = about->url == kConfigured ? "" : RedactUrl(about->url);
  }
  status_.error = error;
  status_.changed = std::chrono::system_clock::now();
  return listener_;
}

Status ModelDelivery::Commit(const DeliveryRecord& record) {
  EV_RETURN_IF_ERROR(WriteRecord(RecordPath(), record));
  record_ = record;
  return Status::Ok();
}

void ModelDelivery::CollectGarbage() {
  std::set<std::string> keep;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::optional<ModelRef>& m : {record_.current, record_.previous, record_.pending}) {
      if (m && m->sha256 != kConfigured) keep.insert(m->sha256);
    }
  }
  std::error_code ec;
  for (fs::directory_iterator it(ModelsDir(), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::string sha = name.substr(0, 64);
    if (!IsHex64(sha) || keep.count(sha)) continue;
    (void)RemoveTree(it->path().string());
  }
  for (fs::directory_iterator it(ModelsDir() + "/downloads", ec), end; !ec && it != end; it.increment(ec)) {
    if (!keep.count(it->path().filename().string().substr(0, 64))) (void)RemoveTree(it->path().string());
  }
}

}  // namespace edgevision::delivery
