// Publisher: store-and-forward of prediction results to one MQTT target.
//
// Request threads call Enqueue(): the prediction is checked against the
// publish rule and, when it matches, encoded and appended to the durable
// outbox (a few ms at most; never waits for the network). One publisher
// thread owns the MQTT connection: it connects (fresh credentials each
// time), publishes the oldest outbox messages with QoS 1 in order, keeping
// at most `max_in_flight` unacknowledged, and deletes each message only when
// its PUBACK arrives. On any failure (refused, lost, no CONNACK or PUBACK in
// time) it drops the connection, waits with exponential backoff and jitter,
// reconnects and resends from the oldest unacknowledged message: delivery is
// at least once, in order, and the server never exits for a network error.
// SAS-token connections are renewed before the token expires.
//
// In IoT Hub / IoT Edge mode it also keeps the module twin: it GETs the twin
// after each connect, applies desired properties (publish on/off,
// probability range, tags, capture settings via a hook) live, and reports
// the applied values and the model as reported properties.
//
// Thread-safety: Enqueue, Status and SetCaptureHandler are safe from any
// thread. Start/Stop from one controlling thread. RunOnce is for tests that
// drive the loop themselves (then do not call Start).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "upstream/credentials.h"
#include "upstream/message.h"
#include "upstream/mqtt_transport.h"
#include "upstream/outbox.h"
#include "upstream/upstream_config.h"
#include "upstream/upstream_status.h"

namespace edgevision::upstream {

struct PublisherConfig {
  TargetKind kind = TargetKind::kMqtt;
  std::string description;     // for status and logs; no secrets
  std::string topic_template;  // kMqtt
  IotHubIdentity identity;     // kIotHub / kIotEdge
  std::string output;          // kIotEdge module output ("" = none)
  bool twin = false;           // keep the module twin (IoT Hub / Edge)
  PublishRule rule;            // from the command line; the twin overrides it
  PublisherLimits limits;
  std::string version;  // edgevision's, for the reported properties
};

struct PublisherHooks {
  // The loaded model, for the reported properties (nullopt while loading).
  std::function<std::optional<ReportedModel>()> model_info;
};

class Publisher : private MqttEvents {
 public:
  Publisher(PublisherConfig config, std::unique_ptr<Outbox> outbox,
            std::unique_ptr<MqttTransport> transport, std::unique_ptr<Credentials> credentials,
            PublisherHooks hooks, const Clock& clock = SystemClock());
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;
  ~Publisher() override;  // Stop()

  // Starts the publisher thread.
  void Start();
  // Waits up to limits.stop_drain for outstanding PUBACKs, disconnects,
  // joins the thread and closes the outbox. Idempotent.
  void Stop();

  // Applies the rule and appends a message for `input` to the outbox.
  // Returns false when it was filtered out or could not be stored (counted,
  // logged, in Status()). Quick; never blocks on the network.
  bool Enqueue(const PredictionInput& input);

  // The capture store's handler for desired "capture" settings. If desired
  // settings already arrived, it is called with them right away. The status
  // it returns is reported in the twin.
  void SetCaptureHandler(std::function<Status(const DesiredCapture&)> handler);

  // Model delivery's handler for the desired "model" (called when it
  // arrives or changes; at once if it already arrived; an error is reported
  // in upstream.errors), and the state reported as "modelDelivery".
  void SetModelHandler(std::function<Status(const DesiredModel&)> handler);
  void SetDeliveryReporter(std::function<std::optional<ReportedDelivery>()> reporter);
  // The live sources' handler for the desired "sources" (called when they
  // arrive or change, on the publisher's thread; at once if they already
  // arrived), and their state, reported as "sources" when it changed
  // (checked every limits.model_check_interval and after each handler call).
  using SourcesHandler = std::function<void(const std::map<std::string, std::string>& desired)>;
  using ReportedSources = std::map<std::string, std::optional<ReportedSource>>;
  void SetSourcesHandler(SourcesHandler handler);
  void SetSourcesReporter(std::function<ReportedSources()> reporter);
  // Sends the reported properties again soon (the delivery state changed).
  void ReportSoon() { report_soon_ = true; }

  UpstreamStatus GetStatus() const;
  // Whether it keeps a module twin (IoT Hub / IoT Edge), whose desired
  // properties may change settings live.
  bool uses_twin() const { return config_.twin; }

