// Internals of the ONNX importer, shared by its parts (private to model/):
//   onnx_importer.cc            set-up: attributes, inputs and outputs, IR
//                               building, header, initializers, input, node
//                               order, classifier tail, dispatch, Run
//   onnx_tensor.cc              TensorProto decoding, constant tensor operations
//   onnx_fold.cc                constant evaluation at import, a table keyed by op
//   onnx_translate_spatial.cc   Conv, pooling, padding, BatchNormalization, ImageScaler
//   onnx_translate_tensor.cc    element-wise, shape, matrix and constant ops
//   onnx_float16.cc             where ONNX Runtime stores a float16 model's tensors as float16
//   onnx_float16_rounding.cc    rounding an OnnxFloat16 model's tensors there: HoldsFloat16,
//                               PlanFloat16Rounding, RoundOutputs
// onnx_importer.cc's opening comment explains the translation as a whole.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"
#include "model/import_common.h"
#include "model/importer.h"

namespace edgevision::model::onnx_import {

using graph::DataType;
using graph::Graph;
using graph::kNoValue;
using graph::Node;
using graph::Op;
using graph::PayloadSize;
using graph::Shape;
using graph::ShapeToString;
using graph::Value;
using graph::ValueId;

// ---- named limits -----------------------------------------------------------

// Most nodes / initializers / graph inputs a file may have. Custom Vision
// models have a few hundred nodes.
inline constexpr int kMaxOnnxNodes = 20000;
inline constexpr int kMaxOnnxInitializers = 100000;
inline constexpr int kMaxOnnxGraphInputs = 100000;
// Most elements a list attribute (pads, strides, labels...) may hold.
inline constexpr int kMaxAttrElements = 100000;
// Bound for kernel sizes, strides, dilations and pads (graph/limits.h).
inline constexpr int64_t kMaxWindow = graph::kMaxWindow;
// Largest tensor the importer creates while evaluating constant sub-graphs
// (Gather, Slice, ConstantOfShape, broadcasts...); all of them together are
// bounded by kMaxImportExpansionElements (model/import_common.h).
inline constexpr int64_t kMaxFoldedElements = kMaxImportExpansionElements;
// The height/width a symbolic input dimension is imported at: the compact
// detector's declared size (reports show [?, 416, 416, 3]); a multiple of 32.
inline constexpr int64_t kSymbolicImportSide = 416;
// Most metadata_props entries kept.
inline constexpr int kMaxMetadataEntries = 1000;

inline constexpr float kInf = std::numeric_limits<float>::infinity();

// ---- TensorProto decoding and constant operations (onnx_tensor.cc) ----------

// "float", "int64", ... for messages.
std::string OnnxTypeName(int t);
// FLOAT, FLOAT16, DOUBLE or BFLOAT16.
bool IsFloatType(int t);
// Decodes a TensorProto into a Value in ONNX layout: floating types become
// float32, integer and bool types int64, strings strings. The declared shape
// is checked against the data present before anything is allocated. `f16`
// counts float16/bfloat16 tensors converted.
Result<Value> DecodeTensor(const onnx::TensorProto& t, const std::string& what, int* f16);
// A Value of `src`'s type whose element i is src's element index[i].
Value Gathered(const Value& src, const std::vector<int64_t>& index, Shape shape);
// Transposes a constant by `perm` (output axis i = input axis perm[i]).
Value TransposeValue(const Value& src, const std::vector<int64_t>& perm);
// Numpy broadcasting of two int64 tensors by Add, Sub, Mul or Div.
Result<Value> BroadcastInt(Op op, const Value& a, const Value& b, const std::string& what);
// Normalises an axis of a rank-`rank` tensor; -1 when out of range.
int64_t NormAxis(int64_t axis, int64_t rank);
// ONNX Reshape target resolution: 0 copies the input dimension (unless
// allowzero), one -1 is inferred.
Result<Shape> ResolveReshape(const Shape& in, const std::vector<int64_t>& target, bool allowzero,
                             const std::string& what);

// ---- layouts ----------------------------------------------------------------

// NHWC <-> NCHW helpers for 4-D shapes.
inline Shape NhwcToNchw(const Shape& s) {
  return {s[0], s[3], s[1], s[2]};
}
inline Shape NchwToNhwc(const Shape& s) {
  return {s[0], s[2], s[3], s[1]};
}
// IR axis of ONNX axis k of a 4-D tensor.
inline constexpr int64_t kNchwToNhwcAxis[4] = {0, 3, 1, 2};
// ONNX axis of IR axis m of a 4-D tensor.
inline constexpr int64_t kNhwcToNchwAxis[4] = {0, 2, 3, 1};
// NHWC and NCHW store a 4-D tensor's elements in the same order exactly when
// C == 1 or H*W == 1.
inline bool SameOrder(const Shape& nhwc) {
  return nhwc[3] == 1 || nhwc[1] * nhwc[2] == 1;
}

// ---- the importer -----------------------------------------------------------

// An ONNX tensor as the importer knows it: a constant in ONNX layout, or an
// IR activation (4-D activations are NHWC).
struct OnnxTensor {
  bool is_const = false;
  Value c;
  ValueId id = kNoValue;
};

// Translates one ModelProto; one instance per import, not thread-safe.
// Members are defined across the files listed at the top of this header.
class Importer {
 public:
  // Run() empties the initializers' payloads as it decodes them (a decoded
  // copy beside the file's raised the load-time peak by the weights' size).
  Importer(onnx::ModelProto& model, std::string label)
      : model_(model), label_(std::move(label)) {}
  Importer(const Importer&) = delete;
  Importer& operator=(const Importer&) = delete;

