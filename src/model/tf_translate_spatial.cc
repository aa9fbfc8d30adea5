// The TensorFlow importer's spatial ops: Placeholder, Conv2D and
// DepthwiseConv2dNative, MaxPool/AvgPool, MatMul, BiasAdd, FusedBatchNorm,
// Pad (model/tf_importer_internal.h).
#include <algorithm>

#include "graph/shape_inference.h"
#include "model/tf_importer_internal.h"

namespace edgevision::model::tf_import {

Status TfImporter::TranslatePlaceholder(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  const tf::AttrValue* dtype = FindAttr(n, "dtype");
  if (!dtype || dtype->value_case() != tf::AttrValue::kType)
    return CorruptAt(n, "no 'dtype' attribute");
  if (dtype->type() != tf::DT_FLOAT) {
    return UnsupportedAt(
        n, "input of type " + tf::DataType_Name(dtype->type()) + " (only float32 images)");
  }
  const tf::AttrValue* shape_attr = FindAttr(n, "shape");
  if (!shape_attr || shape_attr->value_case() != tf::AttrValue::kShape ||
      shape_attr->shape().unknown_rank()) {
    return UnsupportedAt(n, "the input has no declared shape");
  }
  Shape shape;
  for (const auto& d : shape_attr->shape().dim()) {
    if (d.size() < -1 || d.size() > kMaxConstElements)
      return CorruptAt(n, "input dimension out of range");
    shape.push_back(d.size());
  }
  if (shape.size() != 4 || shape[1] <= 0 || shape[2] <= 0 || shape[3] <= 0) {
    return UnsupportedAt(
        n, "input shape " + ShapeToString(shape) + " is not [batch,H,W,C] with a static H, W, C");
  }
  EV_RETURN_IF_ERROR(CheckInputImage(shape[1], shape[2], shape[3], Where(n) + ": input shape"));
  placeholder_ = node_index;
  Shape graph_shape = shape;
  graph_shape[0] = -1;
  const ValueId id = NewActivation(n.name(), graph_shape);
  graph_.inputs.push_back(id);
  SetOutput(node_index, id);
  return Status::Ok();
}

Result<std::vector<int>> TfImporter::Window(const tf::NodeDef& n, const std::string& attr,
                                            bool required) const {
  EV_ASSIGN_OR_RETURN(
      std::vector<int64_t> v,
      IntListAttr(n, attr,
                  required ? std::nullopt : std::optional<std::vector<int64_t>>({1, 1, 1, 1})));
  if (v.size() != 4) return CorruptAt(n, "attribute '" + attr + "' must have 4 entries");
  for (int64_t x : v) {
    if (x < 1 || x > kMaxWindow)
      return CorruptAt(n, "attribute '" + attr + "' has an entry out of range");
  }
  if (v[0] != 1 || v[3] != 1)
    return UnsupportedAt(n, "attribute '" + attr + "' acts on batch or channels");
  return std::vector<int>{static_cast<int>(v[1]), static_cast<int>(v[2])};
}

Status TfImporter::SpatialPads(const tf::NodeDef& n, const Shape* in, int64_t kh, int64_t kw,
                               int sh, int sw, int dh, int dw, graph::Attrs* attrs) {
  EV_ASSIGN_OR_RETURN(std::string padding, StringAttr(n, "padding", std::nullopt));
  if (padding == "VALID") return Status::Ok();
  if (padding == "SAME") {
    const int64_t ih = in && in->size() == 4 ? (*in)[1] : -1;
    const int64_t iw = in && in->size() == 4 ? (*in)[2] : -1;
    if ((ih < 0 && sh != 1) || (iw < 0 && sw != 1)) {
      return UnsupportedAt(n, "SAME padding with stride > 1 on an input of unknown size");
    }
    // With stride 1 the total is (k-1)*d whatever the size, so any size will do.
    std::tie(attrs->pad_top, attrs->pad_bottom) = SamePadding(ih < 0 ? kh : ih, kh, sh, dh);
    std::tie(attrs->pad_left, attrs->pad_right) = SamePadding(iw < 0 ? kw : iw, kw, sw, dw);
    ++same_pads_;
    return Status::Ok();
  }
  if (padding == "EXPLICIT") {
    EV_ASSIGN_OR_RETURN(std::vector<int64_t> p, IntListAttr(n, "explicit_paddings", std::nullopt));
    if (p.size() != 8) return CorruptAt(n, "explicit_paddings must have 8 entries");
    for (int64_t x : p) {
      if (x < 0 || x > kMaxWindow) return CorruptAt(n, "explicit_paddings entry out of range");
    }
    if (p[0] || p[1] || p[6] || p[7]) return UnsupportedAt(n, "padding on batch or channels");
    attrs->pad_top = static_cast<int>(p[2]);
    attrs->pad_bottom = static_cast<int>(p[3]);
    attrs->pad_left = static_cast<int>(p[4]);
    attrs->pad_right = static_cast<int>(p[5]);
    return Status::Ok();
  }
  return CorruptAt(n, "unknown padding '" + padding + "'");
}

namespace {

// Output size of a window op (graph::WindowOutputSize); -1 when the input
// size is unknown.
Result<int64_t> WindowOutput(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pad_begin,
                             int64_t pad_end) {
  if (in < 0) return int64_t{-1};
  const int64_t out = graph::WindowOutputSize(in, k, s, d, pad_begin, pad_end);
  if (out < 0) {
    return Corrupt("window of " + std::to_string((k - 1) * d + 1) +
                   " exceeds the padded input of " + std::to_string(in + pad_begin + pad_end));
  }
  return out;
}

}  // namespace

Status TfImporter::TranslateConv(int node_index, bool depthwise) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_RETURN_IF_ERROR(CheckNhwc(n));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(int w_node, ConstInputNode(node_index, 1));
  EV_ASSIGN_OR_RETURN(ConstTensor w, ReadConst(w_node));
  if (!w.is_float || w.shape.size() != 4 || w.size() == 0) {
    return CorruptAt(n,
                     "weights must be a non-empty 4-D float tensor, got " + ShapeToString(w.shape));
  }
  EV_ASSIGN_OR_RETURN(std::vector<int> stride, Window(n, "strides", true));
  EV_ASSIGN_OR_RETURN(std::vector<int> dilation, Window(n, "dilations", false));
  const int64_t kh = w.shape[0], kw = w.shape[1], ci = w.shape[2], co = w.shape[3];
  if (kh > kMaxWindow || kw > kMaxWindow) return CorruptAt(n, "kernel too large");

