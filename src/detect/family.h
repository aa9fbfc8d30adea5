// Which detector family an export is, and the post-processing parameters
// its side files set.
//
// Evidence, strongest first:
//   1. the model's outputs: three (detected_boxes / detected_scores /
//      detected_classes, or any three, as Microsoft's TF.js runtime counts
//      them) mean [S1]/SSD; one means compact/YOLO;
//   2. metadata_properties.json's CustomVision.Postprocess.Method ("Yolo" or
//      "SSD"), written by every export since 2020 alongside the manifest's
//      DomainType "ObjectDetection".
// When both are known and disagree, the model wins and a warning says so.
//
// Thread-safety: pure functions.
#pragma once

#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "detect/detection.h"

namespace edgevision::detect {

inline constexpr const char* kPostprocessMethodKey = "CustomVision.Postprocess.Method";
inline constexpr const char* kYoloBiasesKey = "CustomVision.Postprocess.Yolo.Biases";
inline constexpr const char* kYoloNmsThresholdKey = "CustomVision.Postprocess.Yolo.NmsThreshold";

struct FamilyDecision {
  DetectorFamily family = DetectorFamily::kYolo;
  std::string evidence;               // e.g. "metadata CustomVision.Postprocess.Method = Yolo"
  std::vector<std::string> warnings;  // e.g. metadata contradicting the outputs
};

// `metadata`: metadata_properties.json (and the model's own metadata), may be
// empty. `output_names`: the model's outputs (":0" suffixes allowed), empty
// when the model was not read.
// Errors: InvalidArgument when the metadata names a non-detection method
// (e.g. ClassificationMultiClass) and no outputs say otherwise, or an unknown
// method; Unsupported when nothing tells the family (no metadata and no
// outputs, or an output count that is neither 1 nor 3).
Result<FamilyDecision> DetectFamily(const std::map<std::string, std::string>& metadata,
                                    std::span<const std::string> output_names);

// "General (compact), YOLO-style" / "General (compact) [S1], SSD-style".
std::string FamilyDisplayName(DetectorFamily family);

// The compact (YOLO) post-processing parameters: the container's defaults,
// then the metadata's anchors and NMS threshold when present.
//   - Yolo.Biases "[w0, h0, w1, h1, ...]" sets the anchors, except that the
//     set every real export carries (kMetadataAnchors) is replaced by the
//     container's rounded copy (kContainerAnchors), because the shipped code
//     uses those and parity with it is the goal; "[]" keeps the defaults.
//   - Yolo.NmsThreshold sets the IoU threshold when it is in (0, 1]; "0.0"
//     (what S1 exports write) keeps the default.
// `notes` (optional) receives one sentence per decision.
// Errors: InvalidArgument naming the key when a value cannot be parsed.
Result<YoloParams> YoloParamsFromMetadata(const std::map<std::string, std::string>& metadata,
                                          std::vector<std::string>* notes = nullptr);

}  // namespace edgevision::detect
