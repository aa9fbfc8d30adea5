// The TensorFlow importer on arbitrary bytes, then graph normalisation and shape
// inference on whatever graph it accepts: what loading a hostile model file does.
#include <span>

#include "fuzz_target.h"
#include "graph/normalize.h"
#include "model/importer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgevision;
  Result<model::ImportedModel> imported = model::ImportTensorFlow(std::span<const uint8_t>(data, size), "fuzz.model");
  if (!imported.ok()) return 0;
  graph::NormalizeReport report;
  (void)graph::Normalize(&imported->graph, &report);
  return 0;
}
