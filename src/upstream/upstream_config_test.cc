#include "upstream/upstream_config.h"

#include <gtest/gtest.h>

#include <map>

namespace edgevision::upstream {
namespace {

GetEnv EnvFrom(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

std::map<std::string, std::string> EdgeVars() {
  return {{"IOTEDGE_WORKLOADURI", "unix:///var/run/iotedge/workload.sock"},
          {"IOTEDGE_IOTHUBHOSTNAME", "myhub.azure-devices.net"},
          {"IOTEDGE_GATEWAYHOSTNAME", "edgehost"},
          {"IOTEDGE_DEVICEID", "edge1"},
          {"IOTEDGE_MODULEID", "classifier"},
          {"IOTEDGE_MODULEGENERATIONID", "638000000000000000"},
          {"IOTEDGE_AUTHSCHEME", "sasToken"}};
}

TEST(MqttUrlTest, Parses) {
  Result<MqttUrl> u = ParseMqttUrl("mqtt://broker.local:1884/factory/line1");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->host, "broker.local");
  EXPECT_EQ(u->port, 1884);
  EXPECT_EQ(u->topic, "factory/line1");
  EXPECT_EQ(u->username, "");

  u = ParseMqttUrl("mqtts://edge%40site:p%3Ass%2Fw@10.0.0.5/results/{project}/{tag}");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, 8883);
  EXPECT_EQ(u->username, "edge@site");
  EXPECT_EQ(u->password, "p:ss/w");
  EXPECT_EQ(u->topic, "results/{project}/{tag}");
  EXPECT_EQ(RedactedUrl(*u), "mqtts://edge@site:***@10.0.0.5:8883/results/{project}/{tag}");

  u = ParseMqttUrl("mqtt://[::1]/t");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 1883);
  EXPECT_EQ(RedactedUrl(*u), "mqtt://[::1]:1883/t");
}

TEST(MqttUrlTest, RejectsWithoutEchoingThePassword) {
  for (const char* bad :
       {"http://h/t", "mqtt://h", "mqtt://h/", "mqtt://h:99999/t", "mqtt://h/a/#", "mqtt://h/a/+/b",
        "mqtt://u:hunter2@/t", "mqtt://h/t?x=1", "mqtt://u:hunter2@h:port/t"}) {
    Result<MqttUrl> u = ParseMqttUrl(bad);
    EXPECT_FALSE(u.ok()) << bad;
    if (!u.ok()) {
      EXPECT_EQ(u.status().message().find("hunter2"), std::string::npos) << u.status().message();
    }
  }
}

TEST(TopicTest, ExpandsPlaceholdersSafely) {
  PredictionMessage m;
  m.project = "fruit/line+1";
  m.iteration = "";
  m.predictions = {{"Apple", 0.9}, {"Banana", 0.1}};
  EXPECT_EQ(ExpandTopic("r/{project}/{iteration}/{tag}/{other}", m),
            "r/fruit_line_1/_/Apple/{other}");
  EXPECT_EQ(ExpandTopic("plain/topic", m), "plain/topic");
  EXPECT_EQ(ExpandTopic("odd/{tag", m), "odd/{tag");
  m.predictions.clear();
  EXPECT_EQ(ExpandTopic("{tag}", m), "_");
}

TEST(ResolveTargetTest, OffUnlessAskedOrInsideIotEdge) {
  UpstreamOptions o;
  EXPECT_FALSE(ResolveTarget(o, EnvFrom({}))->has_value());
  o.target = "off";
  EXPECT_FALSE(ResolveTarget(o, EnvFrom(EdgeVars()))->has_value());
  o.target = "";
  Result<std::optional<TargetConfig>> t = ResolveTarget(o, EnvFrom(EdgeVars()));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_TRUE(t->has_value());
  EXPECT_EQ((*t)->kind, TargetKind::kIotEdge);  // auto-detected
}

TEST(ResolveTargetTest, IotEdge) {
  UpstreamOptions o;
  o.target = "iotedge";
  o.output = "results";
  Result<std::optional<TargetConfig>> t = ResolveTarget(o, EnvFrom(EdgeVars()));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  const TargetConfig& c = **t;
  EXPECT_EQ(c.connect_host, "edgehost");
  EXPECT_EQ(c.connect_port, 8883);
  EXPECT_EQ(c.identity.ClientId(), "edge1/classifier");
  // The username names the hub, not edgeHub.
  EXPECT_EQ(c.identity.Username(),
            "myhub.azure-devices.net/edge1/classifier/?api-version=2021-04-12");
  EXPECT_EQ(c.output, "results");
  EXPECT_EQ(c.edge.generation_id, "638000000000000000");
  EXPECT_EQ(c.Describe(),
            "iotedge myhub.azure-devices.net/edge1/classifier via edgeHub edgehost:8883, output "
            "'results'");

  auto vars = EdgeVars();
  vars.erase("IOTEDGE_GATEWAYHOSTNAME");
  vars.erase("IOTEDGE_MODULEGENERATIONID");
  t = ResolveTarget(o, EnvFrom(vars));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("IOTEDGE_GATEWAYHOSTNAME, IOTEDGE_MODULEGENERATIONID"),
            std::string::npos)
      << t.status().message();
  vars = EdgeVars();
  vars["IOTEDGE_AUTHSCHEME"] = "x509";
  EXPECT_EQ(ResolveTarget(o, EnvFrom(vars)).status().code(), StatusCode::kUnsupported);
}

TEST(ResolveTargetTest, IotHub) {
  UpstreamOptions o;
  o.target = "iothub";
  Result<std::optional<TargetConfig>> t = ResolveTarget(o, EnvFrom({}));
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("--connection-string"), std::string::npos);
  o.connection_string =
      "HostName=myhub.azure-devices.net;DeviceId=cam1;SharedAccessKey=cGFzc3dvcmQ=";
  t = ResolveTarget(o, EnvFrom({}));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ((*t)->connect_host, "myhub.azure-devices.net");
  EXPECT_EQ((*t)->Describe(),
            "iothub myhub.azure-devices.net/cam1 via myhub.azure-devices.net:8883");
  EXPECT_EQ((*t)->Describe().find("cGFzc3dvcmQ="), std::string::npos);
  o.connection_string += ";GatewayHostName=gw.local";
  EXPECT_EQ((*ResolveTarget(o, EnvFrom({})))->connect_host, "gw.local");
}

TEST(ResolveTargetTest, MqttAndMistakes) {
  UpstreamOptions o;
  o.target = "mqtt://u:secret@h:1883/t";
  o.client_id = "cam-7";
  Result<std::optional<TargetConfig>> t = ResolveTarget(o, EnvFrom({}));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->client_id, "cam-7");
  EXPECT_EQ((*t)->Describe(), "mqtt://u:***@h:1883/t");
  o.ca_file = "/tmp/ca.pem";
  EXPECT_FALSE(ResolveTarget(o, EnvFrom({})).ok());  // a CA for plain mqtt:// is a mistake
  o.ca_file.clear();
  o.client_id.clear();
  EXPECT_EQ((*ResolveTarget(o, EnvFrom({})))->client_id.rfind("edgevision-", 0), 0u);
  o.target = "amqp://u:secret@h/t";
  t = ResolveTarget(o, EnvFrom({}));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message().find("secret"), std::string::npos);
}

}  // namespace
}  // namespace edgevision::upstream
