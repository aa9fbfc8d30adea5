// Finding and reading the files of a Custom Vision export.
//
// Users point edgevision at whatever they downloaded: the export folder, the
// Dockerfile export (its model is in app/), the .zip as downloaded (possibly
// with one top-level folder such as <guid>.DockerFile.Linux/), or one model
// file. ReadExport finds the model and its side files (labels.txt,
// cvexport.manifest, metadata_properties.json) and reads them into memory,
// enforcing size limits; nothing is extracted to disk.
//
// Thread-safety: reentrant.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/importer.h"

namespace edgevision::model {

// One side file: its text and a label naming it in messages.
struct SideFile {
  std::string label;  // e.g. "/models/x/labels.txt" or "x.zip:app/labels.txt"
  std::string text;
};

struct ExportFiles {
  std::string model_label;  // path, or "<zip>:<member>"
  std::string model_name;   // file name alone, e.g. "model.pb"
  std::vector<uint8_t> model_bytes;
  // What the model file needs beside it: saved_model.pb's variables/ files,
  // model.json's weight shards (the total counts against max_model_bytes).
  std::vector<CompanionFile> companions;
  std::optional<SideFile> labels;
  std::optional<SideFile> manifest;
  std::optional<SideFile> metadata;
  // The container's own code beside the model (Dockerfile exports), if any.
  std::optional<SideFile> predict_py;
  // The model sits in the app/ folder of a Dockerfile export (a Dockerfile
  // beside that folder).
  bool docker_app = false;
};

struct PackageLimits {
  uint64_t max_model_bytes = 512ull << 20;
  uint64_t max_side_file_bytes = 1ull << 20;
  uint64_t max_zip_uncompressed_bytes = 1024ull << 20;
  int max_search_depth = 3;  // folders below the given one searched for a model
};

// Errors: NotFound when `path` does not exist or holds no model file (the
// message lists what was looked for); InvalidArgument when several model
// files are equally plausible (they are listed); Corrupt for an unreadable
// zip; ResourceExhausted when a file exceeds its limit; IOError when reading
// fails.
Result<ExportFiles> ReadExport(const std::string& path, const PackageLimits& limits = {});

// True when `name` (a file name, no folders) is a model file name we load
// (*.pb, *.onnx, *.tflite, model.json).
bool IsModelFileName(const std::string& name);

}  // namespace edgevision::model
