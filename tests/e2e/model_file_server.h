// A real HTTP file server on loopback for model delivery tests
// (cpp-httplib, which answers Range requests with 206 and Content-Range),
// with the faults the tests need: a body cut after half (once), a body
// that stalls after half until Release(), or every request answered 503
// until the fault is changed. Every request's Range header is recorded.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

namespace edgevision::testing {

class ModelFileServer {
 public:
  enum class Fault { kNone, kCutOnce, kStallUntilRelease, kUnavailable };

  ModelFileServer() {
    server_.Get(R"(/files/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string name = req.matches[1];
      std::string body;
      Fault fault;
      {
        std::lock_guard<std::mutex> lock(mu_);
        ranges_.push_back(req.has_header("Range") ? req.get_header_value("Range") : "");
        auto it = files_.find(name);
        if (it == files_.end()) {
          res.status = 404;
          return;
        }
        if (fault_ == Fault::kUnavailable) {
          res.status = 503;
          return;
        }
        body = it->second;
        fault = fault_;
        if (fault_ == Fault::kCutOnce) fault_ = Fault::kNone;
      }
      if (fault == Fault::kNone || req.has_header("Range")) {
        res.set_content(body, "application/octet-stream");
        return;
      }
      // The whole length is announced; half is sent, then the fault.
      const size_t half = body.size() / 2;
      res.set_content_provider(body.size(), "application/octet-stream",
                               [this, body, half, fault](size_t offset, size_t, httplib::DataSink& sink) {
                                 if (offset < half) {
                                   sink.write(body.data() + offset, half - offset);
                                   return true;
                                 }
                                 if (fault == Fault::kCutOnce) return false;  // connection closed mid-body
                                 std::unique_lock<std::mutex> lock(mu_);
                                 stalled_ = true;
                                 cv_.notify_all();
                                 while (!released_ && sink.is_writable()) cv_.wait_for(lock, std::chrono::milliseconds(50));
                                 return false;  // the client is gone (or released: it resumes with Range)
                               });
    });
    // Bound before the thread starts: connections queue until it accepts.
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~ModelFileServer() {
    Release();
    server_.stop();
    thread_.join();
  }

  void Put(const std::string& name, std::string bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    files_[name] = std::move(bytes);
  }
  void SetFault(Fault fault) {
    std::lock_guard<std::mutex> lock(mu_);
    fault_ = fault;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  bool WaitStalled(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return stalled_; });
  }
  std::vector<std::string> ranges() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ranges_;
  }
  std::string Url(const std::string& name) const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/files/" + name;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> files_;
  std::vector<std::string> ranges_;
  Fault fault_ = Fault::kNone;
  bool stalled_ = false;
  bool released_ = false;
};

}  // namespace edgevision::testing
