// Credentials: the CONNECT parameters for each connection attempt. Static
// for a plain MQTT broker; for IoT Hub and IoT Edge a fresh SAS token (and,
// in IoT Edge, a fresh trust bundle) for every attempt, with its expiry so
// the publisher reconnects before the token runs out.
//
// Thread-safety: Prepare is called from the publisher's thread only.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "core/status.h"
#include "upstream/iothub_auth.h"
#include "upstream/mqtt_transport.h"

namespace edgevision::upstream {

struct ConnectPlan {
  MqttConnectOptions options;
  std::optional<std::chrono::system_clock::time_point> expires;  // the password's expiry
};

class Credentials {
 public:
  virtual ~Credentials() = default;
  // Errors: whatever prevented building the credentials (the workload API
  // not answering, a trust bundle that cannot be written); the publisher
  // treats them like a failed connection and retries with backoff.
  virtual Result<ConnectPlan> Prepare(std::chrono::system_clock::time_point now) = 0;
};

// Always the same options.
std::unique_ptr<Credentials> MakeStaticCredentials(MqttConnectOptions options);

// IoT Hub / edgeHub with SAS tokens: client id, username and a token valid
// for `ttl` from the attempt, signed by `signer`. `ca_file` gives the CA
// bundle; when `ca_provider` is set it is asked for the CA file path on each
// attempt instead (IoT Edge's trust bundle).
struct SasCredentialsConfig {
  IotHubIdentity identity;
  std::string host;
  int port = 8883;
  std::string ca_file;
  std::function<Result<std::string>()> ca_provider;
  std::chrono::seconds ttl{3600};
  int keepalive_s = 60;
};
std::unique_ptr<Credentials> MakeSasCredentials(SasCredentialsConfig config,
                                                std::unique_ptr<SasSigner> signer);

}  // namespace edgevision::upstream
