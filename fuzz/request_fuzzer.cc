// Raw HTTP requests through the whole request path without a socket: our
// framing (http/framing.h: head, chunked bodies, multipart), the admission
// checks (methods, Content-Length, CSRF, routes, keys), cpp-httplib's parser
// on the rebuilt head, the Router and its route
// parameters, and the handlers' reading of the request (image bytes,
// multipart imageData, /url JSON, capture ids, label JSON). The classifier is
// the fake one (tests/fake_backend.h): the image pipeline runs for real,
// inference is a channel mean.
//
// Input: one selector byte (bit 0: keys configured), then the raw bytes of
// one or more pipelined requests.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string_view>

#include "fake_backend.h"
#include "fuzz_target.h"
#include "http/capture_routes.h"
#include "http/model_routes.h"
#include "http/prediction_routes.h"
#include "http/server.h"
#include "predict/model_reloader.h"
#include "store/capture_store.h"

namespace {

using namespace edgevision;

constexpr const char* kKey = "fuzz-prediction-key-0123456789";

struct World {
  predict::ModelSlot slot;
  testing::FakeBackend backend;
  std::unique_ptr<predict::ModelReloader> reloader;
  std::unique_ptr<store::CaptureStore> store;
  std::unique_ptr<http::HttpServer> open, keyed;

  World() {
    predict::ClassifierOptions options;
    options.decode.max_pixels = 4'000'000;
    options.decode.max_dimension = 4'000;
    reloader = std::make_unique<predict::ModelReloader>(
        &slot, "/nonexistent", [this, options](const std::string&) -> Result<std::shared_ptr<const predict::Classifier>> {
          EV_ASSIGN_OR_RETURN(std::unique_ptr<predict::Classifier> c,
                              predict::Classifier::Create(testing::FakeModel(), backend, options));
          return std::shared_ptr<const predict::Classifier>(std::move(c));
        });
    (void)reloader->Reload("start");
    const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                      ("edgevision_request_fuzzer_" + std::to_string(getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    static const std::string kDir = dir.string();
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(kDir, ec);
    });
    auto opened = store::CaptureStore::Open(dir.string(), store::StoreOptions{});
    if (opened.ok()) store = std::move(opened).value();
    open = Make({});
    http::AccessKeys keys;
    keys.prediction = {kKey};
    keyed = Make(http::AccessControl(keys));
  }

  std::unique_ptr<http::HttpServer> Make(http::AccessControl access) {
    http::Router router;
    if (store) http::AddCaptureRoutes(&router, http::CaptureApi{store.get(), nullptr, &slot});
    http::AddModelRoutes(&router, http::ModelApi{reloader.get(), &slot});
    http::PredictionApi prediction;
    prediction.slot = &slot;  // no fetcher: /url answers without touching the network
    http::AddPredictionRoutes(&router, prediction);
    http::HealthApi health;
    health.slot = &slot;
    http::AddHealthRoutes(&router, health);
    http::ServerLimits limits;
    limits.max_body_bytes = 256 * 1024;
    return std::make_unique<http::HttpServer>(std::move(router), limits, http::TlsOptions{}, std::move(access));
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();  // lives for the process, as a server does
  if (size == 0) return 0;
  http::HttpServer& server = (data[0] & 1) ? *world->keyed : *world->open;
  (void)server.HandleRaw(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  return 0;
}
