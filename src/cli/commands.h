// The edgevision command line: one binary, one function per sub-command.
// main.cc parses flags into these option structs and calls the command; each
// command returns the process exit code (0 success, 1 failure, 2 usage).
#pragma once

#include <string>
#include <vector>

namespace edgevision::cli {

// Where the bundled demo model is: $EDGEVISION_DEMO_MODEL, else
// <binary>/../share/edgevision/demo (installed), else the source tree's
// models/demo (a development build).
std::string DefaultModelPath();

struct ServeOptions {
  std::string model;
  std::string host = "0.0.0.0";
  int port = 8080;
  int threads = 0;  // inference threads in total; 0 = number of CPU cores
  int workers = 0;  // concurrent inferences; 0 = same as threads
  size_t max_body_bytes = 0;  // 0 = the server's default
  int http_threads = 0;       // 0 = the server's default
  bool url_allow_loopback = false;
  std::vector<std::string> url_allow;
  std::vector<std::string> url_deny;
  std::string tls_cert;
  std::string tls_key;
  // Where durable state lives (capture store, upstream outbox). Empty: none;
  // every feature that needs it stays off.
  std::string data_dir;
  // --- upstream publishing (src/upstream) ---
  // --- capture store (src/store) ---
};
int RunServe(const ServeOptions& options);

struct PredictOptions {
  std::string model;   // local inference with this model...
  std::string server;  // ...or POST to this server URL
  std::vector<std::string> images;
  int threads = 1;
};
int RunPredict(const PredictOptions& options);

struct InspectOptions {
  std::string model;
  bool json = false;
};
int RunInspect(const InspectOptions& options);

struct TensorOptions {
  std::string model;
  std::string image;
  std::string out;
};
int RunTensor(const TensorOptions& options);

}  // namespace edgevision::cli
