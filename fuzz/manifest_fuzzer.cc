// The side files of an export: cvexport.manifest, metadata_properties.json
// (and what they do to the preprocessing spec and to a detector's family and
// post-processing parameters), labels.txt.
#include <string>
#include <string_view>
#include <vector>

#include "detect/family.h"
#include "detect/yolo.h"
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
    (void)edgevision::detect::DetectFamily(*props, {});
    auto params = edgevision::detect::YoloParamsFromMetadata(*props);
    if (params.ok() && params->anchors.size() <= 64) {
      // The metadata's anchors through post-processing: a 2x2 grid, one class.
      const int channels = static_cast<int>(params->anchors.size()) * 6;
      std::vector<float> grid(4 * static_cast<size_t>(channels), 1.0f);
      const std::vector<std::string> labels = {"tag"};
      (void)edgevision::detect::PostprocessYolo({grid, 2, 2, channels}, *params, labels,
                                                edgevision::detect::SumOrder::kNumpyPairwise);
    }
  }
  return 0;
}
