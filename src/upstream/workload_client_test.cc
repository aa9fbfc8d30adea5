// The IoT Edge workload API client against a local stand-in server on a unix
// socket (tests/upstream/workload_api_standin.h) that follows the documented
// request/response shapes; it is not the real IoT Edge runtime.
#include "upstream/workload_client.h"

#include <gtest/gtest.h>

#include "upstream/credentials.h"
#include "upstream/testing_util.h"
#include "upstream/workload_api_standin.h"

namespace edgevision::upstream {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

const char* kPem = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";

TEST(WorkloadClientTest, SignsLikeTheKeyAndFetchesTheTrustBundle) {
  testing::TempDir dir("workload");
  edgevision::testing::WorkloadApiStandIn api(dir.File("workload.sock"), "classifier", "6380001",
                                              "password", kPem);
  ASSERT_TRUE(api.ok());
  Result<WorkloadClient> client = WorkloadClient::Create(api.uri(), "classifier", "6380001");
  ASSERT_TRUE(client.ok()) << client.status().ToString();

  // The module token through the workload API equals the one from the key
  // itself (research notes, vector 4).
  WorkloadSigner signer(*client);
  IotHubIdentity module{"myhub.azure-devices.net", "edge1", "classifier"};
  Result<std::string> token =
      MakeSasToken(module, signer, system_clock::time_point(seconds(1700000000)));
  ASSERT_TRUE(token.ok()) << token.status().ToString();
  EXPECT_EQ(
      *token,
      "SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fedge1%2Fmodules%2Fclassifier"
      "&sig=v%2FwZ%2BaRFtUW2mfieYI0u5eLjevoAkV%2F7SmzrTvPKNYo%3D&se=1700000000");
  EXPECT_EQ(api.sign_requests(), 1);
  EXPECT_EQ(api.requests()[0],
            "POST /modules/classifier/genid/6380001/sign?api-version=2019-01-30 HTTP/1.1");

  Result<std::string> pem = client->TrustBundle();
  ASSERT_TRUE(pem.ok()) << pem.status().ToString();
  EXPECT_EQ(*pem, kPem);
}

TEST(WorkloadClientTest, SasCredentialsFetchTheTrustBundleEachAttempt) {
  testing::TempDir dir("workload");
  edgevision::testing::WorkloadApiStandIn api(dir.File("workload.sock"), "classifier", "g1",
                                              "password", kPem);
  ASSERT_TRUE(api.ok());
  WorkloadClient client = *WorkloadClient::Create(api.uri(), "classifier", "g1");
  SasCredentialsConfig sas;
  sas.identity = {"myhub.azure-devices.net", "edge1", "classifier"};
  sas.host = "edgehub";
  sas.ttl = seconds(3600);
  int fetched = 0;
  sas.ca_provider = [&]() -> Result<std::string> {
    ++fetched;
    EV_ASSIGN_OR_RETURN(std::string p, client.TrustBundle());
    return dir.File("bundle.pem");
  };
  auto creds = MakeSasCredentials(sas, std::make_unique<WorkloadSigner>(client));
  Result<ConnectPlan> plan = creds->Prepare(system_clock::time_point(seconds(1700000000 - 3600)));
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->options.host, "edgehub");
  EXPECT_EQ(plan->options.port, 8883);
  EXPECT_TRUE(plan->options.tls);
  EXPECT_EQ(plan->options.ca_file, dir.File("bundle.pem"));
  EXPECT_EQ(plan->options.client_id, "edge1/classifier");
  EXPECT_EQ(plan->options.username,
            "myhub.azure-devices.net/edge1/classifier/?api-version=2021-04-12");
  EXPECT_NE(plan->options.password.find("&se=1700000000"), std::string::npos);
  EXPECT_EQ(plan->expires, system_clock::time_point(seconds(1700000000)));
  EXPECT_EQ(fetched, 1);
  ASSERT_TRUE(creds->Prepare(system_clock::now()).ok());
  EXPECT_EQ(fetched, 2);
}

TEST(WorkloadClientTest, ErrorsNameTheRequestAndTheApiMessage) {
  testing::TempDir dir("workload");
  edgevision::testing::WorkloadApiStandIn api(dir.File("workload.sock"), "classifier", "g1",
                                              "password", kPem);
  ASSERT_TRUE(api.ok());
  // Wrong generation id: the API answers 404 with a message.
  WorkloadClient stale = *WorkloadClient::Create(api.uri(), "classifier", "g0");
  Result<std::string> sig = stale.Sign("x");
  ASSERT_FALSE(sig.ok());
  EXPECT_EQ(sig.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(sig.status().message().find("HTTP 404: Module not found"), std::string::npos)
      << sig.status().message();
  EXPECT_NE(sig.status().message().find("/modules/classifier/genid/g0/sign"), std::string::npos);

  // No socket: Unavailable, quickly.
  WorkloadClient missing = *WorkloadClient::Create(
      "unix://" + dir.File("nothing.sock"), "classifier", "g1", std::chrono::milliseconds(500));
  Result<std::string> none = missing.TrustBundle();
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kUnavailable);

  EXPECT_FALSE(WorkloadClient::Create("tcp://x", "m", "g").ok());
  EXPECT_FALSE(WorkloadClient::Create("unix://", "m", "g").ok());
  EXPECT_FALSE(WorkloadClient::Create("unix:///s", "", "g").ok());
  EXPECT_FALSE(WorkloadClient::Create("unix:///s", "m", "").ok());
}

}  // namespace
}  // namespace edgevision::upstream
