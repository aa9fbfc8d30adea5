// The TensorFlow GraphDef importer's internals, shared by its translation
// units (not part of the model module's interface: model/importer.h and
// model/tf_graph_import.h are):
//   tf_importer.cc           the graph walk (which nodes the output needs, in
//                            what order), op dispatch, generation, entries;
//   tf_import_values.cc      attributes, constants (tensor_content, value
//                            lists, float16), values and nodes of the IR;
//   tf_translate_spatial.cc  Placeholder, Conv2D/DepthwiseConv2dNative,
//                            pooling, MatMul, BiasAdd, batch norm, Pad;
//   tf_translate_tensor.cc   element-wise ops, Concat, Reshape, Transpose,
//                            Slice, Squeeze, Mean.
//
// Thread-safety: one TfImporter per import; the free functions are pure.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "detect/nms_tail.h"
#include "graph/graph.h"
#include "model/import_common.h"
#include "model/importer.h"
#include "model/schemas/tf_graph.pb.h"
#include "model/tf_graph_import.h"

namespace edgevision::model::tf_import {

namespace tf = ::edgevision::tf;
using graph::Op;
using graph::Shape;
using graph::ShapeToString;
using graph::ValueId;

// Limits (hostile files) are the shared ones (model/import_common.h,
// graph/limits.h): a GraphDef over kMaxModelFileBytes is refused before
// parsing; one constant holds at most graph::kMaxTensorElements elements in at
// most graph::kMaxRank dimensions, and its value list must fill it unless the
// repeated tail stays within the import's expansion budget; windows, strides,
// dilations and pads above graph::kMaxWindow are corrupt; an input image
// beyond graph::kMaxInputSide / kMaxInputChannels is Unsupported.
constexpr int64_t kMaxConstElements = graph::kMaxTensorElements;
constexpr int64_t kMaxWindow = graph::kMaxWindow;
constexpr int kMaxRank = static_cast<int>(graph::kMaxRank);
constexpr int kMaxOutputIndex = 1 << 16;

// A reference to one output of a node: "name", "name:k" or "^name" (control).
struct InputRef {
  int node = -1;
  int index = 0;
};

// Identity, StopGradient, PlaceholderWithDefault: pass their input through.
bool IsIdentityLike(const std::string& op);
// Ops we translate. Everything else is Unsupported.
const std::set<std::string, std::less<>>& SupportedOps();
// Inputs read as attributes (must be constant), per op.
bool IsAttributeInput(const std::string& op, int index, int num_inputs);

// Translates one frozen GraphDef (see tf_importer.cc).
class TfImporter {
 public:
  TfImporter(const tf::GraphDef& def, const std::string& label, const TfGraphOptions& options)
      : def_(def), label_(label), options_(options) {}

  Result<ImportedModel> Run();

 private:
  const tf::NodeDef& Node(int i) const { return def_.node(i); }

  std::string Where(const tf::NodeDef& n) const {
    return label_ + ": node '" + n.name() + "' (" + n.op() + ")";
  }
  Status CorruptAt(const tf::NodeDef& n, const std::string& why) const {
    return Corrupt(Where(n) + ": " + why);
  }
  Status UnsupportedAt(const tf::NodeDef& n, const std::string& why) const {
    return Unsupported(Where(n) + ": " + why);
  }

  Status IndexNodes();
  Result<int> FindOutputNode() const;
  // Depth-first from the outputs; post-order is topological.
  Result<std::vector<int>> OrderNeededNodes(const std::vector<int>& outputs);
  std::optional<int> ResolveConstNode(InputRef ref) const;

  // Attributes.
  const tf::AttrValue* FindAttr(const tf::NodeDef& n, const std::string& name) const;
  Result<std::string> StringAttr(const tf::NodeDef& n, const std::string& name,
                                 std::optional<std::string> fallback) const;
  Result<std::vector<int64_t>> IntListAttr(const tf::NodeDef& n, const std::string& name,
                                           std::optional<std::vector<int64_t>> fallback) const;
  Result<bool> BoolAttr(const tf::NodeDef& n, const std::string& name, bool fallback) const;
  Result<float> FloatAttr(const tf::NodeDef& n, const std::string& name, float fallback) const;
  Status CheckFloatType(const tf::NodeDef& n, const char* attr = "T") const;
  Status CheckNhwc(const tf::NodeDef& n) const;

