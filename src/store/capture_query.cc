// Reading captures: Get, List (filters and a seq cursor), Count and Stats,
// with the SQL that depends on the schema version (a reader may open a
// version 1 store unmigrated).
#include <algorithm>

#include "store/capture_store.h"
#include "store/capture_store_internal.h"

namespace edgevision::store {

using internal::ToLower;
using internal::ToMicros;

namespace {

// The columns ReadCapture reads; a version 1 store (opened by a reader,
// unmigrated) has no kind and no regions_us.
const char* kCaptureColumnsV1 =
    "seq, id, created_us, route, project, iteration, model_sha1, top_tag, top_probability, "
    "image_sha256, "
    "image_bytes, image_format, image_width, image_height, label, reviewed_us";
const char* kCaptureColumnsV2Suffix = ", kind, regions_us";
const char* kCaptureColumnsV1Suffix = ", 'classification', NULL";
const char* kReviewedV1 = "(label IS NOT NULL)";
const char* kReviewedV2 = "(label IS NOT NULL OR regions_us IS NOT NULL)";

TimePoint FromMicros(int64_t us) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(us)));
}

Capture ReadCapture(const sqlite::Statement& st) {
  Capture c;
  c.seq = st.Int(0);
  c.id = st.Text(1);
  c.created = FromMicros(st.Int(2));
  c.route = st.Text(3);
  c.project = st.Text(4);
  c.iteration = st.Text(5);
  c.model_sha1 = st.Text(6);
  c.top_tag = st.Text(7);
  c.top_probability = st.Double(8);
  c.image_sha256 = st.Text(9);
  c.image_bytes = static_cast<uint64_t>(st.Int(10));
  c.image_format = st.Text(11);
  c.image_width = static_cast<int>(st.Int(12));
  c.image_height = static_cast<int>(st.Int(13));
  c.label = st.OptionalText(14);
  if (!st.IsNull(15)) c.reviewed = FromMicros(st.Int(15));
  c.kind = st.Text(16) == "detection" ? CaptureKind::kDetection : CaptureKind::kClassification;
  if (!st.IsNull(17)) {
    c.regions.emplace();  // filled by LoadPredictions
    c.reviewed = FromMicros(st.Int(17));
  }
  return c;
}

Status CheckQuery(const CaptureQuery& q) {
  if (q.min_p && q.max_p && *q.min_p > *q.max_p)
    return InvalidArgument("min_p is greater than max_p");
  if (q.from && q.to && *q.from > *q.to) return InvalidArgument("from is after to");
  return Status::Ok();
}

// The WHERE clause for a query's filters (and its cursor when `paging`);
// `reviewed` is the schema's "reviewed" condition.
std::string WhereClause(const CaptureQuery& q, bool paging, const std::string& reviewed) {
  std::string sql = " WHERE 1";
  if (q.tag) sql += " AND top_tag = :tag";
  if (q.label) sql += " AND label = :label";
  if (q.min_p) sql += " AND top_probability >= :min_p";
  if (q.max_p) sql += " AND top_probability < :max_p";
  if (q.reviewed) sql += (*q.reviewed ? " AND " : " AND NOT ") + reviewed;
  if (q.from) sql += " AND created_us >= :from";
  if (q.to) sql += " AND created_us < :to";
  if (q.not_uploaded_to) {
    sql += " AND NOT EXISTS (SELECT 1 FROM uploads WHERE uploads.capture_id = captures.id AND "
           "uploads.project = :not_uploaded_to)";
  }
  if (paging && q.after) sql += q.oldest_first ? " AND seq > :after" : " AND seq < :after";
  return sql;
}

void BindQuery(const CaptureQuery& q, bool paging, sqlite::Statement* st) {
  if (q.tag) st->Bind(st->ParamIndex(":tag"), std::string_view(*q.tag));
  if (q.label) st->Bind(st->ParamIndex(":label"), std::string_view(*q.label));
  if (q.min_p) st->Bind(st->ParamIndex(":min_p"), *q.min_p);
  if (q.max_p) st->Bind(st->ParamIndex(":max_p"), *q.max_p);
  if (q.from) st->Bind(st->ParamIndex(":from"), ToMicros(*q.from));
  if (q.to) st->Bind(st->ParamIndex(":to"), ToMicros(*q.to));
  if (q.not_uploaded_to)
    st->Bind(st->ParamIndex(":not_uploaded_to"), std::string_view(*q.not_uploaded_to));
  if (paging && q.after) st->Bind(st->ParamIndex(":after"), *q.after);
}

}  // namespace

Result<Capture> CaptureStore::GetLocked(const std::string& id) const {
  if (!IsValidCaptureId(id))
    return InvalidArgument("capture id '" + id.substr(0, 64) + "' is not a UUID");
  const std::string lower = ToLower(id);
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement st,
      sqlite::Statement::Prepare(
          db_.get(), "SELECT " + CaptureColumns() + " FROM captures WHERE id = ?"));
  st.Bind(1, std::string_view(lower));
  EV_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound("no capture with id " + lower);
  std::vector<Capture> one{ReadCapture(st)};
  EV_RETURN_IF_ERROR(LoadPredictions(&one));
  return std::move(one[0]);
}

Result<Capture> CaptureStore::Get(const std::string& id) const {
  std::lock_guard<std::mutex> d(db_mu_);
  return GetLocked(id);
}

std::string CaptureStore::CaptureColumns() const {
  return std::string(kCaptureColumnsV1) +
         (schema_version_ >= 2 ? kCaptureColumnsV2Suffix : kCaptureColumnsV1Suffix);
}

