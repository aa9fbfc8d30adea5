// See detection_tail_common.h.
#include "model/detection_tail_common.h"

#include <utility>

namespace edgevision::model {

detect::TailTensor ToTailTensor(ConstTensor c) {
  detect::TailTensor v;
  v.shape = std::move(c.shape);
  v.is_int = !c.is_float;
  v.f = std::move(c.f);
  v.i = std::move(c.i);
  return v;
}

std::string AddTailConstant(detect::TailGraph* tail, const std::string& key, ConstTensor c) {
  if (!tail->constants.count(key)) tail->constants[key] = ToTailTensor(std::move(c));
  return key;
}

void PackedBoundary::Add(detect::TailGraph* tail, const std::string& name, const std::string& shown,
                         const graph::Shape& shape, graph::ValueId flat, bool float16) {
  parts.push_back(flat);
  tail->inputs.push_back({name, shape, size, float16});
  size += static_cast<size_t>(graph::ShapeProduct(shape));
  names += (names.empty() ? "'" : ", '") + shown + "' " + graph::ShapeToString(shape);
}

std::string AddTailIntConstant(detect::TailGraph* tail, const std::string& key, std::vector<int64_t> values) {
  detect::TailTensor v;
  v.is_int = true;
  v.shape = {static_cast<int64_t>(values.size())};
  v.i = std::move(values);
  tail->constants[key] = std::move(v);
  return key;
}

}  // namespace edgevision::model
