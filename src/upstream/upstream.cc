#include "upstream/upstream.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/clock.h"
#include "core/durable_files.h"
#include "upstream/workload_client.h"

namespace edgevision::upstream {

namespace {

namespace fs = std::filesystem;

Result<std::string> ReadSecretFile(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(std::string(flag) + ": cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  std::string value = s.str();
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  return value;
}

Result<std::unique_ptr<Outbox>> OpenOutbox(const fs::path& path, const OutboxLimits& limits) {
  Result<std::unique_ptr<Outbox>> outbox = Outbox::Open(path.string(), limits);
  if (outbox.ok() || outbox.status().code() != StatusCode::kCorrupt) return outbox;
  // A damaged outbox must not keep results from being published from now on.
  const std::string aside = path.string() + ".corrupt-" +
                            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count());
  spdlog::error("upstream: {}; moving it to {} and starting a new outbox",
                outbox.status().message(), aside);
  std::error_code ec;
  fs::rename(path, aside, ec);
  for (const char* suffix : {"-wal", "-shm"}) fs::remove(path.string() + suffix, ec);
  return Outbox::Open(path.string(), limits);
}

}  // namespace

Result<std::unique_ptr<Publisher>> MakePublisher(const UpstreamOptions& options,
                                                 const GetEnv& getenv, PublisherHooks hooks,
                                                 const std::string& version) {
  EV_ASSIGN_OR_RETURN(std::optional<TargetConfig> target, ResolveTarget(options, getenv));
  if (!target) return std::unique_ptr<Publisher>();
  if (options.data_dir.empty() && options.target.empty()) {
    // Auto-detected IoT Edge: the server still serves; publishing stays off.
    spdlog::warn(
        "upstream: running inside IoT Edge ({}) but --data-dir is not set, so results are not "
        "published; "
        "set --data-dir (EDGEVISION_DATA_DIR) to a mounted folder to publish them",
        target->Describe());
    return std::unique_ptr<Publisher>();
  }
  if (options.data_dir.empty()) {
    return InvalidArgument("upstream publishing (" + target->Describe() +
                           ") needs --data-dir (or EDGEVISION_DATA_DIR) for its durable outbox");
  }
  if (options.rule.min_probability < 0 || options.rule.max_probability > 1 ||
      options.rule.min_probability > options.rule.max_probability) {
    return InvalidArgument(
        "--upstream-min-probability/--upstream-max-probability must satisfy 0 <= min <= max <= 1");
  }
  if (options.limits.max_in_flight == 0)
    return InvalidArgument("the in-flight window must be at least 1");
  std::error_code ec;
  fs::create_directories(options.data_dir, ec);
  if (ec) return IOError("cannot create --data-dir " + options.data_dir + ": " + ec.message());

  PublisherConfig config;
  config.kind = target->kind;
  config.description = target->Describe();
  config.rule = options.rule;
  config.limits = options.limits;
  config.version = version;

  std::unique_ptr<Credentials> credentials;
  switch (target->kind) {
    case TargetKind::kMqtt: {
      MqttConnectOptions connect;
      connect.host = target->mqtt.host;
      connect.port = target->mqtt.port;
      connect.client_id = target->client_id;
      connect.username = target->mqtt.username;
      connect.password = target->mqtt.password;
      if (!options.password_file.empty()) {
        EV_ASSIGN_OR_RETURN(connect.password,
                            ReadSecretFile(options.password_file, "--upstream-password-file"));
        if (connect.username.empty()) {
          return InvalidArgument(
              "--upstream-password-file needs a user name in the URL (mqtt://user@host/topic)");
        }
      }
      connect.tls = target->mqtt.tls;
      connect.ca_file = target->ca_file;
      connect.keepalive_s = options.limits.keepalive_s;
      config.topic_template = target->mqtt.topic;
      credentials = MakeStaticCredentials(std::move(connect));
      break;
    }
    case TargetKind::kIotHub: {
      EV_ASSIGN_OR_RETURN(KeySigner signer, KeySigner::Create(target->shared_access_key));
      SasCredentialsConfig sas;
      sas.identity = target->identity;
      sas.host = target->connect_host;
      sas.port = target->connect_port;
      sas.ca_file = target->ca_file;
      sas.ttl = options.limits.token_ttl;
      sas.keepalive_s = options.limits.keepalive_s;
      config.identity = target->identity;
      config.twin = true;
      credentials =
          MakeSasCredentials(std::move(sas), std::make_unique<KeySigner>(std::move(signer)));
      break;
    }
    case TargetKind::kIotEdge: {
      EV_ASSIGN_OR_RETURN(WorkloadClient client,
                          WorkloadClient::Create(target->edge.workload_uri, target->edge.module_id,
                                                 target->edge.generation_id));
      SasCredentialsConfig sas;
      sas.identity = target->identity;
      sas.host = target->connect_host;
      sas.port = target->connect_port;
      sas.ttl = options.limits.token_ttl;
      sas.keepalive_s = options.limits.keepalive_s;
      if (!options.ca_file.empty()) {
        sas.ca_file = options.ca_file;  // an explicit CA overrides the trust bundle
      } else {
        const fs::path bundle = fs::path(options.data_dir) / "iotedge-trust-bundle.pem";
        sas.ca_provider = [client, bundle]() -> Result<std::string> {
          EV_ASSIGN_OR_RETURN(std::string pem, client.TrustBundle());
          EV_RETURN_IF_ERROR(WriteFileAtomically(bundle.string(), pem, kSharedFileMode));
          return bundle.string();
        };
      }
      config.identity = target->identity;
      config.output = target->output;
      config.twin = true;
      credentials =
          MakeSasCredentials(std::move(sas), std::make_unique<WorkloadSigner>(std::move(client)));
      break;
    }
  }

  EV_ASSIGN_OR_RETURN(std::unique_ptr<Outbox> outbox,
                      OpenOutbox(fs::path(options.data_dir) / "outbox.db", options.outbox));
  return std::make_unique<Publisher>(std::move(config), std::move(outbox), MakeMosquittoTransport(),
                                     std::move(credentials), std::move(hooks));
}

}  // namespace edgevision::upstream
