// The TensorFlow importer's tensor ops: element-wise ops, ConcatV2, Reshape,
// Transpose, Slice, Squeeze, Mean (model/tf_importer_internal.h).
#include <algorithm>

#include "graph/shape_inference.h"
#include "model/tf_importer_internal.h"

namespace edgevision::model::tf_import {

namespace {

// Numpy broadcasting where -1 (unknown) matches anything.
Result<Shape> BroadcastLoose(const Shape& a, const Shape& b) {
  Shape out(std::max(a.size(), b.size()));
  for (size_t i = 0; i < out.size(); ++i) {
    const int64_t da = i < out.size() - a.size() ? 1 : a[i - (out.size() - a.size())];
    const int64_t db = i < out.size() - b.size() ? 1 : b[i - (out.size() - b.size())];
    if (da == db || db == 1) {
      out[i] = da;
    } else if (da == 1) {
      out[i] = db;
    } else if (da == -1 || db == -1) {
      out[i] = std::max(da, db);
    } else {
      return Corrupt("shapes " + ShapeToString(a) + " and " + ShapeToString(b) +
                     " do not broadcast");
    }
  }
  return out;
}

// Reshape target with at most one -1; the output shape where it can be known.
Result<Shape> ReshapeOutput(const Shape* in, const std::vector<int64_t>& target) {
  int unknown = -1;
  int64_t known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1) {
      if (unknown >= 0) return Corrupt("shape " + ShapeToString(target) + " has two -1 entries");
      unknown = static_cast<int>(i);
    } else if (target[i] <= 0 || target[i] > kMaxConstElements ||
               known > kMaxConstElements / target[i]) {
      return Corrupt("shape " + ShapeToString(target) + " has an entry out of range");
    } else {
      known *= target[i];
    }
  }
  Shape out = target;
  if (unknown >= 0 && in) {
    int64_t total = 1;
    for (int64_t d : *in) total = (d < 0 || total < 0) ? -1 : total * d;
    if (total >= 0) {
      if (total % known != 0)
        return Corrupt("cannot reshape " + ShapeToString(*in) + " to " + ShapeToString(target));
      out[unknown] = total / known;
    }
  }
  return out;
}

}  // namespace

Status TfImporter::TranslateBinary(int node_index, Op op) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  if (data_inputs_[node_index].size() != 2) return CorruptAt(n, "needs exactly 2 inputs");
  EV_ASSIGN_OR_RETURN(ValueId a, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(ValueId b, ValueOf(node_index, 1));
  for (ValueId v : {a, b}) {
    if (graph_.values[v].dtype != graph::DataType::kFloat32) {
      return UnsupportedAt(n, "operand '" + graph_.values[v].name + "' is not float32");
    }
  }
  std::optional<Shape> out_shape;
  const std::optional<Shape> sa = KnownShape(a), sb = KnownShape(b);
  if (sa && sb) {
    Result<Shape> s = BroadcastLoose(*sa, *sb);
    if (!s.ok()) return CorruptAt(n, s.status().message());
    out_shape = *s;
  }
  const ValueId y = NewActivation(n.name(), out_shape);
  AddNode(op, n, {a, b}, y);
  SetOutput(node_index, y);
  return Status::Ok();
}

Status TfImporter::TranslateUnary(int node_index, Op op, graph::Attrs attrs) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  if (data_inputs_[node_index].empty()) return CorruptAt(n, "has no input");
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  if (graph_.values[x].dtype != graph::DataType::kFloat32) {
    return UnsupportedAt(n, "operand '" + graph_.values[x].name + "' is not float32");
  }
  const std::optional<Shape> in = KnownShape(x);
  const ValueId y = NewActivation(n.name(), in);
  AddNode(op, n, {x}, y, std::move(attrs));
  SetOutput(node_index, y);
  return Status::Ok();
}

