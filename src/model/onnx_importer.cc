// ONNX importer: ModelProto bytes -> graph::Graph (NHWC) + what the file says.
//
// How it works, in order:
//   1. parse with Debian's libonnx protobuf classes, within named limits;
//   2. initializers become constants (kept in ONNX layout until a consumer
//      decides their IR layout); graph inputs that have an initializer are
//      constants too, the one input without is the model input;
//   3. nodes are put in topological order (old WinMLTools files are not);
//   4. the classifier tail (ZipMap / ArgMax / ArrayFeatureExtractor / label
//      Constant) is cut: the float tensor feeding ZipMap becomes the output
//      and ZipMap's labels become embedded_labels;
//   5. each remaining node is translated, NCHW -> NHWC: 4-D activations are
//      NHWC, Conv weights OIHW -> OHWI, axes remapped, per-channel constants
//      [C,1,1] -> [C]; Reshape/Flatten of 4-D tensors get a Transpose unless
//      the data order is the same in both layouts (C == 1 or H*W == 1).
//      Nodes whose inputs are all constant (shape arithmetic of torch
//      exports: Shape -> Gather -> Unsqueeze -> Concat) are evaluated here, in
//      ONNX layout, with the batch taken as 1.
// Every intermediate value gets its static shape at batch 1 while importing
// (layout decisions need sizes); only the graph input keeps batch -1.
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <queue>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "graph/broadcast.h"
#include "graph/graph.h"
#include "graph/shape_inference.h"
#include "model/import_common.h"
#include "model/importer.h"

namespace edgevision::model {

namespace {

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
constexpr int kMaxOnnxNodes = 20000;
constexpr int kMaxOnnxInitializers = 100000;
constexpr int kMaxOnnxGraphInputs = 100000;
// Most elements a list attribute (pads, strides, labels...) may hold.
constexpr int kMaxAttrElements = 100000;
// Bound for kernel sizes, strides, dilations and pads (graph/limits.h).
constexpr int64_t kMaxWindow = graph::kMaxWindow;
// Largest tensor the importer creates while evaluating constant sub-graphs
// (Gather, Slice, ConstantOfShape, broadcasts...); all of them together are
// bounded by kMaxImportExpansionElements (model/import_common.h).
constexpr int64_t kMaxFoldedElements = kMaxImportExpansionElements;
// Most metadata_props entries kept.
constexpr int kMaxMetadataEntries = 1000;

constexpr float kInf = std::numeric_limits<float>::infinity();

// ---- ONNX tensor decoding ---------------------------------------------------

// Little-endian unsigned integer of `n` bytes at `p` (raw_data is always LE).
uint64_t LoadLE(const char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

std::string OnnxTypeName(int t) {
  switch (t) {
    case onnx::TensorProto::FLOAT: return "float";
    case onnx::TensorProto::UINT8: return "uint8";
    case onnx::TensorProto::INT8: return "int8";
    case onnx::TensorProto::UINT16: return "uint16";
    case onnx::TensorProto::INT16: return "int16";
    case onnx::TensorProto::INT32: return "int32";
    case onnx::TensorProto::INT64: return "int64";
    case onnx::TensorProto::STRING: return "string";
    case onnx::TensorProto::BOOL: return "bool";
    case onnx::TensorProto::FLOAT16: return "float16";
    case onnx::TensorProto::DOUBLE: return "double";
    case onnx::TensorProto::UINT32: return "uint32";
    case onnx::TensorProto::UINT64: return "uint64";
    case onnx::TensorProto::COMPLEX64: return "complex64";
    case onnx::TensorProto::COMPLEX128: return "complex128";
    case onnx::TensorProto::BFLOAT16: return "bfloat16";
    default: return "type " + std::to_string(t);
  }
}

bool IsFloatType(int t) {
  return t == onnx::TensorProto::FLOAT || t == onnx::TensorProto::FLOAT16 ||
         t == onnx::TensorProto::DOUBLE || t == onnx::TensorProto::BFLOAT16;
}

// Decodes a TensorProto into a Value in ONNX layout: floating types become
// float32, integer and bool types int64, strings strings. The declared shape
// is checked against the data present before anything is allocated. `f16` counts
// float16/bfloat16 tensors converted.
Result<Value> DecodeTensor(const onnx::TensorProto& t, const std::string& what, int* f16) {
  Value v;
  v.name = t.name();
  v.is_constant = true;
  if (t.data_location() == onnx::TensorProto::EXTERNAL || t.external_data_size() > 0) {
    return Unsupported(what + " keeps its data in an external file");
  }
  if (t.has_segment()) return Unsupported(what + " is a segmented tensor");
  for (int64_t d : t.dims()) v.shape.push_back(d);
  EV_ASSIGN_OR_RETURN(const int64_t count, CheckedElementCount(v.shape, what));
  const size_t n = static_cast<size_t>(count);
  const int type = t.data_type();
  const std::string& raw = t.raw_data();
  const bool has_raw = !raw.empty();
  const size_t typed =
      static_cast<size_t>(t.float_data_size() + t.int32_data_size() + t.string_data_size() +
                          t.int64_data_size() + t.double_data_size() + t.uint64_data_size());
  if (has_raw && typed > 0) return Corrupt(what + " has both raw_data and typed data");
  auto check_raw = [&](size_t elem) -> Status {
    if (raw.size() != n * elem) {
      return Corrupt(what + " has " + std::to_string(raw.size()) + " bytes of raw_data but its " +
                     OnnxTypeName(type) + " shape " + ShapeToString(v.shape) + " needs " +
                     std::to_string(n * elem));
    }
    return Status::Ok();
  };
  auto check_typed = [&](size_t have, const char* field) -> Status {
    if (have != n) {
      return Corrupt(what + " has " + std::to_string(have) + " values in " + field +
                     " but its shape " + ShapeToString(v.shape) + " holds " + std::to_string(n));
    }
    return Status::Ok();
  };
  switch (type) {
    case onnx::TensorProto::FLOAT:
      if (has_raw || n == 0) {
        EV_RETURN_IF_ERROR(check_raw(4));
        v.f32.resize(n);
        for (size_t i = 0; i < n; ++i) {
          v.f32[i] = std::bit_cast<float>(static_cast<uint32_t>(LoadLE(raw.data() + 4 * i, 4)));
        }
      } else {
        EV_RETURN_IF_ERROR(check_typed(t.float_data_size(), "float_data"));
        v.f32.resize(n);
        std::copy(t.float_data().begin(), t.float_data().end(), v.f32.begin());
      }
      return v;
    case onnx::TensorProto::DOUBLE:
      if (has_raw || n == 0) {
        EV_RETURN_IF_ERROR(check_raw(8));
        v.f32.resize(n);
        for (size_t i = 0; i < n; ++i) {
          v.f32[i] = static_cast<float>(std::bit_cast<double>(LoadLE(raw.data() + 8 * i, 8)));
        }
      } else {
        EV_RETURN_IF_ERROR(check_typed(t.double_data_size(), "double_data"));
        v.f32.resize(n);
        for (size_t i = 0; i < n; ++i) v.f32[i] = static_cast<float>(t.double_data(i));
      }
      return v;
    case onnx::TensorProto::FLOAT16:
    case onnx::TensorProto::BFLOAT16: {
      auto conv = type == onnx::TensorProto::FLOAT16 ? HalfToFloat : BFloat16ToFloat;
      if (has_raw || n == 0) {
        EV_RETURN_IF_ERROR(check_raw(2));
        v.f32.resize(n);
        for (size_t i = 0; i < n; ++i) {
          v.f32[i] = conv(static_cast<uint16_t>(LoadLE(raw.data() + 2 * i, 2)));
        }
      } else {
        EV_RETURN_IF_ERROR(check_typed(t.int32_data_size(), "int32_data"));
        v.f32.resize(n);
        for (size_t i = 0; i < n; ++i) v.f32[i] = conv(static_cast<uint16_t>(t.int32_data(i)));
      }
      ++*f16;
      return v;
    }
    case onnx::TensorProto::INT64:
    case onnx::TensorProto::INT32:
    case onnx::TensorProto::INT16:
    case onnx::TensorProto::INT8:
    case onnx::TensorProto::UINT32:
    case onnx::TensorProto::UINT16:
    case onnx::TensorProto::UINT8:
    case onnx::TensorProto::UINT64:
    case onnx::TensorProto::BOOL: {
      v.dtype = DataType::kInt64;
      v.f32.clear();
      size_t bytes = 1;
      bool is_signed = false;
      switch (type) {
        case onnx::TensorProto::INT64:
          bytes = 8;
          is_signed = true;
          break;
        case onnx::TensorProto::UINT64: bytes = 8; break;
        case onnx::TensorProto::INT32:
          bytes = 4;
          is_signed = true;
          break;
        case onnx::TensorProto::UINT32: bytes = 4; break;
        case onnx::TensorProto::INT16:
          bytes = 2;
          is_signed = true;
          break;
        case onnx::TensorProto::UINT16: bytes = 2; break;
        case onnx::TensorProto::INT8:
          bytes = 1;
          is_signed = true;
          break;
        default: bytes = 1; break;  // UINT8, BOOL
      }
      if (has_raw || n == 0) {
        EV_RETURN_IF_ERROR(check_raw(bytes));
        v.i64.resize(n);
        for (size_t i = 0; i < n; ++i) {
          uint64_t u = LoadLE(raw.data() + bytes * i, bytes);
          if (is_signed && bytes < 8 && (u >> (8 * bytes - 1)) & 1u)
            u |= ~uint64_t{0} << (8 * bytes);
          v.i64[i] = static_cast<int64_t>(u);
        }
      } else if (type == onnx::TensorProto::INT64) {
        EV_RETURN_IF_ERROR(check_typed(t.int64_data_size(), "int64_data"));
        v.i64.resize(n);
        std::copy(t.int64_data().begin(), t.int64_data().end(), v.i64.begin());
      } else if (type == onnx::TensorProto::UINT32 || type == onnx::TensorProto::UINT64) {
        EV_RETURN_IF_ERROR(check_typed(t.uint64_data_size(), "uint64_data"));
        v.i64.resize(n);
        for (size_t i = 0; i < n; ++i) v.i64[i] = static_cast<int64_t>(t.uint64_data(i));
      } else {
        EV_RETURN_IF_ERROR(check_typed(t.int32_data_size(), "int32_data"));
        v.i64.resize(n);
        std::copy(t.int32_data().begin(), t.int32_data().end(), v.i64.begin());
      }
      return v;
    }
    case onnx::TensorProto::STRING:
      v.dtype = DataType::kString;
      if (has_raw) return Corrupt(what + " is a string tensor with raw_data");
      EV_RETURN_IF_ERROR(check_typed(t.string_data_size(), "string_data"));
      v.str.assign(t.string_data().begin(), t.string_data().end());
      return v;
    default: return Unsupported(what + " has element type " + OnnxTypeName(type));
  }
}

// ---- constant tensor operations (ONNX layout) -------------------------------

// A Value of `src`'s type whose element i is src's element index[i].
Value Gathered(const Value& src, const std::vector<int64_t>& index, Shape shape) {
  Value out;
  out.name = src.name;
  out.dtype = src.dtype;
  out.is_constant = true;
  out.shape = std::move(shape);
  for (int64_t i : index) {
    switch (src.dtype) {
      case DataType::kFloat32: out.f32.push_back(src.f32[i]); break;
      case DataType::kInt64: out.i64.push_back(src.i64[i]); break;
      case DataType::kString: out.str.push_back(src.str[i]); break;
    }
  }
  return out;
}

// Transposes a constant by `perm` (output axis i = input axis perm[i]).
Value TransposeValue(const Value& src, const std::vector<int64_t>& perm) {
  const size_t r = src.shape.size();
  Shape out_shape(r);
  for (size_t i = 0; i < r; ++i) out_shape[i] = src.shape[perm[i]];
  const std::vector<int64_t> st = graph::RowMajorStrides(src.shape);
  std::vector<int64_t> step(r);
  for (size_t i = 0; i < r; ++i) step[i] = st[perm[i]];
  Value out;
  out.name = src.name;
  out.dtype = src.dtype;
  out.is_constant = true;
  out.shape = out_shape;
  const int64_t n = graph::ShapeProduct(out_shape);
  if (src.dtype == DataType::kFloat32) out.f32.resize(n);
  std::vector<int64_t> idx(r, 0);
  int64_t s = 0;
  for (int64_t o = 0; o < n; ++o) {
    switch (src.dtype) {
      case DataType::kFloat32: out.f32[o] = src.f32[s]; break;
      case DataType::kInt64: out.i64.push_back(src.i64[s]); break;
      case DataType::kString: out.str.push_back(src.str[s]); break;
    }
    for (size_t d = r; d-- > 0;) {
      s += step[d];
      if (++idx[d] < out_shape[d]) break;
      s -= step[d] * idx[d];
      idx[d] = 0;
    }
  }
  return out;
}

// Numpy broadcasting of two int64 tensors.
Result<Value> BroadcastInt(Op op, const Value& a, const Value& b, const std::string& what) {
  EV_ASSIGN_OR_RETURN(Shape out_shape, graph::BroadcastShape(a.shape, b.shape));
  const int64_t n = graph::ShapeProduct(out_shape);
  if (n > kMaxFoldedElements) return ResourceExhausted(what + ": folded tensor is too large");
  const size_t r = out_shape.size();
  auto strides_for = [&](const Shape& s) {
    std::vector<int64_t> st(r, 0);
    int64_t acc = 1;
    for (size_t i = 0; i < s.size(); ++i) {
      const size_t d = s.size() - 1 - i;
      st[r - 1 - i] = s[d] == 1 ? 0 : acc;
      acc *= s[d];
    }
    return st;
  };
  const std::vector<int64_t> sa = strides_for(a.shape), sb = strides_for(b.shape);
  Value out;
  out.dtype = DataType::kInt64;
  out.is_constant = true;
  out.shape = out_shape;
  std::vector<int64_t> idx(r, 0);
  for (int64_t o = 0; o < n; ++o) {
    int64_t ia = 0, ib = 0;
    for (size_t d = 0; d < r; ++d) {
      ia += idx[d] * sa[d];
      ib += idx[d] * sb[d];
    }
    const int64_t x = a.i64[ia], y = b.i64[ib];
    int64_t z = 0;
    switch (op) {
      case Op::kAdd:
        z = static_cast<int64_t>(static_cast<uint64_t>(x) + static_cast<uint64_t>(y));
        break;
      case Op::kSub:
        z = static_cast<int64_t>(static_cast<uint64_t>(x) - static_cast<uint64_t>(y));
        break;
      case Op::kMul:
        z = static_cast<int64_t>(static_cast<uint64_t>(x) * static_cast<uint64_t>(y));
        break;
      default:
        if (y == 0 || (x == INT64_MIN && y == -1))
          return Corrupt(what + ": integer division by zero");
        z = x / y;
        break;
    }
    out.i64.push_back(z);
    for (size_t d = r; d-- > 0;) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

// Normalises an axis of a rank-`rank` tensor; -1 when out of range.
int64_t NormAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) return -1;
  return axis < 0 ? axis + rank : axis;
}

// ONNX Reshape target resolution: 0 copies the input dimension (unless
// allowzero), one -1 is inferred.
Result<Shape> ResolveReshape(const Shape& in, const std::vector<int64_t>& target, bool allowzero,
                             const std::string& what) {
  Shape out(target.begin(), target.end());
  int unknown = -1;
  int64_t known = 1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 0 && !allowzero) {
      if (i >= in.size())
        return Corrupt(what + ": target " + ShapeToString(target) + " copies a missing dimension");
      out[i] = in[i];
    }
    if (out[i] == -1) {
      if (unknown >= 0) return Corrupt(what + ": target " + ShapeToString(target) + " has two -1");
      unknown = static_cast<int>(i);
      continue;
    }
    if (out[i] <= 0 || known > graph::kMaxTensorElements / out[i]) {
      return Corrupt(what + ": target shape " + ShapeToString(target) + " is invalid");
    }
    known *= out[i];
  }
  const int64_t count = graph::ShapeProduct(in);
  if (unknown >= 0) {
    if (known == 0 || count % known != 0) {
      return Corrupt(what + ": cannot reshape " + ShapeToString(in) + " to " +
                     ShapeToString(target));
    }
    out[unknown] = count / known;
  } else if (known != count) {
    return Corrupt(what + ": cannot reshape " + ShapeToString(in) + " to " + ShapeToString(target));
  }
  return out;
}

// NHWC <-> NCHW helpers for 4-D shapes.
Shape NhwcToNchw(const Shape& s) {
  return {s[0], s[3], s[1], s[2]};
}
Shape NchwToNhwc(const Shape& s) {
  return {s[0], s[2], s[3], s[1]};
}
// IR axis of ONNX axis k of a 4-D tensor.
constexpr int64_t kNchwToNhwcAxis[4] = {0, 3, 1, 2};
// ONNX axis of IR axis m of a 4-D tensor.
constexpr int64_t kNhwcToNchwAxis[4] = {0, 2, 3, 1};
// NHWC and NCHW store a 4-D tensor's elements in the same order exactly when
// C == 1 or H*W == 1.
bool SameOrder(const Shape& nhwc) {
  return nhwc[3] == 1 || nhwc[1] * nhwc[2] == 1;
}

std::string GenerationOf(const std::string& producer, int64_t opset) {
  static const std::map<int64_t, std::string> kRelease = {
      {1, "1.0"},   {2, "1.0"},   {3, "1.0"},   {4, "1.1"},   {5, "1.1"},   {6, "1.1.2"},
      {7, "1.2"},   {8, "1.3"},   {9, "1.4"},   {10, "1.5"},  {11, "1.6"},  {12, "1.7"},
      {13, "1.8"},  {14, "1.9"},  {15, "1.10"}, {16, "1.11"}, {17, "1.12"}, {18, "1.13"},
      {19, "1.14"}, {20, "1.15"}, {21, "1.16"}};
  if (producer == "WinMLTools" && opset <= 3) return "WinMLTools 2018 (ONNX 1.0)";
  auto it = kRelease.find(opset);
  if ((producer == "OnnxMLTools" || producer == "WinMLTools") && it != kRelease.end()) {
    return "ONNX " + it->second + " / opset " + std::to_string(opset) + " (" + producer + ")";
  }
  return "ONNX opset " + std::to_string(opset);
}

// ---- the importer -----------------------------------------------------------

// An ONNX tensor as the importer knows it: a constant in ONNX layout, or an
// IR activation (4-D activations are NHWC).
struct OnnxTensor {
  bool is_const = false;
  Value c;
  ValueId id = kNoValue;
};

class Importer {
 public:
  Importer(const onnx::ModelProto& model, std::string label)
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
  Result<std::vector<const onnx::NodeProto*>> SortNodes();
  Result<std::vector<const onnx::NodeProto*>> CutTail(
      const std::vector<const onnx::NodeProto*>& nodes);
  Status TranslateNode(const onnx::NodeProto& node);

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

