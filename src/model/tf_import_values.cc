// The TensorFlow importer's attributes, constants and IR values
// (model/tf_importer_internal.h).
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "model/tf_importer_internal.h"

namespace edgevision::model::tf_import {

static_assert(std::endian::native == std::endian::little,
              "tensor_content is little-endian; a big-endian port must byte-swap");

namespace {

// A little-endian scalar at an arbitrary (unaligned) address.
template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

const tf::AttrValue* TfImporter::FindAttr(const tf::NodeDef& n, const std::string& name) const {
  auto it = n.attr().find(name);
  return it == n.attr().end() ? nullptr : &it->second;
}

Result<std::string> TfImporter::StringAttr(const tf::NodeDef& n, const std::string& name,
                                           std::optional<std::string> fallback) const {
  const tf::AttrValue* a = FindAttr(n, name);
  if (!a) {
    if (fallback) return *fallback;
    return CorruptAt(n, "attribute '" + name + "' is missing");
  }
  if (a->value_case() != tf::AttrValue::kS)
    return CorruptAt(n, "attribute '" + name + "' is not a string");
  return a->s();
}

Result<std::vector<int64_t>> TfImporter::IntListAttr(
    const tf::NodeDef& n, const std::string& name,
    std::optional<std::vector<int64_t>> fallback) const {
  const tf::AttrValue* a = FindAttr(n, name);
  if (!a) {
    if (fallback) return *fallback;
    return CorruptAt(n, "attribute '" + name + "' is missing");
  }
  if (a->value_case() != tf::AttrValue::kList)
    return CorruptAt(n, "attribute '" + name + "' is not a list");
  return std::vector<int64_t>(a->list().i().begin(), a->list().i().end());
}

Result<bool> TfImporter::BoolAttr(const tf::NodeDef& n, const std::string& name,
                                  bool fallback) const {
  const tf::AttrValue* a = FindAttr(n, name);
  if (!a) return fallback;
  if (a->value_case() != tf::AttrValue::kB)
    return CorruptAt(n, "attribute '" + name + "' is not a bool");
  return a->b();
}

Result<float> TfImporter::FloatAttr(const tf::NodeDef& n, const std::string& name,
                                    float fallback) const {
  const tf::AttrValue* a = FindAttr(n, name);
  if (!a) return fallback;
  if (a->value_case() != tf::AttrValue::kF)
    return CorruptAt(n, "attribute '" + name + "' is not a float");
  if (!std::isfinite(a->f())) return CorruptAt(n, "attribute '" + name + "' is not finite");
  return a->f();
}

Status TfImporter::CheckFloatType(const tf::NodeDef& n, const char* attr) const {
  const tf::AttrValue* a = FindAttr(n, attr);
  if (!a)
    return Status::Ok();  // older graphs omit defaults; float is the default everywhere we look
  if (a->value_case() != tf::AttrValue::kType)
    return CorruptAt(n, std::string("attribute '") + attr + "' is not a type");
  if (a->type() != tf::DT_FLOAT) {
    return UnsupportedAt(n, std::string("element type ") + tf::DataType_Name(a->type()) +
                                " (only float32 graphs are supported)");
  }
  return Status::Ok();
}

Status TfImporter::CheckNhwc(const tf::NodeDef& n) const {
  EV_ASSIGN_OR_RETURN(std::string format, StringAttr(n, "data_format", std::string("NHWC")));
  if (format != "NHWC")
    return UnsupportedAt(n, "data_format '" + format + "' (only NHWC is supported)");
  return Status::Ok();
}

Result<ConstTensor> TfImporter::ReadConst(int const_node) const {
  const tf::NodeDef& n = Node(const_node);
  const tf::AttrValue* a = FindAttr(n, "value");
  if (!a || a->value_case() != tf::AttrValue::kTensor)
    return CorruptAt(n, "Const without a tensor 'value'");
  const tf::TensorProto& t = a->tensor();
  ConstTensor out;
  if (t.tensor_shape().unknown_rank()) return CorruptAt(n, "constant of unknown rank");
  if (t.tensor_shape().dim_size() > kMaxRank) return UnsupportedAt(n, "constant of rank above 8");
  int64_t count = 1;
  for (const auto& d : t.tensor_shape().dim()) {
    if (d.size() < 0) return CorruptAt(n, "constant has a negative dimension");
    if (d.size() > kMaxConstElements || (d.size() > 0 && count > kMaxConstElements / d.size())) {
      return CorruptAt(n,
                       "constant has more than " + std::to_string(kMaxConstElements) + " elements");
    }
    count *= d.size();
    out.shape.push_back(d.size());
  }
  const std::string& raw = t.tensor_content();
  // Typed lists: a shorter list repeats its last element (TensorFlow's rule).
  auto fill = [&](auto& dst, const auto& src, auto convert) -> Status {
    if (static_cast<int64_t>(src.size()) > count)
      return CorruptAt(n, "constant holds more values than its shape");
    // The repeated tail is not in the file: charge it before allocating, once
    // per constant however often it is read.
    if (!expansion_charged_.count(const_node)) {
      EV_RETURN_IF_ERROR(
          expansion_.Charge(count - static_cast<int64_t>(src.size()), Where(n) + ": constant"));
      expansion_charged_.insert(const_node);
    }
    dst.resize(static_cast<size_t>(count));
    for (int64_t k = 0; k < count; ++k) {
      if (src.empty()) {
        dst[k] = {};
      } else {
        dst[k] = convert(src[static_cast<int>(std::min<int64_t>(k, src.size() - 1))]);
      }
    }
    return Status::Ok();
  };
  auto from_raw = [&](auto& dst, size_t elem_size, auto decode) -> Status {
    // Sizes are checked against the bytes present before anything is allocated.
    EV_RETURN_IF_ERROR(
        CheckPayloadBytes(count, elem_size, raw.size(), out.shape, Where(n) + ": tensor_content"));
    dst.resize(static_cast<size_t>(count));
    for (int64_t k = 0; k < count; ++k) decode(raw.data() + k * elem_size, k);
    return Status::Ok();
  };
  auto as_float = [](auto v) { return static_cast<float>(v); };
  auto as_int = [](auto v) { return static_cast<int64_t>(v); };
  switch (t.dtype()) {
    case tf::DT_FLOAT:
      if (!raw.empty()) {
        EV_RETURN_IF_ERROR(
            from_raw(out.f, 4, [&](const char* p, int64_t k) { out.f[k] = Load<float>(p); }));
        return out;
      }
      EV_RETURN_IF_ERROR(fill(out.f, t.float_val(), as_float));
      return out;
    case tf::DT_DOUBLE:
      if (!raw.empty()) {
        EV_RETURN_IF_ERROR(from_raw(out.f, 8, [&](const char* p, int64_t k) {
          out.f[k] = static_cast<float>(Load<double>(p));
        }));
        return out;
      }
      EV_RETURN_IF_ERROR(fill(out.f, t.double_val(), as_float));
      return out;
    case tf::DT_HALF:
    case tf::DT_BFLOAT16: {
      const bool half = t.dtype() == tf::DT_HALF;
      auto convert = [half](uint16_t v) { return half ? HalfToFloat(v) : BFloat16ToFloat(v); };
      if (!raw.empty()) {
        EV_RETURN_IF_ERROR(from_raw(
            out.f, 2, [&](const char* p, int64_t k) { out.f[k] = convert(Load<uint16_t>(p)); }));
        return out;
      }
      EV_RETURN_IF_ERROR(
          fill(out.f, t.half_val(), [&](int32_t v) { return convert(static_cast<uint16_t>(v)); }));
      return out;
    }
    case tf::DT_INT32:
    case tf::DT_INT16:
    case tf::DT_INT8:
    case tf::DT_UINT8:
    case tf::DT_UINT16:
    case tf::DT_INT64:
    case tf::DT_BOOL: {
      out.is_float = false;
      size_t elem = 4;
      switch (t.dtype()) {
        case tf::DT_INT16:
        case tf::DT_UINT16: elem = 2; break;
        case tf::DT_INT8:
        case tf::DT_UINT8:
        case tf::DT_BOOL: elem = 1; break;
        case tf::DT_INT64: elem = 8; break;
        default: break;
      }
      const tf::DataType dt = t.dtype();
      if (!raw.empty()) {
        EV_RETURN_IF_ERROR(from_raw(out.i, elem, [&](const char* p, int64_t k) {
          switch (dt) {
            case tf::DT_INT32: out.i[k] = Load<int32_t>(p); break;
            case tf::DT_INT16: out.i[k] = Load<int16_t>(p); break;
            case tf::DT_UINT16: out.i[k] = Load<uint16_t>(p); break;
            case tf::DT_INT8: out.i[k] = Load<int8_t>(p); break;
            case tf::DT_UINT8: out.i[k] = Load<uint8_t>(p); break;
            case tf::DT_BOOL: out.i[k] = Load<uint8_t>(p) != 0; break;
            default: out.i[k] = Load<int64_t>(p); break;
          }
        }));
        return out;
      }
      if (dt == tf::DT_INT64) {
        EV_RETURN_IF_ERROR(fill(out.i, t.int64_val(), as_int));
      } else if (dt == tf::DT_BOOL) {
        EV_RETURN_IF_ERROR(fill(out.i, t.bool_val(), as_int));
      } else {
        EV_RETURN_IF_ERROR(fill(out.i, t.int_val(), as_int));
      }
      return out;
    }
    default: return UnsupportedAt(n, "constant of type " + tf::DataType_Name(t.dtype()));
  }
}

Result<int> TfImporter::ConstInputNode(int node_index, int input) const {
  const tf::NodeDef& n = Node(node_index);
  const auto& inputs = data_inputs_[node_index];
  if (input >= static_cast<int>(inputs.size())) {
    return CorruptAt(n, "has " + std::to_string(inputs.size()) + " inputs, needs at least " +
                            std::to_string(input + 1));
  }
  std::optional<int> c = ResolveConstNode(inputs[input]);
  if (!c) {
    return UnsupportedAt(n, "input " + std::to_string(input) + " ('" +
                                Node(inputs[input].node).name() + "') must be a constant");
  }
  return *c;
}

Result<ConstTensor> TfImporter::ConstInput(int node_index, int input) const {
  EV_ASSIGN_OR_RETURN(int c, ConstInputNode(node_index, input));
  return ReadConst(c);
}

ValueId TfImporter::NewActivation(const std::string& name, std::optional<Shape> shape) {
  const ValueId id = graph_.AddActivation(name, shape ? *shape : Shape{});
  shape_known_.push_back(shape.has_value());
  return id;
}

Result<ValueId> TfImporter::ConstantValue(int const_node) {
  if (auto it = constants_.find(const_node); it != constants_.end()) return it->second;
  EV_ASSIGN_OR_RETURN(ConstTensor c, ReadConst(const_node));
  const std::string& name = Node(const_node).name();
  const ValueId id = c.is_float ? graph_.AddConstant(name, c.shape, std::move(c.f))
                                : graph_.AddConstantInt(name, c.shape, std::move(c.i));
  shape_known_.push_back(true);
  constants_[const_node] = id;
  return id;
}

Result<ValueId> TfImporter::ValueOf(int node_index, int input) {
  const tf::NodeDef& n = Node(node_index);
  const auto& inputs = data_inputs_[node_index];
  if (input >= static_cast<int>(inputs.size())) {
    return CorruptAt(n, "has " + std::to_string(inputs.size()) + " inputs, needs at least " +
                            std::to_string(input + 1));
  }
  const InputRef ref = inputs[input];
  if (std::optional<int> c = ResolveConstNode(ref)) return ConstantValue(*c);
  auto it = produced_.find({ref.node, ref.index});
  if (it == produced_.end()) {
    const tf::NodeDef& src = Node(ref.node);
    if (ref.index > 0) {
      return UnsupportedAt(n, "reads output " + std::to_string(ref.index) + " of '" + src.name() +
                                  "' (" + src.op() + "); only the first output is supported");
    }
    return Internal(Where(n) + ": input '" + src.name() + "' was not translated first");
  }
  return it->second;
}

void TfImporter::AddNode(Op op, const tf::NodeDef& n, std::vector<ValueId> inputs, ValueId output,
                         graph::Attrs attrs) {
  graph::Node node;
  node.op = op;
  node.name = n.name();
  node.inputs = std::move(inputs);
  node.outputs = {output};
  node.attrs = std::move(attrs);
  producer_node_[output] = graph_.AddNode(std::move(node));
}

}  // namespace edgevision::model::tf_import
