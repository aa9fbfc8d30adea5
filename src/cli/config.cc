#include "cli/config.h"

#include <toml++/toml.h>

#include <CLI/CLI.hpp>
#include <array>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace edgevision::cli {

namespace {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The key a config file uses for an option: its first long name.
std::string KeyOf(const CLI::Option* option) {
  const std::vector<std::string>& names = option->get_lnames();
  return names.empty() ? std::string() : names.front();
}

bool IsFlag(const CLI::Option* option) {
  return option->get_items_expected_max() == 0;
}
bool IsList(const CLI::Option* option) {
  return option->get_items_expected_max() > 1;
}

// A TOML value as the strings CLI11 would get on the command line.
Status TomlToStrings(const toml::node& node, const std::string& where,
                     std::vector<std::string>* out) {
  if (const auto* s = node.as_string()) {
    out->push_back(s->get());
  } else if (const auto* i = node.as_integer()) {
    out->push_back(std::to_string(i->get()));
  } else if (const auto* f = node.as_floating_point()) {
    std::array<char, 64> buf{};
    auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), f->get());
    if (ec != std::errc()) return InvalidArgument(where + ": number out of range");
    out->emplace_back(buf.data(), end);
  } else if (const auto* b = node.as_boolean()) {
    out->push_back(b->get() ? "true" : "false");
  } else if (const auto* a = node.as_array()) {
    for (const toml::node& element : *a) {
      if (element.is_array() || element.is_table())
        return InvalidArgument(where + ": a list may hold only strings, numbers and booleans");
      EV_RETURN_IF_ERROR(TomlToStrings(element, where, out));
    }
  } else {
    return InvalidArgument(where + ": expected a string, number, boolean or list");
  }
  return Status::Ok();
}

Result<std::string> ReadSmallFile(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status))
    return InvalidArgument("config file " + path + ": not found");
  if (!std::filesystem::is_regular_file(status))
    return InvalidArgument("config file " + path + ": not a regular file");
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return InvalidArgument("config file " + path + ": " + ec.message());
  if (size > kMaxConfigFileBytes)
    return InvalidArgument("config file " + path + ": larger than " +
                           std::to_string(kMaxConfigFileBytes) + " bytes");
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument("config file " + path + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return InvalidArgument("config file " + path + ": read error");
  return text.str();
}

// A TOML basic ("double-quoted") string, escaped by toml++'s formatter.
std::string TomlQuote(std::string_view s) {
  const toml::value<std::string> value{std::string(s)};
  std::ostringstream out;
  out << toml::toml_formatter(value, toml::toml_formatter::default_flags & ~toml::format_flags::allow_literal_strings);
  return out.str();
}

// A value printed bare when TOML would read it back as the same number.
bool LooksNumeric(std::string_view s) {
  if (s.empty()) return false;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return false;
  bool digit = false, dot = false, exp = false;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c >= '0' && c <= '9') {
      digit = true;
    } else if (c == '.' && !dot && !exp && digit) {
      dot = true;
      digit = false;  // TOML needs a digit after the dot
    } else if ((c == 'e' || c == 'E') && !exp && digit) {
      exp = true;
      digit = false;
      if (i + 1 < s.size() && (s[i + 1] == '-' || s[i + 1] == '+')) ++i;
    } else {
      return false;
    }
  }
  // TOML integers may not have leading zeros ("0755" would not read back).
  const size_t first = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (!dot && !exp && s.size() > first + 1 && s[first] == '0') return false;
  return digit;
}

std::vector<std::string> SplitBracketList(std::string s) {
  // CLI11 renders a vector default as "[a,b]".
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  std::vector<std::string> out;
  if (s.empty()) return out;
  size_t start = 0;
  for (size_t comma; (comma = s.find(',', start)) != std::string::npos; start = comma + 1)
    out.push_back(s.substr(start, comma - start));
  out.push_back(s.substr(start));
  return out;
}

}  // namespace

