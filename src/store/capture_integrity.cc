// The store's invariants (store/capture_store.h): Reconcile() restores them
// when a server opens the store after a crash; CheckConsistency() verifies
// them for tests and `--check`.
#include <spdlog/spdlog.h>

#include <map>
#include <set>

#include "store/capture_store.h"
#include "store/capture_store_internal.h"

namespace edgevision::store {

using internal::IsLowerHex;

Status CaptureStore::Reconcile() {
  // 1. Writes that never finished.
  EV_ASSIGN_OR_RETURN(std::vector<std::string> tmp_files, env_->ListDir(tmp_dir_));
  for (const std::string& name : tmp_files) {
    Status s = env_->RemoveFile(tmp_dir_ + "/" + name);
    if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
  }

  // 2. What the database refers to: file name -> expected size.
  std::map<std::string, uint64_t> referenced;
  {
    std::lock_guard<std::mutex> d(db_mu_);
    EV_ASSIGN_OR_RETURN(
        sqlite::Statement st,
        sqlite::Statement::Prepare(db_.get(),
                                   "SELECT DISTINCT image_sha256, image_format, image_bytes "
                                   "FROM captures"));
    while (true) {
      EV_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      const std::string sha = st.Text(0);
      referenced[sha + "." + ExtensionForFormat(st.Text(1))] = static_cast<uint64_t>(st.Int(2));
    }
  }

  // 3. Image files: keep referenced ones with the right size, remove orphans.
  std::set<std::string> present;
  uint64_t bytes = 0;
  int orphans = 0;
  EV_ASSIGN_OR_RETURN(std::vector<std::string> fanout, env_->ListDir(images_dir_));
  for (const std::string& sub : fanout) {
    if (sub == "tmp") continue;
    const std::string sub_dir = images_dir_ + "/" + sub;
    if (!IsLowerHex(sub, 2) || !env_->IsDirectory(sub_dir)) {
      spdlog::warn("capture store: ignoring unexpected entry {}", sub_dir);
      continue;
    }
    EV_ASSIGN_OR_RETURN(std::vector<std::string> files, env_->ListDir(sub_dir));
    for (const std::string& name : files) {
      const std::string path = sub_dir + "/" + name;
      const size_t dot = name.find('.');
      if (dot != 64 || !IsLowerHex(name.substr(0, 64), 64) || name.compare(0, 2, sub) != 0) {
        spdlog::warn("capture store: ignoring unexpected file {}", path);
        continue;
      }
      auto it = referenced.find(name);
      Result<uint64_t> size = env_->FileSize(path);
      if (it != referenced.end() && size.ok() && *size == it->second) {
        present.insert(name);
        bytes += *size;
        continue;
      }
      // An orphan (its row was never committed or already removed), or a
      // file whose size does not match its row: remove it.
      Status s = env_->RemoveFile(path);
      if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
      ++orphans;
    }
  }

  // 4. Rows whose image is gone (removed by hand, or lost with a filesystem).
  int64_t dropped = 0;
  int64_t count = 0;
  {
    std::lock_guard<std::mutex> d(db_mu_);
    std::vector<int64_t> missing;
    EV_ASSIGN_OR_RETURN(sqlite::Statement st,
                        sqlite::Statement::Prepare(
                            db_.get(), "SELECT seq, image_sha256, image_format FROM captures"));
    while (true) {
      EV_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      ++count;
      if (!present.count(st.Text(1) + "." + ExtensionForFormat(st.Text(2))))
        missing.push_back(st.Int(0));
    }
    if (!missing.empty()) {
      sqlite::Transaction t(db_.get());
      EV_RETURN_IF_ERROR(t.Begin());
      EV_ASSIGN_OR_RETURN(
          sqlite::Statement del,
          sqlite::Statement::Prepare(db_.get(), "DELETE FROM captures WHERE seq = ?"));
      for (int64_t seq : missing) {
        del.Reset();
        EV_RETURN_IF_ERROR(del.Bind(1, seq).Run());
      }
      EV_RETURN_IF_ERROR(t.Commit());
      dropped = static_cast<int64_t>(missing.size());
    }
  }
  if (orphans > 0)
    spdlog::warn("capture store: removed {} image files no capture refers to", orphans);
  if (dropped > 0)
    spdlog::warn("capture store: dropped {} captures whose image file was missing", dropped);
  count_ = count - dropped;
  image_bytes_ = bytes;
  UpdateDbBytes();
  return Status::Ok();
}

Status CaptureStore::CheckConsistency() const {
  std::lock_guard<std::mutex> d(db_mu_);
  {
    EV_ASSIGN_OR_RETURN(sqlite::Statement st,
                        sqlite::Statement::Prepare(db_.get(), "PRAGMA integrity_check"));
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row || st.Text(0) != "ok")
      return Corrupt(db_path_ + ": integrity_check: " + (row ? st.Text(0) : ""));
  }
  {
    EV_ASSIGN_OR_RETURN(sqlite::Statement st,
                        sqlite::Statement::Prepare(db_.get(), "PRAGMA foreign_key_check"));
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) return Corrupt(db_path_ + ": a prediction row has no capture");
  }
  std::set<std::string> referenced;
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement st,
      sqlite::Statement::Prepare(
          db_.get(), "SELECT id, image_sha256, image_format, image_bytes FROM captures"));
  while (true) {
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    const std::string id = st.Text(0), sha = st.Text(1), format = st.Text(2);
    const std::string path = ImagePath(sha, format);
    Result<std::vector<uint8_t>> data = env_->ReadFile(path, options_.max_image_bytes);
    if (!data.ok()) return Corrupt("capture " + id + ": " + data.status().message());
    if (data->size() != static_cast<uint64_t>(st.Int(3))) {
      return Corrupt("capture " + id + ": " + path + " has " + std::to_string(data->size()) +
                     " bytes, the row says " + std::to_string(st.Int(3)));
    }
    if (Sha256Hex(*data) != sha)
      return Corrupt("capture " + id + ": " + path + " does not match its SHA-256");
    referenced.insert(sha + "." + ExtensionForFormat(format));
  }
  EV_ASSIGN_OR_RETURN(std::vector<std::string> fanout, env_->ListDir(images_dir_));
  for (const std::string& sub : fanout) {
    if (!IsLowerHex(sub, 2) || !env_->IsDirectory(images_dir_ + "/" + sub))
      continue;  // tmp/, strays
    EV_ASSIGN_OR_RETURN(std::vector<std::string> files, env_->ListDir(images_dir_ + "/" + sub));
    for (const std::string& name : files) {
      if (!referenced.count(name))
        return Corrupt(images_dir_ + "/" + sub + "/" + name + ": no capture refers to it");
    }
  }
  return Status::Ok();
}

}  // namespace edgevision::store
