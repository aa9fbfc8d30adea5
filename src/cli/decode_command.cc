// `edgevision decode` (hidden): the RGB8 image the decoders produce, before
// EXIF orientation or any resize, as binary PPM; prints "<format> <PIL mode>
// <w>x<h>". A test tool for decoder parity (tests/parity/compare_decoders.py).
// Exit 0 on success, 1 with the decoder's message when the image is refused.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "cli/commands.h"
#include "cli/load.h"
#include "image/decode.h"

namespace edgevision::cli {

int RunDecode(const DecodeOptions& options) {
  std::ifstream in(options.image, std::ios::binary);
  if (!in) {
    PrintError(IOError(options.image + ": cannot open"));
    return 1;
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Result<image::DecodedImage> decoded = image::Decode(bytes);
  if (!decoded.ok()) {
    PrintError(decoded.status().WithContext(options.image));
    return 1;
  }
  const image::Image& rgb = decoded->rgb;
  std::ofstream out(options.out, std::ios::binary | std::ios::trunc);
  const std::string header = "P6\n" + std::to_string(rgb.width) + " " + std::to_string(rgb.height) + "\n255\n";
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(rgb.pixels.data()), static_cast<std::streamsize>(rgb.pixels.size()));
  if (!out.flush()) {
    PrintError(IOError(options.out + ": cannot write"));
    return 1;
  }
  std::printf("%s %s %dx%d\n", decoded->format.c_str(), decoded->source_mode.c_str(), rgb.width, rgb.height);
  return 0;
}

}  // namespace edgevision::cli
