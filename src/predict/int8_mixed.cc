#include "predict/int8_mixed.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <utility>

#include "predict/int8_fallback.h"

namespace edgevision::predict {

namespace {

struct Score {
  int agree = 0;
  double max_diff = 0;
  double mean_diff = 0;
  double log_odds_error = 0;  // mean |log-odds difference| per tag
  std::vector<std::string> int8_compute_names;  // of the model measured
};

size_t ArgMax(const std::vector<float>& v) {
  return static_cast<size_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

// The int8 model with `float_nodes` kept float32, on inputs[which].
Result<Score> Measure(const graph::Graph& graph, const engine::Int8Calibration& calibration,
                      std::vector<std::string> float_nodes, const std::vector<std::vector<float>>& inputs,
                      const std::vector<std::vector<float>>& fp32, const std::vector<size_t>& which,
                      int* trials) {
  auto trial = std::make_shared<engine::Int8Calibration>(calibration);
  trial->float_nodes = std::move(float_nodes);
  const std::unique_ptr<engine::Backend> backend = engine::MakeInt8Backend(trial);
  EV_ASSIGN_OR_RETURN(std::unique_ptr<engine::CompiledModel> model, backend->Compile(graph, {}));
  ++*trials;
  EV_ASSIGN_OR_RETURN(std::unique_ptr<engine::Session> session, model->CreateSession());
  Score score;
  if (const engine::Int8PlanStats* stats = engine::GetInt8PlanStats(*model)) {
    score.int8_compute_names = stats->int8_compute_names;
  }
  std::vector<float> out(model->output_size());
  double sum = 0, log_sum = 0;
  size_t count = 0;
  for (size_t i : which) {
    EV_RETURN_IF_ERROR(session->Run(inputs[i], out));
    if (ArgMax(out) == ArgMax(fp32[i])) ++score.agree;
    for (size_t k = 0; k < out.size(); ++k) {
      const double d = std::fabs(static_cast<double>(out[k]) - fp32[i][k]);
      score.max_diff = std::max(score.max_diff, d);
      sum += d;
      log_sum += std::fabs(LogOdds(out[k]) - LogOdds(fp32[i][k]));
      ++count;
    }
  }
  score.mean_diff = count ? sum / static_cast<double>(count) : 0;
  score.log_odds_error = count ? log_sum / static_cast<double>(count) : 0;
  return score;
}

bool Meets(const Score& s, size_t inputs) {
  return static_cast<size_t>(s.agree) == inputs && s.max_diff <= kMixedMaxProbDiff;
}

// Better: more top-1 agreement, then a largest difference kMixedMinGain lower.
bool Better(const Score& a, const Score& b) {
  return a.agree != b.agree ? a.agree > b.agree : a.max_diff < b.max_diff * (1.0 - kMixedMinGain);
}

// Prepends `leading` to each set measured.
std::vector<std::string> With(const std::vector<std::string>& leading, std::vector<std::string> nodes) {
  nodes.insert(nodes.begin(), leading.begin(), leading.end());
  return nodes;
}

// The leading prefix (module comment); fills result's leading_* fields.
Result<std::vector<std::string>> ChooseLeading(const graph::Graph& graph, const engine::Int8Calibration& calibration,
                                               const std::vector<std::vector<float>>& inputs,
                                               const std::vector<std::vector<float>>& fp32,
                                               const std::vector<size_t>& all, const Score& all_int8,
                                               Int8MixedPrecision* result) {
  result->all_int8_error = all_int8.log_odds_error;
  result->leading_error = all_int8.log_odds_error;
  const uint64_t total = graph::CountMultiplyAdds(graph);
  if (total == 0) return std::vector<std::string>{};
  // Each candidate: the prefix, its multiply-adds (counted once, as the
  // prefix grows) and its score.
  struct Candidate {
    std::vector<std::string> nodes;
    uint64_t macs = 0;
    Score score;
  };
  std::vector<Candidate> tried;
  std::vector<std::string> prefix;
  uint64_t macs = 0;
  for (const graph::Node& node : graph.nodes) {
    if (std::find(all_int8.int8_compute_names.begin(), all_int8.int8_compute_names.end(), node.name) ==
        all_int8.int8_compute_names.end()) {
      continue;
    }
    macs += graph::NodeMultiplyAdds(graph, node);
    if (static_cast<double>(macs) > LeadingBudget() * static_cast<double>(total)) break;
    prefix.push_back(node.name);
    EV_ASSIGN_OR_RETURN(Score s, Measure(graph, calibration, prefix, inputs, fp32, all, &result->trials));
    tried.push_back({prefix, macs, std::move(s)});
  }
  double best = all_int8.log_odds_error;
  for (const Candidate& c : tried) best = std::min(best, c.score.log_odds_error);
  const double within = best * (1.0 + result->leading_tolerance);
  if (all_int8.log_odds_error <= within) return std::vector<std::string>{};
  for (const Candidate& c : tried) {
    if (c.score.log_odds_error <= within) {
      result->leading_nodes = static_cast<int>(c.nodes.size());
      result->leading_error = c.score.log_odds_error;
      result->leading_share = static_cast<double>(c.macs) / static_cast<double>(total);
      return c.nodes;
    }
  }
  return std::vector<std::string>{};
}

}  // namespace

double LogOdds(double p) {
  p = std::clamp(p, kLogOddsFloor, kLogOddsCeiling);
  return std::log(p / (1.0 - p));
}

double LeadingTolerance(const std::vector<std::vector<float>>& fp32_outputs) {
  const auto near_ties = std::count_if(fp32_outputs.begin(), fp32_outputs.end(),
                                       [](const std::vector<float>& p) { return IsNearTie(p); });
  return near_ties >= kLeadingNearTieInputs ? kLeadingToleranceWithNearTies : kLeadingTolerance;
}

double LeadingBudget() {
  return engine::Int8FloatConvolutionsOnInt16() ? kMaxLeadingInt16Share : kMaxLeadingFloatShare;
}

Result<Int8MixedPrecision> ChooseFloatNodes(const graph::Graph& graph, const engine::Int8Calibration& calibration,
                                        const std::vector<std::vector<float>>& inputs,
                                        const std::vector<std::vector<float>>& fp32_outputs) {
  Int8MixedPrecision result;
  result.inputs = static_cast<int>(inputs.size());
  result.leading_tolerance = LeadingTolerance(fp32_outputs);
  std::vector<size_t> all(inputs.size());
  std::iota(all.begin(), all.end(), 0);
  EV_ASSIGN_OR_RETURN(Score best, Measure(graph, calibration, {}, inputs, fp32_outputs, all, &result.trials));
  result.all_int8_max_abs_diff = best.max_diff;
  EV_ASSIGN_OR_RETURN(const std::vector<std::string> leading,
                      ChooseLeading(graph, calibration, inputs, fp32_outputs, all, best, &result));
  if (!leading.empty()) {
    EV_ASSIGN_OR_RETURN(best, Measure(graph, calibration, leading, inputs, fp32_outputs, all, &result.trials));
  }
  std::vector<std::string> best_nodes = leading;
  if (!Meets(best, all.size())) {
    // Sensitivity of each int8 compute node, on an evenly spaced subset.
    std::vector<size_t> subset;
    const size_t n = std::min(kSensitivityInputs, inputs.size());
    for (size_t k = 0; k < n; ++k) subset.push_back(k * inputs.size() / n);
    std::vector<std::pair<double, std::string>> sensitivity;
    for (const std::string& node : best.int8_compute_names) {
      if (std::find(leading.begin(), leading.end(), node) != leading.end()) continue;
      EV_ASSIGN_OR_RETURN(Score s, Measure(graph, calibration, With(leading, {node}), inputs, fp32_outputs, subset,
                                           &result.trials));
      sensitivity.emplace_back(s.mean_diff, node);
    }
    std::stable_sort(sensitivity.begin(), sensitivity.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::string> nodes;
    size_t without_gain = 0;
    for (size_t k = 0; k < std::min(kMaxFloatNodes, sensitivity.size()) && without_gain < kMixedPatience; ++k) {
      nodes.push_back(sensitivity[k].second);
      EV_ASSIGN_OR_RETURN(Score s, Measure(graph, calibration, With(leading, nodes), inputs, fp32_outputs, all,
                                           &result.trials));
      if (Better(s, best)) {
        best = std::move(s);
        best_nodes = With(leading, nodes);
        without_gain = 0;
      } else {
        ++without_gain;
      }
      if (Meets(best, all.size())) break;
    }
  }
  result.float_nodes = std::move(best_nodes);
  result.bar_met = Meets(best, all.size());
  result.top1_agree = best.agree;
  result.max_abs_diff = best.max_diff;
  return result;
}

}  // namespace edgevision::predict
