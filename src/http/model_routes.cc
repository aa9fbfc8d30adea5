#include "http/model_routes.h"

#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "http/api_error.h"

namespace edgevision::http {

using nlohmann::json;

void AddModelRoutes(Router* router, const ModelApi& api) {
  router->Add(
      "POST", "/model/reload",
      [api](const HttpRequest&) {
        Status s = api.reloader->Reload("POST /model/reload");
        if (!s.ok()) {
          return ErrorResponse(500, "ErrorModelReload",
                               "the model could not be reloaded (the previous model keeps serving): " + s.message());
        }
        json model = nullptr;
        if (std::shared_ptr<const predict::Classifier> c = api.slot->Get()) {
          const model::ModelInfo& m = c->info();
          model = {{"file", m.model_file}, {"sha1", m.model_sha1}, {"format", m.format},
                   {"iteration", m.iteration_id}, {"labels", m.labels}};
        }
        HttpResponse res;
        res.body = json{{"status", "reloaded"}, {"model", std::move(model)}}.dump(
            -1, ' ', false, json::error_handler_t::replace);
        return res;
      },
      false, Access::kAdmin);
}

std::function<void(nlohmann::json*)> ReloadHealthSection(const predict::ModelReloader* reloader) {
  return [reloader](json* doc) {
    const predict::ReloadStats s = reloader->stats();
    (*doc)["reload"] = {{"watching", s.watching},
                        {"reloads", s.reloads},
                        {"failures", s.failures},
                        {"lastError", s.last_error.empty() ? json(nullptr) : json(s.last_error)},
                        {"lastReload", s.last_reload ? json(FormatIsoMillisZ(*s.last_reload)) : json(nullptr)}};
  };
}

}  // namespace edgevision::http
