#include "delivery/delivery_record.h"

#include <charconv>
#include <cstdint>
#include <sstream>
#include <vector>

#include "core/durable_files.h"

namespace edgevision::delivery {

namespace {

constexpr const char* kHeader = "edgevision-model-delivery 1";
constexpr size_t kMaxRecordBytes = 64 * 1024;
constexpr int64_t kMaxRounds = 1'000'000;

// A whole decimal number, or nothing.
std::optional<int64_t> ParseInt(const std::string& s) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string Clean(std::string s) {
  for (char& c : s) {
    if (c == '\t' || c == '\n' || c == '\r') c = ' ';
  }
  return s.empty() ? "-" : s;
}

void Line(std::string* out, const char* role, const std::optional<ModelRef>& m) {
  if (!m) return;
  *out += std::string(role) + "\t" + Clean(m->sha256) + "\t" + Clean(m->version) + "\t" + Clean(m->path) + "\t" +
          Clean(m->url) + "\n";
}

std::vector<std::string> Split(const std::string& line) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t tab = line.find('\t', start);
    parts.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
    if (tab == std::string::npos) return parts;
    start = tab + 1;
  }
}

}  // namespace

std::string EncodeRecord(const DeliveryRecord& record) {
  std::string out = std::string(kHeader) + "\n";
  Line(&out, "current", record.current);
  Line(&out, "previous", record.previous);
  Line(&out, "pending", record.pending);
  if (!record.error.empty()) out += "error\t" + Clean(record.error) + "\n";
  if (record.pending && record.retries > 0) {
    const int64_t next = record.next_retry ? std::chrono::duration_cast<std::chrono::milliseconds>(
                                                 record.next_retry->time_since_epoch()).count()
                                           : 0;
    out += "retry\t" + Clean(record.pending->sha256) + "\t" + std::to_string(record.retries) + "\t" +
           std::to_string(next) + "\n";
  }
  return out;
}

Result<DeliveryRecord> DecodeRecord(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != kHeader) return Corrupt("model delivery state: unknown header");
  DeliveryRecord r;
  std::string retry_sha;
  int n = 1;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    std::vector<std::string> f = Split(line);
    if (f[0] == "error" && f.size() == 2) {
      r.error = f[1];
      continue;
    }
    if (f[0] == "retry" && f.size() == 4) {
      std::optional<int64_t> rounds = ParseInt(f[2]), next = ParseInt(f[3]);
      if (!rounds || !next || *rounds < 0 || *rounds > kMaxRounds || *next < 0) {
        return Corrupt("model delivery state: line " + std::to_string(n) + ": a malformed retry");
      }
      retry_sha = f[1];
      r.retries = static_cast<int>(*rounds);
      if (*next > 0) r.next_retry = std::chrono::system_clock::time_point(std::chrono::milliseconds(*next));
      continue;
    }
    if (f.size() != 5) return Corrupt("model delivery state: line " + std::to_string(n) + " is malformed");
    ModelRef m{f[1], f[2], f[3], f[4]};
    if (f[0] == "current") {
      r.current = m;
    } else if (f[0] == "previous") {
      r.previous = m;
    } else if (f[0] == "pending") {
      r.pending = m;
    } else {
      return Corrupt("model delivery state: line " + std::to_string(n) + ": unknown role '" + f[0] + "'");
    }
  }
  // Rounds belong to the pending request they name, never to another.
  if (!r.pending || r.pending->sha256 != retry_sha) {
    r.retries = 0;
    r.next_retry.reset();
  }
  return r;
}

Result<DeliveryRecord> ReadRecord(const std::string& path) {
  Result<std::string> text = ReadSmallFile(path, kMaxRecordBytes);
  if (!text.ok() && text.status().code() == StatusCode::kNotFound) return DeliveryRecord{};
  if (!text.ok()) return text.status();
  Result<DeliveryRecord> record = DecodeRecord(*text);
  if (!record.ok()) return record.status().WithContext(path);
  return record;
}

Status WriteRecord(const std::string& path, const DeliveryRecord& record) {
  return WriteFileAtomically(path, EncodeRecord(record));
}

}  // namespace edgevision::delivery
