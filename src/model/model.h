// Loading a Custom Vision export as shipped.
//
// LoadModel accepts what users have: an export folder (model.pb/.onnx/.tflite
// with labels.txt, cvexport.manifest, metadata_properties.json), a Dockerfile
// export folder (its app/model.pb), the export .zip itself, or a bare model
// file. It picks the importer by content, reads labels (labels.txt, else the
// model's own), honours the manifest and metadata, normalises the graph and
// decides the preprocessing. Nothing is written to disk.
//
// Thread-safety: LoadModel is reentrant; a LoadedModel is an immutable value.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "detect/detection.h"
#include "detect/nms_tail.h"
#include "detect/yolo.h"
#include "graph/graph.h"
#include "image/preprocess.h"
#include "model/generation.h"
#include "model/manifest.h"

namespace edgevision::model {

// Everything `edgevision inspect` reports.
struct ModelInfo {
  std::string path;        // as given by the user
  std::string model_file;  // the file actually read ("x.zip:app/model.pb" inside a zip)
  std::string model_sha1;  // hex SHA1 of the model file's bytes
  std::string format;
  std::string generation;  // what the importer recognised in the model file
  std::string producer;
  // The export generation whose container code edgevision follows, why, and
  // how it lists predictions (model/generation.h).
  Generation export_generation = Generation::kModelFile;
  std::string export_generation_reason;
  AnswerRule answer_rule = AnswerRule::kFloat32RoundDropTiny;
  bool label_order = false;  // LoadOptions::label_order
  std::string domain = "Classification";  // "Classification" or "ObjectDetection"
  std::string iteration_id;               // from the manifest, or ""

  std::string input_name;
  std::vector<int64_t> input_shape;
  std::string input_layout;
  std::string output_name;
  std::string output_activation;
  // Why the input gets its colour order and range (`edgevision inspect`).
  std::string color_reason;

  std::vector<std::string> labels;
  std::string labels_source;  // "labels.txt", "model (ZipMap classlabels_strings)", ...

  std::optional<Manifest> manifest;
  std::map<std::string, std::string> metadata;  // metadata_properties.json + file metadata

  std::map<std::string, int> source_ops;      // ops as found in the file
  std::map<std::string, int> normalized_ops;  // ops the engine runs
  std::vector<std::string> rewrites;          // importer and normalisation rewrites
  std::vector<std::string> warnings;          // e.g. manifest SHA1 mismatch
};

// What a detector export needs beyond its graph (docs/models.md, "Object
// detection"). Only the compact (YOLO) family is served: its one output is
// the raw grid, NHWC in the engine whatever the file's layout.
struct DetectorSpec {
  detect::DetectorFamily family = detect::DetectorFamily::kYolo;
  std::string family_evidence;  // what told the family (metadata, outputs)
  // Anchors and NMS threshold from the metadata over the container's
  // defaults (detect::YoloParamsFromMetadata); thresholds and cap are the
  // container's until the user overrides them (predict::DetectorOptions).
  detect::YoloParams yolo;
  // How the format's reference sums its softmax (detect/yolo.h).
  detect::SumOrder sum_order = detect::SumOrder::kNumpyPairwise;
  // S1: NonMaxSuppression and what follows it, run after the engine on its
  // packed output (detect/nms_tail.h; from ImportedModel::detection_tail).
  detect::TailGraph ssd_tail;
  // The output is typed float16 (ONNX Float16): the engine's float32 values
  // are rounded to halves before the post-processing (core/half.h).
  bool output_float16 = false;
};

struct LoadedModel {
  graph::Graph graph;  // normalised: NHWC, batch 1, engine op set
  image::PreprocessSpec preprocess;
  ModelInfo info;
  // Set for an object-detection export; the graph's input size is then only
  // the declared one (detectors run at each image's own size).
  std::optional<DetectorSpec> detector;
  // A classifier whose output is typed float16 (ONNX Float16): its scores
  // are rounded to halves as they leave the engine (core/half.h), as ONNX
  // Runtime stores them (detectors: DetectorSpec::output_float16).
  bool output_float16 = false;
};

// Named limits for model loading.
struct LoadLimits {
  // Largest model file accepted (bytes), inside or outside a zip. Custom
  // Vision compact exports are 3-10 MB.
  uint64_t max_model_bytes = 512ull << 20;
  // Largest total uncompressed size read from an export zip.
  uint64_t max_zip_uncompressed_bytes = 1024ull << 20;
};

// Choices the user makes at load time.
struct LoadOptions {
  // --preprocess: follow this generation's container code instead of the
  // detected one.
  std::optional<Generation> generation;
  // --label-order: list predictions in label-file order, as every container
  // does, instead of by probability (edgevision's documented default).
  bool label_order = false;
};

// Detector exports (manifest DomainType "ObjectDetection", or metadata
// CustomVision.Postprocess.Method Yolo/SSD, or an ONNX graph that runs
// NonMaxSuppression) load with `detector` set: the compact (YOLO) family from
// every format, the S1 (SSD) family from ONNX and TensorFlow graphs (their
// NMS tail split off, see detect/nms_tail.h); S1 graphs of other formats
// (TFLite's detection post-process) are refused naming the family.
// Errors name the path and the reason: NotFound (no model file there),
// Corrupt (unreadable zip or model), Unsupported (format/op/type we do not
// run), InvalidArgument (labels do not match the outputs).
Result<LoadedModel> LoadModel(const std::string& path, const LoadLimits& limits = {},
                              const LoadOptions& options = {});

}  // namespace edgevision::model
