// A person's review of a capture: the label of a classification capture
// (SetLabel) and the regions of a detection capture (SetRegions), validated
// before anything is written.
#include <cmath>
#include <set>

#include "store/capture_store.h"
#include "store/capture_store_internal.h"

namespace edgevision::store {

using internal::ToLower;
using internal::ToMicros;

namespace {

// Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool IsValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

Status ValidateLabel(const std::string& label, size_t max_bytes,
                     const std::string& what = "label") {
  if (label.empty()) return InvalidArgument(what + " must not be empty (use null to clear it)");
  if (label.size() > max_bytes) {
    return InvalidArgument(what + " is " + std::to_string(label.size()) +
                           " bytes; the limit is " + std::to_string(max_bytes));
  }
  if (!IsValidUtf8(label)) return InvalidArgument(what + " is not valid UTF-8");
  for (unsigned char c : label) {
    if (c < 0x20 || c == 0x7f) return InvalidArgument(what + " contains control characters");
  }
  return Status::Ok();
}

// A region's box: finite, not empty, inside the image. A box drawn to the
// edge may overshoot 1 by a rounding error; that much is accepted.
Status ValidateRegionBox(const detect::BoundingBox& b, const std::string& what) {
  constexpr double kSlack = 1e-9;
  for (double v : {b.left, b.top, b.width, b.height}) {
    if (!std::isfinite(v)) return InvalidArgument(what + ": coordinates must be finite numbers");
  }
  if (b.width <= 0 || b.height <= 0)
    return InvalidArgument(what + ": width and height must be greater than 0");
  if (b.left < 0 || b.top < 0 || b.left + b.width > 1 + kSlack || b.top + b.height > 1 + kSlack) {
    return InvalidArgument(what +
                           ": the box must lie inside the image (0 <= left, left + width <= 1, "
                           "0 <= top, top + height <= 1; normalised)");
  }
  return Status::Ok();
}

}  // namespace

Result<Capture> CaptureStore::SetLabel(const std::string& id,
                                       const std::optional<std::string>& label) {
  if (mode_ != Mode::kServe) return Internal("capture store opened read-only");
  if (!IsValidCaptureId(id))
    return InvalidArgument("capture id '" + id.substr(0, 64) + "' is not a UUID");
  if (label) EV_RETURN_IF_ERROR(ValidateLabel(*label, options_.max_label_bytes));
  const std::string lower = ToLower(id);
  std::lock_guard<std::mutex> d(db_mu_);
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement st,
      sqlite::Statement::Prepare(db_.get(),
                                 "UPDATE captures SET label = ?, reviewed_us = ? "
                                 "WHERE id = ? AND kind = 'classification'"));
  st.Bind(1, label);
  if (label) {
    st.Bind(2, ToMicros(clock_->Now()));
  } else {
    st.BindNull(2);
  }
  st.Bind(3, std::string_view(lower));
  Status s = st.Run();
  if (!s.ok()) return s;
  if (sqlite3_changes(db_.get()) == 0) {
    EV_RETURN_IF_ERROR(GetLocked(lower).status());  // NotFound
    return InvalidArgument("capture " + lower +
                           " is a detection capture: set its regions, not a label");
  }
  return GetLocked(lower);
}

Result<Capture> CaptureStore::SetRegions(const std::string& id,
                                         const std::optional<std::vector<Region>>& regions,
                                         const std::vector<std::string>& known_tags) {
  if (mode_ != Mode::kServe) return Internal("capture store opened read-only");
  if (!IsValidCaptureId(id))
    return InvalidArgument("capture id '" + id.substr(0, 64) + "' is not a UUID");
  if (regions) {
    if (regions->size() > options_.max_regions) {
      return InvalidArgument(std::to_string(regions->size()) + " regions; the limit is " +
                             std::to_string(options_.max_regions) + " per capture");
    }
    for (size_t i = 0; i < regions->size(); ++i) {
      const std::string what = "regions[" + std::to_string(i) + "]";
      EV_RETURN_IF_ERROR(
          ValidateLabel((*regions)[i].tag, options_.max_label_bytes, what + ".tagName"));
      EV_RETURN_IF_ERROR(ValidateRegionBox((*regions)[i].box, what));
    }
  }
  const std::string lower = ToLower(id);
  std::lock_guard<std::mutex> d(db_mu_);
  EV_ASSIGN_OR_RETURN(const Capture current, GetLocked(lower));
  if (current.kind != CaptureKind::kDetection) {
    return InvalidArgument("capture " + lower +
                           " is a classification capture: set its label, not regions");
  }
  if (regions) {
    // Known: the model's tags, and every tag this store has seen on a box.
    std::set<std::string> known(known_tags.begin(), known_tags.end());
    EV_ASSIGN_OR_RETURN(
        sqlite::Statement tags,
        sqlite::Statement::Prepare(
            db_.get(), "SELECT tag FROM detections UNION SELECT tag FROM regions"));
    while (true) {
      EV_ASSIGN_OR_RETURN(bool row, tags.Step());
      if (!row) break;
      known.insert(tags.Text(0));
    }
    for (size_t i = 0; i < regions->size(); ++i) {
      if (!known.count((*regions)[i].tag)) {
        return InvalidArgument("regions[" + std::to_string(i) + "].tagName '" +
                               (*regions)[i].tag.substr(0, 64) +
                               "' is not a tag of the model or of this store");
      }
    }
  }
  sqlite::Transaction t(db_.get());
  EV_RETURN_IF_ERROR(t.Begin());
  EV_ASSIGN_OR_RETURN(sqlite::Statement clear,
                      sqlite::Statement::Prepare(db_.get(), "DELETE FROM regions WHERE seq = ?"));
  EV_RETURN_IF_ERROR(clear.Bind(1, current.seq).Run());
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement mark,
      sqlite::Statement::Prepare(db_.get(), "UPDATE captures SET regions_us = ? WHERE seq = ?"));
  if (regions) {
    mark.Bind(1, ToMicros(clock_->Now()));
  } else {
    mark.BindNull(1);
  }
  EV_RETURN_IF_ERROR(mark.Bind(2, current.seq).Run());
  if (regions) {
    EV_ASSIGN_OR_RETURN(
        sqlite::Statement ins,
        sqlite::Statement::Prepare(db_.get(),
                                   "INSERT INTO regions (seq, rank, tag, box_left, box_top, "
                                   "box_width, box_height) VALUES (?,?,?,?,?,?,?)"));
    for (size_t i = 0; i < regions->size(); ++i) {
      const Region& r = (*regions)[i];
      ins.Reset();
      ins.Bind(1, current.seq)
          .Bind(2, static_cast<int64_t>(i))
          .Bind(3, std::string_view(r.tag))
          .Bind(4, r.box.left)
          .Bind(5, r.box.top)
          .Bind(6, r.box.width)
          .Bind(7, r.box.height);
      EV_RETURN_IF_ERROR(ins.Run());
    }
  }
  EV_RETURN_IF_ERROR(t.Commit());
  return GetLocked(lower);
}

}  // namespace edgevision::store
