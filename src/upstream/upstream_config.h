// Upstream configuration: which target results go to, parsed from the
// command line (--upstream, --connection-string, …) and the IoT Edge
// runtime's environment, before anything connects.
//
// Secrets (passwords, keys, connection strings) live only in these structs
// and in the MQTT CONNECT packet: Describe()/RedactedUrl() never include them.
//
// Thread-safety: values and free functions.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "upstream/iothub_auth.h"
#include "upstream/message.h"
#include "upstream/outbox.h"

namespace edgevision::upstream {

enum class TargetKind { kMqtt, kIotHub, kIotEdge };
std::string_view TargetKindName(TargetKind kind);  // "mqtt", "iothub", "iotedge"

// mqtt://[user[:password]@]host[:port]/topic, or mqtts:// (TLS). The topic
// may use {project}, {iteration} and {tag} (the top tag), filled per
// message; MQTT wildcards (+ #) are refused. User and password are
// percent-decoded.
struct MqttUrl {
  bool tls = false;
  std::string host;
  int port = 0;  // 1883 / 8883 when absent
  std::string username;
  std::string password;
  std::string topic;
};
// Errors: InvalidArgument naming the part that is wrong (never the password).
Result<MqttUrl> ParseMqttUrl(std::string_view url);
// "mqtts://user:***@host:8883/topic" (the password replaced).
std::string RedactedUrl(const MqttUrl& url);

// A topic template with {project}, {iteration}, {tag} filled in; values are
// made safe for one topic level ('/', '+', '#' and NUL become '_', empty
// becomes "_").
std::string ExpandTopic(std::string_view topic_template, const PredictionMessage& message);

// The IOTEDGE_* variables the IoT Edge runtime gives a module.
struct IotEdgeEnvironment {
  std::string workload_uri;       // IOTEDGE_WORKLOADURI
  std::string iothub_host_name;   // IOTEDGE_IOTHUBHOSTNAME
  std::string gateway_host_name;  // IOTEDGE_GATEWAYHOSTNAME (edgeHub)
  std::string device_id;          // IOTEDGE_DEVICEID
  std::string module_id;          // IOTEDGE_MODULEID
  std::string generation_id;      // IOTEDGE_MODULEGENERATIONID
  std::string auth_scheme;        // IOTEDGE_AUTHSCHEME, must be "sasToken"
};
using GetEnv = std::function<const char*(const char*)>;
// True when the runtime's variables are present (IOTEDGE_WORKLOADURI and
// IOTEDGE_MODULEID).
bool IotEdgeDetected(const GetEnv& getenv);
// Errors: InvalidArgument naming each missing variable, or an auth scheme
// other than sasToken.
Result<IotEdgeEnvironment> ReadIotEdgeEnvironment(const GetEnv& getenv);

// Publisher timing and window limits (one home for each).
struct PublisherLimits {
  size_t max_in_flight = 16;  // QoS 1 messages published and not yet acknowledged
  std::chrono::milliseconds connect_timeout{15000};  // CONNACK must arrive within
  std::chrono::milliseconds ack_timeout{30000};      // a PUBACK must arrive within, else reconnect
  std::chrono::milliseconds backoff_initial{1000};
  std::chrono::milliseconds backoff_max{60000};
  std::chrono::seconds token_ttl{3600};  // SAS token lifetime
  std::chrono::seconds token_renew_before{
      300};  // reconnect with a new token this long before expiry
  int keepalive_s = 60;
  std::chrono::milliseconds expire_interval{10000};      // how often old messages are expired
  std::chrono::milliseconds stop_drain{2000};            // on Stop, wait this long for PUBACKs
  std::chrono::milliseconds loop_tick{50};               // network wait per loop turn
  std::chrono::milliseconds model_check_interval{5000};  // re-report model info when it changed
};

// Everything the command line says about upstream publishing.
struct UpstreamOptions {
  std::string target;             // "", "off", "iothub", "iotedge", "mqtt://…", "mqtts://…"
  std::string ca_file;            // --upstream-ca
  std::string connection_string;  // --connection-string (a secret)
  std::string password_file;      // --upstream-password-file: MQTT password (a secret)
  std::string client_id;          // --upstream-client-id (MQTT targets)
  std::string output = "classification";  // IoT Edge module output
  std::string data_dir;
  int iothub_port = 8883;  // IoT Hub / edgeHub MQTT port (not a flag: tests use a local broker)
  PublishRule rule;
  OutboxLimits outbox;
  PublisherLimits limits;
};

// The resolved target: where to connect and how to authenticate.
struct TargetConfig {
  TargetKind kind = TargetKind::kMqtt;
  // kMqtt
  MqttUrl mqtt;
  std::string ca_file;  // kMqtt with TLS (empty: system CAs); kIotHub (empty: system CAs)
  std::string client_id;
  // kIotHub / kIotEdge
  IotHubIdentity identity;
  std::string connect_host;  // the hub, a gateway, or edgeHub
  int connect_port = 8883;
  std::string shared_access_key;  // kIotHub (a secret)
  std::string output;             // kIotEdge: module output name
  IotEdgeEnvironment edge;        // kIotEdge

  // "mqtts://user:***@host:8883/topic", "iothub myhub…/dev1/mod1 via host:8883".
  std::string Describe() const;
};

// Resolves the options into a target. Returns nullopt when publishing is off
// (no --upstream and no IoT Edge environment, or --upstream off).
// Errors: InvalidArgument / Unsupported naming the flag or variable at fault.
Result<std::optional<TargetConfig>> ResolveTarget(const UpstreamOptions& options,
                                                  const GetEnv& getenv);

}  // namespace edgevision::upstream
