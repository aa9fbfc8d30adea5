// Object detection results and the post-processing parameters, as the code
// Custom Vision ships inside its detector exports defines them.
//
// Two model families exist (docs/models.md, "Object detection"):
//   - "General (compact)": a YOLOv2-style raw grid; edgevision decodes it and
//     runs the container's NMS (detect/yolo.h);
//   - "General (compact) [S1]": an SSD-style graph with NMS inside; its three
//     detected_* outputs pass through unchanged (detect/ssd.h).
// Which family an export is comes from detect/family.h.
//
// Thread-safety: plain values.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace edgevision::detect {

enum class DetectorFamily {
  kYolo,  // "General (compact)": one raw output, decoded and suppressed here
  kSsd,   // "General (compact) [S1]": detected_boxes / detected_scores / detected_classes
};

// "yolo" / "ssd".
std::string_view FamilyName(DetectorFamily family);

// A box normalised to the whole image (no crop is applied before a detector,
// so the network input and the original image share the coordinates). The
// shipped code never clips: values may be below 0 or the box may end past 1.
struct BoundingBox {
  double left = 0;
  double top = 0;
  double width = 0;
  double height = 0;
};

// One detection, unrounded; the JSON layer rounds as the container does
// (RoundLikePython).
struct Detection {
  BoundingBox box;
  float probability = 0;  // float32, as the container computes it
  int tag_index = 0;      // class index = tagId in the container's JSON
  std::string tag;        // labels[tag_index]
};

// An anchor (prior box) in grid cells: width, height.
using Anchor = std::array<double, 2>;

// The anchors the shipped object_detection.py, ObjectDetection.cs and the
// TF.js runtime hard-code (YOLOv2-VOC priors rounded to 3 digits). The
// metadata of every real export carries the unrounded values
// (kMetadataAnchors); the containers ignore them.
inline constexpr std::array<Anchor, 5> kContainerAnchors = {
    {{0.573, 0.677}, {1.87, 2.06}, {3.34, 5.47}, {7.88, 3.53}, {9.77, 9.17}}};
inline constexpr std::array<Anchor, 5> kMetadataAnchors = {{{0.57273, 0.677385},
                                                            {1.87446, 2.06253},
                                                            {3.33843, 5.47434},
                                                            {7.88282, 3.52778},
                                                            {9.77052, 9.16828}}};

// The container's post-processing constants (object_detection.py):
// ObjectDetection(labels, prob_threshold=0.10, max_detections=20), IOU_THRESHOLD = 0.45.
inline constexpr double kDefaultProbabilityThreshold = 0.10;
inline constexpr double kDefaultIouThreshold = 0.45;
inline constexpr int kDefaultMaxDetections = 20;

struct YoloParams {
  std::vector<Anchor> anchors{kContainerAnchors.begin(), kContainerAnchors.end()};
  // A candidate is kept when its best class probability is above this
  // (strictly; compared in float32 as numpy does).
  double probability_threshold = kDefaultProbabilityThreshold;
  // Boxes whose IoU with a selected box is above this lose the selected class.
  double iou_threshold = kDefaultIouThreshold;
  // At most this many detections are returned.
  int max_detections = kDefaultMaxDetections;
};

// Python's round(x, 8) on a float64: the correctly rounded decimal with 8
// digits after the point, read back as a double (what the container's
// `round(float(v), 8)` writes into its JSON). Non-finite values pass through.
double RoundLikePython(double value);

}  // namespace edgevision::detect