  // Constant evaluation in ONNX layout; returns false when not applicable.
  Result<bool> TryFold();
  Result<Value> FoldNode();

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
  Status ReduceMean();
  Status Gemm();
  Status FC();
  Status MatMul();
  Status Constant();
  Status Cast();
  Status Tail();

  // Translation helpers.
  Result<std::vector<int64_t>> Window2(const std::string& name, int64_t def, int64_t lo) const;
  Status SamePads(const std::string& auto_pad, const Shape& nchw, const std::vector<int64_t>& k,
                  const std::vector<int64_t>& s, const std::vector<int64_t>& d,
                  std::vector<int64_t>* pads) const;
  Result<ValueId> FullyConnected(ValueId x, Value w_ok, const Value* bias, float beta);

  const onnx::ModelProto& model_;
  std::string label_;
  std::map<std::string, int64_t> opsets_;
  int64_t opset_ = 1;
  ImportedModel out_;
  std::unordered_map<std::string, OnnxTensor> tensors_;
  std::unordered_map<std::string, std::vector<const onnx::NodeProto*>> consumers_;
  std::unordered_map<std::string, const onnx::NodeProto*> producers_;
  std::string input_name_;
  std::string score_name_;
  const onnx::NodeProto* node_ = nullptr;
  std::string op_;  // "Conv", "com.microsoft.LegacyPadding"

  // Elements created by folding, beyond what the file stores.
  ExpansionBudget expansion_;