  graph::Attrs attrs;
  attrs.stride_h = stride[0];
  attrs.stride_w = stride[1];
  attrs.dilation_h = dilation[0];
  attrs.dilation_w = dilation[1];
  const std::optional<Shape> in = KnownShape(x);
  if (in && in->size() != 4) return CorruptAt(n, "input is not 4-D: " + ShapeToString(*in));
  EV_RETURN_IF_ERROR(SpatialPads(n, in ? &*in : nullptr, kh, kw, attrs.stride_h, attrs.stride_w,
                                 attrs.dilation_h, attrs.dilation_w, &attrs));

  // Rearrange to OHWI.
  std::vector<float> ohwi(w.f.size());
  Shape ohwi_shape;
  int64_t out_channels;
  if (depthwise) {
    // [H,W,C,M] -> [C*M,H,W,1]; output channel c*M+m reads input channel c.
    const int64_t c_in = ci, m = co;
    out_channels = c_in * m;
    for (int64_t h = 0; h < kh; ++h)
      for (int64_t x2 = 0; x2 < kw; ++x2)
        for (int64_t c = 0; c < c_in; ++c)
          for (int64_t j = 0; j < m; ++j)
            ohwi[((c * m + j) * kh + h) * kw + x2] = w.f[((h * kw + x2) * c_in + c) * m + j];
    ohwi_shape = {out_channels, kh, kw, 1};
    attrs.groups = static_cast<int>(c_in);
    if (in && (*in)[3] >= 0 && (*in)[3] != c_in) {
      return CorruptAt(n, "weights expect " + std::to_string(c_in) + " input channels, input has " +
                              std::to_string((*in)[3]));
    }
  } else {
    out_channels = co;
    for (int64_t h = 0; h < kh; ++h)
      for (int64_t x2 = 0; x2 < kw; ++x2)
        for (int64_t i = 0; i < ci; ++i)
          for (int64_t o = 0; o < co; ++o)
            ohwi[((o * kh + h) * kw + x2) * ci + i] = w.f[((h * kw + x2) * ci + i) * co + o];
    ohwi_shape = {co, kh, kw, ci};
    if (in && (*in)[3] >= 0) {
      if ((*in)[3] % ci != 0 || co % ((*in)[3] / ci) != 0) {
        return CorruptAt(n, "weights " + ShapeToString(w.shape) + " do not fit an input with " +
                                std::to_string((*in)[3]) + " channels");
      }
      attrs.groups = static_cast<int>((*in)[3] / ci);
    }
  }
  ++weights_converted_;
  const ValueId wid =
      graph_.AddConstant(Node(w_node).name() + "/OHWI", ohwi_shape, std::move(ohwi));
  shape_known_.push_back(true);

