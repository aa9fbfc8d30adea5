// UpstreamObserver: the publisher as a predict::PredictionObserver. It turns
// each successful prediction into a PredictionInput (probabilities rounded
// and filtered exactly as the HTTP response shows them) and enqueues it.
//
// Thread-safety: OnPrediction is safe from any number of request threads.
#pragma once

#include <functional>
#include <optional>

#include "model/model.h"
#include "predict/prediction_observer.h"
#include "upstream/message.h"
#include "upstream/publisher.h"

namespace edgevision::upstream {

// The message's view of a prediction record.
PredictionInput ToPredictionInput(const predict::PredictionRecord& record, bool captured);

// The reported-properties view of a loaded model.
ReportedModel ToReportedModel(const model::ModelInfo& info);

class UpstreamObserver : public predict::PredictionObserver {
 public:
  // `captured` (optional) says whether the capture store kept the record's
  // image; then the message carries captureId = the prediction id.
  explicit UpstreamObserver(Publisher* publisher,
                            std::function<bool(const predict::PredictionRecord&)> captured = {})
      : publisher_(publisher), captured_(std::move(captured)) {}

  // Sets the capture predicate after construction (the capture store is
  // wired after the publisher). Call before requests arrive: not synchronised.
  void SetCaptured(std::function<bool(const predict::PredictionRecord&)> captured) {
    captured_ = std::move(captured);
  }

  void OnPrediction(const predict::PredictionRecord& record) override;

 private:
  Publisher* publisher_;
  std::function<bool(const predict::PredictionRecord&)> captured_;
};

}  // namespace edgevision::upstream
