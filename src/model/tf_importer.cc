#include "model/importer.h"

namespace edgevision::model {

Result<ImportedModel> ImportTensorFlow(std::span<const uint8_t>, const std::string& file_label) {
  return Unsupported(file_label + ": TensorFlow GraphDef import is not implemented yet");
}

}  // namespace edgevision::model
