// The configuration precedence (flags > environment > config file >
// defaults), the sources --print-config reports, and secret redaction.
#include "cli/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <memory>

#include "test_support.h"

namespace edgevision::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Environment variables the fixture's options read; cleared around each test.
constexpr const char* kEnvNames[] = {"EVTEST_PORT",
                                     "EVTEST_HOST",
                                     "EVTEST_TAGS",
                                     "EVTEST_UPSTREAM",
                                     "EVTEST_CONNECTION_STRING",
                                     "EVTEST_LOOPBACK",
                                     "EVTEST_MAX_BYTES",
                                     "EVTEST_MIN_P",
                                     "EDGEVISION_CONFIG"};

// A serve-like command with the kinds of options `edgevision serve` has.
struct Command {
  CLI::App app{"test"};
  CLI::App* serve = app.add_subcommand("serve");
  int port = 8080;
  std::string host = "0.0.0.0";
  std::string data_dir;
  std::vector<std::string> tags;
  std::string upstream;
  std::string connection_string;
  std::string password_file;
  bool loopback = false;
  uint64_t max_bytes = 1ull << 30;
  double min_p = 0.0;
  std::unique_ptr<ConfigLayer> layer;

  explicit Command(const std::string& default_file) {
    layer = std::make_unique<ConfigLayer>(serve, default_file);
    serve->add_option("--port", port)
        ->envname("EVTEST_PORT")
        ->check(CLI::Range(0, 65535))
        ->capture_default_str();
    serve->add_option("--host", host)->envname("EVTEST_HOST")->capture_default_str();
    serve->add_option("--data-dir", data_dir);
    serve->add_option("--upstream-tags", tags)->envname("EVTEST_TAGS")->delimiter(',');
    serve->add_option("--upstream", upstream)->envname("EVTEST_UPSTREAM");
    serve->add_option("--connection-string", connection_string)
        ->envname("EVTEST_CONNECTION_STRING");
    serve->add_option("--upstream-password-file", password_file);
    serve->add_flag("--url-allow-loopback", loopback)->envname("EVTEST_LOOPBACK");
    serve->add_option("--capture-max-bytes", max_bytes)
        ->envname("EVTEST_MAX_BYTES")
        ->transform(CLI::AsSizeValue(false))
        ->capture_default_str();
    serve->add_option("--upstream-min-probability", min_p)
        ->envname("EVTEST_MIN_P")
        ->check(CLI::Range(0.0, 1.0))
        ->capture_default_str();
  }

  // Parses `edgevision serve <args>` and applies the config file.
  Status Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"edgevision", "serve"});
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    app.parse(static_cast<int>(argv.size()), argv.data());
    return layer->Apply();
  }

  EffectiveValue Get(const std::string& key) const {
    for (EffectiveValue& v : layer->Effective())
      if (v.key == key) return v;
    ADD_FAILURE() << "no setting " << key;
    return {};
  }
};

class ConfigLayerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : kEnvNames) unsetenv(name);
    ASSERT_FALSE(tmp_.path().empty()) << "mkdtemp failed";
    dir_ = tmp_.str();
  }
  void TearDown() override {
    for (const char* name : kEnvNames) unsetenv(name);
  }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::string NoDefault() const { return dir_ + "/absent.conf"; }

  edgevision::testing::TempDir tmp_{"edgevision-config-test"};
  std::string dir_;
};

TEST_F(ConfigLayerTest, DefaultsWhenNothingIsSet) {
  Command c(NoDefault());
  ASSERT_TRUE(c.Run({}).ok());
  EXPECT_EQ(c.port, 8080);
  EXPECT_EQ(c.layer->config_file(), "");
  EffectiveValue port = c.Get("port");
  EXPECT_EQ(port.source, ValueSource::kDefault);
  EXPECT_EQ(port.values, std::vector<std::string>{"8080"});
  EXPECT_EQ(c.Get("url-allow-loopback").values, std::vector<std::string>{"false"});
  EXPECT_EQ(c.Get("upstream-tags").values, std::vector<std::string>{});
}

