// The module twin's desired "sources" (docs/streams.md#the-module-twin)
// applied to the running sources, and their state for the reported
// properties: the twin adds, changes and removes cameras at run time.
//
// The set of sources is the configured ones (--source, the config file,
// EDGEVISION_SOURCES) overridden by name by the twin's entries: an entry
// "URL[,key=value...]" adds or changes the source of that name, "" stops a
// configured one, and a name that leaves the desired document (a patch sets
// it to null) falls back to its configured source, or stops. An entry that
// does not parse is refused and reported with its error; whatever ran under
// its name keeps running, and every other source is untouched.
//
// Thread-safety: Apply and Report are safe from any thread (the publisher
// calls both from its own).
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "stream/source_runner.h"
#include "upstream/message.h"

namespace edgevision::cli {

// A source as configured: the spec and the URL as shown.
stream::RunnerOptions ShownSource(stream::SourceSpec spec);

class SourceTwin {
 public:
  // `sources` must outlive this; `configured` are the sources it was started with.
  SourceTwin(stream::Sources* sources, std::vector<stream::RunnerOptions> configured);

  // Makes the running sources the configured ones overridden by `desired`.
  void Apply(const std::map<std::string, std::string>& desired);

  // Every source by name (its state), every refused entry (its error), and
  // nullopt for a name reported before that is gone.
  std::map<std::string, std::optional<upstream::ReportedSource>> Report() const;

 private:
  stream::Sources* const sources_;
  const std::vector<stream::RunnerOptions> configured_;
  mutable std::mutex mu_;
  std::set<std::string> from_twin_;                  // guarded by mu_: names whose source the twin set
  std::map<std::string, std::string> refused_;       // guarded by mu_: name -> why
  mutable std::set<std::string> reported_names_;     // guarded by mu_: every name reported so far
};

}  // namespace edgevision::cli
