#include "cli/upload_command.h"

#include <cstdio>
#include <string>

#include "cli/load.h"
#include "store/env.h"
#include "training/training_client.h"
#include "training/uploader.h"

namespace edgevision::cli {

namespace {

// The largest key file read (a key is 32 hex digits).
constexpr uint64_t kMaxKeyFileBytes = 4096;

Result<std::string> ReadKey(const std::string& path) {
  Result<std::vector<uint8_t>> bytes = store::DefaultEnv()->ReadFile(path, kMaxKeyFileBytes);
  if (!bytes.ok()) return bytes.status().WithContext("--training-key-file");
  std::string key(bytes->begin(), bytes->end());
  const size_t b = key.find_first_not_of(" \t\r\n");
  const size_t e = key.find_last_not_of(" \t\r\n");
  key = b == std::string::npos ? "" : key.substr(b, e - b + 1);
  if (key.empty()) return InvalidArgument("--training-key-file " + path + " is empty");
  return key;
}

Status CheckUsage(const ExportOptions& o) {
  if (!o.out.empty()) return InvalidArgument("--upload sends the captures; it takes no --out");
  if (o.include_predicted || o.reviewed == "false")
    return InvalidArgument("--upload sends reviewed captures only (no --include-predicted)");
  if (o.endpoint.empty()) return InvalidArgument("--upload needs --endpoint");
  if (o.project.empty()) return InvalidArgument("--upload needs --project");
  if (!store::IsValidCaptureId(o.project))
    return InvalidArgument("--project '" + o.project + "' is not a project id (a UUID)");
  if (o.training_key_file.empty()) return InvalidArgument("--upload needs --training-key-file");
  return Status::Ok();
}

}  // namespace

int RunUpload(const ExportOptions& options, const store::CaptureQuery& filter) {
  if (Status s = CheckUsage(options); !s.ok()) {
    PrintError(s);
    return 2;
  }
  Result<std::string> key = ReadKey(options.training_key_file);
  if (!key.ok()) {
    PrintError(key.status());
    return 2;
  }
  training::TrainingClientOptions client_options;
  client_options.endpoint = options.endpoint;
  client_options.training_key = std::move(*key);
  client_options.retry.max_attempts = options.retries;
  Result<std::unique_ptr<training::TrainingClient>> client =
      training::TrainingClient::Create(std::move(client_options));
  if (!client.ok()) {
    PrintError(client.status());
    return 2;
  }
  // Writes only the upload records; safe while `edgevision serve` captures.
  Result<std::unique_ptr<store::CaptureStore>> captures = store::CaptureStore::Open(
      options.data_dir, store::StoreOptions{}, store::CaptureStore::Mode::kUploader);
  if (!captures.ok()) {
    PrintError(captures.status());
    return 1;
  }
  training::UploadOptions upload;
  upload.project_id = options.project;
  upload.filter = filter;
  upload.batch_size = options.batch_size;
  Result<training::UploadSummary> summary = training::UploadReviewed(
      **captures, **client, upload, [](int64_t done, int64_t total) {
        std::fprintf(stderr, "uploading %lld/%lld\n", static_cast<long long>(done),
                     static_cast<long long>(total));
      });
  if (!summary.ok()) {
    PrintError(summary.status());
    std::fprintf(stderr,
                 "what was sent before the error is recorded; run the same command again to "
                 "resume\n");
    return 1;
  }
  const training::UploadSummary& s = *summary;
  std::printf("project %s (%s, %s)\n", options.project.c_str(), s.project_name.c_str(),
              s.project_type.c_str());
  std::printf("sent %lld captures in %lld batches: %lld created, %lld already in the project\n",
              static_cast<long long>(s.sent), static_cast<long long>(s.batches),
              static_cast<long long>(s.created), static_cast<long long>(s.duplicates));
  if (s.regions > 0) std::printf("regions sent: %lld\n", static_cast<long long>(s.regions));
  for (const std::string& t : s.tags_created) std::printf("created tag: %s\n", t.c_str());
  for (const auto& [status, n] : s.rejected)
    std::printf("refused by the service (%s): %lld\n", status.c_str(), static_cast<long long>(n));
  if (s.retry_later > 0)
    std::printf("not taken this time (sent again on the next run): %lld\n",
                static_cast<long long>(s.retry_later));
  if (s.already_recorded > 0)
    std::printf("already uploaded by an earlier run: %lld\n",
                static_cast<long long>(s.already_recorded));
  if (s.skipped_other_kind > 0)
    std::printf("skipped %lld captures of the other project type\n",
                static_cast<long long>(s.skipped_other_kind));
  if (s.skipped_no_regions > 0)
    std::printf("skipped %lld detection captures reviewed without regions\n",
                static_cast<long long>(s.skipped_no_regions));
  if (s.skipped_format > 0)
    std::printf("skipped %lld images not in JPEG, PNG, BMP or GIF\n",
                static_cast<long long>(s.skipped_format));
  if (s.skipped_too_large > 0)
    std::printf("skipped %lld images over 6 MB\n", static_cast<long long>(s.skipped_too_large));
  if (s.missing > 0)
    std::printf("skipped %lld captures removed by retention during the upload\n",
                static_cast<long long>(s.missing));
  return 0;
}

}  // namespace edgevision::cli
