#include "upstream/credentials.h"

namespace edgevision::upstream {

namespace {

class StaticCredentials : public Credentials {
 public:
  explicit StaticCredentials(MqttConnectOptions options) : options_(std::move(options)) {}
  Result<ConnectPlan> Prepare(std::chrono::system_clock::time_point) override {
    return ConnectPlan{options_, {}};
  }

 private:
  MqttConnectOptions options_;
};

class SasCredentials : public Credentials {
 public:
  SasCredentials(SasCredentialsConfig config, std::unique_ptr<SasSigner> signer)
      : config_(std::move(config)), signer_(std::move(signer)) {}

  Result<ConnectPlan> Prepare(std::chrono::system_clock::time_point now) override {
    ConnectPlan plan;
    plan.options.host = config_.host;
    plan.options.port = config_.port;
    plan.options.client_id = config_.identity.ClientId();
    plan.options.username = config_.identity.Username();
    plan.options.tls = true;
    plan.options.keepalive_s = config_.keepalive_s;
    plan.options.ca_file = config_.ca_file;
    if (config_.ca_provider) {
      Result<std::string> ca = config_.ca_provider();
      if (!ca.ok()) return ca.status().WithContext("trust bundle");
      plan.options.ca_file = std::move(ca).value();
    }
    // Whole seconds: the token carries seconds, and the expiry we plan with
    // must not be later than the one the hub checks.
    const auto expiry = std::chrono::floor<std::chrono::seconds>(now + config_.ttl);
    Result<std::string> token = MakeSasToken(config_.identity, *signer_, expiry);
    if (!token.ok()) return token.status().WithContext("SAS token");
    plan.options.password = std::move(token).value();
    plan.expires = expiry;
    return plan;
  }

 private:
  SasCredentialsConfig config_;
  std::unique_ptr<SasSigner> signer_;
};

}  // namespace

std::unique_ptr<Credentials> MakeStaticCredentials(MqttConnectOptions options) {
  return std::make_unique<StaticCredentials>(std::move(options));
}

std::unique_ptr<Credentials> MakeSasCredentials(SasCredentialsConfig config,
                                                std::unique_ptr<SasSigner> signer) {
  return std::make_unique<SasCredentials>(std::move(config), std::move(signer));
}

}  // namespace edgevision::upstream
