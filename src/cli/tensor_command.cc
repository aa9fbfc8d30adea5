// `edgevision tensor`: the exact input tensor, for preprocessing parity checks.
#include <fstream>
#include <iterator>

#include "cli/commands.h"
#include "cli/load.h"
#include "image/detector_preprocess.h"
#include "image/npy.h"
#include "image/preprocess.h"
#include "model/model.h"

namespace edgevision::cli {

int RunTensor(const TensorOptions& options) {
  Result<model::LoadOptions> load = MakeLoadOptions(options.preprocess, false);
  if (!load.ok()) {
    PrintError(load.status());
    return 1;
  }
  Result<model::LoadedModel> loaded =
      model::LoadModel(options.model.empty() ? DefaultModelPath() : options.model, {}, *load);
  if (!loaded.ok()) {
    PrintError(loaded.status());
    return 1;
  }
  std::ifstream in(options.image, std::ios::binary);
  if (!in) {
    PrintError(IOError(options.image + ": cannot open"));
    return 1;
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // A detector's tensor is the image at its own ~512^2 size (image/detector_preprocess.h).
  Result<image::Tensor> tensor =
      loaded->detector ? [&]() -> Result<image::Tensor> {
        EV_ASSIGN_OR_RETURN(image::DecodedImage decoded, image::Decode(bytes));
        return image::PreprocessYolo(std::move(decoded), loaded->preprocess.color);
      }()
                       : image::PreprocessBytes(bytes, loaded->preprocess);
  if (!tensor.ok()) {
    PrintError(tensor.status().WithContext(options.image));
    return 1;
  }
  Status written = image::WriteNpy(options.out, *tensor);
  if (!written.ok()) {
    PrintError(written);
    return 1;
  }
  return 0;
}

}  // namespace edgevision::cli
