// An in-memory MqttTransport for publisher tests: the test plays the broker
// (up or down, CONNACK code, PUBACKs on or off, dropping the connection,
// delivering twin messages). Test-only.
#pragma once

#include <deque>
#include <set>
#include <string>
#include <vector>

#include "upstream/mqtt_transport.h"

namespace edgevision::upstream::testing {

struct FakeBroker {
  // Knobs the test turns.
  bool up = true;               // false: Connect() fails ("broker down")
  int connack_code = 0;         // non-zero: CONNACK refuses
  bool send_connack = true;     // false: CONNACK never arrives
  bool send_pubacks = true;     // false: PUBACKs never arrive
  bool drop_next_loop = false;  // the connection breaks on the next Loop
  std::deque<std::pair<std::string, std::string>>
      inbound;  // delivered on the next Loop when connected

  // What happened.
  struct Publish {
    std::string topic;
    std::string payload;
    int qos;
    int mid;
  };
  std::vector<MqttConnectOptions> connects;
  std::vector<Publish> published;
  std::vector<std::string> subscriptions;
  size_t max_unacked = 0;
  int disconnects = 0;

  // Published QoS 1 payloads on `topic_prefix`.
  std::vector<std::string> Payloads(const std::string& topic_prefix = "") const {
    std::vector<std::string> out;
    for (const Publish& p : published) {
      if (p.qos == 1 && p.topic.rfind(topic_prefix, 0) == 0) out.push_back(p.payload);
    }
    return out;
  }
};

class FakeTransport : public MqttTransport {
 public:
  explicit FakeTransport(FakeBroker* broker) : b_(broker) {}

  Status Connect(const MqttConnectOptions& options, MqttEvents* events) override {
    Disconnect();
    b_->connects.push_back(options);
    if (!b_->up) return Unavailable("connection refused (fake broker down)");
    events_ = events;
    connecting_ = true;
    return Status::Ok();
  }
  void Disconnect() override {
    if (events_) ++b_->disconnects;
    events_ = nullptr;
    connecting_ = connected_ = false;
    unacked_.clear();
  }
  Result<int> Publish(const std::string& topic, std::string_view payload, int qos) override {
    if (!connected_) return Unavailable("not connected");
    const int mid = next_mid_++;
    b_->published.push_back({topic, std::string(payload), qos, mid});
    unacked_.push_back({mid, qos});
    size_t qos1 = 0;
    for (const auto& [m, q] : unacked_) qos1 += q == 1 ? 1 : 0;
    if (qos1 > b_->max_unacked) b_->max_unacked = qos1;
    return mid;
  }
  Status Subscribe(const std::string& topic, int) override {
    if (!connected_) return Unavailable("not connected");
    b_->subscriptions.push_back(topic);
    return Status::Ok();
  }
  void Loop(std::chrono::milliseconds) override {
    if (!events_) return;
    MqttEvents* events = events_;
    if (connecting_) {
      if (!b_->up) {
        Lose(events, "connection refused");
        return;
      }
      if (!b_->send_connack) return;
      connecting_ = false;
      events->OnConnack(b_->connack_code);
      if (b_->connack_code != 0) {
        Lose(events, "connection refused by the broker");
        return;
      }
      connected_ = true;
      return;
    }
    if (!connected_) return;
    if (b_->drop_next_loop || !b_->up) {
      b_->drop_next_loop = false;
      Lose(events, "network down (fake)");
      return;
    }
    while (!b_->inbound.empty()) {
      auto [topic, payload] = b_->inbound.front();
      b_->inbound.pop_front();
      events->OnMessage(topic, payload);
    }
    if (b_->send_pubacks) {
      std::vector<std::pair<int, int>> acks(unacked_.begin(), unacked_.end());
      unacked_.clear();
      for (const auto& [mid, qos] : acks) events->OnPublished(mid);
    }
  }

 private:
  void Lose(MqttEvents* events, const std::string& reason) {
    connecting_ = connected_ = false;
    unacked_.clear();
    events_ = nullptr;
    events->OnConnectionLost(reason);
  }

  FakeBroker* b_;
  MqttEvents* events_ = nullptr;
  bool connecting_ = false;
  bool connected_ = false;
  int next_mid_ = 1;
  std::deque<std::pair<int, int>> unacked_;  // (mid, qos)
};

}  // namespace edgevision::upstream::testing