Status TfImporter::TranslateConcat(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  const int count = static_cast<int>(data_inputs_[node_index].size());
  if (count < 2) return CorruptAt(n, "needs an axis and at least one tensor");
  const bool v2 = n.op() == "ConcatV2";
  EV_ASSIGN_OR_RETURN(ConstTensor axis, ConstInput(node_index, v2 ? count - 1 : 0));
  if (axis.is_float || axis.size() != 1) return CorruptAt(n, "axis must be one integer");
  std::vector<ValueId> xs;
  std::vector<std::optional<Shape>> shapes;
  for (int i = v2 ? 0 : 1; i < (v2 ? count - 1 : count); ++i) {
    EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, i));
    xs.push_back(x);
    shapes.push_back(KnownShape(x));
  }
  int64_t ax = axis.i[0];
  std::optional<Shape> out_shape;
  if (shapes[0]) {
    const int64_t rank = static_cast<int64_t>(shapes[0]->size());
    if (ax < -rank || ax >= rank)
      return CorruptAt(n, "axis " + std::to_string(ax) + " out of range");
    if (ax < 0) ax += rank;
    bool all_known = true;
    Shape s = *shapes[0];
    for (size_t i = 1; i < shapes.size(); ++i) {
      if (!shapes[i]) {
        all_known = false;
        break;
      }
      if (shapes[i]->size() != s.size()) return CorruptAt(n, "inputs differ in rank");
      const int64_t d = (*shapes[i])[ax];
      s[ax] = (s[ax] < 0 || d < 0) ? -1 : s[ax] + d;
    }
    if (all_known) out_shape = s;
  } else if (ax < -kMaxRank || ax >= kMaxRank) {
    return CorruptAt(n, "axis " + std::to_string(ax) + " out of range");
  }
  graph::Attrs attrs;
  attrs.axis = static_cast<int>(ax);
  const ValueId y = NewActivation(n.name(), out_shape);
  AddNode(Op::kConcat, n, std::move(xs), y, attrs);
  SetOutput(node_index, y);
  return Status::Ok();
}

Status TfImporter::TranslateReshape(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(ConstTensor shape, ConstInput(node_index, 1));
  if (shape.is_float || shape.shape.size() != 1 || shape.size() > kMaxRank) {
    return CorruptAt(n, "shape must be a 1-D integer tensor of at most 8 entries");
  }
  const std::optional<Shape> in = KnownShape(x);
  Result<Shape> out = ReshapeOutput(in ? &*in : nullptr, shape.i);
  if (!out.ok()) return CorruptAt(n, out.status().message());
  graph::Attrs attrs;
  attrs.ints = shape.i;
  const ValueId y = NewActivation(n.name(), *out);
  AddNode(Op::kReshape, n, {x}, y, attrs);
  SetOutput(node_index, y);
  return Status::Ok();
}

// Transpose by a constant permutation (ShuffleNet's channel shuffle).
Status TfImporter::TranslateTranspose(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(ConstTensor perm, ConstInput(node_index, 1));
  const std::optional<Shape> in = KnownShape(x);
  if (!in) return UnsupportedAt(n, "Transpose of a tensor of unknown rank");
  const int64_t rank = static_cast<int64_t>(in->size());
  if (perm.is_float || perm.shape.size() != 1 || perm.size() != rank) {
    return CorruptAt(n, "perm must be an integer [" + std::to_string(rank) + "] tensor");
  }
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  Shape out;
  for (int64_t p : perm.i) {
    if (p < 0 || p >= rank || seen[p]) return CorruptAt(n, "perm is not a permutation");
    seen[p] = true;
    out.push_back((*in)[p]);
  }
  graph::Attrs attrs;
  attrs.ints = perm.i;
  const ValueId y = NewActivation(n.name(), out);
  AddNode(Op::kTranspose, n, {x}, y, attrs);
  SetOutput(node_index, y);
  return Status::Ok();
}

// Slice by constant begin and size (size -1: to the end of the axis), as
// TFLite's SLICE; the batch axis is always taken whole.
Status TfImporter::TranslateSlice(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(ConstTensor begin, ConstInput(node_index, 1));
  EV_ASSIGN_OR_RETURN(ConstTensor size, ConstInput(node_index, 2));
  const std::optional<Shape> in = KnownShape(x);
  if (!in) return UnsupportedAt(n, "Slice of a tensor of unknown shape");
  const int64_t rank = static_cast<int64_t>(in->size());
  for (const ConstTensor* t : {&begin, &size}) {
    if (t->is_float || t->shape.size() != 1 || t->size() != rank) {
      return CorruptAt(n, "begin and size must be integer [" + std::to_string(rank) + "] tensors");
    }
  }
  graph::Attrs attrs;
  attrs.ints.resize(static_cast<size_t>(2 * rank));
  Shape out(static_cast<size_t>(rank));
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t b = begin.i[d], k = size.i[d], dim = (*in)[d];
    if (d == 0 && (dim < 0 || dim == 1)) {  // the batch axis: the whole of it
      if (b != 0) return UnsupportedAt(n, "slicing the batch axis");
      attrs.ints[d] = 0;
      attrs.ints[rank + d] = -1;
      out[d] = dim;
      continue;
    }
    if (dim < 0) return UnsupportedAt(n, "Slice of an axis of unknown size");
    if (b < 0 || b >= dim || k == 0 || k < -1 || (k > 0 && k > dim - b)) {
      return CorruptAt(n, "begin " + std::to_string(b) + " size " + std::to_string(k) +
                              " do not fit axis " + std::to_string(d) + " of size " +
                              std::to_string(dim));
    }
    out[d] = k == -1 ? dim - b : k;
    attrs.ints[d] = b;
    attrs.ints[rank + d] = out[d];
  }
  const ValueId y = NewActivation(n.name(), out);
  AddNode(Op::kSlice, n, {x}, y, attrs);
  SetOutput(node_index, y);
  return Status::Ok();
}

