// Retention: unreviewed captures past the age limit go, then the oldest
// (unreviewed first) until images plus database fit the byte quota; and the
// row-then-file removal every deletion shares. Retention runs only on a store
// opened kServe, which Init has brought to the current schema.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "store/capture_store.h"
#include "store/capture_store_internal.h"

namespace edgevision::store {

using internal::ToMicros;

namespace {

// Rows removed per retention batch (one transaction each).
constexpr int kRetentionBatch = 64;

}  // namespace

Status CaptureStore::RemoveImageIfUnreferencedLocked(const std::string& sha256,
                                                     const std::string& format, uint64_t* freed) {
  EV_ASSIGN_OR_RETURN(sqlite::Statement st,
                      sqlite::Statement::Prepare(
                          db_.get(), "SELECT 1 FROM captures WHERE image_sha256 = ? LIMIT 1"));
  st.Bind(1, std::string_view(sha256));
  EV_ASSIGN_OR_RETURN(bool referenced, st.Step());
  if (referenced) return Status::Ok();
  const std::string path = ImagePath(sha256, format);
  Result<uint64_t> size = env_->FileSize(path);
  Status s = env_->RemoveFile(path);
  if (!s.ok() && s.code() != StatusCode::kNotFound)
    return s;  // an orphan; Reconcile() removes it later
  if (s.ok() && size.ok()) {
    *freed += *size;
    image_bytes_ -= std::min<uint64_t>(image_bytes_, *size);
  }
  return Status::Ok();
}

Status CaptureStore::RemoveRowsLocked(const std::vector<std::pair<int64_t, std::string>>& rows,
                                      uint64_t* freed) {
  // rows: (seq, "<sha256>.<format>")
  {
    sqlite::Transaction t(db_.get());
    EV_RETURN_IF_ERROR(t.Begin());
    EV_ASSIGN_OR_RETURN(
        sqlite::Statement del,
        sqlite::Statement::Prepare(db_.get(), "DELETE FROM captures WHERE seq = ?"));
    for (const auto& row : rows) {
      del.Reset();
      EV_RETURN_IF_ERROR(del.Bind(1, row.first).Run());
    }
    EV_RETURN_IF_ERROR(t.Commit());
  }
  count_ -= static_cast<int64_t>(rows.size());
  // Files go after the rows: a crash in between leaves only orphans.
  std::set<std::string> images;
  for (const auto& row : rows) images.insert(row.second);
  Status first = Status::Ok();
  for (const std::string& image : images) {
    const size_t dot = image.find('.');
    Status s = RemoveImageIfUnreferencedLocked(image.substr(0, dot), image.substr(dot + 1), freed);
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

Status CaptureStore::EnforceRetention() {
  if (mode_ != Mode::kServe) return Status::Ok();
  std::lock_guard<std::mutex> w(write_mu_);
  return EnforceRetentionLocked(0);
}

Status CaptureStore::SetLimits(std::optional<uint64_t> max_bytes,
                               std::optional<std::chrono::seconds> max_age) {
  if (max_bytes && *max_bytes == 0) return InvalidArgument("capture store: the quota must be > 0");
  if (max_age && max_age->count() < 0) {
    return InvalidArgument("capture store: the age limit must be >= 0");
  }
  if (mode_ != Mode::kServe) return Unsupported("capture store opened read-only");
  std::lock_guard<std::mutex> w(write_mu_);
  if (max_bytes) max_bytes_ = *max_bytes;
  if (max_age) max_age_s_ = max_age->count();
  spdlog::info("capture store: limits now {} bytes, max age {} s", max_bytes_.load(),
               max_age_s_.load());
  return EnforceRetentionLocked(0);
}

Status CaptureStore::EnforceRetentionLocked(uint64_t incoming) {
  next_retention_ = clock_->Monotonic() + options_.retention_interval;
  std::lock_guard<std::mutex> d(db_mu_);
  auto take = [&](const std::string& sql, std::optional<int64_t> bind,
                  std::vector<std::pair<int64_t, std::string>>* rows) -> Status {
    rows->clear();
    EV_ASSIGN_OR_RETURN(sqlite::Statement st, sqlite::Statement::Prepare(db_.get(), sql));
    if (bind) st.Bind(1, *bind);
    while (true) {
      EV_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      rows->emplace_back(st.Int(0), st.Text(1) + "." + st.Text(2));
    }
    return Status::Ok();
  };
  std::vector<std::pair<int64_t, std::string>> rows;
  int64_t removed = 0;
  uint64_t freed = 0;
  const std::string batch = std::to_string(kRetentionBatch);
  if (max_age_s_ > 0) {
    const int64_t cutoff = ToMicros(clock_->Now() - max_age());
    while (true) {
      EV_RETURN_IF_ERROR(
          take("SELECT seq, image_sha256, image_format FROM captures "
               "WHERE NOT " + ReviewedSql() + " AND created_us < ? ORDER BY seq LIMIT " + batch,
               cutoff, &rows));
      if (rows.empty()) break;
      EV_RETURN_IF_ERROR(RemoveRowsLocked(rows, &freed));
      removed += static_cast<int64_t>(rows.size());
    }
  }
  UpdateDbBytes();
  while (image_bytes_ + db_bytes_ + incoming > max_bytes_) {
    const uint64_t excess = image_bytes_ + db_bytes_ + incoming - max_bytes_;
    // Oldest unreviewed first, then oldest reviewed; just enough of them.
    std::vector<std::pair<int64_t, std::string>> candidates;
    EV_ASSIGN_OR_RETURN(sqlite::Statement st,
                        sqlite::Statement::Prepare(
                            db_.get(),
                            "SELECT seq, image_sha256, image_format, image_bytes FROM captures "
                            "ORDER BY " + ReviewedSql() + ", seq LIMIT " + batch));
    uint64_t planned = 0;
    while (planned < excess) {
      EV_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      candidates.emplace_back(st.Int(0), st.Text(1) + "." + st.Text(2));
      planned += static_cast<uint64_t>(st.Int(3));
    }
    st.Reset();  // end the read before writing
    if (candidates.empty()) break;
    EV_RETURN_IF_ERROR(RemoveRowsLocked(candidates, &freed));
    removed += static_cast<int64_t>(candidates.size());
    // Give freed pages back to the filesystem so the quota can be met.
    (void)sqlite::Exec(db_.get(), "PRAGMA incremental_vacuum");
    UpdateDbBytes();
  }
  if (removed > 0) {
    removed_ += removed;
    (void)sqlite::Exec(db_.get(), "PRAGMA incremental_vacuum");
    UpdateDbBytes();
    spdlog::info("capture store: retention removed {} captures ({} image bytes)", removed, freed);
  }
  return Status::Ok();
}

}  // namespace edgevision::store
