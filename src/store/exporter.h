// Export for retraining: captures as a dataset Custom Vision training
// accepts — one folder per tag with the images, plus manifest.csv; and for
// detection captures, the images with their regions.
//
//   <out>/<tag>/<sha256>.<ext>   a classification image (an image captured
//                                twice under the same tag is written once)
//   <out>/images/<sha256>.<ext>  a detection image
//   <out>/customvision.json      detection: each image's regions as Custom
//                                Vision training's ImageFileCreateEntry takes
//                                them ({tagName, left, top, width, height},
//                                normalised; tagName stands for the tagId)
//   <out>/coco.json              detection: the same regions as COCO (pixels)
//   <out>/manifest.csv           one row per exported capture (columns in
//                                docs/store.md)
//
// A detection capture goes with the regions a person saved; unreviewed ones
// are skipped unless `include_predicted`, which takes its predicted boxes,
// clipped to the image (training refuses boxes outside it). The two JSON
// files are written only when detection captures are exported.
//
// A capture goes under its human label when it has one. Unreviewed captures
// are skipped unless `include_predicted`, which puts them under their top
// predicted tag. Tag names become folder names with '/', '\', control and
// other characters Windows rejects replaced by '_' (the manifest keeps the
// real tag).
//
// Thread-safety: reads through the store's thread-safe API; safe while a
// server writes to the same store (a capture removed meanwhile is counted as
// missing).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "core/status.h"
#include "store/capture_store.h"
#include "store/env.h"

namespace edgevision::store {

struct ExportOptions {
  std::string out_dir;  // created; must not exist or be empty
  bool include_predicted = false;
  CaptureQuery filter;  // cursor, order and limit are ignored
};

struct ExportSummary {
  int64_t matched = 0;             // captures the filter selected
  int64_t exported = 0;            // rows written to the manifest
  int64_t images_written = 0;      // distinct files written
  int64_t skipped_unreviewed = 0;  // no label and not include_predicted
  int64_t skipped_no_tag = 0;      // unreviewed with no prediction above 1e-8
  int64_t missing = 0;             // removed by retention during the export
  // Exported images in a format Custom Vision training does not accept
  // (it takes JPEG, PNG, BMP and GIF; WebP must be converted first).
  int64_t unsupported_format = 0;
  // tag -> exported captures (classification) or regions (detection)
  std::map<std::string, int64_t> per_tag;
  int64_t detection_images = 0;  // detection captures exported
  int64_t regions = 0;           // their regions
  std::string manifest;          // path of manifest.csv
  std::string customvision;      // path of customvision.json, "" without detection captures
  std::string coco;              // path of coco.json, "" without detection captures
};

// The folder of detection images (a tag folder of that name gets a suffix).
inline constexpr const char* kDetectionImagesFolder = "images";

// `progress(done, total)` is called after each capture (may be empty).
// Errors: InvalidArgument (out_dir not empty), IOError / ResourceExhausted
// from writing.
Result<ExportSummary> ExportDataset(const CaptureStore& store, const ExportOptions& options,
                                    Env* env = DefaultEnv(),
                                    const std::function<void(int64_t, int64_t)>& progress = {});

// Predicted boxes as regions training accepts: clipped to the image, boxes
// left empty by clipping dropped.
std::vector<Region> RegionsFromDetections(const std::vector<StoredDetection>& detections);

// The folder name used for a tag (exposed for tests).
std::string TagFolderName(const std::string& tag);

}  // namespace edgevision::store
