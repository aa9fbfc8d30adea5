#include "upstream/upstream_config.h"

#include <curl/curl.h>
#include <unistd.h>

#include <memory>

namespace edgevision::upstream {

namespace {

struct CurlUrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct CurlFree {
  void operator()(char* p) const { curl_free(p); }
};

// One URL part, or "" when absent.
std::string UrlPart(CURLU* url, CURLUPart part, unsigned flags) {
  char* raw = nullptr;
  if (curl_url_get(url, part, &raw, flags) != CURLUE_OK || !raw) return {};
  std::unique_ptr<char, CurlFree> value(raw);
  return value.get();
}

std::string TopicLevelSafe(std::string_view value) {
  if (value.empty()) return "_";
  std::string out(value);
  for (char& c : out) {
    if (c == '/' || c == '+' || c == '#' || c == '\0') c = '_';
  }
  return out;
}

std::string HostName() {
  char name[256] = {0};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "edge";
  return name;
}

}  // namespace

std::string_view TargetKindName(TargetKind kind) {
  switch (kind) {
    case TargetKind::kMqtt: return "mqtt";
    case TargetKind::kIotHub: return "iothub";
    case TargetKind::kIotEdge: return "iotedge";
  }
  return "unknown";
}

Result<MqttUrl> ParseMqttUrl(std::string_view text) {
  MqttUrl url;
  if (text.rfind("mqtt://", 0) == 0) {
    url.tls = false;
  } else if (text.rfind("mqtts://", 0) == 0) {
    url.tls = true;
  } else {
    return InvalidArgument("--upstream: expected mqtt://, mqtts://, iothub or iotedge");
  }
  std::unique_ptr<CURLU, CurlUrlDeleter> parsed(curl_url());
  if (!parsed) return Internal("curl_url failed");
  const std::string copy(text);
  const CURLUcode rc =
      curl_url_set(parsed.get(), CURLUPART_URL, copy.c_str(), CURLU_NON_SUPPORT_SCHEME);
  if (rc != CURLUE_OK) {
    // curl's message names the part (e.g. "Port number was not a decimal
    // number between 0 and 65535"), never the password.
    return InvalidArgument(std::string("--upstream: not a valid URL: ") + curl_url_strerror(rc));
  }
  url.host = UrlPart(parsed.get(), CURLUPART_HOST, 0);
  if (url.host.size() >= 2 && url.host.front() == '[' && url.host.back() == ']') {
    url.host = url.host.substr(1, url.host.size() - 2);  // IPv6 literal
  }
  if (url.host.empty()) return InvalidArgument("--upstream: the URL has no host");
  const std::string port = UrlPart(parsed.get(), CURLUPART_PORT, 0);
  url.port = port.empty() ? (url.tls ? 8883 : 1883) : std::stoi(port);
  if (url.port <= 0 || url.port > 65535) return InvalidArgument("--upstream: port out of range");
  url.username = UrlPart(parsed.get(), CURLUPART_USER, CURLU_URLDECODE);
  url.password = UrlPart(parsed.get(), CURLUPART_PASSWORD, CURLU_URLDECODE);
  if (!UrlPart(parsed.get(), CURLUPART_FRAGMENT, 0).empty() ||
      copy.find('#') != std::string::npos) {
    return InvalidArgument("--upstream: the topic must not contain the MQTT wildcard '#'");
  }
  if (!UrlPart(parsed.get(), CURLUPART_QUERY, 0).empty()) {
    return InvalidArgument("--upstream: the URL must not have a query ('?…')");
  }
  std::string path = UrlPart(parsed.get(), CURLUPART_PATH, CURLU_URLDECODE);
  if (!path.empty() && path.front() == '/') path.erase(path.begin());
  if (path.empty())
    return InvalidArgument("--upstream: the URL has no topic (mqtt://host:port/TOPIC)");
  if (path.find('+') != std::string::npos) {
    return InvalidArgument("--upstream: the topic must not contain the MQTT wildcard '+'");
  }
  if (path.find('\0') != std::string::npos)
    return InvalidArgument("--upstream: the topic contains NUL");
  url.topic = path;
  return url;
}

std::string RedactedUrl(const MqttUrl& url) {
  std::string out = url.tls ? "mqtts://" : "mqtt://";
  if (!url.username.empty()) out += url.username + (url.password.empty() ? "" : ":***") + "@";
  out += url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  out += ":" + std::to_string(url.port) + "/" + url.topic;
  return out;
}

std::string ExpandTopic(std::string_view topic_template, const PredictionMessage& message) {
  std::string out;
  out.reserve(topic_template.size());
  size_t pos = 0;
  while (pos < topic_template.size()) {
    const size_t open = topic_template.find('{', pos);
    if (open == std::string_view::npos) {
      out.append(topic_template.substr(pos));
      break;
    }
    out.append(topic_template.substr(pos, open - pos));
    const size_t close = topic_template.find('}', open);
    if (close == std::string_view::npos) {
      out.append(topic_template.substr(open));
      break;
    }
    const std::string_view name = topic_template.substr(open + 1, close - open - 1);
    if (name == "project") {
      out += TopicLevelSafe(message.project);
    } else if (name == "iteration") {
      out += TopicLevelSafe(message.iteration);
    } else if (name == "tag") {
      out += TopicLevelSafe(message.predictions.empty() ? std::string()
                                                        : message.predictions.front().tag);
    } else {
      out.append(topic_template.substr(open, close - open + 1));  // not a placeholder: keep
    }
    pos = close + 1;
  }
  return out;
}

bool IotEdgeDetected(const GetEnv& getenv) {
  const char* uri = getenv("IOTEDGE_WORKLOADURI");
  const char* module = getenv("IOTEDGE_MODULEID");
  return uri && *uri && module && *module;
}

Result<IotEdgeEnvironment> ReadIotEdgeEnvironment(const GetEnv& getenv) {
  IotEdgeEnvironment env;
  std::string missing;
  auto read = [&](const char* name, std::string* out) {
    const char* value = getenv(name);
    if (value && *value) {
      *out = value;
    } else {
      missing += (missing.empty() ? "" : ", ") + std::string(name);
    }
  };
  read("IOTEDGE_WORKLOADURI", &env.workload_uri);
  read("IOTEDGE_IOTHUBHOSTNAME", &env.iothub_host_name);
  read("IOTEDGE_GATEWAYHOSTNAME", &env.gateway_host_name);
  read("IOTEDGE_DEVICEID", &env.device_id);
  read("IOTEDGE_MODULEID", &env.module_id);
  read("IOTEDGE_MODULEGENERATIONID", &env.generation_id);
  read("IOTEDGE_AUTHSCHEME", &env.auth_scheme);
  if (!missing.empty()) {
    return InvalidArgument("IoT Edge: missing environment variable(s) " + missing +
                           " (run as an IoT Edge module, or use --upstream iothub)");
  }
  if (env.auth_scheme != "sasToken") {
    return Unsupported("IoT Edge: IOTEDGE_AUTHSCHEME is '" + env.auth_scheme +
                       "'; only sasToken is supported");
  }
  return env;
}

std::string TargetConfig::Describe() const {
  switch (kind) {
    case TargetKind::kMqtt: return RedactedUrl(mqtt);
    case TargetKind::kIotHub:
      return "iothub " + identity.host_name + "/" + identity.ClientId() + " via " + connect_host +
             ":" + std::to_string(connect_port);
    case TargetKind::kIotEdge:
      return "iotedge " + identity.host_name + "/" + identity.ClientId() + " via edgeHub " +
             connect_host + ":" + std::to_string(connect_port) + ", output '" + output + "'";
  }
  return "unknown";
}

Result<std::optional<TargetConfig>> ResolveTarget(const UpstreamOptions& options,
                                                  const GetEnv& getenv) {
  std::string target = options.target;
  if (target.empty() && IotEdgeDetected(getenv)) target = "iotedge";
  if (target.empty() || target == "off") return std::optional<TargetConfig>();

  TargetConfig config;
  if (target == "iothub") {
    if (options.connection_string.empty()) {
      return InvalidArgument(
          "--upstream iothub needs --connection-string (or EDGEVISION_CONNECTION_STRING)");
    }
    EV_ASSIGN_OR_RETURN(ConnectionString cs, ParseConnectionString(options.connection_string));
    config.kind = TargetKind::kIotHub;
    config.identity = cs.identity;
    config.shared_access_key = cs.shared_access_key;
    config.connect_host =
        cs.gateway_host_name.empty() ? cs.identity.host_name : cs.gateway_host_name;
    config.connect_port = options.iothub_port;
    config.ca_file = options.ca_file;
    return std::optional<TargetConfig>(std::move(config));
  }
  if (target == "iotedge") {
    EV_ASSIGN_OR_RETURN(IotEdgeEnvironment env, ReadIotEdgeEnvironment(getenv));
    config.kind = TargetKind::kIotEdge;
    config.identity = {env.iothub_host_name, env.device_id, env.module_id};
    config.connect_host = env.gateway_host_name;
    config.connect_port = options.iothub_port;
    config.output = options.output;
    config.edge = std::move(env);
    return std::optional<TargetConfig>(std::move(config));
  }
  if (target.rfind("mqtt://", 0) == 0 || target.rfind("mqtts://", 0) == 0) {
    EV_ASSIGN_OR_RETURN(config.mqtt, ParseMqttUrl(target));
    config.kind = TargetKind::kMqtt;
    config.ca_file = options.ca_file;
    config.client_id = options.client_id.empty() ? "edgevision-" + HostName() : options.client_id;
    if (!options.ca_file.empty() && !config.mqtt.tls) {
      return InvalidArgument(
          "--upstream-ca is given but the target is mqtt:// (use mqtts:// for TLS)");
    }
    return std::optional<TargetConfig>(std::move(config));
  }
  return InvalidArgument("--upstream '" +
                         (target.find('@') == std::string::npos ? target : std::string("…")) +
                         "': expected mqtt://…, mqtts://…, iothub, iotedge or off");
}

}  // namespace edgevision::upstream
