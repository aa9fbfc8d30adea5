#include "http/framing.h"

#include <strings.h>

#include <algorithm>
#include <cstdio>

namespace edgevision::http::framing {

namespace {

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool IStartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && IEquals(s.substr(0, prefix.size()), prefix);
}

// RFC 9110 tchar.
bool IsTokenChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return IsTokenChar(static_cast<unsigned char>(c)); });
}

// Field values: visible characters, space, tab and obs-text; no CR, LF, NUL
// or other controls.
bool IsFieldValue(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    const unsigned char c = static_cast<unsigned char>(ch);
    return c == '\t' || (c >= 0x20 && c != 0x7f);
  });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

FramingError Error(int status, std::string message) { return FramingError{status, std::move(message)}; }

}  // namespace

std::optional<std::string_view> Head::Find(std::string_view name) const {
  for (const auto& [k, v] : fields) {
    if (IEquals(k, name)) return std::string_view(v);
  }
  return std::nullopt;
}

HeadEnd FindHeadEnd(std::string_view input, size_t max_head_bytes, size_t* line_start_io) {
  HeadEnd out;
  size_t& line_start = *line_start_io;
  for (;;) {
    const size_t lf = input.find('\n', line_start);
    const size_t line_end = lf == std::string_view::npos ? input.size() : lf;
    if (line_end - line_start > kMaxLineBytes + 1) {
      out.error = line_start == 0 ? Error(414, "the request line is longer than " + std::to_string(kMaxLineBytes) +
                                                   " bytes")
                                  : Error(400, "a header line is longer than " + std::to_string(kMaxLineBytes) +
                                                   " bytes");
      return out;
    }
    if (lf == std::string_view::npos) break;
    // A blank line (CRLF, or a bare LF that ParseHead then refuses) ends the head.
    const std::string_view line = input.substr(line_start, lf - line_start);
    if (line_start > 0 && (line.empty() || line == "\r")) {
      out.size = lf + 1;
      break;
    }
    line_start = lf + 1;
  }
  if (out.size > max_head_bytes || (out.size == 0 && input.size() > max_head_bytes)) {
    out.size = 0;
    out.error = Error(431, "the request headers are larger than " + std::to_string(max_head_bytes) + " bytes");
  }
  return out;
}

HeadResult ParseHead(std::string_view input) {
  HeadResult out;
  auto fail = [&](int status, std::string message) {
    out.head.reset();
    out.error = Error(status, std::move(message));
    return out;
  };
  Head h;
  std::vector<std::string_view> lines;
  size_t at = 0;
  while (at < input.size()) {
    const size_t lf = input.find('\n', at);
    if (lf == std::string_view::npos) return fail(400, "the request head is incomplete");
    if (lf == at || input[lf - 1] != '\r') return fail(400, "a line of the request head does not end in CRLF");
    lines.push_back(input.substr(at, lf - 1 - at));
    at = lf + 1;
  }
  if (lines.size() < 2 || !lines.back().empty()) return fail(400, "the request head is incomplete");
  lines.pop_back();

  // Request line: method SP request-target SP HTTP-version.
  const std::string_view line = lines.front();
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return fail(400, "malformed request line");
  }
  const std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                         version = line.substr(sp2 + 1);
  if (!IsToken(method)) return fail(400, "malformed request method");
  if (target.empty() || target.front() != '/' ||
      !std::all_of(target.begin(), target.end(), [](char c) { return c > 0x20 && c != 0x7f; })) {
    return fail(400, "malformed request target");
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return fail(400, "unsupported HTTP version");
  h.method = method;
  h.target = target;
  h.version = version;

  int content_lengths = 0, transfer_encodings = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view field = lines[i];
    if (field.front() == ' ' || field.front() == '\t') return fail(400, "folded header lines are not accepted");
    const size_t colon = field.find(':');
    if (colon == std::string_view::npos) return fail(400, "a header line has no ':'");
    const std::string_view name = field.substr(0, colon), value = Trim(field.substr(colon + 1));
    if (!IsToken(name)) return fail(400, "malformed header name");
    if (!IsFieldValue(value)) return fail(400, "a header value has control characters");
    if (h.fields.size() >= kMaxHeaderFields) {
      return fail(431, "more than " + std::to_string(kMaxHeaderFields) + " header fields");
    }
    if (IEquals(name, "Content-Length")) {
      ++content_lengths;
      if (!IsDigits(value) || value.size() > 18) return fail(400, "malformed Content-Length");
      h.content_length = std::stoull(std::string(value));
    } else if (IEquals(name, "Transfer-Encoding")) {
      ++transfer_encodings;
      if (!IEquals(value, "chunked")) {
        return fail(501, "Transfer-Encoding '" + LogSafe(value, 32) + "' is not supported");
      }
    }
    h.fields.emplace_back(name, value);
  }
  if (content_lengths > 1) return fail(400, "more than one Content-Length");
  if (transfer_encodings > 1) return fail(400, "more than one Transfer-Encoding");
  if (content_lengths && transfer_encodings) return fail(400, "both Content-Length and Transfer-Encoding");
  if (transfer_encodings && h.version == "HTTP/1.0") return fail(400, "chunked bodies need HTTP/1.1");
  h.body = transfer_encodings ? Head::Body::kChunked : content_lengths ? Head::Body::kLength : Head::Body::kNone;
  out.head = std::move(h);
  return out;
}

