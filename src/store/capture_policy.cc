#include "store/capture_policy.h"

#include <charconv>
#include <cmath>
#include <optional>
#include <sstream>

namespace edgevision::store {

namespace {

// A number in (0, 1]; nullopt otherwise.
std::optional<double> ParseUnit(const std::string& text) {
  double value = 0;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  if (!std::isfinite(value) || value <= 0 || value > 1) return std::nullopt;
  return value;
}

std::string Shortest(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

}  // namespace

Result<CapturePolicy> CapturePolicy::Parse(const std::string& spec,
                                           const std::vector<std::string>& tags) {
  CapturePolicy p;
  const size_t colon = spec.find(':');
  const std::string mode = spec.substr(0, colon);
  const std::string arg = colon == std::string::npos ? "" : spec.substr(colon + 1);
  const std::string accepted =
      "; expected none, all, uncertain:<p> or sample:<fraction> with 0 < value <= 1";
  if (mode == "none" && colon == std::string::npos) {
    p.mode = Mode::kNone;
  } else if (mode == "all" && colon == std::string::npos) {
    p.mode = Mode::kAll;
  } else if (mode == "uncertain" && colon != std::string::npos) {
    std::optional<double> v = ParseUnit(arg);
    if (!v)
      return InvalidArgument("--capture " + spec + ": '" + arg + "' is not a probability" +
                             accepted);
    p.mode = Mode::kUncertain;
    p.threshold = *v;
  } else if (mode == "sample" && colon != std::string::npos) {
    std::optional<double> v = ParseUnit(arg);
    if (!v)
      return InvalidArgument("--capture " + spec + ": '" + arg + "' is not a fraction" + accepted);
    p.mode = Mode::kSample;
    p.fraction = *v;
  } else {
    return InvalidArgument("--capture '" + spec + "' is not a capture policy" + accepted);
  }
  for (const std::string& tag : tags) {
    if (tag.empty()) return InvalidArgument("--capture-tags: empty tag name");
    p.tags.insert(tag);
  }
  return p;
}

bool CapturePolicy::ShouldCapture(const std::string& top_tag, double top_probability,
                                  double random01) const {
  if (!tags.empty() && !tags.count(top_tag)) return false;
  if (top_probability < min_probability) return false;
  if (max_probability < 1 && top_probability >= max_probability) return false;
  switch (mode) {
    case Mode::kNone: return false;
    case Mode::kAll: return true;
    case Mode::kUncertain: return top_probability < threshold;
    case Mode::kSample: return random01 < fraction;
  }
  return false;
}

std::string CapturePolicy::ToString() const {
  std::string s;
  switch (mode) {
    case Mode::kNone: s = "none"; break;
    case Mode::kAll: s = "all"; break;
    case Mode::kUncertain: s = "uncertain:" + Shortest(threshold); break;
    case Mode::kSample: s = "sample:" + Shortest(fraction); break;
  }
  if (min_probability > 0) s += " min=" + Shortest(min_probability);
  if (max_probability < 1) s += " max=" + Shortest(max_probability);
  if (!tags.empty()) {
    s += " tags=";
    bool first = true;
    for (const std::string& t : tags) {
      if (!first) s += ",";
      s += t;
      first = false;
    }
  }
  return s;
}

}  // namespace edgevision::store