TEST_F(ConfigLayerTest, ConfigFileFillsWhatFlagsAndEnvironmentLeaveUnset) {
  const std::string file = Write("a.conf",
                                 "# comment\n"
                                 "port = 81\n"
                                 "data-dir = \"/var/lib/edgevision\"\n"
                                 "upstream-tags = [\"Apple\", \"Banana\"]\n"
                                 "url-allow-loopback = true\n"
                                 "capture-max-bytes = \"2G\"\n"
                                 "upstream-min-probability = 0.8\n");
  Command c(NoDefault());
  ASSERT_TRUE(c.Run({"--config", file}).ok());
  EXPECT_EQ(c.port, 81);
  EXPECT_EQ(c.data_dir, "/var/lib/edgevision");
  EXPECT_EQ(c.tags, (std::vector<std::string>{"Apple", "Banana"}));
  EXPECT_TRUE(c.loopback);
  EXPECT_EQ(c.max_bytes, 2ull << 30);  // through the option's own transform
  EXPECT_DOUBLE_EQ(c.min_p, 0.8);
  EXPECT_EQ(c.layer->config_file(), file);
  EffectiveValue port = c.Get("port");
  EXPECT_EQ(port.source, ValueSource::kConfigFile);
  EXPECT_EQ(port.origin, file + ":2");
  EXPECT_EQ(c.Get("capture-max-bytes").values, std::vector<std::string>{"2147483648"});
}

// Every combination of flag / environment / file for one option: the
// highest present source wins and is the one reported.
TEST_F(ConfigLayerTest, PrecedenceIsFlagThenEnvironmentThenFileThenDefault) {
  const std::string file = Write("p.conf", "port = 3\nupstream-tags = \"file\"\n");
  for (int mask = 0; mask < 8; ++mask) {
    const bool flag = mask & 4, env = mask & 2, in_file = mask & 1;
    SCOPED_TRACE("flag=" + std::to_string(flag) + " env=" + std::to_string(env) +
                 " file=" + std::to_string(in_file));
    unsetenv("EVTEST_PORT");
    unsetenv("EVTEST_TAGS");
    if (env) {
      setenv("EVTEST_PORT", "2", 1);
      setenv("EVTEST_TAGS", "env1,env2", 1);
    }
    std::vector<std::string> args{"--config", in_file ? file : std::string(kNoConfigFile)};
    if (flag) args.insert(args.end(), {"--port", "1", "--upstream-tags", "flag"});
    Command c(NoDefault());
    ASSERT_TRUE(c.Run(args).ok());
    const int want_port = flag ? 1 : env ? 2 : in_file ? 3 : 8080;
    const std::vector<std::string> want_tags = flag      ? std::vector<std::string>{"flag"}
                                               : env     ? std::vector<std::string>{"env1", "env2"}
                                               : in_file ? std::vector<std::string>{"file"}
                                                         : std::vector<std::string>{};
    const ValueSource want_source = flag      ? ValueSource::kCommandLine
                                    : env     ? ValueSource::kEnvironment
                                    : in_file ? ValueSource::kConfigFile
                                              : ValueSource::kDefault;
    EXPECT_EQ(c.port, want_port);
    EXPECT_EQ(c.tags, want_tags);
    EXPECT_EQ(c.Get("port").source, want_source);
    EXPECT_EQ(c.Get("upstream-tags").source, want_source);
    EXPECT_EQ(c.Get("port").values, std::vector<std::string>{std::to_string(want_port)});
    if (env && !flag) {
      EXPECT_EQ(c.Get("port").origin, "EVTEST_PORT");
    }
  }
}

