// edgeHub as the module twin tests meet it, under one folder: a real
// mosquitto broker (TLS with a test PKI) standing in for edgeHub, the IoT
// Edge workload API stand-in, and the publisher `serve` makes for an IoT Edge
// module on them (upstream::MakePublisher with the module's environment).
// A TwinService (twin_service.h) on pki() and port() plays the twin service.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "test_support.h"
#include "upstream/mosquitto_harness.h"
#include "upstream/upstream.h"
#include "upstream/workload_api_standin.h"

namespace edgevision::testing {

class EdgeHubStandIn {
 public:
  explicit EdgeHubStandIn(const std::filesystem::path& dir)
      : pki_(MakeTestPki(dir, "edgehub")),
        broker_(dir / "broker", MosquittoBroker::Tls(pki_)),
        workload_((dir / "workload.sock").string(), "classifier", "6380001", "module-key-bytes",
                  ReadText(pki_.ca_cert)),
        env_(workload_.uri()),
        dir_(dir) {}

  // "" when the PKI is made and the broker and the workload API run, else what failed.
  std::string Start() {
    if (!pki_.ok()) return "the test PKI (openssl) could not be made";
    if (!broker_.Start()) return "mosquitto did not start: " + broker_.Log();
    if (!workload_.ok()) return "the workload API stand-in did not start";
    return "";
  }

  const TestPki& pki() const { return pki_; }
  int port() const { return broker_.port(); }

  // The module's publisher (not started); `tune` may change its options.
  Result<std::unique_ptr<upstream::Publisher>> MakePublisher(
      const std::function<void(upstream::UpstreamOptions*)>& tune = {}) const {
    upstream::UpstreamOptions o;
    o.data_dir = (dir_ / "upstream").string();
    o.iothub_port = broker_.port();
    o.outbox.sync_full = false;
    o.limits.stop_drain = std::chrono::milliseconds(1000);
    if (tune) tune(&o);
    return upstream::MakePublisher(o, env_.Getenv(), {}, "test");
  }

 private:
  TestPki pki_;
  MosquittoBroker broker_;
  WorkloadApiStandIn workload_;
  IotEdgeModuleEnv env_;
  std::filesystem::path dir_;
};

}  // namespace edgevision::testing
