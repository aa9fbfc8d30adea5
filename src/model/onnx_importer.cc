#include "model/importer.h"

namespace edgevision::model {

Result<ImportedModel> ImportOnnx(std::span<const uint8_t>, const std::string& file_label) {
  return Unsupported(file_label + ": ONNX import is not implemented yet");
}

}  // namespace edgevision::model
