#include "stream/source.h"

#include <cctype>
#include <charconv>
#include <cmath>

#include "stream/directory_source.h"
#include "stream/ffmpeg_module.h"

namespace edgevision::stream {

namespace {

constexpr size_t kMaxNameLength = 64;

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  }
  return true;
}

Result<double> Number(const std::string& key, const std::string& value, double min, double max) {
  double v = 0;
  const char* end = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), end, v);
  if (ec != std::errc() || ptr != end || !std::isfinite(v) || v < min || v > max) {
    return InvalidArgument("source option " + key + "=" + value + ": expected a number from " +
                           std::to_string(min) + " to " + std::to_string(max));
  }
  return v;
}

Result<bool> Bool(const std::string& key, const std::string& value) {
  if (value == "1" || value == "true" || value == "yes") return true;
  if (value == "0" || value == "false" || value == "no") return false;
  return InvalidArgument("source option " + key + "=" + value + ": expected true or false");
}

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

Result<SourceSpec> ParseSourceSpec(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos) return InvalidArgument("--source " + text + ": expected NAME=URL[,key=value...]");
  SourceSpec spec;
  spec.name = text.substr(0, eq);
  if (!ValidName(spec.name)) {
    return InvalidArgument("--source " + text + ": the name must be 1-64 letters, digits, _ or -");
  }
  // The URL runs to the first ",key=" whose key is one of ours: a URL may
  // hold commas itself (rarely), never one followed by an option name.
  std::string rest = text.substr(eq + 1);
  static const char* kKeys[] = {"fps=",  "debounce=", "threshold=", "heartbeat=", "realtime=", "loop=",
                                "transport=", "format=", "timeout=", "hwdecode=", "ffmpeg."};
  size_t cut = std::string::npos;
  for (size_t pos = rest.find(','); pos != std::string::npos; pos = rest.find(',', pos + 1)) {
    for (const char* key : kKeys) {
      if (rest.compare(pos + 1, std::char_traits<char>::length(key), key) == 0) {
        cut = pos;
        break;
      }
    }
    if (cut != std::string::npos) break;
  }
  spec.url = rest.substr(0, cut);
  if (spec.url.empty()) return InvalidArgument("--source " + spec.name + ": no URL");
  std::string options = cut == std::string::npos ? "" : rest.substr(cut + 1);
  while (!options.empty()) {
    const size_t comma = options.find(',');
    const std::string item = options.substr(0, comma);
    options = comma == std::string::npos ? "" : options.substr(comma + 1);
    const size_t e = item.find('=');
    if (e == std::string::npos) return InvalidArgument("--source " + spec.name + ": option " + item + " has no value");
    const std::string key = item.substr(0, e);
    const std::string value = item.substr(e + 1);
    if (key == "fps") {
      EV_ASSIGN_OR_RETURN(spec.fps, Number(key, value, 0, 1000));
    } else if (key == "debounce") {
      EV_ASSIGN_OR_RETURN(double v, Number(key, value, 1, 1000));
      spec.debounce = static_cast<int>(v);
    } else if (key == "threshold") {
      EV_ASSIGN_OR_RETURN(spec.threshold, Number(key, value, 0, 1));
    } else if (key == "heartbeat") {
      EV_ASSIGN_OR_RETURN(double v, Number(key, value, 0, 86400));
      spec.heartbeat_s = static_cast<int>(v);
    } else if (key == "realtime") {
      EV_ASSIGN_OR_RETURN(spec.realtime, Bool(key, value));
    } else if (key == "loop") {
      EV_ASSIGN_OR_RETURN(spec.loop, Bool(key, value));
    } else if (key == "transport") {
      if (value != "tcp" && value != "udp") return InvalidArgument("source option transport: tcp or udp");
      spec.transport = value;
    } else if (key == "format") {
      spec.format = value;
    } else if (key == "timeout") {
      EV_ASSIGN_OR_RETURN(double v, Number(key, value, 0.1, 3600));
      spec.limits.read_timeout = spec.limits.open_timeout = std::chrono::milliseconds(static_cast<int64_t>(v * 1000));
    } else if (key == "hwdecode") {
      if (value != "auto" && value != "off") return InvalidArgument("source option hwdecode=" + value + ": auto or off");
      spec.hwdecode = value == "auto";
    } else if (StartsWith(key, "ffmpeg.") && key.size() > 7) {
      spec.ffmpeg_options[key.substr(7)] = value;
    } else {
      return InvalidArgument("--source " + spec.name + ": unknown option " + key);
    }
  }
  return spec;
}

SourceKind KindOf(const SourceSpec& spec) {
  return StartsWith(spec.url, "dir:") ? SourceKind::kDirectory : SourceKind::kFfmpeg;
}

Result<std::unique_ptr<FrameSource>> OpenSource(const SourceSpec& spec, const std::function<bool()>& cancelled) {
  if (KindOf(spec) == SourceKind::kDirectory) return OpenDirectorySource(spec.url.substr(4), spec.limits);
  EV_ASSIGN_OR_RETURN(std::shared_ptr<FfmpegModule> module, FfmpegModule::Default());
  return module->Open(spec, cancelled);
}

}  // namespace edgevision::stream