  // Rewrite bookkeeping (turned into sentences at the end).
  std::map<std::string, int> folded_ops_;
  int float16_tensors_ = 0;
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

std::string Importer::Where() const {
  const std::string name = node_->name().empty()
                               ? (node_->output_size() > 0 ? node_->output(0) : std::string("?"))
                               : node_->name();
  return label_ + ": node '" + name + "' (" + op_ + ")";
}

// ---- attributes ----

const onnx::AttributeProto* Importer::Attr(const std::string& name) const {
  for (const onnx::AttributeProto& a : node_->attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

Result<int64_t> Importer::Int(const std::string& name, int64_t def) const {
  const onnx::AttributeProto* a = Attr(name);
  if (a == nullptr) return def;
  if (a->type() != onnx::AttributeProto::INT &&
      !(a->type() == onnx::AttributeProto::UNDEFINED && a->has_i())) {
    return Bad("attribute '" + name + "' is not an int");
  }
  return a->i();
}

Result<int> Importer::BoundedInt(const std::string& name, int64_t def, int64_t lo,
                                 int64_t hi) const {
  EV_ASSIGN_OR_RETURN(int64_t v, Int(name, def));
  if (v < lo || v > hi) {
    return Bad("attribute '" + name + "' = " + std::to_string(v) + " is outside [" +
               std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return static_cast<int>(v);
}

Result<float> Importer::Float(const std::string& name, float def) const {
  const onnx::AttributeProto* a = Attr(name);
  if (a == nullptr) return def;
  if (a->type() == onnx::AttributeProto::INT) return static_cast<float>(a->i());
  if (a->type() != onnx::AttributeProto::FLOAT &&
      !(a->type() == onnx::AttributeProto::UNDEFINED && a->has_f())) {
    return Bad("attribute '" + name + "' is not a float");
  }
  return a->f();
}

Result<std::string> Importer::Str(const std::string& name, const std::string& def) const {
  const onnx::AttributeProto* a = Attr(name);
  if (a == nullptr) return def;
  if (a->type() != onnx::AttributeProto::STRING &&
      !(a->type() == onnx::AttributeProto::UNDEFINED && a->has_s())) {
    return Bad("attribute '" + name + "' is not a string");
  }
  return a->s();
}

Result<std::vector<int64_t>> Importer::Ints(const std::string& name) const {
  const onnx::AttributeProto* a = Attr(name);
  if (a == nullptr) return std::vector<int64_t>{};
  if (a->type() != onnx::AttributeProto::INTS && a->type() != onnx::AttributeProto::UNDEFINED) {
    return Bad("attribute '" + name + "' is not a list of ints");
  }
  if (a->ints_size() > kMaxAttrElements) return Bad("attribute '" + name + "' is too long");
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

Result<std::vector<float>> Importer::Floats(const std::string& name) const {
  const onnx::AttributeProto* a = Attr(name);
  if (a == nullptr) return std::vector<float>{};
  if (a->type() != onnx::AttributeProto::FLOATS && a->type() != onnx::AttributeProto::UNDEFINED) {
    return Bad("attribute '" + name + "' is not a list of floats");
  }
  if (a->floats_size() > kMaxAttrElements) return Bad("attribute '" + name + "' is too long");
  return std::vector<float>(a->floats().begin(), a->floats().end());
}

Result<std::vector<std::string>> Importer::Strings(const std::string& name) const {
  const onnx::AttributeProto* a = Attr(name);
  if (a == nullptr) return std::vector<std::string>{};
  if (a->type() != onnx::AttributeProto::STRINGS && a->type() != onnx::AttributeProto::UNDEFINED) {
    return Bad("attribute '" + name + "' is not a list of strings");
  }
  if (a->strings_size() > kMaxAttrElements) return Bad("attribute '" + name + "' is too long");
  return std::vector<std::string>(a->strings().begin(), a->strings().end());
}

// ---- inputs / outputs ----

Result<const OnnxTensor*> Importer::In(int i) const {
  if (!Has(i)) return Bad("input " + std::to_string(i) + " is missing");
  auto it = tensors_.find(node_->input(i));
  if (it == tensors_.end()) return Bad("input '" + node_->input(i) + "' is never produced");
  return &it->second;
}

Result<const Value*> Importer::ConstIn(int i, const std::string& role) const {
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(i));
  if (!t->is_const) {
    return Unsup("input '" + node_->input(i) + "' (" + role + ") must be a constant");
  }
  return &t->c;
}

Result<std::vector<int64_t>> Importer::ConstInts(int i, const std::string& role) const {
  EV_ASSIGN_OR_RETURN(const Value* v, ConstIn(i, role));
  if (v->dtype != DataType::kInt64)
    return Bad("input '" + node_->input(i) + "' (" + role + ") is not an integer tensor");
  if (v->i64.size() > static_cast<size_t>(kMaxAttrElements)) return Bad(role + " is too long");
  return v->i64;
}

Result<ValueId> Importer::Act(int i) {
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(i));
  if (!t->is_const) return t->id;
  return ConstToIr(t->c, t->c.shape.size(), t->c.name);
}

bool Importer::OutputUsed(int k) const {
  if (k >= node_->output_size() || node_->output(k).empty()) return false;
  auto it = consumers_.find(node_->output(k));
  return (it != consumers_.end() && !it->second.empty()) || node_->output(k) == score_name_;
}

Status Importer::DefineAct(int k, ValueId id) {
  if (k >= node_->output_size()) return Bad("has no output " + std::to_string(k));
  OnnxTensor t;
  t.id = id;
  tensors_[node_->output(k)] = std::move(t);
  return Status::Ok();
}

Status Importer::DefineConst(int k, Value v) {
  if (k >= node_->output_size()) return Bad("has no output " + std::to_string(k));
  v.name = node_->output(k);
  v.is_constant = true;
  if (PayloadSize(v) != static_cast<size_t>(graph::ShapeProduct(v.shape)))
    return Internal(Where() + ": bad folded constant");
  OnnxTensor t;
  t.is_const = true;
  t.c = std::move(v);
  tensors_[node_->output(k)] = std::move(t);
  return Status::Ok();
}

Shape Importer::OnnxShape(const OnnxTensor& t) const {
  if (t.is_const) return t.c.shape;
  const Shape s = IrShape(t.id);
  return s.size() == 4 ? NhwcToNchw(s) : s;
}

// ---- IR building ----

Result<ValueId> Importer::Emit(Op op, std::vector<ValueId> inputs, graph::Attrs attrs,
                               const std::string& out_name) {
  Graph& g = out_.graph;
  std::vector<Shape> shapes(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i] != kNoValue) shapes[i] = g.values[inputs[i]].shape;
  }
  Node node;
  node.op = op;
  node.name = node_->name().empty() ? out_name : node_->name();
  node.inputs = std::move(inputs);
  node.attrs = std::move(attrs);
  node.outputs = {0};
  Result<Shape> shape = graph::InferNodeShape(node, shapes);
  if (!shape.ok()) return Context(shape.status());
  const ValueId out = g.AddActivation(out_name, std::move(shape).value());
  node.outputs = {out};
  g.AddNode(std::move(node));
  return out;
}

ValueId Importer::AddFloatConst(const std::string& name, Shape shape, std::vector<float> data) {
  return out_.graph.AddConstant(name, std::move(shape), std::move(data));
}

// A constant as an IR value meant to broadcast against a rank-`out_rank`
// result: against a 4-D result it is padded to 4-D in ONNX order, moved to
// NHWC and (unless `keep_rank`) stripped of leading 1s ([C,1,1] -> [C]).
Result<ValueId> Importer::ConstToIr(const Value& c, size_t out_rank, const std::string& name,
                                    bool keep_rank) {
  if (c.dtype != DataType::kFloat32) {
    return Unsup("constant '" + c.name + "' of a non-float type is used as a tensor");
  }
  if (out_rank != 4 || c.shape.size() > 4) {
    if (c.shape.size() == 4 && out_rank != 4)
      return Unsup("4-D constant '" + c.name + "' in a non-4-D op");
    return out_.graph.AddConstant(name, c.shape, c.f32);
  }
  Value padded = c;
  while (padded.shape.size() < 4) padded.shape.insert(padded.shape.begin(), 1);
  Value nhwc = TransposeValue(padded, {0, 2, 3, 1});
  while (!keep_rank && nhwc.shape.size() > 1 && nhwc.shape.front() == 1) {
    nhwc.shape.erase(nhwc.shape.begin());
  }
  return out_.graph.AddConstant(name, nhwc.shape, std::move(nhwc.f32));
}

// An operand of an element-wise op whose result has ONNX rank `out_rank`.
Result<ValueId> Importer::Operand(const OnnxTensor& t, size_t out_rank, const std::string& name,
                                  bool keep_rank) {
  if (t.is_const) return ConstToIr(t.c, out_rank, name, keep_rank);
  const Shape s = IrShape(t.id);
  if (out_rank == 4 && s.size() < 4) {
    Shape target = s;
    while (target.size() < 4) target.insert(target.begin(), 1);
    return ReshapeOnnx(t.id, target, name + "/as4d");
  }
  if (out_rank > 4 && s.size() == 4) {
    return Unsup("mixes a 4-D (NHWC) tensor into a rank-" + std::to_string(out_rank) + " op");
  }
  return t.id;
}

// ONNX Reshape semantics (row-major in ONNX's NCHW order) on IR value `v`.
Result<ValueId> Importer::ReshapeOnnx(ValueId v, const Shape& target, const std::string& out_name) {
  ValueId src = v;
  const Shape in = IrShape(v);
  if (in.size() == 4 && !SameOrder(in)) {
    graph::Attrs to_nchw;
    to_nchw.ints = {0, 3, 1, 2};
    EV_ASSIGN_OR_RETURN(src, Emit(Op::kTranspose, {v}, to_nchw, out_name + "/nchw_in"));
    ++layout_transposes_;
  }
  graph::Attrs a;
  if (target.size() == 4) {
    const Shape nhwc = NchwToNhwc(target);
    if (SameOrder(nhwc)) {
      a.ints = nhwc;
      return Emit(Op::kReshape, {src}, a, out_name);
    }
    a.ints = target;
    EV_ASSIGN_OR_RETURN(ValueId mid, Emit(Op::kReshape, {src}, a, out_name + "/nchw_out"));
    graph::Attrs to_nhwc;
    to_nhwc.ints = {0, 2, 3, 1};
    ++layout_transposes_;
    return Emit(Op::kTranspose, {mid}, to_nhwc, out_name);
  }
  a.ints = target;
  return Emit(Op::kReshape, {src}, a, out_name);
}

// ---- set-up ----

Status Importer::ReadHeader() {
  for (const onnx::OperatorSetIdProto& o : model_.opset_import()) {
    std::string domain = o.domain() == "ai.onnx" ? "" : o.domain();
    opsets_[domain] = o.version();
  }
  opset_ = opsets_.count("") ? opsets_[""] : 1;
  if (opset_ < 1 || opset_ > 1000)
    return Corrupt(label_ + ": opset " + std::to_string(opset_) + " is invalid");
  if (model_.functions_size() > 0) {
    return Unsupported(label_ + ": model-local functions (" + model_.functions(0).name() +
                       ") are not supported");
  }
  out_.format = "ONNX";
  out_.producer = model_.producer_name();
  if (!model_.producer_version().empty()) out_.producer += " " + model_.producer_version();
  out_.generation = GenerationOf(model_.producer_name(), opset_);
  if (model_.metadata_props_size() > kMaxMetadataEntries) {
    return Corrupt(label_ + ": more than " + std::to_string(kMaxMetadataEntries) +
                   " metadata_props");
  }
  for (const onnx::StringStringEntryProto& e : model_.metadata_props()) {
    out_.metadata[e.key()] = e.value();
  }
  auto fmt = out_.metadata.find("Image.BitmapPixelFormat");
  if (fmt != out_.metadata.end()) {
    if (fmt->second == "Bgr8") {
      out_.declared_color = image::ColorOrder::kBGR;
    } else if (fmt->second == "Rgb8") {
      out_.declared_color = image::ColorOrder::kRGB;
    }
  }
  for (const onnx::NodeProto& n : model_.graph().node()) {
    const std::string& d = n.domain();
    ++out_.source_ops[(d.empty() || d == "ai.onnx") ? n.op_type() : d + "." + n.op_type()];
  }
  return Status::Ok();
}

Status Importer::ReadInitializers() {
  const onnx::GraphProto& g = model_.graph();
  if (g.initializer_size() > kMaxOnnxInitializers) {
    return ResourceExhausted(label_ + ": " + std::to_string(g.initializer_size()) +
                             " initializers exceed the limit of " +
                             std::to_string(kMaxOnnxInitializers));
  }
  if (g.sparse_initializer_size() > 0)
    return Unsupported(label_ + ": sparse initializers are not supported");
  for (const onnx::TensorProto& t : g.initializer()) {
    if (t.name().empty()) return Corrupt(label_ + ": an initializer has no name");
    EV_ASSIGN_OR_RETURN(
        Value v, DecodeTensor(t, label_ + ": initializer '" + t.name() + "'", &float16_tensors_));
    OnnxTensor ot;
    ot.is_const = true;
    ot.c = std::move(v);
    if (!tensors_.emplace(t.name(), std::move(ot)).second) {
      return Corrupt(label_ + ": initializer '" + t.name() + "' is defined twice");
    }
  }
  return Status::Ok();
}

Status Importer::ReadInput() {
  const onnx::GraphProto& g = model_.graph();
  if (g.input_size() > kMaxOnnxGraphInputs)
    return ResourceExhausted(label_ + ": too many graph inputs");
  const onnx::ValueInfoProto* input = nullptr;
  int constant_inputs = 0;
  for (const onnx::ValueInfoProto& vi : g.input()) {
    if (tensors_.count(vi.name())) {
      ++constant_inputs;
      continue;
    }
    if (input != nullptr) {
      return Unsupported(label_ + ": the model has more than one input ('" + input->name() +
                         "', '" + vi.name() + "')");
    }
    input = &vi;
  }
  if (input == nullptr) return Corrupt(label_ + ": the graph has no input without an initializer");
  input_name_ = input->name();
  const std::string what = label_ + ": input '" + input_name_ + "'";
  if (!input->type().has_tensor_type()) return Unsupported(what + " is not a tensor");
  const onnx::TypeProto::Tensor& tt = input->type().tensor_type();
  if (!IsFloatType(tt.elem_type())) {
    return Unsupported(what + " has element type " + OnnxTypeName(tt.elem_type()) + ", not float");
  }
  if (tt.elem_type() != onnx::TensorProto::FLOAT) {
    notes_.push_back("the " + OnnxTypeName(tt.elem_type()) + " input '" + input_name_ +
                     "' is fed as float32");
  }
  if (!tt.has_shape()) return Unsupported(what + " has no declared shape");
  Shape declared;
  for (const onnx::TensorShapeProto::Dimension& d : tt.shape().dim()) {
    declared.push_back(d.has_dim_value() ? d.dim_value() : -1);
  }
  out_.input_name = input_name_;
  out_.input_shape = declared;
  out_.input_layout = "NCHW";
  if (declared.size() != 4) {
    return Unsupported(what + " has shape " + ShapeToString(declared) +
                       "; an NCHW image input is expected");
  }
  for (size_t d = 1; d < 4; ++d) {
    if (declared[d] < 1) {
      return Unsupported(what + " has shape " + ShapeToString(declared) +
                         "; channels, height and width must be fixed");
    }
  }
  EV_RETURN_IF_ERROR(CheckInputImage(declared[2], declared[3], declared[1], what));
  if (declared[0] == 0 || declared[0] < -1)
    return Corrupt(what + " has batch " + std::to_string(declared[0]));
  // Batch 1 while importing (static shapes for layout decisions); -1 at the end.
  const ValueId id =
      out_.graph.AddActivation(input_name_, {1, declared[2], declared[3], declared[1]});
  out_.graph.inputs = {id};
  OnnxTensor t;
  t.id = id;
  tensors_[input_name_] = t;
  if (constant_inputs > 0) {
    out_.rewrites.push_back("treated " + std::to_string(constant_inputs) +
                            " graph inputs that have initializers as constants; the model input "
                            "is '" +
                            input_name_ + "'");
  }
  out_.rewrites.push_back("translated NCHW to NHWC: input '" + input_name_ + "' " +
                          ShapeToString(declared) + " is read as [" + std::to_string(declared[0]) +
                          "," + std::to_string(declared[2]) + "," + std::to_string(declared[3]) +
                          "," + std::to_string(declared[1]) +
                          "], Conv weights OIHW as OHWI, channel axes as the last axis");
  return Status::Ok();
}

Result<std::vector<const onnx::NodeProto*>> Importer::SortNodes() {
  const onnx::GraphProto& g = model_.graph();
  const int n = g.node_size();
  if (n > kMaxOnnxNodes) {
    return ResourceExhausted(label_ + ": " + std::to_string(n) + " nodes exceed the limit of " +
                             std::to_string(kMaxOnnxNodes));
  }
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < n; ++i) {
    for (const std::string& out : g.node(i).output()) {
      if (out.empty()) continue;
      if (tensors_.count(out) || !producer.emplace(out, i).second) {
        return Corrupt(label_ + ": tensor '" + out + "' is produced twice (node '" +
                       g.node(i).name() + "')");
      }
    }
  }
  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> dependents(n);
  for (int i = 0; i < n; ++i) {
    for (const std::string& in : g.node(i).input()) {
      auto it = producer.find(in);
      if (in.empty() || it == producer.end()) continue;  // unknown names fail at translation
      ++pending[i];
      dependents[it->second].push_back(i);
    }
  }
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int i = 0; i < n; ++i) {
    if (pending[i] == 0) ready.push(i);
  }
  std::vector<const onnx::NodeProto*> order;
  int moved = 0;
  while (!ready.empty()) {
    const int i = ready.top();
    ready.pop();
    moved += i != static_cast<int>(order.size());
    order.push_back(&g.node(i));
    for (int d : dependents[i]) {
      if (--pending[d] == 0) ready.push(d);
    }
  }
  if (static_cast<int>(order.size()) != n) {
    for (int i = 0; i < n; ++i) {
      if (pending[i] > 0) {
        return Corrupt(label_ + ": node '" + g.node(i).name() + "' (" + g.node(i).op_type() +
                       ") is part of a cycle");
      }
    }
  }
  for (const onnx::NodeProto* node : order) {
    for (const std::string& out : node->output()) producers_[out] = node;
  }
  if (moved > 0) {
    out_.rewrites.push_back("re-ordered the nodes topologically (the file lists " +
                            std::to_string(moved) + " nodes before their inputs' producers)");
  }
  return order;
}

Result<std::vector<const onnx::NodeProto*>> Importer::CutTail(
    const std::vector<const onnx::NodeProto*>& nodes) {
  const onnx::GraphProto& g = model_.graph();
  const onnx::NodeProto* zipmap = nullptr;
  for (const onnx::NodeProto* n : nodes) {
    if (n->op_type() == "ZipMap" && n->domain() == "ai.onnx.ml") {
      if (zipmap != nullptr) return Unsupported(label_ + ": the model has more than one ZipMap");
      zipmap = n;
    }
  }
  if (zipmap != nullptr) {
    if (zipmap->input_size() != 1) return Corrupt(label_ + ": ZipMap must have one input");
    score_name_ = zipmap->input(0);
    for (const onnx::AttributeProto& a : zipmap->attribute()) {
      if (a.name() == "classlabels_strings") {
        if (a.strings_size() > kMaxAttrElements)
          return Corrupt(label_ + ": too many ZipMap labels");
        out_.embedded_labels.assign(a.strings().begin(), a.strings().end());
      } else if (a.name() == "classlabels_int64s") {
        if (a.ints_size() > kMaxAttrElements) return Corrupt(label_ + ": too many ZipMap labels");
        for (int64_t v : a.ints()) out_.embedded_labels.push_back(std::to_string(v));
      }
    }
  } else {
    for (const onnx::ValueInfoProto& o : g.output()) {
      if (!o.type().has_tensor_type() || !IsFloatType(o.type().tensor_type().elem_type())) continue;
      if (!score_name_.empty()) {
        return Unsupported(label_ + ": the model has more than one float output ('" + score_name_ +
                           "', '" + o.name() + "')");
      }
      score_name_ = o.name();
    }
    if (score_name_.empty()) return Unsupported(label_ + ": the model has no float tensor output");
  }
  // Keep the ancestors of the score tensor.
  std::set<const onnx::NodeProto*> live;
  std::vector<std::string> work = {score_name_};
  std::set<std::string> seen;
  while (!work.empty()) {
    const std::string t = work.back();
    work.pop_back();
    if (!seen.insert(t).second) continue;
    auto it = producers_.find(t);
    if (it == producers_.end() || !live.insert(it->second).second) continue;
    for (const std::string& in : it->second->input()) {
      if (!in.empty()) work.push_back(in);
    }
  }
  std::vector<const onnx::NodeProto*> kept;
  std::map<std::string, int> dropped;
  int dropped_count = 0;
  for (const onnx::NodeProto* n : nodes) {
    if (live.count(n)) {
      kept.push_back(n);
      for (const std::string& in : n->input()) consumers_[in].push_back(n);
    } else {
      ++dropped[n->op_type()];
      ++dropped_count;
    }
  }
  out_.output_name = score_name_;
  if (dropped_count > 0) {
    std::string ops;
    for (const auto& [op, count] : dropped) ops += (ops.empty() ? "" : ", ") + op;
    if (zipmap != nullptr) {
      out_.rewrites.push_back(
          "removed the classifier tail (" + std::to_string(dropped_count) + " nodes: " + ops +
          "); the float scores '" + score_name_ + "' are the output and ZipMap's " +
          std::to_string(out_.embedded_labels.size()) + " classlabels are the labels");
    } else {
      out_.rewrites.push_back("removed " + std::to_string(dropped_count) +
                              " nodes that do not contribute to the output (" + ops + ")");
    }
  }
  return kept;
}

// ---- constant folding at import ----

Result<bool> Importer::TryFold() {
  static const std::set<std::string> kFoldable = {
      "Identity", "Dropout",   "Cast",    "Shape",  "Size",
      "Gather",   "Unsqueeze", "Squeeze", "Concat", "Reshape",
      "Flatten",  "Transpose", "Add",     "Sub",    "Mul",
      "Div",      "Neg",       "Sqrt",    "Slice",  "ConstantOfShape",
      "Floor",    "Ceil",      "Relu"};
  const std::string& op = node_->op_type();
  if (!(node_->domain().empty() || node_->domain() == "ai.onnx") || !kFoldable.count(op)) {
    return false;
  }
  if (op == "Shape" || op == "Size") {
    if (!Has(0)) return Bad("input 0 is missing");
  } else {
    for (int i = 0; i < node_->input_size(); ++i) {
      if (!Has(i)) continue;
      EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(i));
      if (!t->is_const) return false;
    }
    if (node_->input_size() == 0) return false;
  }
  EV_ASSIGN_OR_RETURN(Value v, FoldNode());
  // Ops that only rearrange or retype their input copy what the file holds;
  // everything else creates data the file does not store.
  const bool copies = op == "Identity" || op == "Dropout" || op == "Reshape" || op == "Flatten" ||
                      op == "Squeeze" || op == "Unsqueeze" || op == "Transpose" || op == "Cast";
  if (!copies) {
    if (PayloadSize(v) > static_cast<size_t>(kMaxFoldedElements)) {
      return ResourceExhausted(Where() + ": folded constant is too large");
    }
    EV_RETURN_IF_ERROR(
        expansion_.Charge(static_cast<int64_t>(PayloadSize(v)), Where() + ": folded constant"));
  }
  ++folded_ops_[op];
  EV_RETURN_IF_ERROR(DefineConst(0, std::move(v)));
  return true;
}

