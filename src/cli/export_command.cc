// `edgevision export`: captures as a Custom Vision training set.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "cli/load.h"
#include "cli/upload_command.h"
#include "store/capture_store.h"
#include "store/exporter.h"
#include "store/time_text.h"

namespace edgevision::cli {

namespace {

// A one-line progress bar on a terminal; nothing otherwise (the summary
// follows either way).
class Progress {
 public:
  Progress() : tty_(::isatty(STDERR_FILENO) == 1) {}
  void Update(int64_t done, int64_t total) {
    if (!tty_ || total <= 0) return;
    const int width = 30;
    const int filled = static_cast<int>(width * done / total);
    if (filled == last_filled_ && done != total && done % 50 != 0) return;
    last_filled_ = filled;
    std::fprintf(stderr, "\rexporting [%s%s] %lld/%lld", std::string(filled, '#').c_str(),
                 std::string(width - filled, '.').c_str(), static_cast<long long>(done),
                 static_cast<long long>(total));
    if (done == total) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

 private:
  bool tty_;
  int last_filled_ = -1;
};

Result<store::CaptureQuery> Filter(const ExportOptions& o) {
  store::CaptureQuery q;
  if (!o.tag.empty()) q.tag = o.tag;
  if (!o.label.empty()) q.label = o.label;
  if (o.min_p >= 0) q.min_p = o.min_p;
  if (o.max_p >= 0) q.max_p = o.max_p;
  if (!o.reviewed.empty()) q.reviewed = o.reviewed == "true";
  if (!o.from.empty()) {
    Result<store::TimePoint> t = store::ParseTime(o.from);
    if (!t.ok()) return t.status().WithContext("--from");
    q.from = *t;
  }
  if (!o.to.empty()) {
    Result<store::TimePoint> t = store::ParseTime(o.to);
    if (!t.ok()) return t.status().WithContext("--to");
    q.to = *t;
  }
  return q;
}

}  // namespace

int RunExport(const ExportOptions& options) {
  Result<store::CaptureQuery> filter = Filter(options);
  if (!filter.ok()) {
    PrintError(filter.status());
    return 2;
  }
  if (options.upload) return RunUpload(options, *filter);
  if (options.out.empty()) {
    PrintError(InvalidArgument("export needs --out (or --upload)"));
    return 2;
  }
  if (!options.endpoint.empty() || !options.project.empty() || !options.training_key_file.empty()) {
    PrintError(InvalidArgument("--endpoint, --project and --training-key-file go with --upload"));
    return 2;
  }
  // A reader: safe while `edgevision serve` keeps capturing into the store.
  Result<std::unique_ptr<store::CaptureStore>> captures = store::CaptureStore::Open(
      options.data_dir, store::StoreOptions{}, store::CaptureStore::Mode::kReader);
  if (!captures.ok()) {
    PrintError(captures.status());
    return 1;
  }
  store::ExportOptions export_options;
  export_options.out_dir = options.out;
  export_options.include_predicted = options.include_predicted;
  export_options.filter = *filter;
  Progress progress;
  Result<store::ExportSummary> summary = store::ExportDataset(
      **captures, export_options, store::DefaultEnv(),
      [&progress](int64_t done, int64_t total) { progress.Update(done, total); });
  if (!summary.ok()) {
    PrintError(summary.status());
    return 1;
  }
  std::printf("exported %lld captures (%lld images) to %s\n",
              static_cast<long long>(summary->exported),
              static_cast<long long>(summary->images_written), options.out.c_str());
  for (const auto& [tag, n] : summary->per_tag)
    std::printf("  %-24s %lld\n", tag.c_str(), static_cast<long long>(n));
  if (summary->detection_images > 0) {
    std::printf("detection: %lld images with %lld regions (counted per tag above)\n",
                static_cast<long long>(summary->detection_images),
                static_cast<long long>(summary->regions));
    std::printf("custom vision regions: %s\ncoco: %s\n", summary->customvision.c_str(),
                summary->coco.c_str());
  }
  if (summary->skipped_unreviewed > 0) {
    std::printf(
        "skipped %lld unreviewed captures (label them on /review, or add --include-predicted)\n",
        static_cast<long long>(summary->skipped_unreviewed));
  }
  if (summary->skipped_no_tag > 0) {
    std::printf("skipped %lld unreviewed captures without any predicted tag\n",
                static_cast<long long>(summary->skipped_no_tag));
  }
  if (summary->missing > 0) {
    std::printf("skipped %lld captures removed by retention during the export\n",
                static_cast<long long>(summary->missing));
  }
  if (summary->unsupported_format > 0) {
    std::printf(
        "warning: %lld images are not JPEG, PNG, BMP or GIF; Custom Vision training will refuse "
        "them "
        "until converted\n",
        static_cast<long long>(summary->unsupported_format));
  }
  std::printf("manifest: %s\n", summary->manifest.c_str());
  if (summary->exported > summary->detection_images && summary->per_tag.size() < 2) {
    std::printf(
        "note: Custom Vision trains a classifier from at least 2 tags with 5+ images each\n");
  }
  return 0;
}

}  // namespace edgevision::cli
