// The side files of an export: cvexport.manifest, metadata_properties.json
// (and what they do to the preprocessing spec), labels.txt.
#include <string_view>

#include "fuzz_target.h"
#include "image/preprocess.h"
#include "model/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgevision::model;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)ParseManifest(text, "fuzz/cvexport.manifest");
  (void)ParseLabels(text);
  auto props = ParseMetadataProperties(text, "fuzz/metadata_properties.json");
  if (props.ok()) {
    edgevision::image::PreprocessSpec spec;
    spec.input_width = 224;
    spec.input_height = 224;
    if (ApplyMetadataToPreprocess(*props, &spec).ok()) (void)edgevision::image::ValidateSpec(spec);
  }
  return 0;
}
