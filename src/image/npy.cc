#include "image/npy.h"

#include <bit>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string_view>
#include <vector>

namespace edgevision::image {
namespace {

static_assert(std::endian::native == std::endian::little,
              "npy.cc writes '<f4' by copying floats; add byte swapping for big-endian hosts");

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kMaxHeader = 1 << 16;

Status Bad(const std::string& why) {
  return InvalidArgument("npy: " + why);
}

// The value text after "'key':" in the header dict, up to the next ',' at
// depth 0 or the closing '}'.
bool Field(std::string_view header, std::string_view key, std::string_view* value) {
  const std::string quoted = "'" + std::string(key) + "'";
  size_t at = header.find(quoted);
  if (at == std::string_view::npos) return false;
  at = header.find(':', at + quoted.size());
  if (at == std::string_view::npos) return false;
  ++at;
  while (at < header.size() && header[at] == ' ') ++at;
  size_t end = at;
  int depth = 0;
  for (; end < header.size(); ++end) {
    const char c = header[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
    if (depth < 0) return false;
  }
  *value = header.substr(at, end - at);
  while (!value->empty() && value->back() == ' ') value->remove_suffix(1);
  return true;
}

bool ParseShape(std::string_view text, std::vector<int64_t>* shape) {
  if (text.size() < 2 || text.front() != '(' || text.back() != ')') return false;
  text = text.substr(1, text.size() - 2);
  int64_t value = -1;
  for (char c : text) {
    if (c >= '0' && c <= '9') {
      if (value < 0) value = 0;
      if (value > (int64_t{1} << 40)) return false;
      value = value * 10 + (c - '0');
    } else if (c == ',') {
      if (value < 0) return false;
      shape->push_back(value);
      value = -1;
    } else if (c != ' ') {
      return false;
    }
  }
  if (value >= 0) shape->push_back(value);
  return true;
}

}  // namespace

std::string EncodeNpy(const Tensor& tensor) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(tensor.height) + ", " + std::to_string(tensor.width) + ", " +
                       std::to_string(tensor.channels) + "), }";
  // Pad with spaces so magic + version + length + header + '\n' is a multiple of 64.
  const size_t prefix = kMagicSize + 2 + 2;
  const size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;
  header.append(total - prefix - header.size() - 1, ' ');
  header.push_back('\n');

  std::string out(kMagic, kMagicSize);
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(static_cast<char>(header.size() & 0xFF));
  out.push_back(static_cast<char>(header.size() >> 8));
  out += header;
  out.append(reinterpret_cast<const char*>(tensor.data.data()), tensor.data.size() * sizeof(float));
  return out;
}

Result<Tensor> DecodeNpy(std::span<const uint8_t> bytes) {
  if (bytes.size() < kMagicSize + 4 || std::memcmp(bytes.data(), kMagic, kMagicSize) != 0) {
    return Bad("not a .npy file (bad magic)");
  }
  const int major = bytes[6];
  size_t header_len = 0;
  size_t offset = 0;
  if (major == 1) {
    header_len = bytes[8] | bytes[9] << 8;
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return Bad("truncated header");
    header_len = bytes[8] | bytes[9] << 8 | bytes[10] << 16 | static_cast<size_t>(bytes[11]) << 24;
    offset = 12;
  } else {
    return Bad("unsupported format version " + std::to_string(major));
  }
  if (header_len > kMaxHeader || header_len > bytes.size() - offset) return Bad("truncated header");
  const std::string_view header(reinterpret_cast<const char*>(bytes.data() + offset), header_len);

  std::string_view descr, order, shape_text;
  if (!Field(header, "descr", &descr) || !Field(header, "fortran_order", &order) ||
      !Field(header, "shape", &shape_text)) {
    return Bad("header lacks descr, fortran_order or shape");
  }
  if (descr != "'<f4'") return Bad("dtype " + std::string(descr) + " is not '<f4' (float32)");
  if (order != "False") return Bad("Fortran-ordered arrays are not supported");
  std::vector<int64_t> shape;
  if (!ParseShape(shape_text, &shape)) return Bad("cannot parse shape " + std::string(shape_text));
  if (shape.size() == 4 && shape[0] == 1) shape.erase(shape.begin());
  if (shape.size() != 3) return Bad("shape " + std::string(shape_text) + " is not (H, W, C)");

  Tensor t;
  t.height = static_cast<int>(shape[0]);
  t.width = static_cast<int>(shape[1]);
  t.channels = static_cast<int>(shape[2]);
  if (shape[0] > (1 << 20) || shape[1] > (1 << 20) || shape[2] > (1 << 20)) {
    return Bad("shape " + std::string(shape_text) + " is too large");
  }
  const uint64_t count = static_cast<uint64_t>(shape[0]) * shape[1] * shape[2];
  const size_t data_offset = offset + header_len;
  if (count * sizeof(float) != bytes.size() - data_offset) {
    return Bad("data size " + std::to_string(bytes.size() - data_offset) +
               " does not match shape " + std::string(shape_text));
  }
  t.data.resize(count);
  std::memcpy(t.data.data(), bytes.data() + data_offset, count * sizeof(float));
  return t;
}

Status WriteNpy(const std::filesystem::path& path, const Tensor& tensor) {
  const std::string bytes = EncodeNpy(tensor);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return IOError("npy: cannot open " + path.string() + " for writing");
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return IOError("npy: cannot write " + path.string());
  return Status::Ok();
}

Result<Tensor> ReadNpy(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IOError("npy: cannot open " + path.string());
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  if (in.bad()) return IOError("npy: cannot read " + path.string());
  Result<Tensor> t = DecodeNpy(bytes);
  if (!t.ok()) return t.status().WithContext(path.string());
  return t;
}

}  // namespace edgevision::image