  Result<ImportedModel> Run();

 private:
  using Translator = Status (Importer::*)();

  // Set-up steps.
  Status ReadHeader();
  Status ReadInitializers();
  Status ReadInput();
  // Fills declared_types_.
  void ReadDeclaredTypes();
  Result<std::vector<const onnx::NodeProto*>> SortNodes();
  Result<std::vector<const onnx::NodeProto*>> CutTail(
      const std::vector<const onnx::NodeProto*>& nodes);
  Status TranslateNode(const onnx::NodeProto& node);
  // The nodes the tensors `names` are computed from.
  std::set<const onnx::NodeProto*> Ancestors(const std::vector<std::string>& names) const;

  // S1 detectors (onnx_detection_tail.cc): a graph with NonMaxSuppression is
  // split there; the head is translated, the tail kept as a TailGraph.
  static bool HasNms(const std::vector<const onnx::NodeProto*>& nodes);
  Result<std::vector<const onnx::NodeProto*>> SplitDetectionTail(
      const std::vector<const onnx::NodeProto*>& nodes);
  // After the head is translated: packs the boundary into the one output.
  Status PackDetectionBoundary();
  // Whether tensor `name` holds float16 values (OnnxFloat16 exports): its
  // element type is FLOAT16 (declared, or that of the Cast or first-input
  // chain that computes it), or it is a Cast to float of such a tensor.
  // Needs declared_types_ and producers_ (SortNodes).
  bool HoldsFloat16(const std::string& name);
  // OnnxFloat16: rounds to half where ONNX Runtime stores float16
  // (onnx_float16.h): the input now, the outputs of `float16_rounding_`'s
  // nodes as they are translated (RoundOutputs).
  void PlanFloat16Rounding();
  void RoundOutputs(const onnx::NodeProto& node);
  ValueId RoundHalf(ValueId v, const std::string& name);

  // Errors about the current node.
  std::string Where() const;
  Status Bad(const std::string& why) const { return Corrupt(Where() + ": " + why); }
  Status Unsup(const std::string& why) const { return Unsupported(Where() + ": " + why); }
  Status Context(const Status& s) const {
    return s.ok() || node_ == nullptr ? s : s.WithContext(Where());
  }

  // Attributes of the current node.
  const onnx::AttributeProto* Attr(const std::string& name) const;
  Result<int64_t> Int(const std::string& name, int64_t def) const;
  Result<int> BoundedInt(const std::string& name, int64_t def, int64_t lo, int64_t hi) const;
  Result<float> Float(const std::string& name, float def) const;
  Result<std::string> Str(const std::string& name, const std::string& def) const;
  Result<std::vector<int64_t>> Ints(const std::string& name) const;
  Result<std::vector<float>> Floats(const std::string& name) const;
  Result<std::vector<std::string>> Strings(const std::string& name) const;

  // Inputs and outputs of the current node.
  bool Has(int i) const { return i < node_->input_size() && !node_->input(i).empty(); }
  Result<const OnnxTensor*> In(int i) const;
  Result<const Value*> ConstIn(int i, const std::string& role) const;
  Result<std::vector<int64_t>> ConstInts(int i, const std::string& role) const;
  Result<ValueId> Act(int i);
  bool OutputUsed(int k) const;
  Status DefineAct(int k, ValueId id);
  Status DefineConst(int k, Value v);

  // IR building.
  Shape IrShape(ValueId id) const { return out_.graph.values[id].shape; }
  Shape OnnxShape(const OnnxTensor& t) const;
  std::string OutName(int k = 0) const { return node_->output(k); }
  Result<ValueId> Emit(Op op, std::vector<ValueId> inputs, graph::Attrs attrs,
                       const std::string& out_name);
  ValueId AddFloatConst(const std::string& name, Shape shape, std::vector<float> data);
  Result<ValueId> ConstToIr(const Value& c, size_t out_rank, const std::string& name,
                            bool keep_rank = false);
  Result<ValueId> Operand(const OnnxTensor& t, size_t out_rank, const std::string& name,
                          bool keep_rank = false);
  Result<ValueId> ReshapeOnnx(ValueId v, const Shape& onnx_target, const std::string& out_name);

