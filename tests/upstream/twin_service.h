// IoT Hub's twin service played by a test client on a real mosquitto broker
// (mosquitto_harness.h): answers the module's twin GET with a fixed twin
// document, records every reported-properties patch (and merges them as IoT
// Hub does, RFC 7386), and sends desired-properties patches.
#pragma once

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "upstream/mosquitto_harness.h"

namespace edgevision::testing {

class TwinService {
 public:
  TwinService(const TestPki& pki, int port, std::string twin)
      : client_("twin-service", {"$iothub/twin/GET/#", "$iothub/twin/PATCH/properties/reported/#"}),
        twin_(std::move(twin)) {
    client_.SetCa(pki.ca_cert);
    client_.OnMessage([this](const MqttSubscriber::Message& m) {
      static const std::regex get(R"(\$iothub/twin/GET/\?\$rid=(\w+))");
      static const std::regex reported(R"(\$iothub/twin/PATCH/properties/reported/\?\$rid=(\w+))");
      std::smatch match;
      if (std::regex_match(m.topic, match, get)) {
        ++gets_;
        client_.Publish("$iothub/twin/res/200/?$rid=" + match[1].str(), twin_, 0);
      } else if (std::regex_match(m.topic, match, reported)) {
        std::lock_guard<std::mutex> lock(mu_);
        reported_.push_back(nlohmann::json::parse(m.payload));
        merged_.merge_patch(reported_.back());
        client_.Publish("$iothub/twin/res/204/?$rid=" + match[1].str() +
                            "&$version=" + std::to_string(reported_.size()),
                        "", 0);
      }
    });
    connected_ = client_.Connect("localhost", port);
  }
  bool connected() const { return connected_; }
  int gets() const { return gets_; }
  // Every reported patch, in order.
  std::vector<nlohmann::json> reported() const {
    std::lock_guard<std::mutex> lock(mu_);
    return reported_;
  }
  // The reported document as IoT Hub keeps it: every patch merged.
  nlohmann::json reported_document() const {
    std::lock_guard<std::mutex> lock(mu_);
    return merged_;
  }
  void SendDesiredPatch(int version, const std::string& patch) {
    client_.Publish("$iothub/twin/PATCH/properties/desired/?$version=" + std::to_string(version),
                    patch, 0);
  }

 private:
  MqttSubscriber client_;
  std::string twin_;
  bool connected_ = false;
  std::atomic<int> gets_{0};
  mutable std::mutex mu_;
  std::vector<nlohmann::json> reported_;  // guarded by mu_
  nlohmann::json merged_ = nlohmann::json::object();  // guarded by mu_
};

}  // namespace edgevision::testing
