// MqttTransport over libmosquitto, driven by mosquitto_loop() from the
// owner's thread (no libmosquitto thread).
#include <mosquitto.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "upstream/mqtt_transport.h"

namespace edgevision::upstream {

namespace {

struct MosquittoDeleter {
  void operator()(mosquitto* m) const { mosquitto_destroy(m); }
};
using MosquittoPtr = std::unique_ptr<mosquitto, MosquittoDeleter>;

void InitLibraryOnce() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

std::string MosqError(int rc) {
  if (rc == MOSQ_ERR_ERRNO) return std::strerror(errno);
  return mosquitto_strerror(rc);
}

class MosquittoTransport : public MqttTransport {
 public:
  MosquittoTransport() { InitLibraryOnce(); }
  ~MosquittoTransport() override { Disconnect(); }
  MosquittoTransport(const MosquittoTransport&) = delete;
  MosquittoTransport& operator=(const MosquittoTransport&) = delete;

  Status Connect(const MqttConnectOptions& options, MqttEvents* events) override {
    Disconnect();
    MosquittoPtr m(mosquitto_new(options.client_id.c_str(), /*clean_session=*/true, this));
    if (!m) return Internal("mosquitto_new failed: " + std::string(std::strerror(errno)));
    mosquitto_int_option(m.get(), MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    // Our own window bounds what is in flight; the library must not queue.
    mosquitto_max_inflight_messages_set(m.get(), 0);
    mosquitto_connect_callback_set(m.get(), &OnConnect);
    mosquitto_disconnect_callback_set(m.get(), &OnDisconnect);
    mosquitto_publish_callback_set(m.get(), &OnPublish);
    mosquitto_message_callback_set(m.get(), &OnMessage);
    mosquitto_log_callback_set(m.get(), &OnLog);
    if (!options.username.empty()) {
      const int rc =
          mosquitto_username_pw_set(m.get(), options.username.c_str(),
                                    options.password.empty() ? nullptr : options.password.c_str());
      if (rc != MOSQ_ERR_SUCCESS)
        return InvalidArgument("MQTT username/password: " + MosqError(rc));
    }
    if (options.tls) {
      int rc = MOSQ_ERR_SUCCESS;
      if (options.ca_file.empty()) {
        rc = mosquitto_int_option(m.get(), MOSQ_OPT_TLS_USE_OS_CERTS, 1);
      } else {
        rc =
            mosquitto_tls_set(m.get(), options.ca_file.c_str(), nullptr, nullptr, nullptr, nullptr);
      }
      if (rc != MOSQ_ERR_SUCCESS) {
        return InvalidArgument("TLS setup (CA " +
                               (options.ca_file.empty() ? std::string("system") : options.ca_file) +
                               "): " + MosqError(rc));
      }
      // Verify the server certificate and its host name.
      rc = mosquitto_tls_opts_set(m.get(), /*SSL_VERIFY_PEER*/ 1, nullptr, nullptr);
      if (rc != MOSQ_ERR_SUCCESS) return InvalidArgument("TLS options: " + MosqError(rc));
    }
    events_ = events;
    last_log_error_.clear();
    lost_reported_ = false;
    awaiting_connack_ = true;
    const int rc =
        mosquitto_connect_async(m.get(), options.host.c_str(), options.port, options.keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) {
      events_ = nullptr;
      std::string reason = MosqError(rc);
      if (!last_log_error_.empty()) reason += " (" + last_log_error_ + ")";
      return Unavailable("cannot connect to " + options.host + ":" + std::to_string(options.port) +
                         ": " + reason);
    }
    mosq_ = std::move(m);
    return Status::Ok();
  }

  void Disconnect() override {
    events_ = nullptr;  // no events after an orderly disconnect
    if (mosq_) {
      mosquitto_disconnect(mosq_.get());
      // Flush the DISCONNECT packet if the socket is still usable.
      mosquitto_loop_write(mosq_.get(), 1);
      mosq_.reset();
    }
  }

  Result<int> Publish(const std::string& topic, std::string_view payload, int qos) override {
    if (!mosq_) return Unavailable("not connected");
    int mid = 0;
    const int rc = mosquitto_publish(mosq_.get(), &mid, topic.c_str(),
                                     static_cast<int>(payload.size()), payload.data(), qos, false);
    if (rc != MOSQ_ERR_SUCCESS) return Unavailable("publish: " + MosqError(rc));
    return mid;
  }

  Status Subscribe(const std::string& topic, int qos) override {
    if (!mosq_) return Unavailable("not connected");
    const int rc = mosquitto_subscribe(mosq_.get(), nullptr, topic.c_str(), qos);
    return rc == MOSQ_ERR_SUCCESS ? Status::Ok()
                                  : Unavailable("subscribe " + topic + ": " + MosqError(rc));
  }

  void Loop(std::chrono::milliseconds timeout) override {
    if (!mosq_) {
      std::this_thread::sleep_for(timeout);
      return;
    }
    if (awaiting_connack_ && !TcpConnectSettled(timeout)) return;
    const int rc = mosquitto_loop(mosq_.get(), static_cast<int>(timeout.count()), 1);
    if (rc != MOSQ_ERR_SUCCESS) {
      std::string reason = MosqError(rc);
      if (!last_log_error_.empty()) reason += " (" + last_log_error_ + ")";
      ReportLost(reason);
      mosq_.reset();
    }
  }

 private:
  void ReportLost(const std::string& reason) {
    if (lost_reported_ || !events_) return;
    lost_reported_ = true;
    events_->OnConnectionLost(reason);
  }

  // While the (non-blocking) TCP connect is in progress: waits up to
  // `timeout` for it and reports a failed connect. libmosquitto 2.0.11 does
  // not notice a refused connect on a TLS connection (mosquitto_loop then
  // returns at once, forever), so the socket is checked here. Returns true
  // when the socket is connected and mosquitto_loop should run.
  bool TcpConnectSettled(std::chrono::milliseconds timeout) {
    const int fd = mosquitto_socket(mosq_.get());
    if (fd < 0) return true;  // let mosquitto_loop report it
    pollfd p{fd, POLLOUT, 0};
    const int ready = poll(&p, 1, static_cast<int>(timeout.count()));
    if (ready == 0) return false;  // still connecting
    int error = 0;
    socklen_t len = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
    if (error == 0 && (p.revents & (POLLERR | POLLHUP))) {
      // Hung up: unless there is something to read first (a CONNACK that
      // refuses us), the connect failed; SO_ERROR was already consumed.
      char c;
      if (recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0) return true;
      error = ECONNREFUSED;
    }
    if (error != 0) {
      ReportLost(std::strerror(error));
      mosq_.reset();
      return false;
    }
    return true;
  }

  static MosquittoTransport* Self(void* userdata) {
    return static_cast<MosquittoTransport*>(userdata);
  }

  static void OnConnect(mosquitto*, void* userdata, int rc) {
    MosquittoTransport* self = Self(userdata);
    self->awaiting_connack_ = false;
    if (self->events_) self->events_->OnConnack(rc);
  }

  static void OnDisconnect(mosquitto*, void* userdata, int rc) {
    MosquittoTransport* self = Self(userdata);
    if (rc == 0) return;  // our own DISCONNECT
    std::string reason = MosqError(rc);
    if (!self->last_log_error_.empty()) reason += " (" + self->last_log_error_ + ")";
    self->ReportLost(reason);
  }

  static void OnPublish(mosquitto*, void* userdata, int mid) {
    MosquittoTransport* self = Self(userdata);
    if (self->events_) self->events_->OnPublished(mid);
  }

  static void OnMessage(mosquitto*, void* userdata, const mosquitto_message* msg) {
    MosquittoTransport* self = Self(userdata);
    if (!self->events_ || !msg || !msg->topic) return;
    self->events_->OnMessage(msg->topic, std::string_view(static_cast<const char*>(msg->payload),
                                                          static_cast<size_t>(msg->payloadlen)));
  }

  static void OnLog(mosquitto*, void* userdata, int level, const char* text) {
    // Keep the library's last error (e.g. OpenSSL's certificate verify
    // failure) to explain a lost connection. It never contains the password.
    if ((level & MOSQ_LOG_ERR) && text) Self(userdata)->last_log_error_ = text;
  }

  MosquittoPtr mosq_;
  MqttEvents* events_ = nullptr;
  bool lost_reported_ = false;
  bool awaiting_connack_ = false;
  std::string last_log_error_;
};

}  // namespace

std::unique_ptr<MqttTransport> MakeMosquittoTransport() {
  return std::make_unique<MosquittoTransport>();
}

}  // namespace edgevision::upstream
