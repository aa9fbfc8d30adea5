// capture_seed: puts detection captures into a capture store, for the review
// page's browser test, through the real CaptureStore (real SQLite, real
// files) — the store a detector route's recorder writes to.
//
//   capture_seed <data-dir> <image> <boxes> [<image> <boxes> ...]
//
// <boxes> is "tag:probability:left,top,width,height;..." (normalised, as a
// detector's response). Prints one capture id per line. Exit 0 on success,
// 1 on a store error, 2 on bad arguments.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "core/uuid.h"
#include "image/decode.h"
#include "store/capture_store.h"

using namespace edgevision;

namespace {

bool ParseBoxes(const std::string& text, std::vector<store::StoredDetection>* out) {
  std::stringstream all(text);
  std::string one;
  while (std::getline(all, one, ';')) {
    store::StoredDetection d;
    char tag[128] = {0};
    if (std::sscanf(one.c_str(), "%127[^:]:%lf:%lf,%lf,%lf,%lf", tag, &d.probability, &d.box.left,
                    &d.box.top, &d.box.width, &d.box.height) != 6)
      return false;
    d.tag = tag;
    out->push_back(d);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc % 2 != 0) {
    std::fprintf(stderr, "usage: capture_seed <data-dir> <image> <boxes> [<image> <boxes> ...]\n");
    return 2;
  }
  store::StoreOptions options;
  options.min_free_bytes = 0;
  Result<std::unique_ptr<store::CaptureStore>> s = store::CaptureStore::Open(argv[1], options);
  if (!s.ok()) {
    std::fprintf(stderr, "capture_seed: %s\n", s.status().ToString().c_str());
    return 1;
  }
  for (int i = 2; i + 1 < argc; i += 2) {
    std::ifstream in(argv[i], std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Result<image::ImageHeader> header = image::ReadHeader(bytes);
    store::NewCapture c;
    if (!header.ok() || !ParseBoxes(argv[i + 1], &c.detections)) {
      std::fprintf(stderr, "capture_seed: bad image or boxes: %s %s\n", argv[i], argv[i + 1]);
      return 2;
    }
    for (size_t k = 0; k < c.detections.size(); ++k) c.detections[k].tag_index = static_cast<int>(k);
    c.id = NewUuid();
    c.created = std::chrono::system_clock::now();
    c.route = "POST /image";
    c.kind = store::CaptureKind::kDetection;
    c.image_format = header->format;
    c.image_width = header->width;
    c.image_height = header->height;
    c.image = std::move(bytes);
    Status added = (*s)->Add(c);
    if (!added.ok()) {
      std::fprintf(stderr, "capture_seed: %s\n", added.ToString().c_str());
      return 1;
    }
    std::printf("%s\n", c.id.c_str());
  }
  return 0;
}
