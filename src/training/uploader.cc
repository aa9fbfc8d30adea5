#include "training/uploader.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <set>

namespace edgevision::training {

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Per-image statuses the service may not give again: left unrecorded.
bool Transient(const std::string& status) {
  return status == "ErrorStorage" || status == "ErrorUnknown" || status == "ErrorLimitExceed";
}

bool Accepted(const std::string& status) { return status == "OK" || status == "OKDuplicate"; }

// Project tags by name: exact, then ignoring letter case.
class TagBook {
 public:
  explicit TagBook(const std::vector<Tag>& tags) {
    for (const Tag& t : tags) Add(t);
  }
  const Tag* Find(const std::string& name) const {
    if (auto it = exact_.find(name); it != exact_.end()) return &it->second;
    if (auto it = folded_.find(Lower(name)); it != folded_.end()) return &exact_.at(it->second);
    return nullptr;
  }
  void Add(const Tag& t) {
    exact_[t.name] = t;
    folded_.emplace(Lower(t.name), t.name);
  }

 private:
  std::map<std::string, Tag> exact_;
  std::map<std::string, std::string> folded_;
};

struct Pending {
  std::string capture_id;
  ImageFile file;
};

class Run {
 public:
  Run(store::CaptureStore& store, TrainingApi& api, const UploadOptions& options,
      UploadSummary* summary)
      : store_(store), api_(api), options_(options), summary_(*summary) {}

  Status Start(bool detection, std::vector<Tag> tags) {
    detection_ = detection;
    tags_ = std::make_unique<TagBook>(tags);
    return Status::Ok();
  }

  // The tag id for `name`, created in the project when missing.
  Result<std::string> TagId(const std::string& name) {
    if (const Tag* t = tags_->Find(name)) return t->id;
    EV_ASSIGN_OR_RETURN(Tag created, api_.CreateTag(options_.project_id, name));
    spdlog::info("created tag '{}' in project {}", name, options_.project_id);
    summary_.tags_created.push_back(created.name.empty() ? name : created.name);
    if (created.name.empty()) created.name = name;
    tags_->Add(created);
    return created.id;
  }

  // Adds one capture to the batch (or counts why not); sends full batches.
  Status Take(const store::Capture& c) {
    if ((c.kind == store::CaptureKind::kDetection) != detection_) {
      ++summary_.skipped_other_kind;
      return Status::Ok();
    }
    if (detection_ && (!c.regions || c.regions->empty())) {
      ++summary_.skipped_no_regions;
      return Status::Ok();
    }
    if (!detection_ && !c.label) return Status::Ok();  // not reviewed (filtered already)
    static const std::set<std::string> kFormats = {"jpeg", "png", "bmp", "gif"};
    if (!kFormats.count(c.image_format)) {
      ++summary_.skipped_format;
      return Status::Ok();
    }
    if (c.image_bytes > kMaxImageBytes) {
      ++summary_.skipped_too_large;
      return Status::Ok();
    }
    if (batch_.size() >= static_cast<size_t>(options_.batch_size) ||
        (!batch_.empty() && batch_bytes_ + c.image_bytes > options_.max_batch_bytes)) {
      EV_RETURN_IF_ERROR(Flush());
    }
    Result<std::vector<uint8_t>> bytes = store_.ReadImage(c);
    if (!bytes.ok()) {
      if (bytes.status().code() == StatusCode::kNotFound) {
        ++summary_.missing;
        return Status::Ok();
      }
      return bytes.status();
    }
    Pending p;
    p.capture_id = c.id;
    p.file.name = c.id + "." + store::ExtensionForFormat(c.image_format);
    p.file.contents = std::move(*bytes);
    if (detection_) {
      for (const store::Region& r : *c.regions) {
        EV_ASSIGN_OR_RETURN(std::string id, TagId(r.tag));
        p.file.regions.push_back(Region{id, r.box.left, r.box.top, r.box.width, r.box.height});
      }
    } else {
      EV_ASSIGN_OR_RETURN(std::string id, TagId(*c.label));
      p.file.tag_ids.push_back(id);
    }
    batch_bytes_ += p.file.contents.size();
    batch_.push_back(std::move(p));
    return Status::Ok();
  }

