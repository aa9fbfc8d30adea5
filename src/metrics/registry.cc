#include "metrics/registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace edgevision::metrics {

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

namespace {

bool NameChar(char c, bool first, bool colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') return true;
  if (colon && c == ':') return true;
  return !first && c >= '0' && c <= '9';
}

bool ValidName(std::string_view name, bool colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!NameChar(name[i], i == 0, colon)) return false;
  }
  return true;
}

}  // namespace

bool ValidMetricName(std::string_view name) { return ValidName(name, true); }
bool ValidLabelName(std::string_view name) { return ValidName(name, false) && !name.starts_with("__"); }

void TextWriter::Family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += EscapeHelp(help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void TextWriter::Sample(std::string_view name, const Labels& labels, double value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i) out_ += ',';
      out_ += labels[i].first;
      out_ += "=\"";
      out_ += EscapeLabelValue(labels[i].second);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += FormatValue(value);
  out_ += '\n';
}

void TextWriter::Single(std::string_view name, std::string_view type, std::string_view help, double value,
                        const Labels& labels) {
  Family(name, type, help);
  Sample(name, labels, value);
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  // The first bucket whose upper bound is >= value ("le").
  const size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> ProbabilityBuckets() { return {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1}; }

void WriteHistogram(TextWriter* out, std::string_view name, const Labels& labels, const Histogram::Snapshot& h) {
  const std::string bucket = std::string(name) + "_bucket";
  Labels with_le = labels;
  with_le.emplace_back("le", "");
  for (size_t i = 0; i < h.cumulative.size(); ++i) {
    with_le.back().second = i < h.bounds.size() ? FormatValue(h.bounds[i]) : "+Inf";
    out->Sample(bucket, with_le, static_cast<double>(h.cumulative[i]));
  }
  out->Sample(std::string(name) + "_sum", labels, h.sum);
  out->Sample(std::string(name) + "_count", labels, static_cast<double>(h.count()));
}

Registry::Entry* Registry::NewEntry(std::string name, std::string help) {
  entries_.push_back(std::make_unique<Entry>());
  entries_.back()->name = std::move(name);
  entries_.back()->help = std::move(help);
  return entries_.back().get();
}

Counter* Registry::AddCounter(std::string name, std::string help) {
  Entry* e = NewEntry(std::move(name), std::move(help));
  e->counter = std::make_unique<Counter>();
  return e->counter.get();
}

CounterFamily* Registry::AddCounterFamily(std::string name, std::string help, std::vector<std::string> label_names) {
  Entry* e = NewEntry(std::move(name), std::move(help));
  e->counters = std::make_unique<CounterFamily>(std::move(label_names));
  return e->counters.get();
}

Gauge* Registry::AddGauge(std::string name, std::string help) {
  Entry* e = NewEntry(std::move(name), std::move(help));
  e->gauge = std::make_unique<Gauge>();
  return e->gauge.get();
}

HistogramFamily* Registry::AddHistogramFamily(std::string name, std::string help,
                                              std::vector<std::string> label_names, std::vector<double> bounds) {
  Entry* e = NewEntry(std::move(name), std::move(help));
  e->histograms = std::make_unique<HistogramFamily>(std::move(label_names), std::move(bounds));
  return e->histograms.get();
}

void Registry::AddCollector(Collector collector) { collectors_.push_back(std::move(collector)); }

std::string Registry::Render() const {
  TextWriter out;
  for (const auto& e : entries_) {
    if (e->counter) {
      out.Single(e->name, "counter", e->help, static_cast<double>(e->counter->value()));
    } else if (e->gauge) {
      out.Single(e->name, "gauge", e->help, e->gauge->value());
    } else if (e->counters) {
      out.Family(e->name, "counter", e->help);
      e->counters->ForEach(
          [&](const Labels& labels, const Counter& c) { out.Sample(e->name, labels, static_cast<double>(c.value())); });
    } else if (e->histograms) {
      out.Family(e->name, "histogram", e->help);
      e->histograms->ForEach(
          [&](const Labels& labels, const Histogram& h) { WriteHistogram(&out, e->name, labels, h.Read()); });
    }
  }
  for (const Collector& c : collectors_) c(&out);
  return out.Take();
}

}  // namespace edgevision::metrics