Status TfImporter::TranslateSqueeze(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> dims,
                      IntListAttr(n, "squeeze_dims", std::vector<int64_t>{}));
  const std::optional<Shape> in = KnownShape(x);
  if (!in) return UnsupportedAt(n, "Squeeze of a tensor of unknown shape");
  const int64_t rank = static_cast<int64_t>(in->size());
  std::vector<bool> drop(in->size(), false);
  for (int64_t d : dims) {
    if (d < -rank || d >= rank)
      return CorruptAt(n, "squeeze dimension " + std::to_string(d) + " out of range");
    const int64_t a = d < 0 ? d + rank : d;
    if ((*in)[a] != 1 && (*in)[a] != -1)
      return CorruptAt(
          n, "squeezes dimension " + std::to_string(a) + " of size " + std::to_string((*in)[a]));
    drop[a] = true;
  }
  if (dims.empty()) {
    for (size_t i = 0; i < in->size(); ++i) drop[i] = (*in)[i] == 1;
  }
  Shape target;
  int unknown = 0;
  for (size_t i = 0; i < in->size(); ++i) {
    if (drop[i]) continue;
    target.push_back((*in)[i]);
    unknown += (*in)[i] < 0;
  }
  if (unknown > 1) return UnsupportedAt(n, "Squeeze leaves more than one unknown dimension");
  ReshapeTo(node_index, x, target);
  return Status::Ok();
}

void TfImporter::ReshapeTo(int node_index, ValueId x, const Shape& target) {
  graph::Attrs attrs;
  attrs.ints = target;
  const ValueId y = NewActivation(Node(node_index).name(), target);
  AddNode(Op::kReshape, Node(node_index), {x}, y, attrs);
  SetOutput(node_index, y);
}

// ExpandDims with a constant axis: a Reshape inserting a 1 (TensorFlow:
// axis in [-rank-1, rank], negative counted from the end of the result).
Status TfImporter::TranslateExpandDims(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(ConstTensor axis, ConstInput(node_index, 1));
  if (axis.is_float || axis.size() != 1) return CorruptAt(n, "axis must be an integer scalar");
  const std::optional<Shape> in = KnownShape(x);
  if (!in) return UnsupportedAt(n, "ExpandDims of a tensor of unknown shape");
  const int64_t rank = static_cast<int64_t>(in->size());
  int64_t a = axis.i[0];
  if (a < -rank - 1 || a > rank) return CorruptAt(n, "axis " + std::to_string(a) + " out of range");
  if (a < 0) a += rank + 1;
  if (rank + 1 > kMaxRank) return UnsupportedAt(n, "the result's rank is above " + std::to_string(kMaxRank));
  Shape target = *in;
  target.insert(target.begin() + a, 1);
  if (std::count_if(target.begin(), target.end(), [](int64_t d) { return d < 0; }) > 1)
    return UnsupportedAt(n, "ExpandDims of a tensor with more than one unknown dimension");
  ReshapeTo(node_index, x, target);
  return Status::Ok();
}

Status TfImporter::TranslateMean(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(ConstTensor axes, ConstInput(node_index, 1));
  if (axes.is_float || axes.shape.size() > 1 || axes.size() > kMaxRank) {
    return CorruptAt(n, "axes must be a small integer tensor");
  }
  EV_ASSIGN_OR_RETURN(bool keep, BoolAttr(n, "keep_dims", false));
  const std::optional<Shape> in = KnownShape(x);
  graph::Attrs attrs;
  attrs.keep_dims = keep;
  std::optional<Shape> out_shape;
  for (int64_t a : axes.i) {
    if (in) {
      const int64_t rank = static_cast<int64_t>(in->size());
      if (a < -rank || a >= rank)
        return CorruptAt(n, "axis " + std::to_string(a) + " out of range");
      if (a < 0) a += rank;
    } else if (a < -kMaxRank || a >= kMaxRank) {
      return CorruptAt(n, "axis " + std::to_string(a) + " out of range");
    }
    attrs.ints.push_back(a);
  }
  if (in) {
    Shape s;
    for (size_t i = 0; i < in->size(); ++i) {
      const bool reduced = std::find(attrs.ints.begin(), attrs.ints.end(),
                                     static_cast<int64_t>(i)) != attrs.ints.end();
      if (!reduced)
        s.push_back((*in)[i]);
      else if (keep)
        s.push_back(1);
    }
    out_shape = s;
  }
  const ValueId y = NewActivation(n.name(), out_shape);
  AddNode(Op::kReduceMean, n, {x}, y, attrs);
  SetOutput(node_index, y);
  return Status::Ok();
}

}  // namespace edgevision::model::tf_import
