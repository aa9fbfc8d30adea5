// The contract between a model-file importer and model loading.
//
// One importer per format (onnx_importer.h, tf_importer.h, tflite_importer.h)
// turns the bytes of one model file into an ImportedModel: a graph that meets
// graph/graph.h's conventions, plus what the file itself says about its
// input, output and labels. Importers never read other files, never normalise
// (model.cc runs graph::Normalize afterwards) and never crash on hostile
// bytes: errors are Corrupt (unparseable or inconsistent file) or Unsupported
// (valid file using an op/type we do not handle), and the message names the
// node, the op and why.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "detect/nms_tail.h"
#include "graph/graph.h"
#include "image/preprocess.h"

namespace edgevision::model {

struct ImportedModel {
  graph::Graph graph;  // one float input (NHWC), one float output (scores)

  std::string format;      // "TensorFlow GraphDef", "ONNX", "TFLite", "TensorFlow SavedModel", "TF.js graph model"
  std::string generation;  // e.g. "Custom Vision 2018 compact (data_bn)"
  std::string producer;    // e.g. "WinMLTools 0.1.0.5072", "TOCO", "" if unknown

  // The input as declared in the file (before layout translation).
  std::string input_name;
  std::vector<int64_t> input_shape;  // e.g. {-1,3,227,227}
  std::string input_layout;          // "NHWC" or "NCHW"
  // The file names the input's height/width instead of fixing them (ONNX
  // dim_param); `graph` is then imported at a nominal size.
  bool symbolic_hw = false;
  std::string output_name;           // the score tensor (after tail removal)
  // The output is typed float16 (ONNX Float16): its values are rounded to
  // halves after the engine (core/half.h), as a float32 runtime stores them.
  bool output_float16 = false;
  std::string output_activation;     // "sigmoid", "softmax" or "none"

  // Colour order the file declares (ONNX metadata Image.BitmapPixelFormat),
  // or nullopt when the file says nothing.
  std::optional<image::ColorOrder> declared_color;
  // Why declared_color is what it is, when the importer knows better than
  // "the model's embedded metadata" (e.g. TF.js's runtime rule).
  std::string declared_color_source;
  // Per-channel mean the caller must subtract (model channel order), for
  // generations whose graph has no normalisation layer; nullopt otherwise.
  std::optional<std::array<float, 3>> required_mean;

  // Labels the model carries (ONNX ZipMap classlabels_strings), in score order.
  std::vector<std::string> embedded_labels;
  // Free-form key/values from the file (ONNX metadata_props, TFLite metadata).
  std::map<std::string, std::string> metadata;
  // Ops as found in the file ("Conv", "com.microsoft.LegacyPadding", ...).
  std::map<std::string, int> source_ops;
  // An S1 detector's NMS and what follows it (detect/nms_tail.h): set when
  // the file's graph runs NonMaxSuppression; `graph`'s one output then packs
  // the tensors the tail reads.
  std::optional<detect::TailGraph> detection_tail;
  // What the importer rewrote while translating (tail removed, legacy op
  // rewritten, nodes re-ordered...), one human sentence each.
  std::vector<std::string> rewrites;
};

// A file a model needs beside its main file (SavedModel variables/, TF.js
// weight shards), read by model/package.cc.
struct CompanionFile {
  std::string rel;    // relative to the model file's folder, '/'-separated
  std::string label;  // names it in messages
  std::vector<uint8_t> bytes;
};

// `file_label` names the file in error messages (a path or "export.zip:app/model.pb").
Result<ImportedModel> ImportOnnx(std::span<const uint8_t> bytes, const std::string& file_label);
Result<ImportedModel> ImportTensorFlow(std::span<const uint8_t> bytes, const std::string& file_label);
Result<ImportedModel> ImportTflite(std::span<const uint8_t> bytes, const std::string& file_label);
// saved_model.pb with its variables/variables.index (a TensorBundle: an
// SSTable of BundleEntryProto) and variables/variables.data-NNNNN-of-NNNNN
// among `companions`: the serving signature's graph, variables frozen to
// constants (model/tf_saved_model.cc).
Result<ImportedModel> ImportSavedModel(std::span<const uint8_t> bytes, const std::string& file_label,
                                       const std::vector<CompanionFile>& companions);
// A TF.js graph model (model.json) with the weight files its weightsManifest
// lists among `companions` (model/tfjs_importer.cc).
Result<ImportedModel> ImportTfjs(std::span<const uint8_t> bytes, const std::string& file_label,
                                 const std::vector<CompanionFile>& companions);
// The weight files model.json's weightsManifest lists, in order (for the
// package reader; the importer checks them again).
Result<std::vector<std::string>> TfjsWeightPaths(std::span<const uint8_t> bytes,
                                                 const std::string& file_label);

}  // namespace edgevision::model