Result<Value> Importer::FoldNode() {
  const std::string& op = node_->op_type();
  auto in = [&](int i) -> Result<const Value*> {
    EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(i));
    return &t->c;
  };
  auto axes_of = [&](int input_index) -> Result<std::vector<int64_t>> {
    if (opset_ >= 13 && Has(input_index)) return ConstInts(input_index, "axes");
    return Ints("axes");
  };
  if (op == "Identity" || op == "Dropout") {
    EV_ASSIGN_OR_RETURN(const Value* x, in(0));
    return *x;
  }
  if (op == "Shape" || op == "Size") {
    EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(0));
    const Shape s = OnnxShape(*t);
    Value v;
    v.dtype = DataType::kInt64;
    if (op == "Size") {
      v.i64 = {graph::ShapeProduct(s)};
      return v;
    }
    const int64_t r = static_cast<int64_t>(s.size());
    EV_ASSIGN_OR_RETURN(int64_t start, Int("start", 0));
    EV_ASSIGN_OR_RETURN(int64_t end, Int("end", r));
    start = std::clamp(start < 0 ? start + r : start, int64_t{0}, r);
    end = std::clamp(end < 0 ? end + r : end, int64_t{0}, r);
    for (int64_t d = start; d < end; ++d) v.i64.push_back(s[d]);
    v.shape = {static_cast<int64_t>(v.i64.size())};
    return v;
  }
  EV_ASSIGN_OR_RETURN(const Value* x, in(0));
  if (op == "Cast") {
    EV_ASSIGN_OR_RETURN(int64_t to, Int("to", 0));
    Value v;
    v.shape = x->shape;
    if (IsFloatType(static_cast<int>(to))) {
      if (x->dtype == DataType::kString) return Unsup("cannot cast strings");
      v.dtype = DataType::kFloat32;
      v.f32 = x->dtype == DataType::kFloat32 ? x->f32
                                             : std::vector<float>(x->i64.begin(), x->i64.end());
      return v;
    }
    if (to == onnx::TensorProto::STRING || to == onnx::TensorProto::COMPLEX64 ||
        to == onnx::TensorProto::COMPLEX128 || to == onnx::TensorProto::UNDEFINED) {
      return Unsup("cast to " + OnnxTypeName(static_cast<int>(to)) + " is not supported");
    }
    v.dtype = DataType::kInt64;
    if (x->dtype == DataType::kInt64) {
      v.i64 = x->i64;
    } else if (x->dtype == DataType::kFloat32) {
      for (float f : x->f32) {
        if (!(std::fabs(f) < 9.2e18f))
          return Bad("cast of " + std::to_string(f) + " to an integer");
        v.i64.push_back(to == onnx::TensorProto::BOOL ? (f != 0.0f) : static_cast<int64_t>(f));
      }
    } else {
      return Unsup("cannot cast strings");
    }
    if (to == onnx::TensorProto::BOOL) {
      for (int64_t& b : v.i64) b = b != 0;
    }
    return v;
  }
  if (op == "Unsqueeze" || op == "Squeeze") {
    EV_ASSIGN_OR_RETURN(std::vector<int64_t> axes, axes_of(1));
    Shape s = x->shape;
    if (op == "Unsqueeze") {
      const int64_t r = static_cast<int64_t>(s.size() + axes.size());
      std::vector<bool> added(r, false);
      for (int64_t a : axes) {
        const int64_t k = NormAxis(a, r);
        if (k < 0 || added[k]) return Bad("axes are out of range or repeated");
        added[k] = true;
      }
      Shape out;
      size_t j = 0;
      for (int64_t d = 0; d < r; ++d) out.push_back(added[d] ? 1 : s[j++]);
      s = out;
    } else {
      std::vector<bool> drop(s.size(), axes.empty());
      for (int64_t a : axes) {
        const int64_t k = NormAxis(a, static_cast<int64_t>(s.size()));
        if (k < 0 || s[k] != 1)
          return Bad("cannot squeeze axis " + std::to_string(a) + " of " + ShapeToString(s));
        drop[k] = true;
      }
      Shape out;
      for (size_t d = 0; d < s.size(); ++d) {
        if (!(drop[d] && s[d] == 1)) out.push_back(s[d]);
      }
      s = out;
    }
    if (s.size() > graph::kMaxRank) return Bad("result rank is too large");
    Value v = *x;
    v.shape = s;
    return v;
  }
  if (op == "Reshape" || op == "Flatten") {
    Shape target;
    if (op == "Reshape") {
      std::vector<int64_t> t;
      if (opset_ < 5) {
        EV_ASSIGN_OR_RETURN(t, Ints("shape"));
      } else {
        EV_ASSIGN_OR_RETURN(t, ConstInts(1, "shape"));
      }
      EV_ASSIGN_OR_RETURN(int64_t allowzero, Int("allowzero", 0));
      EV_ASSIGN_OR_RETURN(target, ResolveReshape(x->shape, t, allowzero != 0, Where()));
    } else {
      EV_ASSIGN_OR_RETURN(int64_t axis, Int("axis", 1));
      const int64_t r = static_cast<int64_t>(x->shape.size());
      if (axis < 0) axis += r;
      if (axis < 0 || axis > r) return Bad("axis is out of range");
      int64_t outer = 1;
      for (int64_t d = 0; d < axis; ++d) outer *= x->shape[d];
      target = {outer, graph::ShapeProduct(x->shape) / std::max<int64_t>(outer, 1)};
      if (outer == 0) target = {0, 0};
    }
    Value v = *x;
    v.shape = target;
    return v;
  }
  if (op == "Transpose") {
    EV_ASSIGN_OR_RETURN(std::vector<int64_t> perm, Ints("perm"));
    const int64_t r = static_cast<int64_t>(x->shape.size());
    if (perm.empty()) {
      for (int64_t d = r; d-- > 0;) perm.push_back(d);
    }
    std::vector<bool> seen(r, false);
    if (static_cast<int64_t>(perm.size()) != r) return Bad("perm does not match the rank");
    for (int64_t& p : perm) {
      p = NormAxis(p, r);
      if (p < 0 || seen[p]) return Bad("perm is not a permutation");
      seen[p] = true;
    }
    return TransposeValue(*x, perm);
  }
  if (op == "Concat") {
    EV_ASSIGN_OR_RETURN(int64_t axis, Int("axis", 1));
    const int64_t r = static_cast<int64_t>(x->shape.size());
    axis = NormAxis(axis, r);
    if (axis < 0) return Bad("axis is out of range");
    Shape out_shape = x->shape;
    std::vector<const Value*> parts;
    for (int i = 0; i < node_->input_size(); ++i) {
      if (!Has(i)) continue;
      EV_ASSIGN_OR_RETURN(const Value* p, in(i));
      if (p->dtype != x->dtype || p->shape.size() != x->shape.size())
        return Bad("inputs do not match");
      for (int64_t d = 0; d < r; ++d) {
        if (d != axis && p->shape[d] != x->shape[d]) return Bad("input shapes do not match");
      }
      if (!parts.empty()) out_shape[axis] += p->shape[axis];
      parts.push_back(p);
    }
    if (graph::ShapeProduct(out_shape) > kMaxFoldedElements)
      return ResourceExhausted(Where() + ": too large");
    int64_t outer = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= out_shape[d];
    Value v;
    v.dtype = x->dtype;
    v.shape = out_shape;
    std::vector<int64_t> idx;
    // Gather element by element from each part, block by block.
    Value all;  // the parts' payloads concatenated, indexed by idx
    all.dtype = x->dtype;
    int64_t base = 0;
    std::vector<int64_t> bases;
    for (const Value* p : parts) {
      bases.push_back(base);
      all.f32.insert(all.f32.end(), p->f32.begin(), p->f32.end());
      all.i64.insert(all.i64.end(), p->i64.begin(), p->i64.end());
      all.str.insert(all.str.end(), p->str.begin(), p->str.end());
      base += static_cast<int64_t>(PayloadSize(*p));
    }
    for (int64_t o = 0; o < outer; ++o) {
      for (size_t k = 0; k < parts.size(); ++k) {
        const int64_t block = outer == 0 ? 0 : static_cast<int64_t>(PayloadSize(*parts[k])) / outer;
        for (int64_t e = 0; e < block; ++e) idx.push_back(bases[k] + o * block + e);
      }
    }
    return Gathered(all, idx, out_shape);
  }
  if (op == "Gather") {
    EV_ASSIGN_OR_RETURN(const Value* indices, in(1));
    if (indices->dtype != DataType::kInt64) return Bad("indices are not integers");
    EV_ASSIGN_OR_RETURN(int64_t axis, Int("axis", 0));
    const int64_t r = static_cast<int64_t>(x->shape.size());
    axis = NormAxis(axis, r);
    if (axis < 0) return Bad("axis is out of range");
    Shape out_shape(x->shape.begin(), x->shape.begin() + axis);
    out_shape.insert(out_shape.end(), indices->shape.begin(), indices->shape.end());
    out_shape.insert(out_shape.end(), x->shape.begin() + axis + 1, x->shape.end());
    if (out_shape.size() > graph::kMaxRank) return Bad("result rank is too large");
    EV_ASSIGN_OR_RETURN(int64_t n, CheckedElementCount(out_shape, Where()));
    if (n > kMaxFoldedElements) return ResourceExhausted(Where() + ": result is too large");
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= x->shape[d];
    for (int64_t d = axis + 1; d < r; ++d) inner *= x->shape[d];
    const int64_t dim = x->shape[axis];
    std::vector<int64_t> idx;
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t k : indices->i64) {
        if (k < -dim || k >= dim) return Bad("index " + std::to_string(k) + " is out of range");
        if (k < 0) k += dim;
        for (int64_t e = 0; e < inner; ++e) idx.push_back((o * dim + k) * inner + e);
      }
    }
    return Gathered(*x, idx, out_shape);
  }
  if (op == "Slice") {
    std::vector<int64_t> starts, ends, axes, steps;
    if (opset_ < 10) {
      EV_ASSIGN_OR_RETURN(starts, Ints("starts"));
      EV_ASSIGN_OR_RETURN(ends, Ints("ends"));
      EV_ASSIGN_OR_RETURN(axes, Ints("axes"));
    } else {
      EV_ASSIGN_OR_RETURN(starts, ConstInts(1, "starts"));
      EV_ASSIGN_OR_RETURN(ends, ConstInts(2, "ends"));
      if (Has(3)) {
        EV_ASSIGN_OR_RETURN(axes, ConstInts(3, "axes"));
      }
      if (Has(4)) {
        EV_ASSIGN_OR_RETURN(steps, ConstInts(4, "steps"));
      }
    }
    const int64_t r = static_cast<int64_t>(x->shape.size());
    if (axes.empty()) {
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    }
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (starts.size() != ends.size() || axes.size() != starts.size() ||
        steps.size() != starts.size()) {
      return Bad("starts/ends/axes/steps lengths differ");
    }
    std::vector<int64_t> begin(r, 0), step(r, 1);
    Shape out_shape = x->shape;
    for (size_t i = 0; i < axes.size(); ++i) {
      const int64_t a = NormAxis(axes[i], r);
      if (a < 0) return Bad("axis is out of range");
      const int64_t dim = x->shape[a];
      const int64_t st = std::clamp<int64_t>(steps[i], -INT64_MAX, INT64_MAX);
      if (st == 0) return Bad("step is 0");
      auto clampi = [&](int64_t v, int64_t lo, int64_t hi) { return std::clamp(v, lo, hi); };
      int64_t b = starts[i] < 0 ? starts[i] + dim : starts[i];
      int64_t e = ends[i] < 0 ? ends[i] + dim : ends[i];
      if (starts[i] < -dim) b = 0;
      if (ends[i] < -dim) e = st > 0 ? 0 : -1;
      if (st > 0) {
        b = clampi(b, 0, dim);
        e = clampi(e, 0, dim);
        out_shape[a] = e > b ? 1 + (e - b - 1) / st : 0;
      } else {
        b = clampi(b, -1, dim - 1);
        e = clampi(e, -1, dim - 1);
        out_shape[a] = b > e ? 1 + (b - e - 1) / (-st) : 0;
      }
      begin[a] = b;
      step[a] = st;
    }
    EV_ASSIGN_OR_RETURN(int64_t n, CheckedElementCount(out_shape, Where()));
    if (n > kMaxFoldedElements) return ResourceExhausted(Where() + ": result is too large");
    const std::vector<int64_t> xs = graph::RowMajorStrides(x->shape);
    std::vector<int64_t> idx, pos(r, 0);
    for (int64_t o = 0; o < n; ++o) {
      int64_t src = 0;
      for (int64_t d = 0; d < r; ++d) src += (begin[d] + pos[d] * step[d]) * xs[d];
      idx.push_back(src);
      for (int64_t d = r; d-- > 0;) {
        if (++pos[d] < out_shape[d]) break;
        pos[d] = 0;
      }
    }
    return Gathered(*x, idx, out_shape);
  }
  if (op == "ConstantOfShape") {
    if (x->dtype != DataType::kInt64) return Bad("shape is not an integer tensor");
    const Shape s(x->i64.begin(), x->i64.end());
    EV_ASSIGN_OR_RETURN(int64_t n, CheckedElementCount(s, Where()));
    if (n > kMaxFoldedElements) return ResourceExhausted(Where() + ": result is too large");
    Value v;
    v.shape = s;
    v.f32.assign(n, 0.0f);
    if (const onnx::AttributeProto* a = Attr("value"); a != nullptr && a->has_t()) {
      int unused = 0;
      EV_ASSIGN_OR_RETURN(Value fill, DecodeTensor(a->t(), Where() + ": value", &unused));
      if (PayloadSize(fill) != 1) return Bad("value must hold one element");
      if (fill.dtype == DataType::kInt64) {
        v.dtype = DataType::kInt64;
        v.f32.clear();
        v.i64.assign(n, fill.i64[0]);
      } else if (fill.dtype == DataType::kFloat32) {
        std::fill(v.f32.begin(), v.f32.end(), fill.f32[0]);
      } else {
        return Unsup("string fill value");
      }
    }
    return v;
  }
  if (op == "Neg" || op == "Sqrt" || op == "Floor" || op == "Ceil" || op == "Relu") {
    Value v = *x;
    if (v.dtype == DataType::kString) return Bad("input is a string tensor");
    for (float& f : v.f32) {
      if (op == "Neg") f = -f;
      if (op == "Sqrt") f = std::sqrt(f);
      if (op == "Floor") f = std::floor(f);
      if (op == "Ceil") f = std::ceil(f);
      if (op == "Relu") f = std::max(f, 0.0f);
    }
    for (int64_t& i : v.i64) {
      if (op == "Neg") i = static_cast<int64_t>(0 - static_cast<uint64_t>(i));
      if (op == "Relu") i = std::max<int64_t>(i, 0);
      if (op == "Sqrt") return Unsup("integer Sqrt");
    }
    return v;
  }
  // Add / Sub / Mul / Div.
  const Op bop = op == "Add"   ? Op::kAdd
                 : op == "Sub" ? Op::kSub
                 : op == "Mul" ? Op::kMul
                               : Op::kDiv;
  EV_ASSIGN_OR_RETURN(const Value* y, in(1));
  Value b = *y;
  EV_ASSIGN_OR_RETURN(int64_t legacy, Int("broadcast", 0));
  if (opset_ < 7 && legacy != 0) {
    const int64_t ra = static_cast<int64_t>(x->shape.size());
    const int64_t rb = static_cast<int64_t>(b.shape.size());
    EV_ASSIGN_OR_RETURN(int64_t axis, Int("axis", ra - rb));
    if (axis < 0) axis += ra;
    if (axis < 0 || axis + rb > ra) return Bad("legacy broadcast axis is out of range");
    while (static_cast<int64_t>(b.shape.size()) < ra - axis) b.shape.push_back(1);
  }
  if (x->dtype != b.dtype || x->dtype == DataType::kString) return Bad("operand types differ");
  if (x->dtype == DataType::kInt64) return BroadcastInt(bop, *x, b, Where());
  Result<Shape> shape = graph::BroadcastShape(x->shape, b.shape);
  if (!shape.ok()) return Bad(shape.status().message());
  EV_ASSIGN_OR_RETURN(int64_t n, CheckedElementCount(*shape, Where()));
  if (n > kMaxFoldedElements) return ResourceExhausted(Where() + ": result is too large");
  Value v;
  v.shape = *shape;
  v.f32.resize(n);
  EV_RETURN_IF_ERROR(Context(graph::BroadcastBinary(bop, x->f32, x->shape, b.f32, b.shape, v.f32)));
  return v;
}