  std::optional<Shape> out_shape;
  if (in) {
    EV_ASSIGN_OR_RETURN(int64_t oh, WindowOutput((*in)[1], kh, attrs.stride_h, attrs.dilation_h,
                                                 attrs.pad_top, attrs.pad_bottom));
    EV_ASSIGN_OR_RETURN(int64_t ow, WindowOutput((*in)[2], kw, attrs.stride_w, attrs.dilation_w,
                                                 attrs.pad_left, attrs.pad_right));
    out_shape = Shape{(*in)[0], oh, ow, out_channels};
  }
  const ValueId y = NewActivation(n.name(), out_shape);
  AddNode(Op::kConv2D, n, {x, wid, graph::kNoValue}, y, attrs);
  SetOutput(node_index, y);
  return Status::Ok();
}

Status TfImporter::TranslatePool(int node_index, bool max) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_RETURN_IF_ERROR(CheckNhwc(n));
  if (data_inputs_[node_index].size() != 1) {
    return UnsupportedAt(
        n, "window and strides given as inputs (only the attribute form is supported)");
  }
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(std::vector<int> k, Window(n, "ksize", true));
  EV_ASSIGN_OR_RETURN(std::vector<int> s, Window(n, "strides", true));
  graph::Attrs attrs;
  attrs.kernel_h = k[0];
  attrs.kernel_w = k[1];
  attrs.stride_h = s[0];
  attrs.stride_w = s[1];
  attrs.count_include_pad = false;  // TensorFlow averages over the valid cells only
  const std::optional<Shape> in = KnownShape(x);
  if (in && in->size() != 4) return CorruptAt(n, "input is not 4-D: " + ShapeToString(*in));
  EV_RETURN_IF_ERROR(SpatialPads(n, in ? &*in : nullptr, k[0], k[1], s[0], s[1], 1, 1, &attrs));
  std::optional<Shape> out_shape;
  if (in) {
    EV_ASSIGN_OR_RETURN(int64_t oh,
                        WindowOutput((*in)[1], k[0], s[0], 1, attrs.pad_top, attrs.pad_bottom));
    EV_ASSIGN_OR_RETURN(int64_t ow,
                        WindowOutput((*in)[2], k[1], s[1], 1, attrs.pad_left, attrs.pad_right));
    out_shape = Shape{(*in)[0], oh, ow, (*in)[3]};
  }
  const ValueId y = NewActivation(n.name(), out_shape);
  AddNode(max ? Op::kMaxPool2D : Op::kAvgPool2D, n, {x}, y, attrs);
  SetOutput(node_index, y);
  return Status::Ok();
}

Status TfImporter::TranslateMatMul(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_ASSIGN_OR_RETURN(bool ta, BoolAttr(n, "transpose_a", false));
  EV_ASSIGN_OR_RETURN(bool tb, BoolAttr(n, "transpose_b", false));
  if (ta) return UnsupportedAt(n, "transpose_a=true");
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(int w_node, ConstInputNode(node_index, 1));
  EV_ASSIGN_OR_RETURN(ConstTensor w, ReadConst(w_node));
  if (!w.is_float || w.shape.size() != 2 || w.size() == 0) {
    return CorruptAt(n,
                     "weights must be a non-empty 2-D float tensor, got " + ShapeToString(w.shape));
  }
  int64_t k = w.shape[0], o = w.shape[1];
  std::vector<float> ok;
  if (tb) {
    std::swap(k, o);
    ok = std::move(w.f);  // already [O,K]
  } else {
    ok.resize(w.f.size());
    for (int64_t r = 0; r < k; ++r)
      for (int64_t c = 0; c < o; ++c) ok[c * k + r] = w.f[r * o + c];
  }
  const std::optional<Shape> in = KnownShape(x);
  if (in && (in->size() != 2 || ((*in)[1] >= 0 && (*in)[1] != k))) {
    return CorruptAt(
        n, "input " + ShapeToString(*in) + " does not match weights with K=" + std::to_string(k));
  }
  ++weights_converted_;
  const ValueId wid = graph_.AddConstant(Node(w_node).name() + "/OK", Shape{o, k}, std::move(ok));
  shape_known_.push_back(true);
  const ValueId y = NewActivation(n.name(), Shape{in ? (*in)[0] : -1, o});
  AddNode(Op::kFullyConnected, n, {x, wid, graph::kNoValue}, y);
  SetOutput(node_index, y);
  return Status::Ok();
}

