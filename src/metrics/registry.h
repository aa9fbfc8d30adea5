// Metrics in the Prometheus text exposition format (version 0.0.4), written
// by hand: Debian ships no C++ client library.
//
// Two kinds of metric live in a Registry:
//  - instruments the request path updates (Counter, Gauge, Histogram and
//    their labelled families): lock-free atomics; a family finds an existing
//    child under a shared lock and takes the exclusive lock only the first
//    time a label combination is seen;
//  - collectors: functions called at scrape time that read state a
//    component already keeps (server, reload, store, upstream statistics)
//    and write it, so nothing is counted twice.
//
// Names follow the Prometheus conventions (docs/operations.md): snake_case,
// base units (`_seconds`, `_bytes`), `_total` on counters. Label values are
// escaped here (backslash, double quote, newline); HELP text too.
//
// Thread-safety: register instruments and collectors before serving (not
// thread-safe); after that every method is safe from any thread. Render
// calls the collectors on the scraping thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edgevision::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Most label combinations one family keeps. Beyond it, observations go to
// one child whose label values are all "_overflow", so a bug or a hostile
// input can never grow memory or a scrape without bound.
inline constexpr size_t kMaxSeriesPerFamily = 1000;

// Writes the exposition text. Call Family once per metric family, then its
// samples (a family's samples must follow it without another family in
// between).
class TextWriter {
 public:
  // `type`: "counter", "gauge", "histogram", "untyped". `name` is the
  // family's name (a counter's includes `_total`).
  void Family(std::string_view name, std::string_view type, std::string_view help);
  // One sample line. `name` is the full sample name (e.g. with `_bucket`).
  void Sample(std::string_view name, const Labels& labels, double value);
  void Sample(std::string_view name, double value) { Sample(name, {}, value); }
  // A family with one sample, the common case.
  void Single(std::string_view name, std::string_view type, std::string_view help, double value,
              const Labels& labels = {});

  const std::string& text() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Escapes a label value: \ -> \\, " -> \", newline -> \n.
std::string EscapeLabelValue(std::string_view value);
// Escapes HELP text: \ -> \\, newline -> \n.
std::string EscapeHelp(std::string_view help);
// A sample value as Prometheus parses it: shortest round-trip decimal,
// "+Inf", "-Inf", "NaN".
std::string FormatValue(double value);
// Whether `name` is a valid metric or label name ([a-zA-Z_:][a-zA-Z0-9_:]*;
// label names may not contain ':').
bool ValidMetricName(std::string_view name);
bool ValidLabelName(std::string_view name);

// A monotonically increasing count.
class Counter {
 public:
  void Increment(uint64_t by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double by) { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Counts observations into buckets with fixed upper bounds.
class Histogram {
 public:
  // `bounds`: strictly increasing, finite upper bounds; +Inf is implicit.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;          // upper bounds, without +Inf
    std::vector<uint64_t> cumulative;    // one per bound, then +Inf (= count)
    double sum = 0;
    uint64_t count() const { return cumulative.empty() ? 0 : cumulative.back(); }
  };
  Snapshot Read() const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket, not cumulative; last = +Inf
  std::atomic<double> sum_{0};
};

// Bucket bounds for latencies in seconds: 1 ms to 10 s.
std::vector<double> LatencyBuckets();
// Bucket bounds for probabilities: 0.1, 0.2, ... 1.0.
std::vector<double> ProbabilityBuckets();

// A metric with labels: one child per combination of label values.
template <typename T>
class Family {
 public:
  template <typename... Args>
  Family(std::vector<std::string> label_names, Args... child_args)
      : label_names_(std::move(label_names)), make_([child_args...] { return std::make_unique<T>(child_args...); }) {}

  // The child for these label values (one per label name, in order).
  T* With(const std::vector<std::string>& values) {
    {
      std::shared_lock<std::shared_mutex> lock(mu_);
      if (auto it = children_.find(values); it != children_.end()) return it->second.get();
    }
    std::unique_lock<std::shared_mutex> lock(mu_);
    if (auto it = children_.find(values); it != children_.end()) return it->second.get();
    if (children_.size() >= kMaxSeriesPerFamily) {
      std::vector<std::string> overflow(label_names_.size(), "_overflow");
      auto [it, inserted] = children_.try_emplace(std::move(overflow), nullptr);
      if (inserted) it->second = make_();
      return it->second.get();
    }
    return children_.emplace(values, make_()).first->second.get();
  }

  const std::vector<std::string>& label_names() const { return label_names_; }

  // Calls `f(labels, child)` for every child, in label order.
  void ForEach(const std::function<void(const Labels&, const T&)>& f) const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    for (const auto& [values, child] : children_) {
      Labels labels;
      for (size_t i = 0; i < label_names_.size() && i < values.size(); ++i) labels.emplace_back(label_names_[i], values[i]);
      f(labels, *child);
    }
  }

 private:
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<T>()> make_;
  mutable std::shared_mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;  // guarded by mu_
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// Writes a histogram's _bucket, _sum and _count samples (no family header).
void WriteHistogram(TextWriter* out, std::string_view name, const Labels& labels, const Histogram::Snapshot& h);

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Instruments owned by the registry; the pointers live as long as it.
  // `name` as exposed (a counter's ends in `_total`).
  Counter* AddCounter(std::string name, std::string help);
  CounterFamily* AddCounterFamily(std::string name, std::string help, std::vector<std::string> label_names);
  Gauge* AddGauge(std::string name, std::string help);
  HistogramFamily* AddHistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                                      std::vector<double> bounds);

  // A function that writes whole families at scrape time.
  using Collector = std::function<void(TextWriter*)>;
  void AddCollector(Collector collector);

  // The exposition text: instruments in registration order, then collectors.
  std::string Render() const;

 private:
  struct Entry {
    std::string name, help;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<CounterFamily> counters;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<HistogramFamily> histograms;
  };
  Entry* NewEntry(std::string name, std::string help);

  std::vector<std::unique_ptr<Entry>> entries_;
  std::vector<Collector> collectors_;
};

// The Content-Type of the exposition text.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace edgevision::metrics
