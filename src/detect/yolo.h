// Post-processing of "General (compact)" (YOLOv2-style) detector outputs,
// exactly as the object_detection.py shipped in the exports and the Docker
// container does it (ObjectDetection._extract_bb, postprocess and
// _non_maximum_suppression):
//
//  1. decode every (row, column, anchor) cell: x, y = (sigmoid(t) + cell) / grid;
//     w, h = exp(t) * anchor / grid; centre -> top-left; probability of class c
//     = softmax(class logits)[c] * sigmoid(objectness), in float32 with numpy's
//     summation order;
//  2. keep the cells whose best probability is > probability_threshold, sorted
//     by it descending with numpy's argsort (an introsort: equal probabilities
//     keep numpy's order, not the input order);
//  3. repeatedly select the best remaining (box, class); every box whose IoU
//     with it is > iou_threshold, and the box itself, loses only that class
//     (a box can come back with its second class); stop at max_detections or
//     when the best remaining probability is < probability_threshold.
// Boxes are not clipped. Results are in selection order (probability,
// descending).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "detect/detection.h"

namespace edgevision::detect {

enum class GridLayout {
  kHWC,  // TensorFlow, TFLite, SavedModel: [1, H, W, A*(5+C)] (model_outputs)
  kCHW,  // ONNX: [1, A*(5+C), H, W] (model_outputs0)
};

// The raw output of a compact detector, batch dimension dropped. Channel
// a*(5+C)+k holds, for anchor a: k=0,1 tx,ty; 2,3 tw,th; 4 objectness;
// 5.. class logits.
struct YoloOutput {
  std::span<const float> data;
  int height = 0;    // grid rows
  int width = 0;     // grid columns
  int channels = 0;  // anchors * (5 + classes)
  GridLayout layout = GridLayout::kHWC;
};

// The order in which the reference adds the class exponentials of a softmax
// (np.sum over the class axis). numpy's order depends on the memory layout of
// the array the format's predict code hands to object_detection.py, so the
// same raw output gives probabilities that differ in the last float32 bit
// between formats when there are 8 or more classes:
enum class SumOrder {
  // HWC arrays (TensorFlow, TFLite, SavedModel, the Docker containers):
  // numpy's pairwise summation over the contiguous class axis.
  kNumpyPairwise,
  // ONNX: onnxruntime_predict.py transposes the CHW output without copying,
  // so numpy adds the classes one after another, left to right.
  kSequential,
};

// Named limits on what a YOLO output may be (a hostile or broken model must
// not make post-processing allocate without bound).
struct YoloLimits {
  int64_t max_cells = 1 << 22;  // height * width * anchors
  int max_classes = 4096;
};

// Decodes, filters and suppresses. `labels` names the classes; their count
// must be channels / anchors - 5 (the reference asserts the same).
// `sum_order`: the one of the format's reference (kSequential for ONNX
// exports, kNumpyPairwise for the others), whatever `output.layout` is.
// Errors: InvalidArgument when the shape does not match the data, the
// anchors or the labels, or a parameter is out of range;
// ResourceExhausted past `limits`; InvalidArgument when the model produced a
// non-finite value where one would reach the result.
Result<std::vector<Detection>> PostprocessYolo(const YoloOutput& output, const YoloParams& params,
                                               std::span<const std::string> labels, SumOrder sum_order,
                                               const YoloLimits& limits = {});

}  // namespace edgevision::detect
