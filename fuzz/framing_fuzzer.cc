// The transport's own HTTP framing (src/http/framing.h), which every request
// passes before cpp-httplib sees it. The first byte picks the parser:
//   0  FindHeadEnd + ParseHead; an accepted head must survive RebuildHead
//      and parse again to the same method, target and framing;
//   1  ChunkedFramer, fed in pieces whose sizes come from the input; it must
//      never claim more bytes than it was given;
//   2  MultipartBoundary + ParseMultipart (boundary "b0undary"); the parts
//      must respect kMaxFormParts and the byte cap.
#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "fuzz_target.h"
#include "http/framing.h"

namespace framing = edgevision::http::framing;

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

void Head(std::string_view input) {
  size_t line_start = 0;
  const framing::HeadEnd end = framing::FindHeadEnd(input, 64 * 1024, &line_start);
  if (end.error || end.size == 0) return;
  const framing::HeadResult parsed = framing::ParseHead(input.substr(0, end.size));
  if (!parsed.head) return;
  const std::string rebuilt = framing::RebuildHead(*parsed.head);
  size_t again_start = 0;
  const framing::HeadEnd again_end = framing::FindHeadEnd(rebuilt, 1 << 20, &again_start);
  const framing::HeadResult again = framing::ParseHead(rebuilt);
  if (again_end.size != rebuilt.size() || !again.head) {
    // Only two ways a rebuilt head may exceed our own limits (httplib, which
    // reads it, has no field limit and refuses a too-long line itself): an
    // added "Content-Length: 0" after kMaxHeaderFields fields, or "name:v"
    // written as "name: v" on a line at the length limit.
    size_t longest = 0;
    for (size_t at = 0; at < rebuilt.size();) {
      const size_t lf = rebuilt.find('\n', at);
      longest = std::max(longest, lf - at);
      at = lf + 1;
    }
    Check(parsed.head->fields.size() >= framing::kMaxHeaderFields || longest > framing::kMaxLineBytes);
    return;
  }
  Check(again.head->method == parsed.head->method && again.head->target == parsed.head->target);
  Check(again.head->body == parsed.head->body || parsed.head->body == framing::Head::Body::kNone);
  (void)framing::LogSafe(parsed.head->target);
}

void Chunked(std::string_view input) {
  framing::ChunkedFramer framer(256 * 1024);
  size_t step = 1;
  while (!input.empty() && !framer.done()) {
    const std::string_view piece = input.substr(0, std::min(step, input.size()));
    const framing::ChunkedFramer::Fed fed = framer.Feed(piece);
    if (fed.error) return;
    Check(fed.used <= piece.size());
    Check(fed.used == piece.size() || framer.done());
    input.remove_prefix(fed.used);
    step = step * 3 % 97 + 1;
  }
  Check(framer.body_bytes() <= 256 * 1024);
}

void Multipart(std::string_view input) {
  const std::optional<std::string> boundary = framing::MultipartBoundary("multipart/form-data; boundary=b0undary");
  Check(boundary && *boundary == "b0undary");
  const framing::FormResult form = framing::ParseMultipart(input, *boundary, 64 * 1024);
  if (form.error) return;
  Check(form.parts.size() <= framing::kMaxFormParts);
  size_t total = 0;
  for (const auto& [name, part] : form.parts) total += part.content.size();
  Check(total <= 64 * 1024);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0: Head(input); break;
    case 1: Chunked(input); break;
    case 2: Multipart(input); break;
  }
  return 0;
}
