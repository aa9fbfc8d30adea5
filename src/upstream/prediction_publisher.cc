#include "upstream/prediction_publisher.h"

namespace edgevision::upstream {

PredictionInput ToPredictionInput(const predict::PredictionRecord& record, bool captured) {
  PredictionInput input;
  input.id = record.id;
  input.created = record.created;
  input.route = record.route;
  input.project = record.project;
  input.iteration = record.iteration;
  input.captured = captured;
  if (record.model) {
    input.model_iteration_id = record.model->iteration_id;
    input.model_sha1 = record.model->model_sha1;
  }
  if (record.result) {
    for (const predict::TagScore& score : record.result->scores) {
      // As the HTTP response: predict.py's rounding, near-zero tags dropped.
      const double p = predict::RoundLikeReference(score.probability);
      if (p <= 1e-8) continue;
      input.predictions.push_back({score.tag, p});
    }
  }
  if (record.detections) {
    // As the HTTP response (DetectionJson): every box, rounded to 8 decimals.
    using detect::RoundLikePython;
    input.detections.emplace();
    for (const detect::Detection& d : *record.detections) {
      input.detections->push_back(
          {d.tag,
           d.tag_index,
           RoundLikePython(d.probability),
           {RoundLikePython(d.box.left), RoundLikePython(d.box.top), RoundLikePython(d.box.width),
            RoundLikePython(d.box.height)}});
    }
  }
  return input;
}

ReportedModel ToReportedModel(const model::ModelInfo& info) {
  ReportedModel m;
  m.file = info.model_file;
  m.format = info.format;
  m.generation = info.generation;
  m.iteration_id = info.iteration_id;
  m.sha1 = info.model_sha1;
  m.labels = info.labels;
  return m;
}

void UpstreamObserver::OnPrediction(const predict::PredictionRecord& record) {
  if (!record.result && !record.detections) return;
  const bool captured = captured_ && !record.nostore && captured_(record);
  publisher_->Enqueue(ToPredictionInput(record, captured));
}

}  // namespace edgevision::upstream
