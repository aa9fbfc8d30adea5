// IoT Hub SAS signing, identities and connection strings, checked against
// the Azure IoT SDKs' own test vectors (sources in docs/upstream.md and
// ../shared/research/iotedge.md section 2.3) and the documented formats.
#include "upstream/iothub_auth.h"

#include <gtest/gtest.h>

namespace edgevision::upstream {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

TEST(Base64Test, RoundTripsAndRejectsMalformed) {
  EXPECT_EQ(Base64Encode("password"), "cGFzc3dvcmQ=");
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode(std::string("\x00\xff", 2)), "AP8=");
  EXPECT_EQ(*Base64Decode("cGFzc3dvcmQ="), "password");
  EXPECT_EQ(*Base64Decode("AP8="), std::string("\x00\xff", 2));
  EXPECT_EQ(*Base64Decode("YWI="), "ab");
  EXPECT_EQ(*Base64Decode("YWJj"), "abc");
  EXPECT_FALSE(Base64Decode("cGFzc3dvcmQ").ok());   // length
  EXPECT_FALSE(Base64Decode("cGFz*3dvcmQ=").ok());  // alphabet
  EXPECT_FALSE(Base64Decode("cG=zc3dvcmQ=").ok());  // '=' inside
  EXPECT_FALSE(Base64Decode("cGFzc3dvcmQ= ").ok());
  EXPECT_FALSE(Base64Decode("=").ok());
}

TEST(UrlEncodeTest, EncodesLikeTheSdks) {
  EXPECT_EQ(UrlEncode("myhub.azure-devices.net/devices/device1"),
            "myhub.azure-devices.net%2Fdevices%2Fdevice1");
  EXPECT_EQ(UrlEncode("a+b/c=d"), "a%2Bb%2Fc%3Dd");  // upper-case hex
  EXPECT_EQ(UrlEncode("A-z_0.9~"), "A-z_0.9~");      // unreserved kept
  EXPECT_EQ(UrlEncode("application/json"), "application%2Fjson");
  EXPECT_EQ(UrlEncode(""), "");
}

// Node SDK _authorization_test.js: hmacHash(base64("password"), "string-to-sign").
TEST(SasTest, NodeSdkHmacVector) {
  KeySigner signer = std::move(KeySigner::Create("cGFzc3dvcmQ=")).value();
  EXPECT_EQ(*signer.Sign("string-to-sign"), "o1n1hiIVgzVA2+krq9ty1Z4xsIJKJZP3dYT8MOi65Y4=");
  EXPECT_EQ(SasStringToSign("blah/blah", 12345), "blah/blah\n12345");
}

// Node SDK _shared_access_signature_test.js: the whole token for sr=uri, se=12345.
TEST(SasTest, NodeSdkTokenVector) {
  KeySigner signer = std::move(KeySigner::Create("cGFzc3dvcmQ=")).value();
  const std::string sig = *signer.Sign(SasStringToSign("uri", 12345));
  EXPECT_EQ(
      SasToken("uri", sig, 12345),
      "SharedAccessSignature sr=uri&sig=kcWxXAK2OAaAoq2oCkaGzX2NMqDB8nCyNuq2fPYCDhk%3D&se=12345");
  // With a policy key name, skn comes before se.
  EXPECT_EQ(SasToken("uri", sig, 12345, "encode('Me')"),
            "SharedAccessSignature sr=uri&sig=kcWxXAK2OAaAoq2oCkaGzX2NMqDB8nCyNuq2fPYCDhk%3D"
            "&skn=encode%28%27Me%27%29&se=12345");
}

// Python SDK tests/unit/common/auth/test_signing_mechanism.py.
TEST(SasTest, PythonSdkSigningVector) {
  KeySigner signer =
      std::move(KeySigner::Create("NMgJDvdKTxjLi+xBxxkDDEwDJxEvOE5u8BiT0mVgPeg=")).value();
  EXPECT_EQ(*signer.Sign("sign this message"), "8NJRMT83CcplGrAGaUVIUM/md5914KpWVNngSVoF9/M=");
}

// Derived with Python's hmac/hashlib and quote(safe='') (research notes,
// vector 4): full device and module tokens through MakeSasToken.
TEST(SasTest, DeviceAndModuleTokens) {
  KeySigner signer = std::move(KeySigner::Create("cGFzc3dvcmQ=")).value();
  const auto expiry = system_clock::time_point(seconds(1700000000));
  IotHubIdentity device{"myhub.azure-devices.net", "device1", ""};
  EXPECT_EQ(*MakeSasToken(device, signer, expiry),
            "SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdevice1"
            "&sig=fjQTU3UEPgD7JJkqozp1RGD%2BJPrDnL0tUoxpRcwOQ7w%3D&se=1700000000");
  IotHubIdentity module{"myhub.azure-devices.net", "edge1", "classifier"};
  EXPECT_EQ(
      *MakeSasToken(module, signer, expiry),
      "SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fedge1%2Fmodules%2Fclassifier"
      "&sig=v%2FwZ%2BaRFtUW2mfieYI0u5eLjevoAkV%2F7SmzrTvPKNYo%3D&se=1700000000");
}