Status TfImporter::TranslateBiasAdd(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_RETURN_IF_ERROR(CheckNhwc(n));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(ValueId b, ValueOf(node_index, 1));
  const graph::Value& bias = graph_.values[b];
  if (bias.is_constant && (bias.dtype != graph::DataType::kFloat32 || bias.shape.size() != 1)) {
    return CorruptAt(n, "bias must be a 1-D float tensor, got " + ShapeToString(bias.shape));
  }
  // Fold into the Conv2D / FullyConnected that produced x when nothing else reads x.
  const InputRef src = data_inputs_[node_index][0];
  auto prod = producer_node_.find(x);
  if (bias.is_constant && prod != producer_node_.end() && consumers_[{src.node, src.index}] == 1) {
    graph::Node& p = graph_.nodes[prod->second];
    const bool foldable = (p.op == Op::kConv2D || p.op == Op::kFullyConnected) &&
                          p.inputs.size() == 3 && p.inputs[2] == graph::kNoValue;
    if (foldable) {
      const int64_t channels = graph_.values[p.inputs[1]].shape[0];
      if (bias.shape[0] != channels) {
        return CorruptAt(n, "bias has " + std::to_string(bias.shape[0]) + " values for " +
                                std::to_string(channels) + " channels");
      }
      p.inputs[2] = b;
      graph_.values[x].name = n.name();  // the tensor TensorFlow names after the BiasAdd
      ++fused_bias_;
      SetOutput(node_index, x);
      return Status::Ok();
    }
  }
  const std::optional<Shape> in = KnownShape(x);
  const ValueId y = NewActivation(n.name(), in);
  AddNode(Op::kAdd, n, {x, b}, y);
  SetOutput(node_index, y);
  return Status::Ok();
}

Status TfImporter::TranslateBatchNorm(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  if (n.op() == "FusedBatchNormV3") EV_RETURN_IF_ERROR(CheckFloatType(n, "U"));
  EV_RETURN_IF_ERROR(CheckNhwc(n));
  EV_ASSIGN_OR_RETURN(bool training, BoolAttr(n, "is_training", true));
  if (training)
    return UnsupportedAt(n, "is_training=true (batch statistics) in an inference graph");
  if (data_inputs_[node_index].size() != 5) return CorruptAt(n, "needs 5 inputs");
  std::vector<ValueId> in;
  for (int i = 0; i < 5; ++i) {
    EV_ASSIGN_OR_RETURN(ValueId v, ValueOf(node_index, i));
    in.push_back(v);
  }
  graph::Attrs attrs;
  EV_ASSIGN_OR_RETURN(attrs.epsilon, FloatAttr(n, "epsilon", 1e-4f));
  const std::optional<Shape> xs = KnownShape(in[0]);
  const ValueId y = NewActivation(n.name(), xs);
  AddNode(Op::kBatchNorm, n, std::move(in), y, attrs);
  SetOutput(node_index, y);
  return Status::Ok();
}

Status TfImporter::TranslatePad(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(ConstTensor pads, ConstInput(node_index, 1));
  if (pads.is_float || pads.shape.size() != 2 || pads.shape[1] != 2 || pads.shape[0] > kMaxRank) {
    return CorruptAt(
        n, "paddings must be an integer [rank,2] tensor, got " + ShapeToString(pads.shape));
  }
  graph::Attrs attrs;
  if (n.op() == "PadV2") {
    EV_ASSIGN_OR_RETURN(ConstTensor value, ConstInput(node_index, 2));
    if (!value.is_float || value.size() != 1)
      return CorruptAt(n, "constant_values must be one float");
    attrs.pad_value = value.f[0];
  }
  const int64_t rank = pads.shape[0];
  const std::optional<Shape> in = KnownShape(x);
  if (in && static_cast<int64_t>(in->size()) != rank) {
    return CorruptAt(
        n, "paddings for rank " + std::to_string(rank) + " on input " + ShapeToString(*in));
  }
  Result<std::vector<int64_t>> ints = PadsFromPairs(pads.i, rank);
  if (!ints.ok()) return ints.status().WithContext(Where(n));
  attrs.ints = std::move(ints).value();
  std::optional<Shape> out_shape;
  if (in) {
    Shape s = *in;
    for (int64_t d = 0; d < rank; ++d) {
      if (s[d] >= 0) s[d] += attrs.ints[d] + attrs.ints[rank + d];
    }
    out_shape = s;
  }
  const ValueId y = NewActivation(n.name(), out_shape);
  AddNode(Op::kPad, n, {x}, y, attrs);
  SetOutput(node_index, y);
  return Status::Ok();
}

}  // namespace edgevision::model::tf_import