  // One turn of the loop, for tests driving a fake transport and clock.
  void RunOnce();

 private:
  enum class State { kWaiting, kConnecting, kConnected, kStopped };
  struct InFlight {
    uint64_t seq;
    std::chrono::steady_clock::time_point sent;
  };

  // MqttEvents (called from transport_->Loop(); only record what happened).
  void OnConnack(int code) override;
  void OnConnectionLost(const std::string& reason) override;
  void OnPublished(int mid) override;
  void OnMessage(std::string_view topic, std::string_view payload) override;

  void ThreadMain();
  void StartConnect();
  void Fail(const std::string& reason);
  void OnConnected();
  void FillWindow();
  void RemoveAcknowledged();
  Result<std::string> TopicFor(const OutboxEntry& entry);
  void CheckTimers();
  void SetError(const std::string& error);
  void PublishLoopStatus();
  std::chrono::milliseconds NextBackoff();

  // Twin.
  void HandleTwinResponse(std::string_view topic, std::string_view payload);
  void HandleDesiredPatch(std::string_view topic, std::string_view payload);
  void ApplyDesiredDocument(std::string document);
  void SendReported();
  void RequestTwin();

  const PublisherConfig config_;
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<MqttTransport> transport_;
  std::unique_ptr<Credentials> credentials_;
  const PublisherHooks hooks_;
  const Clock& clock_;

  // Loop state: touched only by the loop thread (or RunOnce's caller).
  State state_ = State::kWaiting;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::steady_clock::time_point connect_started_{};
  std::chrono::steady_clock::time_point next_expire_{};
  std::chrono::steady_clock::time_point next_model_check_{};
  std::optional<std::chrono::system_clock::time_point> token_expires_;
  int backoff_attempt_ = 0;
  std::mt19937_64 random_{std::random_device{}()};
  std::map<int, InFlight> in_flight_;  // by MQTT message id
  uint64_t cursor_ = 0;                // last seq handed to the transport
  std::vector<uint64_t> acked_;        // PUBACKed, not yet removed
  bool connack_ok_ = false;
  std::optional<std::string> lost_;  // set by events, handled after Loop
  bool renewing_ = false;            // draining before a reconnect with a new token
  // Twin state (loop thread).
  std::string desired_doc_ = "{}";
  bool have_twin_ = false;
  int64_t twin_version_ = -1;
  uint64_t next_rid_ = 1;
  std::string get_rid_;
  std::optional<std::chrono::steady_clock::time_point> twin_retry_;
  bool report_pending_ = false;
  std::optional<ReportedModel> reported_model_;
  std::vector<std::string> desired_errors_;

  // Shared with request threads and Status().
  mutable std::mutex mu_;
  PublishRule rule_;                                              // guarded by mu_
  std::optional<DesiredCapture> desired_capture_;                 // guarded by mu_
  std::function<Status(const DesiredCapture&)> capture_handler_;  // guarded by mu_
  std::string capture_status_;                                    // guarded by mu_
  std::optional<DesiredModel> desired_model_;                     // guarded by mu_
  std::function<Status(const DesiredModel&)> model_handler_;      // guarded by mu_
  std::function<std::optional<ReportedDelivery>()> delivery_reporter_;  // guarded by mu_
  std::string model_request_error_;                               // guarded by mu_
  std::optional<std::map<std::string, std::string>> desired_sources_;  // guarded by mu_; nullopt: none arrived yet
  SourcesHandler sources_handler_;                                // guarded by mu_
  std::function<ReportedSources()> sources_reporter_;             // guarded by mu_
  ReportedSources reported_sources_;                              // loop thread: as last sent
  std::atomic<bool> report_soon_{false};
  UpstreamStatus status_;  // guarded by mu_ (except outbox stats)
  std::condition_variable wake_;
  bool stop_requested_ = false;                               // guarded by mu_
  std::chrono::steady_clock::time_point last_enqueue_log_{};  // guarded by mu_
  uint64_t unlogged_enqueue_failures_ = 0;                    // guarded by mu_

  // outbox_ is reset by Stop(); appends and status reads hold it shared.
  mutable std::shared_mutex outbox_mu_;
  OutboxStats final_stats_;  // guarded by outbox_mu_, once outbox_ is gone
  std::thread thread_;
  std::atomic<bool> started_{false};
};

}  // namespace edgevision::upstream
