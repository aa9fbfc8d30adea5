// CaptureStore's upload records (the `uploads` table, schema version 3):
// which captures `edgevision export --upload` has sent to which Custom
// Vision project.
#include "store/capture_store.h"
#include "store/capture_store_internal.h"

namespace edgevision::store {

Status CaptureStore::CheckUploadQuery(const CaptureQuery& q) const {
  if (q.not_uploaded_to && schema_version_ < 3) {
    return Unsupported("the capture store in " + data_dir_ +
                       " has no upload records yet (schema version " +
                       std::to_string(schema_version_) + ")");
  }
  return Status::Ok();
}

Status CaptureStore::RecordUploads(const std::string& project,
                                   const std::vector<UploadRecord>& records) {
  if (mode_ == Mode::kReader) return Unsupported("capture store opened read-only");
  for (const UploadRecord& r : records) {
    if (!IsValidCaptureId(r.capture_id))
      return InvalidArgument("capture id '" + r.capture_id.substr(0, 64) + "' is not a UUID");
  }
  const int64_t now_us = internal::ToMicros(clock_->Now());
  std::lock_guard<std::mutex> d(db_mu_);
  sqlite::Transaction t(db_.get());
  EV_RETURN_IF_ERROR(t.Begin());
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement st,
      sqlite::Statement::Prepare(
          db_.get(),
          "INSERT OR IGNORE INTO uploads (project, capture_id, status, image_id, uploaded_us) "
          "SELECT ?1, id, ?3, ?4, ?5 FROM captures WHERE id = ?2"));
  for (const UploadRecord& r : records) {
    const std::string id = internal::ToLower(r.capture_id);
    st.Bind(1, std::string_view(project))
        .Bind(2, std::string_view(id))
        .Bind(3, std::string_view(r.status))
        .Bind(4, std::string_view(r.image_id))
        .Bind(5, now_us);
    EV_RETURN_IF_ERROR(st.Run());
    st.Reset();
  }
  return t.Commit();
}

Result<std::map<std::string, int64_t>> CaptureStore::UploadCounts(
    const std::string& project) const {
  std::map<std::string, int64_t> counts;
  if (schema_version_ < 3) return counts;
  std::lock_guard<std::mutex> d(db_mu_);
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement st,
      sqlite::Statement::Prepare(
          db_.get(), "SELECT status, count(*) FROM uploads WHERE project = ?1 GROUP BY status"));
  st.Bind(1, std::string_view(project));
  while (true) {
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    counts[st.Text(0)] = st.Int(1);
  }
  return counts;
}

}  // namespace edgevision::store