  // Constant evaluation in ONNX layout (onnx_fold.cc); TryFold returns false
  // when the node is not one it evaluates or an input is not constant.
  Result<bool> TryFold();
  Result<const Value*> FoldInput(int i) const;
  Result<Value> FoldIdentity();
  Result<Value> FoldShape();
  Result<Value> FoldCast();
  Result<Value> FoldReshapeLike();
  Result<Value> FoldTranspose();
  Result<Value> FoldConcat();
  Result<Value> FoldGather();
  Result<Value> FoldSlice();
  struct SliceBounds {
    std::vector<int64_t> begin, step;
    Shape out_shape;
  };
  Result<SliceBounds> SliceArgs(const Shape& shape) const;
  Result<Value> FoldConstantOfShape();
  Result<Value> FoldUnary();
  Result<Value> FoldBinary();
  // What TryFold evaluates, keyed by op (onnx_fold.cc).
  struct FoldRule;
  static const std::map<std::string, FoldRule>& FoldRules();

  // Translators, one per ONNX op (or family).
  Status Conv();
  Status Pool();
  Status GlobalPool();
  Status LegacyPadding();
  Status PadOp();
  Status BatchNormalization();
  Status ImageScaler();
  Status Unary();
  Status Clip();
  Status MinMax();
  Status HardSigmoid();
  Status Softmax();
  Status Binary();
  Status Sum();
  Status Concat();
  Status ReshapeLike();
  Status Transpose();
  Status SliceOp();
  Status SplitOp();
  Status ReduceMean();
  Status Gemm();
  Status FC();
  Status MatMul();
  Status Constant();
  Status Cast();
  Status Tail();

  // Translation helpers.
  // Axes of Squeeze/Unsqueeze: input `input_index` from opset 13, else the attribute.
  Result<std::vector<int64_t>> Axes(int input_index) const;
  Result<Shape> ReshapeTarget(const Shape& s) const;
  Result<std::vector<int64_t>> Perm(int64_t rank) const;
  Result<std::vector<int64_t>> Window2(const std::string& name, int64_t def, int64_t lo) const;
  Status SamePads(const std::string& auto_pad, const Shape& nchw, const std::vector<int64_t>& k,
                  const std::vector<int64_t>& s, const std::vector<int64_t>& d,
                  std::vector<int64_t>* pads) const;
  Result<ValueId> FullyConnected(ValueId x, Value w_ok, const Value* bias, float beta);

  onnx::ModelProto& model_;
  std::string label_;
  std::map<std::string, int64_t> opsets_;
  int64_t opset_ = 1;
  ImportedModel out_;
  std::unordered_map<std::string, OnnxTensor> tensors_;
  std::unordered_map<std::string, std::vector<const onnx::NodeProto*>> consumers_;
  std::unordered_map<std::string, const onnx::NodeProto*> producers_;
  std::string input_name_;
  std::string score_name_;
  std::vector<const onnx::NodeProto*> tail_nodes_;  // S1: NonMaxSuppression and after
  std::vector<std::string> boundary_;               // S1: what the tail reads from the head
  const onnx::NodeProto* node_ = nullptr;
  std::string op_;  // "Conv", "com.microsoft.LegacyPadding"

  // Elements created by folding, beyond what the file stores.
  ExpansionBudget expansion_;

  // Rewrite bookkeeping (turned into sentences at the end).
  std::map<std::string, int> folded_ops_;
  int float16_tensors_ = 0;
  // Element type of every declared tensor (inputs, value_info, outputs,
  // initializers; ReadDeclaredTypes).
  std::map<std::string, int> declared_types_;
  // HoldsFloat16's answers so far, for every tensor on the chains it walked.
  std::unordered_map<std::string, bool> float16_;
  std::set<const onnx::NodeProto*> float16_rounding_;
  int rounded_inputs_ = 0;   // model inputs rounded to half (0 or 1)
  int rounded_nodes_ = 0;    // nodes whose outputs are rounded to half
  int float_casts_ = 0;
  int legacy_broadcasts_ = 0;
  int fused_hardswish_ = 0;
  int ceil_pools_ = 0;
  int layout_transposes_ = 0;
  int fc_ops_ = 0;
  std::vector<std::string> legacy_padding_;
  std::vector<std::string> notes_;
  std::set<std::string> hardsigmoid_fused_;  // HardSigmoid outputs read by a HardSwish Mul
};

}  // namespace edgevision::model::onnx_import
