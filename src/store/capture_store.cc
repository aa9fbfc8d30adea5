// CaptureStore (store/capture_store.h): the object, adding and deleting
// captures with their image files, the disk-space pause and the health
// counters. The rest of the class lives beside it, one concern per file:
//   capture_schema.cc     opening the database: checks, schema, migrations
//   capture_query.cc      reading captures: Get, List, Count, Stats
//   capture_review.cc     what a person sets: SetLabel, SetRegions
//   capture_retention.cc  the age limit and the byte quota
//   capture_integrity.cc  Reconcile (at open) and CheckConsistency
//   capture_uploads.cc    upload records (schema version 3)
#include "store/capture_store.h"

#include <spdlog/spdlog.h>

#include "store/capture_store_internal.h"

namespace edgevision::store {

using internal::IsLowerHex;
using internal::ToLower;
using internal::ToMicros;

const StoredDetection* MostProbable(const std::vector<StoredDetection>& detections) {
  const StoredDetection* top = nullptr;
  for (const StoredDetection& d : detections) {
    if (!top || d.probability > top->probability) top = &d;
  }
  return top;
}

const char* CaptureKindName(CaptureKind kind) {
  return kind == CaptureKind::kDetection ? "detection" : "classification";
}

bool IsValidCaptureId(const std::string& id) {
  if (id.size() != 36) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

std::string ExtensionForFormat(const std::string& format) {
  if (format == "jpeg") return "jpg";
  if (format == "png" || format == "bmp" || format == "gif" || format == "webp") return format;
  return "bin";
}

std::string MimeTypeForFormat(const std::string& format) {
  if (format == "jpeg") return "image/jpeg";
  if (format == "png" || format == "bmp" || format == "gif" || format == "webp")
    return "image/" + format;
  return "application/octet-stream";
}

CaptureStore::CaptureStore(std::string data_dir, const StoreOptions& options, Mode mode, Env* env,
                           const Clock* clock)
    : data_dir_(std::move(data_dir)),
      images_dir_(data_dir_ + "/captures"),
      tmp_dir_(images_dir_ + "/tmp"),
      db_path_(data_dir_ + "/captures.db"),
      options_(options),
      mode_(mode),
      env_(env),
      clock_(clock) {
  max_bytes_ = options_.max_bytes;
  max_age_s_ = options_.max_age.count();
}

CaptureStore::~CaptureStore() {
  std::lock_guard<std::mutex> w(write_mu_);
  std::lock_guard<std::mutex> d(db_mu_);
  if (db_ && mode_ == Mode::kServe) {
    // Fold the WAL into the database so the folder is one self-contained
    // file set; harmless if it fails (the WAL is replayed at the next open).
    sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  }
  db_.reset();
}

Result<std::unique_ptr<CaptureStore>> CaptureStore::Open(const std::string& data_dir,
                                                         const StoreOptions& options, Mode mode,
                                                         Env* env, const Clock* clock) {
  if (data_dir.empty())
    return InvalidArgument("the capture store needs a data directory (--data-dir)");
  std::string dir = data_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::unique_ptr<CaptureStore> store(new CaptureStore(dir, options, mode, env, clock));
  EV_RETURN_IF_ERROR(store->Init());
  return store;
}

std::string CaptureStore::ImagePath(const std::string& sha256, const std::string& format) const {
  return images_dir_ + "/" + sha256.substr(0, 2) + "/" + sha256 + "." + ExtensionForFormat(format);
}

void CaptureStore::UpdateDbBytes() {
  uint64_t total = 0;
  for (const char* suffix : {"", "-wal"}) {
    Result<uint64_t> size = env_->FileSize(db_path_ + suffix);
    if (size.ok()) total += *size;
  }
  db_bytes_ = total;
}

void CaptureStore::Pause(const std::string& reason) {
  retry_at_ = clock_->Monotonic() + options_.pause_retry;
  bool was = paused_.exchange(true);
  std::lock_guard<std::mutex> s(status_mu_);
  paused_reason_ = reason;
  if (!was) spdlog::warn("capture store: storing paused: {}", reason);
}

Status CaptureStore::AddFailed(Status s) {
  if (s.code() == StatusCode::kResourceExhausted) {
    Pause(s.message());
    ++refused_;
  }
  std::lock_guard<std::mutex> st(status_mu_);
  last_error_ = s.message();
  return s;
}

void CaptureStore::Resume() {
  if (!paused_.exchange(false)) return;
  std::lock_guard<std::mutex> s(status_mu_);
  paused_reason_.clear();
  spdlog::info("capture store: storing resumed");
}

bool CaptureStore::CheckSpaceLocked(uint64_t need) {
  Result<uint64_t> free = env_->FreeBytes(images_dir_);
  if (!free.ok()) return true;  // cannot tell; the write itself will say
  if (*free < options_.min_free_bytes + need) {
    Pause("disk low: " + std::to_string(*free) + " bytes free on " + images_dir_ + ", keeping " +
          std::to_string(options_.min_free_bytes) + " free");
    return false;
  }
  return true;
}

Status CaptureStore::Add(const NewCapture& capture) {
  if (mode_ != Mode::kServe) return Internal("capture store opened read-only");
  if (!IsValidCaptureId(capture.id))
    return InvalidArgument("capture id '" + capture.id + "' is not a UUID");
  if (capture.image.empty()) return InvalidArgument("capture " + capture.id + " has no image");
  if (capture.image.size() > options_.max_image_bytes) {
    return InvalidArgument(
        "capture " + capture.id + ": image of " + std::to_string(capture.image.size()) +
        " bytes exceeds the store's limit of " + std::to_string(options_.max_image_bytes));
  }
  const std::string id = ToLower(capture.id);

  std::lock_guard<std::mutex> w(write_mu_);
  if (paused_ && clock_->Monotonic() < retry_at_) {
    ++refused_;
    std::lock_guard<std::mutex> s(status_mu_);
    return ResourceExhausted("storing paused: " + paused_reason_);
  }
  if (!CheckSpaceLocked(capture.image.size())) {
    ++refused_;
    std::lock_guard<std::mutex> s(status_mu_);
    return ResourceExhausted("storing paused: " + paused_reason_);
  }

  // Make room first so the quota is an upper bound.
  if (image_bytes_ + db_bytes_ + capture.image.size() > max_bytes_ ||
      clock_->Monotonic() >= next_retention_) {
    Status s = EnforceRetentionLocked(capture.image.size());
    if (!s.ok()) spdlog::warn("capture store: retention: {}", s.message());
  }

  const std::string sha = Sha256Hex(capture.image);
  if (sha.size() != 64) return Internal("SHA-256 failed for capture " + id);
  const std::string path = ImagePath(sha, capture.image_format);
  bool wrote = false;
  if (!env_->FileExists(path)) {
    const std::string sub_dir = DirName(path);
    Status s = Status::Ok();
    if (!env_->IsDirectory(sub_dir)) {
      s = env_->CreateDir(sub_dir);
      if (s.ok()) s = env_->SyncDir(images_dir_);
    }
    if (s.ok()) s = WriteFileAtomic(env_, tmp_dir_, path, capture.image);
    if (!s.ok()) return AddFailed(std::move(s));
    wrote = true;
  }

  Status s = [&]() -> Status {
    std::lock_guard<std::mutex> db_lock(db_mu_);
    sqlite::Transaction t(db_.get());
    EV_RETURN_IF_ERROR(t.Begin());
    std::string top_tag = capture.predictions.empty() ? "" : capture.predictions[0].tag;
    double top_p = capture.predictions.empty() ? 0.0 : capture.predictions[0].probability;
    if (capture.kind == CaptureKind::kDetection) {
      const StoredDetection* top = MostProbable(capture.detections);
      top_tag = top ? top->tag : "";
      top_p = top ? top->probability : 0.0;
    }
    EV_ASSIGN_OR_RETURN(
        sqlite::Statement ins,
        sqlite::Statement::Prepare(
            db_.get(),
            "INSERT INTO captures (id, created_us, route, project, iteration, model_sha1, top_tag, "
            "top_probability, image_sha256, image_bytes, image_format, image_width, image_height, "
            "kind) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
    ins.Bind(1, std::string_view(id))
        .Bind(2, ToMicros(capture.created))
        .Bind(3, std::string_view(capture.route))
        .Bind(4, std::string_view(capture.project))
        .Bind(5, std::string_view(capture.iteration))
        .Bind(6, std::string_view(capture.model_sha1))
        .Bind(7, std::string_view(top_tag))
        .Bind(8, top_p)
        .Bind(9, std::string_view(sha))
        .Bind(10, static_cast<int64_t>(capture.image.size()))
        .Bind(11, std::string_view(capture.image_format))
        .Bind(12, static_cast<int64_t>(capture.image_width))
        .Bind(13, static_cast<int64_t>(capture.image_height))
        .Bind(14, std::string_view(CaptureKindName(capture.kind)));
    EV_RETURN_IF_ERROR(ins.Run());
    const int64_t seq = sqlite3_last_insert_rowid(db_.get());
    EV_ASSIGN_OR_RETURN(
        sqlite::Statement pred,
        sqlite::Statement::Prepare(
            db_.get(), "INSERT INTO predictions (seq, rank, tag, probability) VALUES (?,?,?,?)"));
    for (size_t i = 0; i < capture.predictions.size(); ++i) {
      pred.Reset();
      pred.Bind(1, seq)
          .Bind(2, static_cast<int64_t>(i))
          .Bind(3, std::string_view(capture.predictions[i].tag))
          .Bind(4, capture.predictions[i].probability);
      EV_RETURN_IF_ERROR(pred.Run());
    }
    if (capture.kind == CaptureKind::kDetection) {
      EV_ASSIGN_OR_RETURN(
          sqlite::Statement det,
          sqlite::Statement::Prepare(
              db_.get(),
              "INSERT INTO detections (seq, rank, tag, tag_index, probability, box_left, box_top, "
              "box_width, box_height) VALUES (?,?,?,?,?,?,?,?,?)"));
      for (size_t i = 0; i < capture.detections.size(); ++i) {
        const StoredDetection& d = capture.detections[i];
        det.Reset();
        det.Bind(1, seq)
            .Bind(2, static_cast<int64_t>(i))
            .Bind(3, std::string_view(d.tag))
            .Bind(4, static_cast<int64_t>(d.tag_index))
            .Bind(5, d.probability)
            .Bind(6, d.box.left)
            .Bind(7, d.box.top)
            .Bind(8, d.box.width)
            .Bind(9, d.box.height);
        EV_RETURN_IF_ERROR(det.Run());
      }
    }
    return t.Commit();
  }();

  if (!s.ok()) {
    if (s.code() == StatusCode::kInvalidArgument)
      s = InvalidArgument("capture " + id + ": " + s.message());
    if (wrote) {
      uint64_t freed = 0;
      std::lock_guard<std::mutex> d(db_mu_);
      (void)RemoveImageIfUnreferencedLocked(sha, capture.image_format, &freed);
    }
    return AddFailed(std::move(s));
  }
  if (wrote) image_bytes_ += capture.image.size();
  ++count_;
  ++added_;
  Resume();
  UpdateDbBytes();
  return Status::Ok();
}

Result<std::vector<uint8_t>> CaptureStore::ReadImage(const Capture& capture) const {
  if (!IsLowerHex(capture.image_sha256, 64)) {
    return Corrupt("capture " + capture.id + " has an invalid image hash in " + db_path_);
  }
  Result<std::vector<uint8_t>> data = env_->ReadFile(
      ImagePath(capture.image_sha256, capture.image_format), options_.max_image_bytes);
  if (!data.ok() && data.status().code() == StatusCode::kNotFound) {
    return NotFound("the image of capture " + capture.id + " is gone (removed by retention)");
  }
  return data;
}

Status CaptureStore::Delete(const std::string& id) {
  if (mode_ != Mode::kServe) return Internal("capture store opened read-only");
  if (!IsValidCaptureId(id))
    return InvalidArgument("capture id '" + id.substr(0, 64) + "' is not a UUID");
  const std::string lower = ToLower(id);
  std::lock_guard<std::mutex> w(write_mu_);
  std::lock_guard<std::mutex> d(db_mu_);
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement st,
      sqlite::Statement::Prepare(
          db_.get(), "SELECT seq, image_sha256, image_format FROM captures WHERE id = ?"));
  st.Bind(1, std::string_view(lower));
  EV_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound("no capture with id " + lower);
  std::vector<std::pair<int64_t, std::string>> rows{{st.Int(0), st.Text(1) + "." + st.Text(2)}};
  st.Reset();  // end the read before writing
  uint64_t freed = 0;
  EV_RETURN_IF_ERROR(RemoveRowsLocked(rows, &freed));
  UpdateDbBytes();
  return Status::Ok();
}

StoreHealth CaptureStore::Health() const {
  StoreHealth h;
  h.captures = count_;
  h.image_bytes = image_bytes_;
  h.db_bytes = db_bytes_;
  h.quota_bytes = max_bytes_;
  h.max_age = max_age();
  h.paused = paused_;
  h.added = added_;
  h.removed_by_retention = removed_;
  h.refused_disk_full = refused_;
  std::lock_guard<std::mutex> s(status_mu_);
  if (h.paused) h.paused_reason = paused_reason_;
  h.last_error = last_error_;
  return h;
}

}  // namespace edgevision::store
