// A small local stand-in for the IoT Edge workload API on a unix socket,
// following the documented request/response shapes (edgelet
// workloadVersion_2019_01_30.yaml, SignRequest/SignResponse; aziot
// trust_bundle.md): it is NOT the real aziot-edged.
//
//   POST /modules/{module}/genid/{genid}/sign?api-version=2019-01-30
//        {"keyId":"primary","algo":"HMACSHA256","data":"<base64>"} -> 200 {"digest":"<base64>"}
//   GET  /trust-bundle?api-version=2019-01-30                     -> 200 {"certificate":"<PEM>"}
//   anything else -> 404 / 400 {"message":"..."}
//
// It signs with a key the test chooses, so tokens made through it can be
// compared with tokens made from the key directly. One request per
// connection (Connection: close), served on a background thread.
#pragma once

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace edgevision::testing {

class WorkloadApiStandIn {
 public:
  WorkloadApiStandIn(std::string socket_path, std::string module, std::string genid,
                     std::string key_bytes, std::string trust_bundle_pem)
      : path_(std::move(socket_path)),
        module_(std::move(module)),
        genid_(std::move(genid)),
        key_(std::move(key_bytes)),
        pem_(std::move(trust_bundle_pem)) {
    unlink(path_.c_str());
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd_, 16) != 0) {
      close(fd_);
      fd_ = -1;
      return;
    }
    thread_ = std::thread([this] { Serve(); });
  }

  ~WorkloadApiStandIn() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
    unlink(path_.c_str());
  }

  bool ok() const { return fd_ >= 0; }
  std::string uri() const { return "unix://" + path_; }
  int sign_requests() const { return sign_requests_; }
  std::vector<std::string> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      Handle(client);
      close(client);
    }
  }

  static std::string Response(int status, const std::string& body) {
    const char* reason = status == 200 ? "OK" : status == 404 ? "Not Found" : "Bad Request";
    return "HTTP/1.1 " + std::to_string(status) + " " + reason +
           "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }

  static std::string Error(const std::string& message) {
    return nlohmann::json({{"message", message}}).dump();
  }

  void Handle(int client) {
    std::string data;
    char buf[4096];
    size_t header_end = std::string::npos;
    size_t content_length = 0;
    while (true) {
      ssize_t n = recv(client, buf, sizeof buf, 0);
      if (n <= 0) return;
      data.append(buf, static_cast<size_t>(n));
      if (header_end == std::string::npos) {
        header_end = data.find("\r\n\r\n");
        if (header_end != std::string::npos) {
          std::string lower = data.substr(0, header_end);
          for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          size_t cl = lower.find("content-length:");
          if (cl != std::string::npos) content_length = std::stoul(lower.substr(cl + 15));
        }
      }
      if (header_end != std::string::npos && data.size() >= header_end + 4 + content_length) break;
    }
    const std::string request_line = data.substr(0, data.find("\r\n"));
    const std::string body = data.substr(header_end + 4, content_length);
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(request_line);
    }
    std::string out = Dispatch(request_line, body);
    send(client, out.data(), out.size(), MSG_NOSIGNAL);
  }

  std::string Dispatch(const std::string& request_line, const std::string& body) {
    const size_t sp1 = request_line.find(' ');
    const size_t sp2 = request_line.rfind(' ');
    const std::string method = request_line.substr(0, sp1);
    const std::string target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    const size_t q = target.find('?');
    const std::string path = target.substr(0, q);
    const std::string query = q == std::string::npos ? "" : target.substr(q + 1);
    if (query != "api-version=2019-01-30") return Response(400, Error("unsupported api-version"));
    if (method == "GET" && path == "/trust-bundle") {
      return Response(200, nlohmann::json({{"certificate", pem_}}).dump());
    }
    const std::string prefix = "/modules/" + module_ + "/genid/";
    if (method == "POST" && path.rfind("/modules/", 0) == 0 && path.size() > 5 &&
        path.substr(path.size() - 5) == "/sign") {
      if (path != prefix + genid_ + "/sign") return Response(404, Error("Module not found"));
      ++sign_requests_;
      nlohmann::json req = nlohmann::json::parse(body, nullptr, false);
      if (!req.is_object() || req.value("keyId", "") != "primary" ||
          req.value("algo", "") != "HMACSHA256" || !req.contains("data") ||
          !req["data"].is_string()) {
        return Response(400, Error("bad sign request"));
      }
      const std::string b64 = req["data"];
      std::string data(b64.size(), '\0');
      int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(data.data()),
                              reinterpret_cast<const unsigned char*>(b64.data()),
                              static_cast<int>(b64.size()));
      if (n < 0) return Response(400, Error("data is not base64"));
      size_t pad = 0;
      while (pad < 2 && pad < b64.size() && b64[b64.size() - 1 - pad] == '=') ++pad;
      data.resize(static_cast<size_t>(n) - pad);
      unsigned char mac[EVP_MAX_MD_SIZE];
      unsigned int mac_len = 0;
      HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &mac_len);
      std::string digest(4 * ((mac_len + 2) / 3) + 1, '\0');
      int dn = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(digest.data()), mac,
                               static_cast<int>(mac_len));
      digest.resize(static_cast<size_t>(dn));
      return Response(200, nlohmann::json({{"digest", digest}}).dump());
    }
    return Response(404, Error("not found: " + method + " " + path));
  }

  std::string path_, module_, genid_, key_, pem_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> sign_requests_{0};
  mutable std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

// The IOTEDGE_* environment the IoT Edge runtime gives module "classifier"
// (generation 6380001) of device "edge1", whose edgeHub is "localhost" and
// whose workload API is `workload_uri` (a WorkloadApiStandIn's uri()).
class IotEdgeModuleEnv {
 public:
  explicit IotEdgeModuleEnv(const std::string& workload_uri)
      : env_{{"IOTEDGE_WORKLOADURI", workload_uri},
             {"IOTEDGE_IOTHUBHOSTNAME", "myhub.azure-devices.net"},
             {"IOTEDGE_GATEWAYHOSTNAME", "localhost"},
             {"IOTEDGE_DEVICEID", "edge1"},
             {"IOTEDGE_MODULEID", "classifier"},
             {"IOTEDGE_MODULEGENERATIONID", "6380001"},
             {"IOTEDGE_AUTHSCHEME", "sasToken"}} {}
  // A getenv over these variables only (valid while this object lives).
  std::function<const char*(const char*)> Getenv() const {
    return [this](const char* name) -> const char* {
      auto it = env_.find(name);
      return it == env_.end() ? nullptr : it->second.c_str();
    };
  }

 private:
  std::map<std::string, std::string> env_;
};

}  // namespace edgevision::testing
