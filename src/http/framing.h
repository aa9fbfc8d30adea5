// HTTP/1.1 request framing, strictly, before cpp-httplib sees a byte
// (docs/security.md "HTTP layer"). Pure functions and small state machines
// over untrusted bytes; transport.cc runs them on every connection, and
// fuzz/framing_fuzzer.cc fuzzes them.
//
//   ParseHead       the request line and header fields: CRLF only, no
//                   obs-fold, token names, one Content-Length or one
//                   Transfer-Encoding: chunked (never both, never twice),
//                   line and field-count limits.
//   ChunkedFramer   a chunked body: strict hex sizes, bounded chunk-size
//                   lines, no trailer fields (httplib 0.11.4 reads none), a
//                   cap on the decoded size; tells the transport where the
//                   message ends.
//   ParseMultipart  multipart/form-data: a part cap, a part-header cap, every
//                   part charged a fixed overhead; no regular expressions.
//
// Thread-safety: pure functions; a ChunkedFramer belongs to one connection.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "http/http_types.h"

namespace edgevision::http::framing {

// Longest request line and longest header line (cpp-httplib's own 8 KiB).
inline constexpr size_t kMaxLineBytes = 8 * 1024;
// Most header fields in one request.
inline constexpr size_t kMaxHeaderFields = 100;
// Longest chunk-size line, extensions included.
inline constexpr size_t kMaxChunkLineBytes = 1024;
// Most parts in a multipart/form-data body (the routes read one: imageData).
inline constexpr size_t kMaxFormParts = 16;
// The headers of one multipart part.
inline constexpr size_t kMaxPartHeaderBytes = 4 * 1024;
// What a part costs besides its bytes (its map node and strings).
inline constexpr size_t kPartOverheadBytes = 512;

// Why a head, a chunked body or a multipart body was refused, with the HTTP
// status that says so (400, 413, 414, 431, 501).
struct FramingError {
  int status = 400;
  std::string message;
};

struct Head {
  enum class Body { kNone, kLength, kChunked };

  std::string method;
  std::string target;   // as sent (origin-form, not decoded)
  std::string version;  // "HTTP/1.1" or "HTTP/1.0"
  std::vector<std::pair<std::string, std::string>> fields;  // in order, values trimmed
  Body body = Body::kNone;
  uint64_t content_length = 0;  // when body == kLength

  // The first value of a field (names compare case-insensitively), or nullopt.
  std::optional<std::string_view> Find(std::string_view name) const;
  bool HasBody() const { return body == Body::kChunked || (body == Body::kLength && content_length > 0); }
};

// Where the head ends: the offset just past the blank line, or 0 while
// incomplete. A FramingError when what has arrived can no longer become a
// valid head within `max_head_bytes` (a line over kMaxLineBytes: 414 for the
// request line, 400 for a header; the whole head: 431). `*line_start` (0 for
// a new head) keeps where the scan stopped, so that calling it again as
// bytes arrive costs only the new bytes.
struct HeadEnd {
  size_t size = 0;
  std::optional<FramingError> error;
};
HeadEnd FindHeadEnd(std::string_view input, size_t max_head_bytes, size_t* line_start);

// Parses a complete head (`head` ends with the blank line). Leading empty
// lines are not accepted here; the transport skips them.
struct HeadResult {
  std::optional<Head> head;
  FramingError error;
};
HeadResult ParseHead(std::string_view head);

// The head as cpp-httplib will read it: the request line and the fields in
// order, without Range/If-Range (our responses are never partial), with an
// explicit Content-Length: 0 for a body method that declared no framing,
// and with a multipart Content-Type renamed so that httplib leaves the body
// to ParseMultipart.
std::string RebuildHead(const Head& head);

// Validates a chunked body as it streams through. Feed() returns how many of
// `data`'s bytes belong to the message (fewer than given once the final
// chunk and trailers end it), or an error.
class ChunkedFramer {
 public:
  explicit ChunkedFramer(uint64_t max_body_bytes) : max_body_(max_body_bytes) {}

  struct Fed {
    size_t used = 0;
    std::optional<FramingError> error;
  };
  Fed Feed(std::string_view data);
  bool done() const { return state_ == State::kDone; }
  uint64_t body_bytes() const { return body_; }

 private:
  enum class State { kSize, kSizeLF, kData, kDataCR, kDataLF, kTrailer, kTrailerLF, kDone };
  Fed Fail(int status, std::string message);

  const uint64_t max_body_;
  State state_ = State::kSize;
  std::string line_;          // the current chunk-size line
  uint64_t chunk_left_ = 0;   // data bytes left in this chunk
  uint64_t body_ = 0;         // data bytes so far
};

// The boundary of a multipart/form-data Content-Type, or nullopt when the
// type is not multipart/form-data. An empty string when it is multipart but
// the boundary is missing or malformed.
std::optional<std::string> MultipartBoundary(std::string_view content_type);

// Splits a complete multipart/form-data body into its parts by field name.
// Errors (400): a missing or unclosed boundary, a part without a
// Content-Disposition name, over kMaxFormParts parts or kMaxPartHeaderBytes
// of part headers; (413) the parts plus kPartOverheadBytes each over
// `max_bytes`.
struct FormResult {
  std::multimap<std::string, FormPart> parts;
  std::optional<FramingError> error;
};
FormResult ParseMultipart(std::string_view body, std::string_view boundary, size_t max_bytes);

// A value safe to log: control characters, quotes and bytes >= 0x7f are
// written as \xNN, and the result is cut at `max` bytes.
std::string LogSafe(std::string_view value, size_t max = 256);

}  // namespace edgevision::http::framing