std::string RebuildHead(const Head& head) {
  std::string out = head.method + " " + head.target + " " + head.version + "\r\n";
  for (const auto& [name, value] : head.fields) {
    if (IEquals(name, "Range") || IEquals(name, "If-Range")) continue;
    if (IEquals(name, "Content-Type") && MultipartBoundary(value)) {
      out += "Content-Type: application/x-edgevision-form-data\r\n";
      continue;
    }
    out += name + ": " + value + "\r\n";
  }
  const bool body_method =
      head.method == "POST" || head.method == "PUT" || head.method == "PATCH" || head.method == "DELETE";
  if (body_method && head.body == Head::Body::kNone) out += "Content-Length: 0\r\n";
  return out + "\r\n";
}

ChunkedFramer::Fed ChunkedFramer::Fail(int status, std::string message) {
  Fed f;
  f.error = Error(status, std::move(message));
  return f;
}

ChunkedFramer::Fed ChunkedFramer::Feed(std::string_view data) {
  size_t i = 0;
  while (i < data.size() && state_ != State::kDone) {
    const char c = data[i];
    switch (state_) {
      case State::kSize:
        if (c == '\r') {
          state_ = State::kSizeLF;
        } else {
          if (line_.size() >= kMaxChunkLineBytes) {
            return Fail(400, "a chunk-size line is longer than " + std::to_string(kMaxChunkLineBytes) + " bytes");
          }
          line_ += c;
        }
        ++i;
        break;
      case State::kSizeLF: {
        if (c != '\n') return Fail(400, "a chunk-size line does not end in CRLF");
        ++i;
        // chunk-size [ chunk-ext ]: hex digits, then nothing or ';' extensions.
        size_t digits = 0;
        uint64_t size = 0;
        while (digits < line_.size() && HexValue(line_[digits]) >= 0) {
          if (digits >= 15) return Fail(413, "a chunk size is too large");
          size = size * 16 + static_cast<uint64_t>(HexValue(line_[digits]));
          ++digits;
        }
        if (digits == 0) return Fail(400, "malformed chunk size");
        const std::string_view rest(line_.data() + digits, line_.size() - digits);
        const std::string_view ext = Trim(rest);
        if (!rest.empty() && (ext.empty() || ext.front() != ';')) return Fail(400, "malformed chunk size");
        if (!IsFieldValue(rest)) return Fail(400, "a chunk extension has control characters");
        line_.clear();
        if (size == 0) {
          state_ = State::kTrailer;
        } else {
          if (size > max_body_ || body_ + size > max_body_) {
            return Fail(413, "the request body is larger than " + std::to_string(max_body_) + " bytes");
          }
          chunk_left_ = size;
          state_ = State::kData;
        }
        break;
      }
      case State::kData: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_left_, data.size() - i));
        chunk_left_ -= n;
        body_ += n;
        i += n;
        if (chunk_left_ == 0) state_ = State::kDataCR;
        break;
      }
      case State::kDataCR:
        if (c != '\r') return Fail(400, "chunk data is not followed by CRLF");
        state_ = State::kDataLF;
        ++i;
        break;
      case State::kDataLF:
        if (c != '\n') return Fail(400, "chunk data is not followed by CRLF");
        state_ = State::kSize;
        ++i;
        break;
      case State::kTrailer:
        // cpp-httplib 0.11.4 reads no trailer fields: the last chunk must be
        // followed by CRLF at once. Refusing them here keeps both in step.
        if (c != '\r') return Fail(400, "trailer fields after a chunked body are not accepted");
        state_ = State::kTrailerLF;
        ++i;
        break;
      case State::kTrailerLF:
        if (c != '\n') return Fail(400, "the last chunk is not followed by CRLF");
        state_ = State::kDone;
        ++i;
        break;
      case State::kDone:
        break;
    }
  }
  Fed f;
  f.used = i;
  return f;
}

std::optional<std::string> MultipartBoundary(std::string_view content_type) {
  const size_t semi = content_type.find(';');
  if (!IEquals(Trim(content_type.substr(0, semi)), "multipart/form-data")) return std::nullopt;
  std::string_view rest = semi == std::string_view::npos ? std::string_view() : content_type.substr(semi + 1);
  while (!rest.empty()) {
    const size_t next = rest.find(';');
    const std::string_view param = Trim(rest.substr(0, next));
    rest = next == std::string_view::npos ? std::string_view() : rest.substr(next + 1);
    if (!IStartsWith(param, "boundary=")) continue;
    std::string_view b = param.substr(9);
    if (b.size() >= 2 && b.front() == '"' && b.back() == '"') b = b.substr(1, b.size() - 2);
    // RFC 2046: 1 to 70 characters.
    if (b.empty() || b.size() > 70 || !IsFieldValue(b)) return std::string();
    return std::string(b);
  }
  return std::string();
}