TEST_F(ConfigLayerTest, ConfigFileFromEnvironmentAndDefaultLocation) {
  const std::string file = Write("env.conf", "port = 90\n");
  setenv("EDGEVISION_CONFIG", file.c_str(), 1);
  {
    Command c(NoDefault());
    ASSERT_TRUE(c.Run({}).ok());
    EXPECT_EQ(c.port, 90);
  }
  unsetenv("EDGEVISION_CONFIG");
  const std::string default_file = Write("default.conf", "port = 91\n");
  {
    Command c(default_file);
    ASSERT_TRUE(c.Run({}).ok());
    EXPECT_EQ(c.port, 91);
    EXPECT_EQ(c.layer->config_file(), default_file);
  }
  {
    Command c(default_file);  // "none" turns the default file off
    ASSERT_TRUE(c.Run({"--config", "none"}).ok());
    EXPECT_EQ(c.port, 8080);
    EXPECT_EQ(c.layer->config_file(), "");
  }
  {
    Command c(NoDefault());  // a missing default file is simply not used
    EXPECT_TRUE(c.Run({}).ok());
  }
}

TEST_F(ConfigLayerTest, ServeTableIsTheSameAsTheTopLevel) {
  Command c(NoDefault());
  ASSERT_TRUE(c.Run({"--config", Write("s.conf", "[serve]\nport = 92\nhost = \"::\"\n")}).ok());
  EXPECT_EQ(c.port, 92);
  EXPECT_EQ(c.host, "::");
  Command twice(NoDefault());
  Status s = twice.Run({"--config", Write("t.conf", "port = 1\n[serve]\nport = 2\n")});
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("set twice"));
}

TEST_F(ConfigLayerTest, ErrorsNameTheFileTheLineAndTheKey) {
  struct Case {
    std::string text;
    std::vector<std::string> expected;
  };
  const std::vector<Case> cases = {
      {"port = 80\n\nprot = 81\n", {":3", "prot", "not a setting"}},
      {"port = 80\nport = = 3\n", {":2"}},                        // not TOML
      {"host = \"a\"\nport = 99999\n", {":2", "port", "65535"}},  // the option's own check
      {"upstream-min-probability = 2.5\n", {":1", "upstream-min-probability"}},
      {"port = [1, 2]\n", {":1", "port", "one value"}},
      {"host = { a = 1 }\n", {":1", "host"}},                            // a table
      {"data-dir = 1979-05-27\n", {":1", "data-dir"}},                   // a date
      {"config = \"other.conf\"\n", {":1", "config", "not a setting"}},  // no nesting
      {"print-config = true\n", {":1", "print-config", "not a setting"}},
      {"help = true\n", {":1", "help", "not a setting"}},
  };
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.text);
    const std::string file = Write("bad.conf", tc.text);
    Command c(NoDefault());
    Status s = c.Run({"--config", file});
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr(file));
    for (const std::string& e : tc.expected) EXPECT_THAT(s.message(), HasSubstr(e));
  }
}

TEST_F(ConfigLayerTest, AFileThatCannotBeUsedIsRefused) {
  Command missing(NoDefault());
  Status s = missing.Run({"--config", dir_ + "/nope.conf"});
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("nope.conf"));

  Command directory(NoDefault());
  EXPECT_FALSE(directory.Run({"--config", dir_}).ok());

  Command huge(NoDefault());
  const std::string big = Write("big.conf", "# " + std::string(kMaxConfigFileBytes, 'x') + "\n");
  s = huge.Run({"--config", big});
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("larger than"));
}

TEST_F(ConfigLayerTest, SecretsAreRedactedWhateverTheirSource) {
  const std::string key = "SharedAccessKey=c2VjcmV0LWtleS1ieXRlcw==";
  const std::string password = "pa55w0rd-from-file";
  setenv("EVTEST_CONNECTION_STRING", ("HostName=h.azure-devices.net;DeviceId=d;" + key).c_str(), 1);
  const std::string file =
      Write("secret.conf", "upstream = \"mqtts://camera7:" + password +
                               "@broker.local:8883/line/{tag}\"\n"
                               "upstream-password-file = \"/run/secrets/mqtt\"\n");
  Command c(NoDefault());
  ASSERT_TRUE(c.Run({"--config", file}).ok());
  // The program still gets the real values...
  EXPECT_THAT(c.connection_string, HasSubstr(key));
  EXPECT_THAT(c.upstream, HasSubstr(password));
  // ...--print-config never shows them.
  const std::string printed = c.layer->Describe();
  EXPECT_THAT(printed, Not(HasSubstr("c2VjcmV0")));
  EXPECT_THAT(printed, Not(HasSubstr(password)));
  EXPECT_THAT(
      printed,
      HasSubstr("connection-string = \"***\"  # environment EVTEST_CONNECTION_STRING, redacted"));
  EXPECT_THAT(printed,
              HasSubstr("upstream = \"mqtts://camera7:***@broker.local:8883/line/{tag}\""));
  EXPECT_THAT(printed,
              HasSubstr("upstream-password-file = \"/run/secrets/mqtt\""));  // a path is no secret
  EXPECT_TRUE(c.Get("connection-string").redacted);
  EXPECT_TRUE(c.Get("upstream").redacted);
  EXPECT_FALSE(c.Get("upstream-password-file").redacted);
  // An unset secret prints as empty, not as "***" (nothing to hide).
  Command empty(NoDefault());
  ASSERT_TRUE(empty.Run({"--config", "none"}).ok());
  unsetenv("EVTEST_CONNECTION_STRING");
}

