// MqttTransport: one MQTT 3.1.1 client connection, behind a small interface
// so the publisher's logic can be tested with an in-memory fake (broker down,
// PUBACK never arriving, refused credentials) and run against libmosquitto
// in production (MakeMosquittoTransport).
//
// Model: the owner drives everything from one thread. Connect() starts a
// connection attempt and returns; Loop() does network I/O for up to a
// timeout and reports what happened through the MqttEvents given to
// Connect(), on the calling thread. Every Connect() starts from a clean
// client: nothing the library queued on an earlier connection is resent
// (the outbox is the only source of resends).
//
// Thread-safety: none; one thread owns a transport.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace edgevision::upstream {

struct MqttConnectOptions {
  std::string host;
  int port = 1883;
  std::string client_id;
  std::string username;  // empty: none
  std::string password;  // a secret; never logged
  bool tls = false;
  std::string ca_file;  // PEM CA bundle; empty with tls: the system's CAs
  int keepalive_s = 60;
};

// What a connection reports, on the thread that calls Loop().
class MqttEvents {
 public:
  virtual ~MqttEvents() = default;
  // CONNACK: 0 = accepted, else the MQTT 3.1.1 return code (5 = not authorised).
  virtual void OnConnack(int code) = 0;
  // The connection is gone (also after a refused CONNACK). `reason` says why.
  virtual void OnConnectionLost(const std::string& reason) = 0;
  // The broker acknowledged the QoS 1 message `mid` (PUBACK); for QoS 0,
  // the message was handed to the network.
  virtual void OnPublished(int mid) = 0;
  virtual void OnMessage(std::string_view topic, std::string_view payload) = 0;
};

class MqttTransport {
 public:
  virtual ~MqttTransport() = default;
  // Starts a connection attempt with a new client (dropping any previous
  // connection). Errors: an immediate failure (DNS, refused TCP connect,
  // unreadable CA file); no events follow then.
  virtual Status Connect(const MqttConnectOptions& options, MqttEvents* events) = 0;
  // Closes the connection (a DISCONNECT when connected). No events follow.
  virtual void Disconnect() = 0;
  // Queues a PUBLISH; returns its message id. Errors: not connected, too large.
  virtual Result<int> Publish(const std::string& topic, std::string_view payload, int qos) = 0;
  virtual Status Subscribe(const std::string& topic, int qos) = 0;
  // Network I/O for at most `timeout`; events are delivered from here.
  virtual void Loop(std::chrono::milliseconds timeout) = 0;
};

// The libmosquitto transport.
std::unique_ptr<MqttTransport> MakeMosquittoTransport();

}  // namespace edgevision::upstream