TEST(SasTest, KeySignerRejectsBadKeys) {
  EXPECT_FALSE(KeySigner::Create("").ok());
  Result<KeySigner> bad = KeySigner::Create("not base64!");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().find("not base64!"), std::string::npos)
      << "a key must never be echoed";
}

// Formats from the azure-docs MQTT page (api-version 2021-04-12) and the
// Node SDK's expected module resource URI.
TEST(IdentityTest, DeviceFormats) {
  IotHubIdentity d{"contoso.azure-devices.net", "dev1", ""};
  EXPECT_EQ(d.ClientId(), "dev1");
  EXPECT_EQ(d.Username(), "contoso.azure-devices.net/dev1/?api-version=2021-04-12");
  EXPECT_EQ(d.ResourceUri(), "contoso.azure-devices.net/devices/dev1");
  EXPECT_EQ(d.TelemetryTopicBase(), "devices/dev1/messages/events/");
  EXPECT_EQ(TelemetryTopic(d, "", ""),
            "devices/dev1/messages/events/%24.ct=application%2Fjson&%24.ce=utf-8");
}

TEST(IdentityTest, ModuleFormats) {
  IotHubIdentity m{"fakeHostName", "fakeDeviceId", "fakeModuleId"};
  EXPECT_EQ(UrlEncode(m.ResourceUri()),
            "fakeHostName%2Fdevices%2FfakeDeviceId%2Fmodules%2FfakeModuleId");
  EXPECT_EQ(m.ClientId(), "fakeDeviceId/fakeModuleId");
  EXPECT_EQ(m.Username(), "fakeHostName/fakeDeviceId/fakeModuleId/?api-version=2021-04-12");
  EXPECT_EQ(m.TelemetryTopicBase(), "devices/fakeDeviceId/modules/fakeModuleId/messages/events/");
  EXPECT_EQ(TelemetryTopic(m, "classification", "6f0c-1"),
            "devices/fakeDeviceId/modules/fakeModuleId/messages/events/"
            "%24.on=classification&%24.mid=6f0c-1&%24.ct=application%2Fjson&%24.ce=utf-8");
  EXPECT_EQ(TelemetryTopic(m, "a b", ""),
            "devices/fakeDeviceId/modules/fakeModuleId/messages/events/"
            "%24.on=a%20b&%24.ct=application%2Fjson&%24.ce=utf-8");
}

TEST(ConnectionStringTest, DeviceAndModule) {
  Result<ConnectionString> d = ParseConnectionString(
      "HostName=your-hub.azure-devices.net;DeviceId=yourDevice;SharedAccessKey=cGFzc3dvcmQ=");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->identity.host_name, "your-hub.azure-devices.net");
  EXPECT_EQ(d->identity.device_id, "yourDevice");
  EXPECT_EQ(d->identity.module_id, "");
  EXPECT_EQ(d->shared_access_key, "cGFzc3dvcmQ=");  // '=' inside the value kept
  EXPECT_EQ(d->gateway_host_name, "");

  Result<ConnectionString> m = ParseConnectionString(
      "HostName=h.azure-devices.net;DeviceId=edge1;ModuleId=classifier;SharedAccessKey=cGFzc3dvcmQ="
      ";"
      "GatewayHostName=mygateway.contoso.com;\n");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->identity.module_id, "classifier");
  EXPECT_EQ(m->gateway_host_name, "mygateway.contoso.com");
}

TEST(ConnectionStringTest, MalformedIsRefusedWithoutEchoingTheKey) {
  const std::string key = "c2VjcmV0LWtleS1ieXRlcw==";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty"},
      {"HostName=h.azure-devices.net;DeviceId=d", "SharedAccessKey"},
      {"DeviceId=d;SharedAccessKey=" + key, "HostName"},
      {"HostName=h.azure-devices.net;SharedAccessKey=" + key, "DeviceId"},
      {"HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=" + key + ";DeviceId=e", "twice"},
      {"HostName=h.azure-devices.net;DeviceId=;SharedAccessKey=" + key, "empty"},
      {"HostName=h.azure-devices.net;;DeviceId=d;SharedAccessKey=" + key, "empty field"},
      {"HostName=h.azure-devices.net;DeviceId=d;Shared" + key, "unknown name"},
      {"HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey", "Name=value"},
      {"HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=" + key + ";Color=blue", "unknown"},
      {"HostName=nodots;DeviceId=d;SharedAccessKey=" + key, "host name"},
      {"HostName=h.azure-devices.net;DeviceId=a/b;SharedAccessKey=" + key, "'/'"},
      {"HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=" + key.substr(1), "base64"},
      {"HostName=h.azure-devices.net;DeviceId=d;SharedAccessSignature=SharedAccessSignature sr=x",
       "not supported"},
      {"HostName=h.azure-devices.net;DeviceId=d;x509=true", "not supported"},
      {"HostName=h.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=" + key,
       "service"},
  };
  for (const auto& [text, expected] : cases) {
    Result<ConnectionString> r = ParseConnectionString(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_NE(r.status().message().find(expected), std::string::npos)
        << text << " -> " << r.status().message();
    EXPECT_EQ(r.status().message().find(key), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find(key.substr(1)), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace edgevision::upstream