std::string_view ValueSourceName(ValueSource source) {
  switch (source) {
    case ValueSource::kDefault: return "default";
    case ValueSource::kConfigFile: return "config file";
    case ValueSource::kEnvironment: return "environment";
    case ValueSource::kCommandLine: return "command line";
  }
  return "default";
}

bool IsSecretSetting(std::string_view key) {
  for (std::string_view not_secret : {"-file", "-ttl", "-ca", "-cert"}) {
    if (EndsWith(key, not_secret)) return false;
  }
  if (key == "tls-key") return false;  // a file path
  for (std::string_view secret : {"password", "secret", "token", "connection-string", "key"}) {
    if (key.find(secret) != std::string_view::npos) return true;
  }
  return false;
}

std::string RedactUrlPassword(std::string_view value) {
  const size_t scheme = value.find("://");
  if (scheme == std::string_view::npos) return std::string(value);
  const size_t authority = scheme + 3;
  const size_t authority_end = value.find_first_of("/?#", authority);
  const std::string_view auth =
      value.substr(authority, authority_end == std::string_view::npos ? std::string_view::npos
                                                                      : authority_end - authority);
  const size_t at = auth.rfind('@');
  if (at == std::string_view::npos) return std::string(value);
  const size_t colon = auth.substr(0, at).find(':');
  if (colon == std::string_view::npos) return std::string(value);
  std::string out(value.substr(0, authority + colon + 1));
  out += "***";
  out += value.substr(authority + at);
  return out;
}

ConfigLayer::ConfigLayer(CLI::App* command, std::string default_config_file)
    : command_(command), default_config_file_(std::move(default_config_file)) {
  config_option_ = command_
                       ->add_option("--config", config_path_,
                                    "TOML file with settings (keys are these flags' long names); "
                                    "flags and environment variables "
                                    "override it. \"none\": no file (default: " +
                                        default_config_file_ + " when it exists)")
                       ->envname("EDGEVISION_CONFIG");
  command_->add_flag(
      "--print-config", print_config_,
      "Print the effective configuration, where each value came from (secrets redacted), and exit");
}

Status ConfigLayer::Apply() {
  // An explicit file (--config, EDGEVISION_CONFIG) must exist; the default
  // file is read only when it exists.
  std::string path;
  if (config_option_->count() > 0) {
    path = config_path_;
    if (path.empty() || path == kNoConfigFile) return Status::Ok();
  } else {
    std::error_code ec;
    if (default_config_file_.empty() || !std::filesystem::exists(default_config_file_, ec))
      return Status::Ok();
    path = default_config_file_;
  }
  EV_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));

  toml::table table;
  try {
    table = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return InvalidArgument("config file " + path + ":" + std::to_string(e.source().begin.line) +
                           ":" + std::to_string(e.source().begin.column) + ": " +
                           std::string(e.description()));
  }

  // Top-level keys and a [serve] table both configure this command.
  std::vector<std::pair<const toml::key*, const toml::node*>> entries;
  for (auto&& [key, node] : table) {
    if (key.str() == command_->get_name() && node.is_table()) {
      for (auto&& [inner_key, inner_node] : *node.as_table())
        entries.emplace_back(&inner_key, &inner_node);
    } else {
      entries.emplace_back(&key, &node);
    }
  }

  std::set<std::string> seen;
  for (const auto& [key, node] : entries) {
    const std::string name(key->str());
    const std::string where = path + ":" + std::to_string(key->source().begin.line) + ": " + name;
    if (!seen.insert(name).second)
      return InvalidArgument(where + ": set twice (at the top and in [serve])");
    CLI::Option* option =
        name.empty() || name.front() == '-' ? nullptr : command_->get_option_no_throw("--" + name);
    if (option == nullptr || option == config_option_ || option == command_->get_help_ptr() ||
        name == "print-config" || KeyOf(option) != name) {
      return InvalidArgument(where + ": not a setting of `edgevision " + command_->get_name() +
                             "` (keys are its long flag names without --, e.g. port or data-dir)");
    }
    std::vector<std::string> values;
    EV_RETURN_IF_ERROR(TomlToStrings(*node, where, &values));
    if (values.empty()) continue;  // an empty list leaves the default
    if (!IsList(option) && values.size() > 1)
      return InvalidArgument(where + ": takes one value, not a list");
    if (option->count() > 0) continue;  // a flag or the environment set it: they win
    try {
      option->add_result(values);
      option->run_callback();
    } catch (const CLI::Error& e) {
      // CLI11's message names the option ("--port: Value 99999 not in range ...").
      return InvalidArgument(where + ": " + e.what());
    }
    from_file_[name] = path + ":" + std::to_string(key->source().begin.line);
  }
  applied_file_ = path;
  return Status::Ok();
}

