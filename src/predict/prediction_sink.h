// PredictionSink: where every prediction goes, whoever asked for it — an
// HTTP request (http/prediction_routes.h) or a live source's frame
// (stream/source_runner.h). One object, shared by both, so that nothing that
// watches predictions can be forgotten by one of them:
//  - Outcome: every prediction that reached the model, OK or its error, with
//    the model that ran it (model delivery's probation after a swap watches
//    a new model's first predictions, camera frames included);
//  - Notify: every prediction that is published (an HTTP answer, a source's
//    event) to the observers: the metrics, the upstream outbox, the capture
//    store.
//
// Thread-safety: configured (AddObserver, SetOutcomeHook) while `serve` wires
// its parts, before any prediction; Outcome and Notify are then safe from any
// thread (they only read).
#pragma once

#include <functional>
#include <utility>
#include <vector>

#include "core/status.h"
#include "predict/classifier.h"
#include "predict/prediction_observer.h"

namespace edgevision::predict {

class PredictionSink {
 public:
  // Told the outcome of every prediction that reached the model. Quick.
  using OutcomeHook = std::function<void(const Classifier& model, const Status& outcome)>;

  void AddObserver(PredictionObserver* observer) { observers_.push_back(observer); }
  void SetOutcomeHook(OutcomeHook hook) { outcome_ = std::move(hook); }

  void Outcome(const Classifier& model, const Status& outcome) const {
    if (outcome_) outcome_(model, outcome);
  }
  // False when Notify would tell no one (a caller may skip building the record).
  bool has_observers() const { return !observers_.empty(); }
  void Notify(const PredictionRecord& record) const {
    for (PredictionObserver* observer : observers_) observer->OnPrediction(record);
  }

 private:
  std::vector<PredictionObserver*> observers_;
  OutcomeHook outcome_;
};

}  // namespace edgevision::predict