// ---- translators ----

Result<std::vector<int64_t>> Importer::Window2(const std::string& name, int64_t def,
                                               int64_t lo) const {
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> v, Ints(name));
  if (v.empty()) v.assign(2, def);
  if (v.size() != 2) {
    return Unsup("attribute '" + name + "' has " + std::to_string(v.size()) +
                 " values; only 2-D windows are supported");
  }
  for (int64_t x : v) {
    if (x < lo || x > kMaxWindow)
      return Bad("attribute '" + name + "' value " + std::to_string(x) + " is out of range");
  }
  return v;
}

// Pads [top, left, bottom, right] for auto_pad (NOTSET keeps `pads`).
Status Importer::SamePads(const std::string& auto_pad, const Shape& nchw,
                          const std::vector<int64_t>& k, const std::vector<int64_t>& s,
                          const std::vector<int64_t>& d, std::vector<int64_t>* pads) const {
  if (auto_pad.empty() || auto_pad == "NOTSET") return Status::Ok();
  if (auto_pad == "VALID") {
    pads->assign(4, 0);
    return Status::Ok();
  }
  if (auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER") {
    return Bad("auto_pad '" + auto_pad + "' is not valid");
  }
  pads->assign(4, 0);
  for (int axis = 0; axis < 2; ++axis) {
    // SAME_UPPER is TensorFlow's rule (the smaller half first); SAME_LOWER swaps.
    const auto [small, big] = SamePadding(nchw[2 + axis], k[axis], s[axis], d[axis]);
    (*pads)[axis] = auto_pad == "SAME_UPPER" ? small : big;
    (*pads)[axis + 2] = auto_pad == "SAME_UPPER" ? big : small;
  }
  return Status::Ok();
}

Status Importer::Conv() {
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  const Shape xs = IrShape(x);
  if (xs.size() != 4)
    return Unsup("only 2-D convolutions are supported (input " + ShapeToString(xs) + ")");
  EV_ASSIGN_OR_RETURN(const Value* w, ConstIn(1, "weights"));
  if (w->dtype != DataType::kFloat32 || w->shape.size() != 4) {
    return Unsup("weights " + ShapeToString(w->shape) + " are not 2-D float OIHW");
  }
  const Shape nchw = NhwcToNchw(xs);
  EV_ASSIGN_OR_RETURN(int group, BoundedInt("group", 1, 1, nchw[1]));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> kernel, Ints("kernel_shape"));
  if (!kernel.empty() &&
      (kernel.size() != 2 || kernel[0] != w->shape[2] || kernel[1] != w->shape[3])) {
    return Bad("kernel_shape does not match weights " + ShapeToString(w->shape));
  }
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> strides, Window2("strides", 1, 1));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> dilations, Window2("dilations", 1, 1));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> pads, Ints("pads"));
  if (pads.empty()) pads.assign(4, 0);
  if (pads.size() != 4) return Unsup("pads must have 4 values");
  for (int64_t p : pads) {
    if (p < 0 || p > kMaxWindow) return Unsup("pad " + std::to_string(p) + " is not supported");
  }
  EV_ASSIGN_OR_RETURN(std::string auto_pad, Str("auto_pad", "NOTSET"));
  EV_RETURN_IF_ERROR(
      SamePads(auto_pad, nchw, {w->shape[2], w->shape[3]}, strides, dilations, &pads));
  graph::Attrs a;
  a.stride_h = static_cast<int>(strides[0]);
  a.stride_w = static_cast<int>(strides[1]);
  a.dilation_h = static_cast<int>(dilations[0]);
  a.dilation_w = static_cast<int>(dilations[1]);
  a.pad_top = static_cast<int>(pads[0]);
  a.pad_left = static_cast<int>(pads[1]);
  a.pad_bottom = static_cast<int>(pads[2]);
  a.pad_right = static_cast<int>(pads[3]);
  a.groups = group;
  Value ohwi = TransposeValue(*w, {0, 2, 3, 1});
  const ValueId wid = out_.graph.AddConstant(w->name, ohwi.shape, std::move(ohwi.f32));
  ValueId bid = kNoValue;
  if (Has(2)) {
    EV_ASSIGN_OR_RETURN(const Value* b, ConstIn(2, "bias"));
    if (b->dtype != DataType::kFloat32 || graph::ShapeProduct(b->shape) != w->shape[0]) {
      return Bad("bias " + ShapeToString(b->shape) + " does not match " +
                 std::to_string(w->shape[0]) + " output channels");
    }
    bid = out_.graph.AddConstant(b->name, {w->shape[0]}, b->f32);
  }
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kConv2D, {x, wid, bid}, a, OutName()));
  return DefineAct(0, y);
}

Status Importer::Pool() {
  const bool is_max = node_->op_type() == "MaxPool";
  if (is_max && OutputUsed(1)) return Unsup("the Indices output is not supported");
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  const Shape xs = IrShape(x);
  if (xs.size() != 4)
    return Unsup("only 2-D pooling is supported (input " + ShapeToString(xs) + ")");
  const Shape nchw = NhwcToNchw(xs);
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> kernel, Window2("kernel_shape", 0, 1));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> strides, Window2("strides", 1, 1));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> dilations, Window2("dilations", 1, 1));
  if (dilations[0] != 1 || dilations[1] != 1) return Unsup("dilated pooling is not supported");
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> pads, Ints("pads"));
  if (pads.empty()) pads.assign(4, 0);
  if (pads.size() != 4) return Unsup("pads must have 4 values");
  for (int64_t p : pads) {
    if (p < 0 || p > kMaxWindow) return Bad("pad " + std::to_string(p) + " is out of range");
  }
  EV_ASSIGN_OR_RETURN(std::string auto_pad, Str("auto_pad", "NOTSET"));
  EV_RETURN_IF_ERROR(SamePads(auto_pad, nchw, kernel, strides, {1, 1}, &pads));
  EV_ASSIGN_OR_RETURN(int64_t ceil_mode, Int("ceil_mode", 0));
  EV_ASSIGN_OR_RETURN(int64_t include_pad, Int("count_include_pad", 0));
  const bool had_pads = pads[0] || pads[1] || pads[2] || pads[3];
  bool extended = false;
  if (ceil_mode != 0) {
    // ONNX (and PyTorch) ceil mode: the last window must start inside the
    // input or its begin padding; extend the end padding so that floor-mode
    // arithmetic gives the same output size. Padded positions never win a
    // max, and are not counted by an average (see below).
    for (int axis = 0; axis < 2; ++axis) {
      const int64_t in = nchw[2 + axis], k = kernel[axis], s = strides[axis];
      const int64_t padded = in + pads[axis] + pads[axis + 2];
      if (padded < k) return Bad("window does not fit the input");
      int64_t out = (padded - k + s - 1) / s + 1;
      if ((out - 1) * s >= in + pads[axis]) --out;
      const int64_t extra = (out - 1) * s + k - padded;
      if (extra > 0) {
        pads[axis + 2] += extra;
        extended = true;
      }
    }
  }
  graph::Attrs a;
  a.kernel_h = static_cast<int>(kernel[0]);
  a.kernel_w = static_cast<int>(kernel[1]);
  a.stride_h = static_cast<int>(strides[0]);
  a.stride_w = static_cast<int>(strides[1]);
  a.pad_top = static_cast<int>(pads[0]);
  a.pad_left = static_cast<int>(pads[1]);
  a.pad_bottom = static_cast<int>(pads[2]);
  a.pad_right = static_cast<int>(pads[3]);
  a.count_include_pad = include_pad != 0;
  if (extended) {
    ++ceil_pools_;
    if (!is_max && a.count_include_pad) {
      // PyTorch/ONNX Runtime divide ceil-mode windows by their size clipped
      // to the padded input; with no declared padding that is the count of
      // real elements, i.e. count_include_pad = 0.
      if (had_pads)
        return Unsup("ceil_mode with count_include_pad and explicit pads is not supported");
      a.count_include_pad = false;
    }
  }
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(is_max ? Op::kMaxPool2D : Op::kAvgPool2D, {x}, a, OutName()));
  return DefineAct(0, y);
}