std::vector<EffectiveValue> ConfigLayer::Effective() const {
  std::set<const CLI::Option*> on_command_line(command_->parse_order().begin(),
                                               command_->parse_order().end());
  std::vector<EffectiveValue> out;
  for (CLI::Option* option : command_->get_options([](const CLI::Option*) { return true; })) {
    const std::string key = KeyOf(option);
    if (key.empty() || option == command_->get_help_ptr() || option == config_option_ ||
        key == "print-config")
      continue;
    EffectiveValue v;
    v.key = key;
    v.is_flag = IsFlag(option);
    v.is_list = IsList(option);
    if (on_command_line.count(option)) {
      v.source = ValueSource::kCommandLine;
    } else if (auto it = from_file_.find(key); it != from_file_.end()) {
      v.source = ValueSource::kConfigFile;
      v.origin = it->second;
    } else if (option->count() > 0) {
      v.source = ValueSource::kEnvironment;
      v.origin = option->get_envname();
    }
    if (v.is_flag) {
      bool on = false;
      if (option->count() > 0) {
        try {
          on = option->as<bool>();
        } catch (const CLI::Error&) {
          on = true;
        }
      }
      v.values = {on ? "true" : "false"};
    } else {
      // The bound variable's current value, as CLI11 renders defaults.
      option->capture_default_str();
      std::string rendered = option->get_default_str();
      if (v.is_list) {
        v.values = option->count() > 0 ? option->results() : SplitBracketList(rendered);
      } else {
        v.values = {rendered};
      }
    }
    const bool secret = IsSecretSetting(key);
    for (std::string& value : v.values) {
      if (value.empty()) continue;
      std::string redacted = secret ? std::string("***") : RedactUrlPassword(value);
      if (redacted != value) {
        value = std::move(redacted);
        v.redacted = true;
      }
    }
    out.push_back(std::move(v));
  }
  return out;
}

std::string ConfigLayer::Describe() const {
  std::ostringstream out;
  out << "# edgevision " << command_->get_name() << ": effective configuration\n"
      << "# precedence: command line > environment (EDGEVISION_*) > config file > defaults\n"
      << "# config file: " << (applied_file_.empty() ? std::string(kNoConfigFile) : applied_file_)
      << "\n";
  for (const EffectiveValue& v : Effective()) {
    std::string value;
    if (v.is_list) {
      value = "[";
      for (size_t i = 0; i < v.values.size(); ++i)
        value += (i ? ", " : "") + TomlQuote(v.values[i]);
      value += "]";
    } else {
      const std::string& s = v.values.empty() ? std::string() : v.values.front();
      value = v.is_flag || LooksNumeric(s) ? s : TomlQuote(s);
    }
    std::string comment(ValueSourceName(v.source));
    if (!v.origin.empty()) comment += " " + v.origin;
    if (v.redacted) comment += ", redacted";
    out << v.key << " = " << value << "  # " << comment << "\n";
  }
  return out.str();
}

}  // namespace edgevision::cli
