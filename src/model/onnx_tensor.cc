// ONNX importer: TensorProto decoding and operations on constant tensors in
// ONNX layout (onnx_import.h).
#include <algorithm>
#include <bit>
#include <cstdint>
#include <string>
#include <vector>

#include "graph/broadcast.h"
#include "model/onnx_import.h"

namespace edgevision::model::onnx_import {

// ---- ONNX tensor decoding ---------------------------------------------------

namespace {

// Little-endian unsigned integer of `n` bytes at `p` (raw_data is always LE).
uint64_t LoadLE(const char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

}  // namespace

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

}  // namespace edgevision::model::onnx_import