Status Importer::GlobalPool() {
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  const Shape xs = IrShape(x);
  if (xs.size() != 4) return Unsup("input " + ShapeToString(xs) + " is not 4-D");
  ValueId y;
  if (node_->op_type() == "GlobalAveragePool") {
    EV_ASSIGN_OR_RETURN(y, Emit(Op::kGlobalAvgPool, {x}, {}, OutName()));
  } else {
    graph::Attrs a;
    a.kernel_h = static_cast<int>(xs[1]);
    a.kernel_w = static_cast<int>(xs[2]);
    EV_ASSIGN_OR_RETURN(y, Emit(Op::kMaxPool2D, {x}, a, OutName()));
  }
  return DefineAct(0, y);
}

Status Importer::LegacyPadding() {
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  const Shape xs = IrShape(x);
  if (xs.size() != 4) return Unsup("input " + ShapeToString(xs) + " is not 4-D");
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> kernel, Window2("kernel_shape", 0, 1));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> strides, Window2("strides", 1, 1));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> pads, Ints("pads"));
  if (pads.empty()) pads.assign(2, 0);
  if (pads.size() == 2) pads = {pads[0], pads[1], pads[0], pads[1]};
  if (pads.size() != 4) return Unsup("pads must have 2 or 4 values");
  for (int64_t p : pads) {
    if (p < 0 || p > kMaxWindow) return Bad("pad " + std::to_string(p) + " is out of range");
  }
  EV_ASSIGN_OR_RETURN(float value, Float("value", 0.0f));
  // Caffe's pooling output size: ceil((in + 2p - k) / s) + 1, minus one when
  // the last window would start in the end padding. The end is padded so a
  // VALID window over the result gives exactly that size.
  int64_t begin[2], end[2], outs[2];
  for (int axis = 0; axis < 2; ++axis) {
    const int64_t in = xs[1 + axis], k = kernel[axis], s = strides[axis];
    const int64_t pb = pads[axis], pe = pads[axis + 2];
    if (in + pb + pe < k) return Bad("window does not fit the input");
    int64_t out = (in + pb + pe - k + s - 1) / s + 1;
    if ((pb > 0 || pe > 0) && (out - 1) * s >= in + pb) --out;
    begin[axis] = pb;
    end[axis] = std::max<int64_t>(0, (out - 1) * s + k - in - pb);
    outs[axis] = out;
  }
  graph::Attrs a;
  a.ints = {0, begin[0], begin[1], 0, 0, end[0], end[1], 0};
  a.pad_value = value;
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kPad, {x}, a, OutName()));
  legacy_padding_.push_back("'" + (node_->name().empty() ? OutName() : node_->name()) + "' " +
                            std::to_string(xs[1]) + "x" + std::to_string(xs[2]) + " -> " +
                            std::to_string(outs[0]) + "x" + std::to_string(outs[1]) + " (+" +
                            std::to_string(end[0] - pads[2]) + " bottom, +" +
                            std::to_string(end[1] - pads[3]) + " right)");
  return DefineAct(0, y);
}

Status Importer::PadOp() {
  EV_ASSIGN_OR_RETURN(std::string mode, Str("mode", "constant"));
  if (mode != "constant") return Unsup("mode '" + mode + "' is not supported (only constant)");
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  const Shape xs = IrShape(x);
  const int64_t r = static_cast<int64_t>(xs.size());
  std::vector<int64_t> pads;
  float value = 0.0f;
  if (opset_ < 11) {
    EV_ASSIGN_OR_RETURN(pads, Ints(opset_ < 2 ? "paddings" : "pads"));
    EV_ASSIGN_OR_RETURN(value, Float("value", 0.0f));
  } else {
    EV_ASSIGN_OR_RETURN(pads, ConstInts(1, "pads"));
    if (Has(2)) {
      EV_ASSIGN_OR_RETURN(const Value* cv, ConstIn(2, "constant_value"));
      if (PayloadSize(*cv) != 1 || cv->dtype == DataType::kString)
        return Bad("constant_value must be a scalar");
      value = cv->dtype == DataType::kFloat32 ? cv->f32[0] : static_cast<float>(cv->i64[0]);
    }
    if (Has(3)) {
      EV_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ConstInts(3, "axes"));
      if (pads.size() != 2 * axes.size()) return Bad("pads do not match axes");
      std::vector<int64_t> full(2 * r, 0);
      for (size_t i = 0; i < axes.size(); ++i) {
        const int64_t a = NormAxis(axes[i], r);
        if (a < 0) return Bad("axis is out of range");
        full[a] = pads[i];
        full[a + r] = pads[i + axes.size()];
      }
      pads = full;
    }
  }
  if (static_cast<int64_t>(pads.size()) != 2 * r) {
    return Bad(std::to_string(pads.size()) + " pads for a rank-" + std::to_string(r) + " input");
  }
  for (int64_t p : pads) {
    if (p < 0) return Unsup("negative pads (cropping) are not supported");
    if (p > kMaxWindow) return Bad("pad " + std::to_string(p) + " is out of range");
  }
  graph::Attrs a;
  if (r == 4) {
    a.ints = {pads[0], pads[2], pads[3], pads[1], pads[4], pads[6], pads[7], pads[5]};
  } else {
    a.ints = pads;
  }
  a.pad_value = value;
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kPad, {x}, a, OutName()));
  return DefineAct(0, y);
}

Status Importer::BatchNormalization() {
  for (int k = 1; k < node_->output_size(); ++k) {
    if (OutputUsed(k)) return Unsup("training-mode outputs are not supported");
  }
  EV_ASSIGN_OR_RETURN(int64_t spatial, Int("spatial", 1));
  EV_ASSIGN_OR_RETURN(int64_t training, Int("training_mode", 0));
  if (training != 0) return Unsup("training_mode = 1 is not supported");
  EV_ASSIGN_OR_RETURN(float eps, Float("epsilon", 1e-5f));
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  const Shape xs = IrShape(x);
  if (xs.size() != 4 && xs.size() != 2)
    return Unsup("input " + ShapeToString(xs) + " is not 2-D or 4-D");
  const int64_t c = xs.back();
  std::vector<ValueId> ins = {x};
  static const char* const kRoles[] = {"scale", "bias", "mean", "var"};
  for (int i = 1; i <= 4; ++i) {
    EV_ASSIGN_OR_RETURN(const Value* p, ConstIn(i, kRoles[i - 1]));
    if (p->dtype != DataType::kFloat32 || graph::ShapeProduct(p->shape) != c) {
      return spatial == 0 ? Unsup("spatial = 0 is not supported")
                          : Bad(std::string(kRoles[i - 1]) + " " + ShapeToString(p->shape) +
                                " does not match " + std::to_string(c) + " channels");
    }
    ins.push_back(out_.graph.AddConstant(p->name, {c}, p->f32));
  }
  graph::Attrs a;
  a.epsilon = eps;
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kBatchNorm, ins, a, OutName()));
  return DefineAct(0, y);
}

Status Importer::ImageScaler() {
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  const Shape xs = IrShape(x);
  if (xs.size() != 4) return Unsup("input " + ShapeToString(xs) + " is not 4-D");
  EV_ASSIGN_OR_RETURN(float scale, Float("scale", 1.0f));
  EV_ASSIGN_OR_RETURN(std::vector<float> bias, Floats("bias"));
  if (!bias.empty() && static_cast<int64_t>(bias.size()) != xs[3]) {
    return Bad(std::to_string(bias.size()) + " bias values for " + std::to_string(xs[3]) +
               " channels");
  }
  const bool zero_bias = std::all_of(bias.begin(), bias.end(), [](float b) { return b == 0.0f; });
  const std::string name = node_->name().empty() ? OutName() : node_->name();
  ValueId y = x;
  if (scale == 1.0f && zero_bias) {
    EV_ASSIGN_OR_RETURN(y, Emit(Op::kIdentity, {x}, {}, OutName()));
    notes_.push_back("ImageScaler '" + name + "' has scale 1 and zero bias: an identity");
    return DefineAct(0, y);
  }
  if (scale != 1.0f) {
    const ValueId s = AddFloatConst(name + "/scale", {1}, {scale});
    EV_ASSIGN_OR_RETURN(y,
                        Emit(Op::kMul, {y, s}, {}, zero_bias ? OutName() : OutName() + "/scaled"));
  }
  if (!zero_bias) {
    const ValueId b = AddFloatConst(name + "/bias", {xs[3]}, bias);
    EV_ASSIGN_OR_RETURN(y, Emit(Op::kAdd, {y, b}, {}, OutName()));
  }
  notes_.push_back("ImageScaler '" + name + "' became a per-channel Mul/Add");
  return DefineAct(0, y);
}

Status Importer::Unary() {
  const std::string& op = node_->op_type();
  if (op == "Dropout" && OutputUsed(1)) return Unsup("the mask output is not supported");
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  graph::Attrs a;
  Op ir = Op::kIdentity;
  if (op == "Relu") {
    ir = Op::kRelu;
  } else if (op == "Sigmoid") {
    ir = Op::kSigmoid;
  } else if (op == "HardSwish") {
    ir = Op::kHardSwish;
  } else if (op == "LeakyRelu") {
    ir = Op::kLeakyRelu;
    EV_ASSIGN_OR_RETURN(a.alpha, Float("alpha", 0.01f));
  } else if (op == "Neg") {
    ir = Op::kNeg;
  } else if (op == "Sqrt") {
    ir = Op::kSqrt;
  }
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(ir, {x}, a, OutName()));
  return DefineAct(0, y);
}

Status Importer::Clip() {
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  graph::Attrs a;
  if (opset_ < 11) {
    EV_ASSIGN_OR_RETURN(a.act_min, Float("min", -kInf));
    EV_ASSIGN_OR_RETURN(a.act_max, Float("max", kInf));
  } else {
    for (int i = 1; i <= 2; ++i) {
      if (!Has(i)) continue;
      EV_ASSIGN_OR_RETURN(const Value* v, ConstIn(i, i == 1 ? "min" : "max"));
      if (PayloadSize(*v) != 1 || v->dtype == DataType::kString)
        return Bad("min/max must be scalars");
      const float f = v->dtype == DataType::kFloat32 ? v->f32[0] : static_cast<float>(v->i64[0]);
      (i == 1 ? a.act_min : a.act_max) = f;
    }
  }
  if (std::isnan(a.act_min) || std::isnan(a.act_max) || a.act_min > a.act_max) {
    return Bad("min is above max");
  }
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kClamp, {x}, a, OutName()));
  return DefineAct(0, y);
}

// Max(x, c) / Min(x, c) with a one-element constant c: a clamp (how some
// converters write Relu6).
Status Importer::MinMax() {
  if (node_->input_size() != 2)
    return Unsup("only Max/Min of a tensor and one constant is supported");
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t0, In(0));
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t1, In(1));
  if (t0->is_const == t1->is_const)
    return Unsup("only Max/Min of a tensor and one constant is supported");
  const Value& c = t0->is_const ? t0->c : t1->c;
  if (PayloadSize(c) != 1 || c.dtype == DataType::kString) {
    return Unsup("only Max/Min with a one-element constant is supported");
  }
  const float v = c.dtype == DataType::kFloat32 ? c.f32[0] : static_cast<float>(c.i64[0]);
  if (std::isnan(v)) return Bad("the bound is NaN");
  const OnnxTensor& xt = t0->is_const ? *t1 : *t0;
  if (c.shape.size() > OnnxShape(xt).size())
    return Unsup("the constant has a higher rank than the tensor");
  EV_ASSIGN_OR_RETURN(ValueId x, Act(t0->is_const ? 1 : 0));
  graph::Attrs a;
  (node_->op_type() == "Max" ? a.act_min : a.act_max) = v;
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kClamp, {x}, a, OutName()));
  return DefineAct(0, y);
}

Status Importer::HardSigmoid() {
  EV_ASSIGN_OR_RETURN(float alpha, Float("alpha", 0.2f));
  EV_ASSIGN_OR_RETURN(float beta, Float("beta", 0.5f));
  // x * HardSigmoid(x; 1/6, 0.5) is HardSwish(x): leave it to that Mul.
  auto users = consumers_.find(OutName());
  if (std::fabs(alpha - 1.0f / 6.0f) < 1e-6f && beta == 0.5f && users != consumers_.end() &&
      users->second.size() == 1 && OutName() != score_name_) {
    const onnx::NodeProto* mul = users->second[0];
    if (mul->op_type() == "Mul" && mul->input_size() == 2 &&
        ((mul->input(0) == OutName() && mul->input(1) == node_->input(0)) ||
         (mul->input(1) == OutName() && mul->input(0) == node_->input(0)))) {
      hardsigmoid_fused_.insert(OutName());
      return Status::Ok();
    }
  }
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  const std::string name = node_->name().empty() ? OutName() : node_->name();
  const ValueId av = AddFloatConst(name + "/alpha", {1}, {alpha});
  const ValueId bv = AddFloatConst(name + "/beta", {1}, {beta});
  EV_ASSIGN_OR_RETURN(ValueId scaled, Emit(Op::kMul, {x, av}, {}, OutName() + "/scaled"));
  graph::Attrs clamp01;
  clamp01.act_min = 0.0f;
  clamp01.act_max = 1.0f;
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kAdd, {scaled, bv}, clamp01, OutName()));
  return DefineAct(0, y);
}

