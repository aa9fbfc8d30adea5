// Configuration layering for `edgevision serve`.
//
// One precedence, highest first (docs/deploy.md#configuration):
//   1. command-line flags            --port 80
//   2. environment variables         EDGEVISION_PORT=80 (containers, IoT Edge "env")
//   3. the config file (TOML)        port = 80
//   4. built-in defaults
// The config file is --config FILE, else $EDGEVISION_CONFIG, else
// kDefaultConfigFile when that file exists; "none" means no file. Its keys are
// serve's long flag names without the dashes (`data-dir = "/var/lib/edgevision"`),
// at the top level or in a [serve] table.
//
// CLI11 2.1 orders these differently (flags > its own config file > env), so
// ConfigLayer does not use CLI11's config support: CLI11 parses flags and
// environment as usual, then Apply() reads the file and gives its values only
// to the options that neither a flag nor the environment set, through the
// options' own validators and transforms.
//
// Thread-safety: none; used once on the main thread before serving.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace edgevision::cli {

// Where the .deb installs its config file (CMake's sysconfdir + edgevision/).
#ifndef EDGEVISION_DEFAULT_CONFIG_FILE
#define EDGEVISION_DEFAULT_CONFIG_FILE "/etc/edgevision/edgevision.conf"
#endif
inline constexpr const char* kDefaultConfigFile = EDGEVISION_DEFAULT_CONFIG_FILE;
// A config file larger than this is refused (it is a few lines of TOML).
inline constexpr size_t kMaxConfigFileBytes = 1 << 20;
// The value of --config / EDGEVISION_CONFIG that turns the config file off.
inline constexpr const char* kNoConfigFile = "none";

enum class ValueSource { kDefault, kConfigFile, kEnvironment, kCommandLine };
std::string_view ValueSourceName(
    ValueSource source);  // "default", "config file", "environment", "command line"

// One setting as the program will use it.
struct EffectiveValue {
  std::string key;                  // long flag name without dashes: "data-dir"
  std::vector<std::string> values;  // one element, or several for list options; secrets redacted
  bool is_list = false;             // printed as a TOML array
  bool is_flag = false;             // true/false
  ValueSource source = ValueSource::kDefault;
  std::string origin;     // "EDGEVISION_PORT", "/etc/edgevision/edgevision.conf:3", ""
  bool redacted = false;  // a secret (or a URL's password) was replaced by ***
};

// Secret policy for --print-config. A setting is secret when its name
// contains "password", "secret", "token", "connection-string" or "key",
// unless it names a file or a duration (ends in -file, -ttl, -ca, -cert) or is
// tls-key (a file path). Secret values print as "***".
bool IsSecretSetting(std::string_view key);
// "mqtts://user:pa55@host/t" -> "mqtts://user:***@host/t"; anything else unchanged.
std::string RedactUrlPassword(std::string_view value);

// Binds the layering to one CLI11 sub-command. Non-copyable; `command` must
// outlive it and must be the app (or sub-command) that CLI11 parses.
class ConfigLayer {
 public:
  // Adds --config FILE (env EDGEVISION_CONFIG) and --print-config to `command`.
  explicit ConfigLayer(CLI::App* command, std::string default_config_file = kDefaultConfigFile);
  ConfigLayer(const ConfigLayer&) = delete;
  ConfigLayer& operator=(const ConfigLayer&) = delete;

  // After CLI11 has parsed argv (flags and environment): reads the config
  // file, if any, and applies each of its values to the option of that name
  // unless a flag or the environment already set it. Call once.
  // Errors (InvalidArgument, naming the file, line and key): the file named
  // by --config/EDGEVISION_CONFIG is missing or unreadable, is too large, is
  // not TOML, has a key that is no setting of the command, a value of the
  // wrong shape (a table, a date), or a value the option's check rejects.
  Status Apply();

  bool print_requested() const { return print_config_; }
  // The config file Apply() read; "" when none.
  const std::string& config_file() const { return applied_file_; }
  // Every setting of the command (except help, config and print-config) with
  // its effective value and where it came from. Valid after Apply().
  std::vector<EffectiveValue> Effective() const;
  // Effective() as TOML that --config can read back (secrets stay "***"),
  // each line commented with its source.
  std::string Describe() const;

 private:
  CLI::App* command_;
  CLI::Option* config_option_ = nullptr;
  std::string default_config_file_;
  std::string config_path_;  // bound to --config
  bool print_config_ = false;
  std::string applied_file_;
  std::map<std::string, std::string> from_file_;  // key -> "file:line"
};

}  // namespace edgevision::cli
