// CapturePolicy: which predictions the capture store keeps, so a busy line
// does not fill the card. Decided on the request thread: pure and cheap.
//
//   none                keep nothing (the default)
//   all                 keep every prediction
//   uncertain:<p>       keep when the top probability is below p (0 < p <= 1)
//   sample:<fraction>   keep a random fraction (0 < fraction <= 1)
// plus an optional tag filter: keep only when the top predicted tag is one of
// the listed tags (applied together with the mode).
//
// Thread-safety: an immutable value.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "core/status.h"

namespace edgevision::store {

struct CapturePolicy {
  enum class Mode { kNone, kAll, kUncertain, kSample };

  Mode mode = Mode::kNone;
  double threshold = 0;        // kUncertain
  double fraction = 0;         // kSample
  std::set<std::string> tags;  // empty: any tag
  // A top-probability window applied on top of the mode (the module twin's
  // capture.minProbability / maxProbability): captured only when
  // min_probability <= top and (top < max_probability or max_probability >= 1).
  double min_probability = 0;
  double max_probability = 1;

  // Parses the --capture value and the --capture-tags list. Errors:
  // InvalidArgument naming the value and what is accepted.
  static Result<CapturePolicy> Parse(const std::string& spec,
                                     const std::vector<std::string>& tags = {});

  bool enabled() const { return mode != Mode::kNone; }

  // `top_tag`/`top_probability` of the prediction ("" / 0 when it has none);
  // `random01` a uniform draw in [0, 1) (only kSample uses it).
  bool ShouldCapture(const std::string& top_tag, double top_probability, double random01) const;

  // The spec it was parsed from, normalised ("uncertain:0.8 tags=Apple,Banana").
  std::string ToString() const;
};

}  // namespace edgevision::store