  Result<ConstTensor> ReadConst(int const_node) const;
  Result<int> ConstInputNode(int node_index, int input) const;
  Result<ConstTensor> ConstInput(int node_index, int input) const;

  // Values.
  Result<ValueId> ValueOf(int node_index, int input);
  Result<ValueId> ConstantValue(int const_node);
  ValueId NewActivation(const std::string& name, std::optional<Shape> shape);
  // A copy: graph_.values grows while translating.
  std::optional<Shape> KnownShape(ValueId id) const {
    return shape_known_[id] ? std::optional<Shape>(graph_.values[id].shape) : std::nullopt;
  }
  void SetOutput(int node, ValueId id) { produced_[{node, 0}] = id; }
  void AddNode(Op op, const tf::NodeDef& n, std::vector<ValueId> inputs, ValueId output,
               graph::Attrs attrs = {});

  Status Translate(int node_index);
  Status TranslatePlaceholder(int node_index);
  Status TranslateConv(int node_index, bool depthwise);
  Status TranslatePool(int node_index, bool max);
  Status TranslateMatMul(int node_index);
  Status TranslateBiasAdd(int node_index);
  Status TranslateBinary(int node_index, Op op);
  Status TranslateUnary(int node_index, Op op, graph::Attrs attrs = {});
  Status TranslateConcat(int node_index);
  Status TranslateReshape(int node_index);
  Status TranslateSqueeze(int node_index);
  Status TranslateExpandDims(int node_index);
  // Node node_index's output: `x` reshaped to `target` (a static reshape).
  void ReshapeTo(int node_index, ValueId x, const Shape& target);
  Status TranslateTranspose(int node_index);
  Status TranslateSlice(int node_index);
  Status TranslateMean(int node_index);
  Status TranslateBatchNorm(int node_index);
  Status TranslatePad(int node_index);

  Result<std::vector<int>> Window(const tf::NodeDef& n, const std::string& attr,
                                  bool required) const;
  Status SpatialPads(const tf::NodeDef& n, const Shape* in, int64_t kh, int64_t kw, int sh, int sw,
                     int dh, int dw, graph::Attrs* attrs);
  void DescribeGeneration(ImportedModel* model) const;

  // The S1 split (tf_detection_tail.cc). FindDetectionTail: true when the
  // detected_* outputs come through a NonMaxSuppressionV2..V5 or a
  // CombinedNonMaxSuppression; fills
  // tail_nodes_ and boundary_. PackDetectionBoundary (after the boundary's
  // ancestors are translated): the packed engine output; fills
  // detection_tail_ and detection_rewrite_.
  Result<bool> FindDetectionTail();
  Result<ValueId> PackDetectionBoundary();
  Status TranslateTailNode(int node_index, detect::TailGraph* tail);
  std::string TensorName(InputRef ref) const;

  const tf::GraphDef& def_;
  const std::string& label_;
  const TfGraphOptions options_;

  std::unordered_map<std::string, int> by_name_;
  std::vector<std::vector<InputRef>> data_inputs_;  // per node, control inputs dropped
  std::vector<int> order_;                          // needed nodes, topological
  std::map<std::pair<int, int>, int> consumers_;    // (node, output) -> uses among needed nodes

  graph::Graph graph_;
  std::vector<bool> shape_known_;
  std::map<std::pair<int, int>, ValueId> produced_;
  std::map<int, ValueId> constants_;
  std::map<ValueId, size_t> producer_node_;  // value -> index in graph_.nodes
  int placeholder_ = -1;
  int output_node_ = -1;
  int fused_bias_ = 0;
  int same_pads_ = 0;
  // Elements created beyond the file's bytes (short value lists); ReadConst
  // is logically const, the budget is bookkeeping.
  mutable ExpansionBudget expansion_;
  mutable std::set<int> expansion_charged_;  // Const nodes already charged
  int weights_converted_ = 0;

  std::vector<int> tail_nodes_;  // topological
  std::vector<int> boundary_;    // nodes whose output 0 the tail reads
  std::optional<detect::TailGraph> detection_tail_;
  std::string detection_rewrite_;
};

}  // namespace edgevision::model::tf_import