namespace {

// The value of `key="value"` (or key=value) in a Content-Disposition.
std::optional<std::string> DispositionParam(std::string_view disposition, std::string_view key) {
  size_t at = 0;
  while (at < disposition.size()) {
    const size_t semi = disposition.find(';', at);
    std::string_view param = Trim(disposition.substr(at, semi == std::string_view::npos ? semi : semi - at));
    // A quoted value may contain ';': take it whole.
    const size_t eq = param.find('=');
    if (eq != std::string_view::npos && IEquals(Trim(param.substr(0, eq)), key)) {
      const size_t value_at = at + (param.data() - (disposition.data() + at)) + eq + 1;
      std::string_view value = disposition.substr(value_at);
      if (!value.empty() && value.front() == '"') {
        const size_t close = value.find('"', 1);
        if (close == std::string_view::npos) return std::nullopt;
        return std::string(value.substr(1, close - 1));
      }
      return std::string(Trim(value.substr(0, value.find(';'))));
    }
    if (semi == std::string_view::npos) break;
    at = semi + 1;
  }
  return std::nullopt;
}

}  // namespace

FormResult ParseMultipart(std::string_view body, std::string_view boundary, size_t max_bytes) {
  FormResult out;
  auto fail = [&](int status, std::string message) {
    out.parts.clear();
    out.error = Error(status, std::move(message));
    return out;
  };
  if (boundary.empty()) return fail(400, "multipart/form-data without a boundary");
  const std::string dash = "--" + std::string(boundary);
  const std::string delimiter = "\r\n" + dash;
  // The preamble ends at the first boundary line.
  size_t at;
  if (body.substr(0, dash.size()) == dash) {
    at = dash.size();
  } else {
    const size_t first = body.find(delimiter);
    if (first == std::string_view::npos) return fail(400, "the multipart boundary never appears");
    at = first + delimiter.size();
  }
  size_t charged = 0;
  for (;;) {
    // After a boundary: "--" ends the body, CRLF starts a part.
    if (body.substr(at, 2) == "--") return out;
    size_t line_end = body.find("\r\n", at);
    if (line_end == std::string_view::npos) return fail(400, "the multipart body is not closed");
    if (!Trim(body.substr(at, line_end - at)).empty()) return fail(400, "malformed multipart boundary line");
    at = line_end + 2;
    if (out.parts.size() >= kMaxFormParts) {
      return fail(400, "more than " + std::to_string(kMaxFormParts) + " multipart parts");
    }
    // Part headers, up to a blank line.
    const size_t headers_end = body.find("\r\n\r\n", at - 2);
    if (headers_end == std::string_view::npos || headers_end + 2 - at > kMaxPartHeaderBytes) {
      return fail(400, "multipart part headers are missing or longer than " + std::to_string(kMaxPartHeaderBytes) +
                           " bytes");
    }
    std::optional<std::string> name, filename;
    std::string content_type;
    for (size_t line = at; line < headers_end + 2;) {
      const size_t end = body.find("\r\n", line);
      const std::string_view header = body.substr(line, end - line);
      line = end + 2;
      if (header.empty()) continue;
      const size_t colon = header.find(':');
      if (colon == std::string_view::npos) return fail(400, "malformed multipart part header");
      const std::string_view key = Trim(header.substr(0, colon)), value = Trim(header.substr(colon + 1));
      if (IEquals(key, "Content-Type")) {
        content_type = value;
      } else if (IEquals(key, "Content-Disposition")) {
        if (!IStartsWith(value, "form-data")) return fail(400, "a multipart part is not form-data");
        name = DispositionParam(value, "name");
        filename = DispositionParam(value, "filename");
      }
    }
    if (!name) return fail(400, "a multipart part has no name");
    at = headers_end + 4;
    const size_t content_end = body.find(delimiter, at);
    if (content_end == std::string_view::npos) return fail(400, "the multipart body is not closed");
    charged += kPartOverheadBytes + name->size() + (filename ? filename->size() : 0) + content_type.size() +
               (content_end - at);
    if (charged > max_bytes) {
      return fail(413, "the multipart parts are larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.parts.emplace(*name, FormPart{filename.value_or(""), content_type, std::string(body.substr(at, content_end - at))});
    at = content_end + delimiter.size();
  }
}

std::string LogSafe(std::string_view value, size_t max) {
  std::string out;
  for (char ch : value) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace edgevision::http::framing