  // Sends the batch and records what the service answered.
  Status Flush() {
    if (batch_.empty()) return Status::Ok();
    std::vector<ImageFile> files;
    files.reserve(batch_.size());
    for (Pending& p : batch_) files.push_back(std::move(p.file));
    EV_ASSIGN_OR_RETURN(BatchResult result,
                        api_.CreateImagesFromFiles(options_.project_id, files));
    ++summary_.batches;
    summary_.sent += static_cast<int64_t>(batch_.size());
    for (const ImageFile& f : files) summary_.regions += static_cast<int64_t>(f.regions.size());

    // Results name their image by sourceUrl (the entry's name, perhaps
    // quoted); by position when they do not.
    std::map<std::string, size_t> by_name;
    for (size_t i = 0; i < files.size(); ++i) by_name[files[i].name] = i;
    std::vector<const ImageResult*> answer(batch_.size(), nullptr);
    for (size_t k = 0; k < result.images.size(); ++k) {
      std::string name = result.images[k].source_url;
      if (name.size() >= 2 && name.front() == '"' && name.back() == '"')
        name = name.substr(1, name.size() - 2);
      auto it = by_name.find(name);
      const size_t i = it != by_name.end() ? it->second : k;
      if (i < answer.size() && !answer[i]) answer[i] = &result.images[k];
    }
    std::vector<store::UploadRecord> records;
    bool limit_reached = false;
    for (size_t i = 0; i < batch_.size(); ++i) {
      const ImageResult* r = answer[i];
      const std::string status = r ? r->status : "ErrorUnknown";
      if (status == "ErrorLimitExceed") limit_reached = true;
      if (Transient(status) || status.empty()) {
        ++summary_.retry_later;
        continue;
      }
      if (status == "OK") ++summary_.created;
      else if (status == "OKDuplicate") ++summary_.duplicates;
      else ++summary_.rejected[status];
      if (!Accepted(status))
        spdlog::warn("capture {}: the service refused the image ({})", batch_[i].capture_id, status);
      records.push_back(store::UploadRecord{batch_[i].capture_id, status, r ? r->image_id : ""});
    }
    batch_.clear();
    batch_bytes_ = 0;
    EV_RETURN_IF_ERROR(store_.RecordUploads(options_.project_id, records));
    if (limit_reached) {
      return ResourceExhausted("project " + options_.project_id +
                               " holds as many images as its tier allows (ErrorLimitExceed); "
                               "what was sent before is recorded");
    }
    return Status::Ok();
  }

 private:
  store::CaptureStore& store_;
  TrainingApi& api_;
  const UploadOptions& options_;
  UploadSummary& summary_;
  bool detection_ = false;
  std::unique_ptr<TagBook> tags_;
  std::vector<Pending> batch_;
  uint64_t batch_bytes_ = 0;
};

}  // namespace

Result<UploadSummary> UploadReviewed(store::CaptureStore& store, TrainingApi& api,
                                     const UploadOptions& options_in,
                                     const std::function<void(int64_t, int64_t)>& progress) {
  UploadOptions options = options_in;
  options.project_id = Lower(options.project_id);
  if (!store::IsValidCaptureId(options.project_id))
    return InvalidArgument("--project '" + options_in.project_id + "' is not a project id (a UUID)");
  if (options.batch_size < 1 || options.batch_size > kMaxImagesPerBatch)
    return InvalidArgument("the batch size must be 1 to 64 (the Training API's limit)");

  UploadSummary summary;
  EV_ASSIGN_OR_RETURN(Project project, api.GetProject(options.project_id));
  EV_ASSIGN_OR_RETURN(Domain domain, api.GetDomain(project.domain_id));
  summary.project_name = project.name;
  summary.project_type = domain.type;
  if (domain.type != "Classification" && domain.type != "ObjectDetection") {
    return Unsupported("project " + options.project_id + " has a domain of type '" + domain.type +
                       "'; edgevision uploads to Classification and ObjectDetection projects");
  }
  EV_ASSIGN_OR_RETURN(std::vector<Tag> tags, api.GetTags(options.project_id));

  store::CaptureQuery q = options.filter;
  q.reviewed = true;
  q.after.reset();
  q.oldest_first = true;
  q.limit = kMaxImagesPerBatch;
  store::CaptureQuery all_reviewed = q;
  q.not_uploaded_to = options.project_id;
  EV_ASSIGN_OR_RETURN(const int64_t reviewed, store.Count(all_reviewed));
  EV_ASSIGN_OR_RETURN(const int64_t total, store.Count(q));
  summary.already_recorded = reviewed - total;

  Run run(store, api, options, &summary);
  EV_RETURN_IF_ERROR(run.Start(domain.type == "ObjectDetection", std::move(tags)));
  int64_t seen = 0;
  while (true) {
    EV_ASSIGN_OR_RETURN(store::CapturePage page, store.List(q));
    for (const store::Capture& c : page.captures) {
      EV_RETURN_IF_ERROR(run.Take(c));
      ++seen;
    }
    if (progress) progress(std::min(seen, total), total);
    if (!page.next) break;
    q.after = page.next;
  }
  EV_RETURN_IF_ERROR(run.Flush());
  if (progress) progress(total, total);
  return summary;
}

}  // namespace edgevision::training
