#include "cli/source_twin.h"

#include <spdlog/spdlog.h>

#include "cli/config.h"

namespace edgevision::cli {

stream::RunnerOptions ShownSource(stream::SourceSpec spec) {
  std::string shown = RedactUrlPassword(spec.url);
  return stream::RunnerOptions{std::move(spec), std::move(shown)};
}

SourceTwin::SourceTwin(stream::Sources* sources, std::vector<stream::RunnerOptions> configured)
    : sources_(sources), configured_(std::move(configured)) {}

void SourceTwin::Apply(const std::map<std::string, std::string>& desired) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<stream::RunnerOptions> wanted;
  std::set<std::string> from_twin;
  std::map<std::string, std::string> refused;
  for (const stream::RunnerOptions& c : configured_) {
    if (desired.count(c.spec.name) == 0) wanted.push_back(c);
  }
  for (const auto& [name, text] : desired) {
    if (text.empty()) {  // stops a configured source
      from_twin.insert(name);
      continue;
    }
    Result<stream::SourceSpec> spec = stream::ParseSourceSpec(name + "=" + text);
    if (!spec.ok()) {
      refused[name] = spec.status().message();
      spdlog::warn("module twin: sources.{} refused: {}", name, spec.status().message());
      continue;
    }
    from_twin.insert(name);
    wanted.push_back(ShownSource(std::move(spec).value()));
  }
  // A refused entry leaves the source of its name as it is (configured or
  // from an earlier desired version).
  for (const stream::RunnerOptions& now : sources_->Options()) {
    if (refused.count(now.spec.name) == 0) continue;
    wanted.push_back(now);
    if (from_twin_.count(now.spec.name)) from_twin.insert(now.spec.name);
  }
  Status s = sources_->Apply(std::move(wanted));
  if (!s.ok()) spdlog::error("module twin: sources not applied: {}", s.message());
  from_twin_ = std::move(from_twin);
  refused_ = std::move(refused);
}

std::map<std::string, std::optional<upstream::ReportedSource>> SourceTwin::Report() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, std::optional<upstream::ReportedSource>> out;
  for (const std::string& name : reported_names_) out[name] = std::nullopt;  // gone, unless below
  for (const stream::SourceStats& s : sources_->Stats()) {
    upstream::ReportedSource r;
    r.url = s.url;
    r.origin = from_twin_.count(s.name) ? "twin" : "configured";
    r.state = stream::SourceStateName(s.state);
    r.last_error = s.last_error;
    if (s.decoder) r.decoder = s.decoder->name;
    out[s.name] = std::move(r);
  }
  for (const auto& [name, why] : refused_) {
    std::optional<upstream::ReportedSource>& r = out[name];
    if (!r) r = upstream::ReportedSource{"", "twin", "", "", "", ""};
    r->error = why;
  }
  for (const auto& [name, r] : out) reported_names_.insert(name);
  return out;
}

}  // namespace edgevision::cli