TEST_F(ConfigLayerTest, SecretPolicy) {
  for (const char* secret : {"connection-string", "api-key", "prediction-key", "upstream-password",
                             "client-secret", "sas-token"}) {
    EXPECT_TRUE(IsSecretSetting(secret)) << secret;
  }
  for (const char* plain :
       {"port", "tls-key", "api-key-file", "upstream-password-file", "upstream-token-ttl",
        "upstream-ca", "tls-cert", "data-dir", "upstream"}) {
    EXPECT_FALSE(IsSecretSetting(plain)) << plain;
  }
  EXPECT_EQ(RedactUrlPassword("mqtt://u:p@h:1883/t"), "mqtt://u:***@h:1883/t");
  EXPECT_EQ(RedactUrlPassword("mqtts://u:p:q@h/t@x"),
            "mqtts://u:***@h/t@x");  // '@' in the path is not userinfo
  EXPECT_EQ(RedactUrlPassword("mqtt://user@h/t"), "mqtt://user@h/t");  // no password
  EXPECT_EQ(RedactUrlPassword("iothub"), "iothub");
  EXPECT_EQ(RedactUrlPassword("mqtt://h/a:b@c"), "mqtt://h/a:b@c");
}

// --print-config's output is a config file: read back, it gives the same
// settings (secrets excepted, which stay "***").
TEST_F(ConfigLayerTest, PrintedConfigurationReadsBack) {
  setenv("EVTEST_HOST", "127.0.0.1", 1);
  const std::string file = Write("rt.conf",
                                 "data-dir = \"/srv/with \\\"quotes\\\" and # hash\"\n"
                                 "upstream-tags = [\"Apple\", \"Banana split\"]\n"
                                 "capture-max-bytes = \"512M\"\n"
                                 "upstream-min-probability = 0.125\n");
  Command first(NoDefault());
  ASSERT_TRUE(first.Run({"--config", file, "--port", "8081", "--url-allow-loopback"}).ok());
  EXPECT_EQ(first.data_dir, "/srv/with \"quotes\" and # hash");
  const std::string printed = first.layer->Describe();
  EXPECT_THAT(printed, HasSubstr("port = 8081  # command line"));
  EXPECT_THAT(printed, HasSubstr("host = \"127.0.0.1\"  # environment EVTEST_HOST"));
  EXPECT_THAT(printed, HasSubstr("# config file " + file + ":2"));
  unsetenv("EVTEST_HOST");

  const std::string again = Write("again.conf", printed);
  Command second(NoDefault());
  ASSERT_TRUE(second.Run({"--config", again}).ok()) << printed;
  EXPECT_EQ(second.port, first.port);
  EXPECT_EQ(second.host, first.host);
  EXPECT_EQ(second.data_dir, first.data_dir);
  EXPECT_EQ(second.tags, first.tags);
  EXPECT_EQ(second.loopback, first.loopback);
  EXPECT_EQ(second.max_bytes, first.max_bytes);
  EXPECT_DOUBLE_EQ(second.min_p, first.min_p);
}

}  // namespace
}  // namespace edgevision::cli