Status Importer::Softmax() {
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(0));
  const Shape s = OnnxShape(*t);
  const int64_t r = static_cast<int64_t>(s.size());
  EV_ASSIGN_OR_RETURN(int64_t axis, Int("axis", opset_ >= 13 ? -1 : 1));
  axis = NormAxis(axis, r);
  if (axis < 0) return Bad("axis is out of range");
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  const int64_t ir_axis = r == 4 ? kNchwToNhwcAxis[axis] : axis;
  graph::Attrs a;
  a.axis = static_cast<int>(r - 1);
  int64_t trailing = 1;  // elements after `axis`
  for (int64_t d = axis + 1; d < r; ++d) trailing *= s[d];
  // A softmax over the single axis `axis`: always from opset 13; before, the
  // 2-D coercion over [axis..] is that when only 1s follow `axis`.
  const bool per_axis = opset_ >= 13 || trailing == 1;
  if (per_axis && ir_axis == r - 1) {
    EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kSoftmax, {x}, a, OutName()));
    return DefineAct(0, y);
  }
  if (per_axis) {
    // An axis that is not the IR's last (ONNX channels of a 4-D tensor are):
    // swap it to the end and back.
    graph::Attrs swap;
    for (int64_t d = 0; d < r; ++d) swap.ints.push_back(d);
    std::swap(swap.ints[ir_axis], swap.ints[r - 1]);
    EV_ASSIGN_OR_RETURN(ValueId moved, Emit(Op::kTranspose, {x}, swap, OutName() + "/axis_last"));
    EV_ASSIGN_OR_RETURN(ValueId sm, Emit(Op::kSoftmax, {moved}, a, OutName() + "/softmax"));
    EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kTranspose, {sm}, swap, OutName()));
    layout_transposes_ += 2;
    return DefineAct(0, y);
  }
  // Before opset 13, Softmax flattens [d0..d(axis-1)] x [d(axis)..] to 2-D.
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= s[d];
  EV_ASSIGN_OR_RETURN(ValueId flat,
                      ReshapeOnnx(x, {outer, graph::ShapeProduct(s) / outer}, OutName() + "/2d"));
  a.axis = 1;
  EV_ASSIGN_OR_RETURN(ValueId sm, Emit(Op::kSoftmax, {flat}, a, OutName() + "/softmax2d"));
  EV_ASSIGN_OR_RETURN(ValueId y, ReshapeOnnx(sm, s, OutName()));
  return DefineAct(0, y);
}

Status Importer::Binary() {
  const std::string& op = node_->op_type();
  const Op ir = op == "Add" ? Op::kAdd : op == "Sub" ? Op::kSub : op == "Mul" ? Op::kMul : Op::kDiv;
  // x * HardSigmoid(x) -> HardSwish(x).
  if (ir == Op::kMul && node_->input_size() == 2) {
    for (int k = 0; k < 2; ++k) {
      if (hardsigmoid_fused_.count(node_->input(k))) {
        EV_ASSIGN_OR_RETURN(ValueId x, Act(1 - k));
        EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kHardSwish, {x}, {}, OutName()));
        ++fused_hardswish_;
        return DefineAct(0, y);
      }
    }
  }
  EV_ASSIGN_OR_RETURN(const OnnxTensor* ta, In(0));
  EV_ASSIGN_OR_RETURN(const OnnxTensor* tb, In(1));
  Shape sa = OnnxShape(*ta), sb = OnnxShape(*tb);
  OnnxTensor b = *tb;
  EV_ASSIGN_OR_RETURN(int64_t legacy, Int("broadcast", 0));
  if (opset_ < 7 && legacy != 0) {
    const int64_t ra = static_cast<int64_t>(sa.size()), rb = static_cast<int64_t>(sb.size());
    EV_ASSIGN_OR_RETURN(int64_t axis, Int("axis", ra - rb));
    if (axis < 0) axis += ra;
    if (axis < 0 || axis + rb > ra) return Bad("legacy broadcast axis is out of range");
    Shape aligned = sb;
    while (static_cast<int64_t>(aligned.size()) < ra - axis) aligned.push_back(1);
    if (aligned != sb) {
      if (b.is_const) {
        b.c.shape = aligned;
      } else {
        EV_ASSIGN_OR_RETURN(b.id, ReshapeOnnx(b.id, aligned, node_->input(1) + "/aligned"));
      }
      sb = aligned;
      ++legacy_broadcasts_;
    }
  }
  Result<Shape> out_shape = graph::BroadcastShape(sa, sb);
  if (!out_shape.ok()) return Bad(out_shape.status().message());
  const size_t r = out_shape->size();
  EV_ASSIGN_OR_RETURN(ValueId va, Operand(*ta, r, node_->input(0)));
  EV_ASSIGN_OR_RETURN(ValueId vb, Operand(b, r, node_->input(1)));
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(ir, {va, vb}, {}, OutName()));
  return DefineAct(0, y);
}

Status Importer::Sum() {
  if (node_->input_size() < 1) return Bad("has no inputs");
  std::vector<const OnnxTensor*> ts;
  Shape out_shape;
  for (int i = 0; i < node_->input_size(); ++i) {
    EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(i));
    Result<Shape> s = graph::BroadcastShape(out_shape, OnnxShape(*t));
    if (!s.ok()) return Bad(s.status().message());
    out_shape = *s;
    ts.push_back(t);
  }
  EV_ASSIGN_OR_RETURN(ValueId acc, Operand(*ts[0], out_shape.size(), node_->input(0)));
  for (size_t i = 1; i < ts.size(); ++i) {
    EV_ASSIGN_OR_RETURN(ValueId v, Operand(*ts[i], out_shape.size(), node_->input(i)));
    const std::string name =
        i + 1 == ts.size() ? OutName() : OutName() + "/sum" + std::to_string(i);
    EV_ASSIGN_OR_RETURN(acc, Emit(Op::kAdd, {acc, v}, {}, name));
  }
  if (ts.size() == 1) {
    EV_ASSIGN_OR_RETURN(acc, Emit(Op::kIdentity, {acc}, {}, OutName()));
  }
  return DefineAct(0, acc);
}

Status Importer::Concat() {
  EV_ASSIGN_OR_RETURN(const OnnxTensor* first, In(0));
  const int64_t r = static_cast<int64_t>(OnnxShape(*first).size());
  EV_ASSIGN_OR_RETURN(int64_t axis, Int("axis", opset_ < 4 ? 1 : INT64_MAX));
  if (axis == INT64_MAX) return Bad("attribute 'axis' is missing");
  axis = NormAxis(axis, r);
  if (axis < 0) return Bad("axis is out of range");
  std::vector<ValueId> ins;
  for (int i = 0; i < node_->input_size(); ++i) {
    if (!Has(i)) continue;
    EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(i));
    if (static_cast<int64_t>(OnnxShape(*t).size()) != r) return Bad("inputs have different ranks");
    EV_ASSIGN_OR_RETURN(ValueId v, Operand(*t, r, node_->input(i), /*keep_rank=*/true));
    ins.push_back(v);
  }
  graph::Attrs a;
  a.axis = static_cast<int>(r == 4 ? kNchwToNhwcAxis[axis] : axis);
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kConcat, ins, a, OutName()));
  return DefineAct(0, y);
}

// Reshape, Flatten, Squeeze, Unsqueeze on an activation.
Status Importer::ReshapeLike() {
  const std::string& op = node_->op_type();
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(0));
  const Shape s = OnnxShape(*t);
  const int64_t r = static_cast<int64_t>(s.size());
  Shape target;
  if (op == "Reshape") {
    std::vector<int64_t> want;
    if (opset_ < 5) {
      EV_ASSIGN_OR_RETURN(want, Ints("shape"));
    } else {
      EV_ASSIGN_OR_RETURN(want, ConstInts(1, "shape"));
    }
    EV_ASSIGN_OR_RETURN(int64_t allowzero, Int("allowzero", 0));
    EV_ASSIGN_OR_RETURN(target, ResolveReshape(s, want, allowzero != 0, Where()));
  } else if (op == "Flatten") {
    EV_ASSIGN_OR_RETURN(int64_t axis, Int("axis", 1));
    if (axis < 0) axis += r;
    if (axis < 0 || axis > r) return Bad("axis is out of range");
    int64_t outer = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= s[d];
    target = {outer, graph::ShapeProduct(s) / outer};
  } else {
    std::vector<int64_t> axes;
    if (opset_ >= 13 && Has(1)) {
      EV_ASSIGN_OR_RETURN(axes, ConstInts(1, "axes"));
    } else {
      EV_ASSIGN_OR_RETURN(axes, Ints("axes"));
    }
    if (op == "Unsqueeze") {
      const int64_t out_r = r + static_cast<int64_t>(axes.size());
      if (out_r > static_cast<int64_t>(graph::kMaxRank)) return Bad("result rank is too large");
      std::vector<bool> added(out_r, false);
      for (int64_t a : axes) {
        const int64_t k = NormAxis(a, out_r);
        if (k < 0 || added[k]) return Bad("axes are out of range or repeated");
        added[k] = true;
      }
      size_t j = 0;
      for (int64_t d = 0; d < out_r; ++d) target.push_back(added[d] ? 1 : s[j++]);
    } else {
      std::vector<bool> drop(r, axes.empty());
      for (int64_t a : axes) {
        const int64_t k = NormAxis(a, r);
        if (k < 0 || s[k] != 1)
          return Bad("cannot squeeze axis " + std::to_string(a) + " of " + ShapeToString(s));
        drop[k] = true;
      }
      for (int64_t d = 0; d < r; ++d) {
        if (!(drop[d] && s[d] == 1)) target.push_back(s[d]);
      }
    }
  }
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  EV_ASSIGN_OR_RETURN(ValueId y, ReshapeOnnx(x, target, OutName()));
  return DefineAct(0, y);
}

Status Importer::Transpose() {
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(0));
  const int64_t r = static_cast<int64_t>(OnnxShape(*t).size());
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> perm, Ints("perm"));
  if (perm.empty()) {
    for (int64_t d = r; d-- > 0;) perm.push_back(d);
  }
  if (static_cast<int64_t>(perm.size()) != r) return Bad("perm does not match the rank");
  std::vector<bool> seen(r, false);
  for (int64_t& p : perm) {
    p = NormAxis(p, r);
    if (p < 0 || seen[p]) return Bad("perm is not a permutation");
    seen[p] = true;
  }
  // IR axis i of the output holds ONNX output axis Ly[i] = ONNX input axis
  // perm[Ly[i]], found at IR input axis Lx^-1[perm[Ly[i]]].
  std::vector<int64_t> ir(r);
  for (int64_t i = 0; i < r; ++i) {
    const int64_t onnx_out = r == 4 ? kNhwcToNchwAxis[i] : i;
    const int64_t onnx_in = perm[onnx_out];
    ir[i] = r == 4 ? kNchwToNhwcAxis[onnx_in] : onnx_in;
  }
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  graph::Attrs a;
  a.ints = ir;
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kTranspose, {x}, a, OutName()));
  return DefineAct(0, y);
}

Status Importer::ReduceMean() {
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(0));
  const Shape s = OnnxShape(*t);
  const int64_t r = static_cast<int64_t>(s.size());
  std::vector<int64_t> axes;
  if (opset_ >= 18) {
    if (Has(1)) {
      EV_ASSIGN_OR_RETURN(axes, ConstInts(1, "axes"));
    }
  } else {
    EV_ASSIGN_OR_RETURN(axes, Ints("axes"));
  }
  EV_ASSIGN_OR_RETURN(int64_t keepdims, Int("keepdims", 1));
  EV_ASSIGN_OR_RETURN(int64_t noop, Int("noop_with_empty_axes", 0));
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  if (axes.empty() && noop != 0) {
    EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kIdentity, {x}, {}, OutName()));
    return DefineAct(0, y);
  }
  if (axes.empty()) {
    for (int64_t d = 0; d < r; ++d) axes.push_back(d);
  }
  std::vector<bool> reduced(r, false);
  graph::Attrs a;
  for (int64_t ax : axes) {
    const int64_t k = NormAxis(ax, r);
    if (k < 0 || reduced[k]) return Bad("axes are out of range or repeated");
    reduced[k] = true;
    a.ints.push_back(r == 4 ? kNchwToNhwcAxis[k] : k);
  }
  std::sort(a.ints.begin(), a.ints.end());
  a.keep_dims = true;
  EV_ASSIGN_OR_RETURN(
      ValueId kept, Emit(Op::kReduceMean, {x}, a, keepdims ? OutName() : OutName() + "/keepdims"));
  if (keepdims) return DefineAct(0, kept);
  Shape squeezed;
  for (int64_t d = 0; d < r; ++d) {
    if (!reduced[d]) squeezed.push_back(s[d]);
  }
  EV_ASSIGN_OR_RETURN(ValueId y, ReshapeOnnx(kept, squeezed, OutName()));
  return DefineAct(0, y);
}

// FullyConnected of [N,K] activation `x` by `w` [O,K] with an optional bias
// (any shape holding O or 1 values, scaled by beta).
Result<ValueId> Importer::FullyConnected(ValueId x, Value w, const Value* bias, float beta) {
  const int64_t o = w.shape[0];
  const ValueId wid = out_.graph.AddConstant(w.name, w.shape, std::move(w.f32));
  ValueId bid = kNoValue;
  if (bias != nullptr) {
    if (bias->dtype != DataType::kFloat32) return Bad("bias is not float");
    const int64_t n = graph::ShapeProduct(bias->shape);
    if (n != o && n != 1) {
      return Unsup("bias " + ShapeToString(bias->shape) + " is not per output (" +
                   std::to_string(o) + ")");
    }
    std::vector<float> b(o);
    for (int64_t i = 0; i < o; ++i) b[i] = bias->f32[n == 1 ? 0 : i] * beta;
    bid = out_.graph.AddConstant(bias->name, {o}, std::move(b));
  }
  return Emit(Op::kFullyConnected, {x, wid, bid}, {}, OutName());
}