std::string CaptureStore::ReviewedSql() const {
  return schema_version_ >= 2 ? kReviewedV2 : kReviewedV1;
}

Status CaptureStore::LoadPredictions(std::vector<Capture>* captures) const {
  if (captures->empty()) return Status::Ok();
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement st,
      sqlite::Statement::Prepare(
          db_.get(), "SELECT tag, probability FROM predictions WHERE seq = ? ORDER BY rank"));
  for (Capture& c : *captures) {
    st.Reset();
    st.Bind(1, c.seq);
    while (true) {
      EV_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      c.predictions.push_back({st.Text(0), st.Double(1)});
    }
  }
  if (schema_version_ < 2) return Status::Ok();
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement det,
      sqlite::Statement::Prepare(db_.get(),
                                 "SELECT tag, tag_index, probability, box_left, box_top, "
                                 "box_width, box_height FROM detections WHERE seq = ? ORDER BY rank"));
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement reg,
      sqlite::Statement::Prepare(db_.get(),
                                 "SELECT tag, box_left, box_top, box_width, box_height FROM regions "
                                 "WHERE seq = ? ORDER BY rank"));
  for (Capture& c : *captures) {
    if (c.kind != CaptureKind::kDetection) continue;
    det.Reset();
    det.Bind(1, c.seq);
    while (true) {
      EV_ASSIGN_OR_RETURN(bool row, det.Step());
      if (!row) break;
      c.detections.push_back({det.Text(0), static_cast<int>(det.Int(1)), det.Double(2),
                              {det.Double(3), det.Double(4), det.Double(5), det.Double(6)}});
    }
    if (!c.regions) continue;
    reg.Reset();
    reg.Bind(1, c.seq);
    while (true) {
      EV_ASSIGN_OR_RETURN(bool row, reg.Step());
      if (!row) break;
      c.regions->push_back(
          {reg.Text(0), {reg.Double(1), reg.Double(2), reg.Double(3), reg.Double(4)}});
    }
  }
  return Status::Ok();
}

Result<CapturePage> CaptureStore::List(const CaptureQuery& q) const {
  EV_RETURN_IF_ERROR(CheckQuery(q));
  EV_RETURN_IF_ERROR(CheckUploadQuery(q));
  const int limit = std::clamp(q.limit, 1, kMaxPageSize);
  std::string sql =
      "SELECT " + CaptureColumns() + " FROM captures" + WhereClause(q, true, ReviewedSql());
  sql += q.oldest_first ? " ORDER BY seq ASC" : " ORDER BY seq DESC";
  sql += " LIMIT " + std::to_string(limit + 1);

  std::lock_guard<std::mutex> d(db_mu_);
  EV_ASSIGN_OR_RETURN(sqlite::Statement st, sqlite::Statement::Prepare(db_.get(), sql));
  BindQuery(q, true, &st);
  CapturePage page;
  while (true) {
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    if (static_cast<int>(page.captures.size()) == limit) {
      page.next = page.captures.back().seq;
      break;
    }
    page.captures.push_back(ReadCapture(st));
  }
  EV_RETURN_IF_ERROR(LoadPredictions(&page.captures));
  return page;
}

Result<int64_t> CaptureStore::Count(const CaptureQuery& q) const {
  EV_RETURN_IF_ERROR(CheckQuery(q));
  EV_RETURN_IF_ERROR(CheckUploadQuery(q));
  std::lock_guard<std::mutex> d(db_mu_);
  EV_ASSIGN_OR_RETURN(sqlite::Statement st,
                      sqlite::Statement::Prepare(
                          db_.get(), "SELECT count(*) FROM captures" +
                                         WhereClause(q, false, ReviewedSql())));
  BindQuery(q, false, &st);
  EV_ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.Int(0) : 0;
}

Result<StoreStats> CaptureStore::Stats() const {
  std::lock_guard<std::mutex> d(db_mu_);
  StoreStats stats;
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement by_tag,
      sqlite::Statement::Prepare(db_.get(),
                                 "SELECT top_tag, count(*), total(NOT " + ReviewedSql() +
                                     "), total(label = top_tag) FROM captures GROUP BY top_tag"));
  while (true) {
    EV_ASSIGN_OR_RETURN(bool row, by_tag.Step());
    if (!row) break;
    const int64_t n = by_tag.Int(1);
    const int64_t unreviewed = static_cast<int64_t>(by_tag.Double(2));
    stats.captures += n;
    stats.unreviewed += unreviewed;
    const std::string tag = by_tag.Text(0);
    if (tag.empty()) continue;
    TagCounts& t = stats.tags[tag];
    t.predicted = n;
    t.unreviewed = unreviewed;
    t.confirmed = static_cast<int64_t>(by_tag.Double(3));
  }
  stats.reviewed = stats.captures - stats.unreviewed;
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement by_label,
      sqlite::Statement::Prepare(db_.get(),
                                 "SELECT label, count(*) FROM captures WHERE label IS NOT NULL "
                                 "GROUP BY label"));
  while (true) {
    EV_ASSIGN_OR_RETURN(bool row, by_label.Step());
    if (!row) break;
    stats.tags[by_label.Text(0)].labelled = by_label.Int(1);
  }
  if (schema_version_ >= 2) {
    EV_ASSIGN_OR_RETURN(
        sqlite::Statement by_region,
        sqlite::Statement::Prepare(db_.get(), "SELECT tag, count(*) FROM regions GROUP BY tag"));
    while (true) {
      EV_ASSIGN_OR_RETURN(bool row, by_region.Step());
      if (!row) break;
      stats.tags[by_region.Text(0)].regions = by_region.Int(1);
    }
  }
  return stats;
}

}  // namespace edgevision::store
