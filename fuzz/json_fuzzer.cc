// The JSON request bodies: {"url": ...} of the /url routes and
// {"label": ...} of PUT /captures/{id}/label, {"regions": [...]} of PUT
// /captures/{id}/regions.
#include <string_view>

#include "fuzz_target.h"
#include "http/request_parsing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)edgevision::http::ImageUrl(text);
  (void)edgevision::http::LabelFromBody(text);
  (void)edgevision::http::RegionsFromBody(text);
  return 0;
}