Status Importer::Gemm() {
  EV_ASSIGN_OR_RETURN(int64_t trans_a, Int("transA", 0));
  EV_ASSIGN_OR_RETURN(int64_t trans_b, Int("transB", 0));
  EV_ASSIGN_OR_RETURN(float alpha, Float("alpha", 1.0f));
  EV_ASSIGN_OR_RETURN(float beta, Float("beta", 1.0f));
  if (trans_a != 0) return Unsup("transA = 1 is not supported");
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  if (IrShape(x).size() != 2) return Bad("input " + ShapeToString(IrShape(x)) + " is not 2-D");
  EV_ASSIGN_OR_RETURN(const Value* b, ConstIn(1, "B (weights)"));
  if (b->dtype != DataType::kFloat32 || b->shape.size() != 2)
    return Unsup("B must be a 2-D float constant");
  Value w = trans_b ? *b : TransposeValue(*b, {1, 0});
  if (alpha != 1.0f) {
    for (float& v : w.f32) v *= alpha;
  }
  const Value* c = nullptr;
  if (Has(2)) {
    EV_ASSIGN_OR_RETURN(c, ConstIn(2, "C (bias)"));
  }
  EV_ASSIGN_OR_RETURN(ValueId y, FullyConnected(x, std::move(w), c, beta));
  return DefineAct(0, y);
}

// The experimental FC op of early WinMLTools: Gemm with transB = 1 after
// flattening X at `axis` and W at `axis_w`.
Status Importer::FC() {
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(0));
  const Shape s = OnnxShape(*t);
  EV_ASSIGN_OR_RETURN(int64_t axis, Int("axis", 1));
  EV_ASSIGN_OR_RETURN(int64_t axis_w, Int("axis_w", 1));
  const int64_t r = static_cast<int64_t>(s.size());
  if (axis < 1 || axis > r) return Bad("axis is out of range");
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  if (r != 2 || axis != 1) {
    int64_t outer = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= s[d];
    EV_ASSIGN_OR_RETURN(
        x, ReshapeOnnx(x, {outer, graph::ShapeProduct(s) / outer}, OutName() + "/flat"));
  }
  EV_ASSIGN_OR_RETURN(const Value* w, ConstIn(1, "W (weights)"));
  if (w->dtype != DataType::kFloat32) return Unsup("W must be float");
  const int64_t rw = static_cast<int64_t>(w->shape.size());
  if (axis_w < 1 || axis_w >= std::max<int64_t>(rw, 2)) return Bad("axis_w is out of range");
  int64_t outer = 1;
  for (int64_t d = 0; d < axis_w; ++d) outer *= w->shape[d];
  Value w2 = *w;
  w2.shape = {outer, graph::ShapeProduct(w->shape) / std::max<int64_t>(outer, 1)};
  const Value* b = nullptr;
  if (Has(2)) {
    EV_ASSIGN_OR_RETURN(b, ConstIn(2, "B (bias)"));
  }
  EV_ASSIGN_OR_RETURN(ValueId y, FullyConnected(x, std::move(w2), b, 1.0f));
  ++fc_ops_;
  return DefineAct(0, y);
}

Status Importer::MatMul() {
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  if (IrShape(x).size() != 2)
    return Unsup("only [N,K] x [K,O] is supported (input " + ShapeToString(IrShape(x)) + ")");
  EV_ASSIGN_OR_RETURN(const Value* b, ConstIn(1, "B (weights)"));
  if (b->dtype != DataType::kFloat32 || b->shape.size() != 2)
    return Unsup("B must be a 2-D float constant");
  EV_ASSIGN_OR_RETURN(ValueId y, FullyConnected(x, TransposeValue(*b, {1, 0}), nullptr, 1.0f));
  return DefineAct(0, y);
}

Status Importer::Constant() {
  Value v;
  int f16 = 0;
  if (node_->attribute_size() != 1) return Bad("must have exactly one attribute");
  const onnx::AttributeProto& a = node_->attribute(0);
  const std::string& n = a.name();
  if (n == "value") {
    if (!a.has_t()) return Bad("attribute 'value' is not a tensor");
    EV_ASSIGN_OR_RETURN(v, DecodeTensor(a.t(), Where() + ": value", &f16));
  } else if (n == "value_float") {
    EV_ASSIGN_OR_RETURN(float f, Float(n, 0.0f));
    v.f32 = {f};
  } else if (n == "value_floats") {
    EV_ASSIGN_OR_RETURN(v.f32, Floats(n));
    v.shape = {static_cast<int64_t>(v.f32.size())};
  } else if (n == "value_int") {
    EV_ASSIGN_OR_RETURN(int64_t i, Int(n, 0));
    v.dtype = DataType::kInt64;
    v.i64 = {i};
  } else if (n == "value_ints") {
    v.dtype = DataType::kInt64;
    EV_ASSIGN_OR_RETURN(v.i64, Ints(n));
    v.shape = {static_cast<int64_t>(v.i64.size())};
  } else if (n == "value_string") {
    v.dtype = DataType::kString;
    EV_ASSIGN_OR_RETURN(std::string s, Str(n, ""));
    v.str = {s};
  } else if (n == "value_strings") {
    v.dtype = DataType::kString;
    EV_ASSIGN_OR_RETURN(v.str, Strings(n));
    v.shape = {static_cast<int64_t>(v.str.size())};
  } else {
    return Unsup("attribute '" + n + "' (sparse or unknown constant) is not supported");
  }
  float16_tensors_ += f16;
  return DefineConst(0, std::move(v));
}

Status Importer::Cast() {
  EV_ASSIGN_OR_RETURN(int64_t to, Int("to", 0));
  if (!IsFloatType(static_cast<int>(to))) {
    return Unsup("cast of an activation to " + OnnxTypeName(static_cast<int>(to)) +
                 " is not supported");
  }
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kIdentity, {x}, {}, OutName()));
  ++float_casts_;
  return DefineAct(0, y);
}

Status Importer::Tail() {
  return Unsup(
      "is only supported as part of the classifier tail (ZipMap / ArgMax / "
      "ArrayFeatureExtractor after the scores)");
}

Status Importer::TranslateNode(const onnx::NodeProto& node) {
  node_ = &node;
  const std::string& d = node.domain();
  const bool std_domain = d.empty() || d == "ai.onnx";
  op_ = std_domain ? node.op_type() : d + "." + node.op_type();
  if (node.output_size() < 1 || node.output(0).empty()) return Bad("has no output");
  if (std_domain) {
    EV_ASSIGN_OR_RETURN(bool folded, TryFold());
    if (folded) return Status::Ok();
  }
  static const std::map<std::string, Translator> kStandard = {
      {"Conv", &Importer::Conv},
      {"MaxPool", &Importer::Pool},
      {"AveragePool", &Importer::Pool},
      {"GlobalAveragePool", &Importer::GlobalPool},
      {"GlobalMaxPool", &Importer::GlobalPool},
      {"Pad", &Importer::PadOp},
      {"BatchNormalization", &Importer::BatchNormalization},
      {"ImageScaler", &Importer::ImageScaler},
      {"Relu", &Importer::Unary},
      {"Sigmoid", &Importer::Unary},
      {"HardSwish", &Importer::Unary},
      {"LeakyRelu", &Importer::Unary},
      {"Identity", &Importer::Unary},
      {"Dropout", &Importer::Unary},
      {"Neg", &Importer::Unary},
      {"Sqrt", &Importer::Unary},
      {"Clip", &Importer::Clip},
      {"Max", &Importer::MinMax},
      {"Min", &Importer::MinMax},
      {"HardSigmoid", &Importer::HardSigmoid},
      {"Softmax", &Importer::Softmax},
      {"Add", &Importer::Binary},
      {"Sub", &Importer::Binary},
      {"Mul", &Importer::Binary},
      {"Div", &Importer::Binary},
      {"Sum", &Importer::Sum},
      {"Concat", &Importer::Concat},
      {"Reshape", &Importer::ReshapeLike},
      {"Flatten", &Importer::ReshapeLike},
      {"Squeeze", &Importer::ReshapeLike},
      {"Unsqueeze", &Importer::ReshapeLike},
      {"Transpose", &Importer::Transpose},
      {"ReduceMean", &Importer::ReduceMean},
      {"Gemm", &Importer::Gemm},
      {"FC", &Importer::FC},
      {"MatMul", &Importer::MatMul},
      {"Constant", &Importer::Constant},
      {"Cast", &Importer::Cast},
      {"ArgMax", &Importer::Tail},
  };
  Translator t = nullptr;
  if (std_domain) {
    auto it = kStandard.find(node.op_type());
    if (it != kStandard.end()) t = it->second;
  } else if (d == "com.microsoft" && node.op_type() == "LegacyPadding") {
    t = &Importer::LegacyPadding;
  } else if (d == "ai.onnx.ml" &&
             (node.op_type() == "ZipMap" || node.op_type() == "ArrayFeatureExtractor")) {
    t = &Importer::Tail;
  }
  if (t == nullptr) return Unsup("op " + op_ + " is not supported");
  return (this->*t)();
}

Result<ImportedModel> Importer::Run() {
  EV_RETURN_IF_ERROR(ReadHeader());
  if (!model_.has_graph()) return Corrupt(label_ + ": the model has no graph");
  EV_RETURN_IF_ERROR(ReadInitializers());
  EV_RETURN_IF_ERROR(ReadInput());
  EV_ASSIGN_OR_RETURN(std::vector<const onnx::NodeProto*> order, SortNodes());
  EV_ASSIGN_OR_RETURN(std::vector<const onnx::NodeProto*> live, CutTail(order));
  for (const onnx::NodeProto* node : live) EV_RETURN_IF_ERROR(TranslateNode(*node));
  node_ = nullptr;

  auto it = tensors_.find(score_name_);
  if (it == tensors_.end())
    return Corrupt(label_ + ": output '" + score_name_ + "' is never produced");
  if (it->second.is_const)
    return Unsupported(label_ + ": output '" + score_name_ + "' is a constant");
  Graph& g = out_.graph;
  const ValueId output = it->second.id;
  if (output == g.inputs[0]) return Unsupported(label_ + ": the output is the input");
  g.outputs = {output};

  // The activation that produces the scores, looking through shape-only ops.
  out_.output_activation = "none";
  for (ValueId v = output;;) {
    const int p = g.ProducerOf(v);
    if (p < 0) break;
    const Op op = g.nodes[p].op;
    if (op == Op::kSigmoid) out_.output_activation = "sigmoid";
    if (op == Op::kSoftmax) out_.output_activation = "softmax";
    if (op != Op::kIdentity && op != Op::kReshape && op != Op::kTranspose) break;
    v = g.nodes[p].inputs[0];
  }

  if (!legacy_padding_.empty()) {
    std::string list;
    for (const std::string& s : legacy_padding_) list += (list.empty() ? "" : "; ") + s;
    out_.rewrites.push_back("rewrote " + std::to_string(legacy_padding_.size()) +
                            " com.microsoft.LegacyPadding (Caffe ceil-mode pooling) into Pad "
                            "with the extra bottom/right padding ceil mode implies: " +
                            list);
  }
  if (legacy_broadcasts_ > 0) {
    out_.rewrites.push_back("read " + std::to_string(legacy_broadcasts_) +
                            " legacy broadcast=1 operands (opset < 7) with their axis");
  }
  if (fc_ops_ > 0) {
    out_.rewrites.push_back("translated " + std::to_string(fc_ops_) +
                            " experimental FC op(s) as FullyConnected (Gemm with transB = 1)");
  }
  if (ceil_pools_ > 0) {
    out_.rewrites.push_back("gave " + std::to_string(ceil_pools_) +
                            " ceil_mode pools the extra end padding ceil mode implies");
  }
  if (fused_hardswish_ > 0) {
    out_.rewrites.push_back("fused " + std::to_string(fused_hardswish_) +
                            " x * HardSigmoid(x; 1/6, 0.5) into HardSwish");
  }
  if (!folded_ops_.empty()) {
    int total = 0;
    std::string ops;
    for (const auto& [op, n] : folded_ops_) {
      total += n;
      ops += (ops.empty() ? "" : ", ") + op;
    }
    out_.rewrites.push_back("evaluated " + std::to_string(total) +
                            " nodes on constants at import (" + ops + "), taking the batch as 1");
  }
  if (float16_tensors_ > 0) {
    out_.rewrites.push_back("converted " + std::to_string(float16_tensors_) +
                            " float16 tensors to float32");
  }
  if (float_casts_ > 0) {
    out_.rewrites.push_back("computing in float32: " + std::to_string(float_casts_) +
                            " Cast nodes between float types became identities");
  }
  if (layout_transposes_ > 0) {
    out_.rewrites.push_back("inserted " + std::to_string(layout_transposes_) +
                            " Transpose nodes so reshapes of 4-D tensors keep ONNX's NCHW "
                            "element order");
  }
  for (const std::string& note : notes_) out_.rewrites.push_back(note);

  g.values[g.inputs[0]].shape[0] = -1;
  Status valid = graph::Validate(g);
  if (!valid.ok()) return Internal(label_ + ": imported graph is invalid: " + valid.message());
  return std::move(out_);
}

}  // namespace

Result<ImportedModel> ImportOnnx(std::span<const uint8_t> bytes, const std::string& file_label) {
  if (bytes.empty()) return Corrupt(file_label + ": the ONNX file is empty");
  if (bytes.size() > kMaxModelFileBytes) {
    return ResourceExhausted(file_label + ": " + std::to_string(bytes.size()) +
                             " bytes exceed the ONNX size limit of " +
                             std::to_string(kMaxModelFileBytes));
  }
  onnx::ModelProto model;
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Corrupt(file_label + ": not a valid ONNX model (protobuf parsing failed)");
  }
  if (model.ir_version() < 1 || !model.has_graph()) {
    return Corrupt(file_label + ": not an ONNX model (no ir_version or graph)");
  }
  Importer importer(model, file_label);
  return importer.Run();
}

}  // namespace edgevision::model
