// The NMS tail of an S1 ("General (compact) [S1]", SSD-style) detector graph:
// the integer and index work after the network, run here on the CPU.
//
// An S1 graph ends in NonMaxSuppression and the ops that pick the selected
// rows (Gather, GatherND, Squeeze, Cast...), on int64 as well as float
// tensors. The engine runs float32 networks only, so the ONNX importer
// splits the graph (model/onnx_importer.cc, SplitDetectionTail): the network
// up to the tensors NMS reads (the "boundary": boxes and scores) becomes the
// engine graph, whose one output packs the boundary tensors one after the
// other; the rest becomes a TailGraph, evaluated here per request on the
// unpacked boundary. Shapes are the file's (ONNX order, row-major).
//
// Ops (ONNX semantics, the subset S1 graphs and their converters use):
// NonMaxSuppression (as ONNX Runtime implements it: candidates with
// score > score_threshold, highest score first, ties by lower box index,
// suppressed when IoU > iou_threshold), Gather, GatherND (batch_dims 0),
// Squeeze, Unsqueeze, Reshape, Flatten, Concat, Slice, Transpose, Cast,
// Identity, Shape, TopK. Anything else is refused at load (CheckTail).
// The TensorFlow importers translate TensorFlow's tail ops into these
// (model/tf_detection_tail.cc). A NonMaxSuppression node with the int
// attribute kTensorFlowNmsAttr = 1 takes TensorFlow's IOU (0 for a box
// without area) and suppresses when IOU >= iou_threshold, but keeps ONNX
// Runtime's order (ties by lower index); the importers no longer emit it:
// TensorFlow's NonMaxSuppressionV2..V5 all run TensorFlow's kernel, below.
// The TFLite importer (model/tflite_detection_tail.cc) keeps TFLite's NMS
// as its own op, kTfliteNmsOp: TFLite's reference kernel
// (kernels/internal/reference/non_max_suppression.h, NON_MAX_SUPPRESSION_V4
// and V5 with soft_nms_sigma 0): boxes [N,4], scores [N], max_output_size,
// iou_threshold, score_threshold -> selected_indices [max_output_size]
// padded with 0, selected_scores [max_output_size] padded with 0, and the
// count of valid ones (a scalar); candidates with score > score_threshold
// popped from a std::priority_queue over a std::deque ordered by score
// alone (its tie order is the standard library's heap's, as in TFLite),
// suppressed when IOU >= iou_threshold. A Slice with the int attribute
// kTfliteSliceSizeAttr = 1 reads input 2 as TFLite's `size` (-1: to the
// end) instead of ONNX's `ends`. The same op with kTensorFlowNmsAttr = 1 is
// TensorFlow's NonMaxSuppressionV2..V5 kernel (TF 2.0's DoNonMaxSuppressionOp,
// which every version calls and TFLite's reference kernel copies: the same
// score-only std::priority_queue over a std::deque, pushed in index order),
// which the TensorFlow importer uses for every version (unpadded outputs are
// Sliced to the count; V2 gets the lowest float as its score threshold); it
// differs only in stopping after max_output_size selections rather than
// min(candidates, max_output_size).
// kTensorFlowCombinedNmsOp is TensorFlow's CombinedNonMaxSuppression
// (detect/combined_nms.h): boxes [B,N,q,4], scores [B,N,C],
// max_output_size_per_class, max_total_size, iou_threshold, score_threshold,
// int attributes pad_per_class (default 0) and clip_boxes (default 1) ->
// boxes [B,P,4], scores [B,P], classes [B,P] (float), valid_detections [B].
//
// Thread-safety: a TailGraph is a plain value; RunTail is a pure function.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace edgevision::detect {

// Named limit: the most elements one tail tensor may hold (an S1 graph's
// largest is its candidate box list, a few thousand rows of 4).
inline constexpr int64_t kMaxTailTensorElements = int64_t{1} << 24;

// See above: NonMaxSuppression with TensorFlow's rules.
inline constexpr const char* kTensorFlowNmsAttr = "edgevision_tensorflow_nms";
// See above: TFLite's NON_MAX_SUPPRESSION_V4/V5, and SLICE's size operand.
inline constexpr const char* kTfliteNmsOp = "TFLiteNonMaxSuppression";
inline constexpr const char* kTfliteSliceSizeAttr = "edgevision_tflite_size";
// See above: TensorFlow's CombinedNonMaxSuppression.
inline constexpr const char* kTensorFlowCombinedNmsOp = "TensorFlowCombinedNonMaxSuppression";

// A float32 or int64 tensor, row-major in `shape`.
struct TailTensor {
  bool is_int = false;
  std::vector<int64_t> shape;
  std::vector<float> f;
  std::vector<int64_t> i;

  int64_t size() const { return is_int ? static_cast<int64_t>(i.size()) : static_cast<int64_t>(f.size()); }
};

struct TailNode {
  std::string op;    // ONNX op_type
  std::string name;  // for messages
  std::vector<std::string> inputs;  // "" for an absent optional input
  std::vector<std::string> outputs;
  std::map<std::string, std::vector<int64_t>> ints;  // INT and INTS attributes
  std::map<std::string, float> floats;               // FLOAT attributes
};

// A slice of the engine's packed output: boundary tensor `name`, `shape`
// (float32), starting at float `offset`.
struct TailInput {
  std::string name;
  std::vector<int64_t> shape;
  size_t offset = 0;
  // The model holds this tensor as float16 (ONNX Float16): RunTail rounds
  // the engine's float32 values to halves (core/half.h) as it reads them.
  bool float16 = false;
};

struct TailGraph {
  std::vector<TailInput> inputs;
  std::map<std::string, TailTensor> constants;
  std::vector<TailNode> nodes;  // topological order
  std::vector<std::string> outputs;

  size_t packed_size() const;  // floats the engine's output holds
};

// TensorFlow's IOU (core/kernels/non_max_suppression_op.cc, TF 2.0): boxes
// [y1, x1, y2, x2] with corners in either order; 0 when either box has no
// area.
float TensorFlowIou(const float* a, const float* b);

// OK when every op is one RunTail evaluates and every node input is a
// boundary tensor, a constant or an earlier node's output; else Unsupported
// naming the node and op.
Status CheckTail(const TailGraph& tail);

// Evaluates the tail on the engine's packed output. Returns the graph's
// outputs by name. Errors: InvalidArgument for a packed size or an index
// out of range, shapes that disagree, or a tensor past kMaxTailTensorElements.
Result<std::map<std::string, TailTensor>> RunTail(const TailGraph& tail, std::span<const float> packed);

}  // namespace edgevision::detect
