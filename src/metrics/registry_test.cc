#include "metrics/registry.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace edgevision::metrics {
namespace {

TEST(Escape, LabelValuesEscapeBackslashQuoteAndNewline) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue("a\\b"), "a\\\\b");
  EXPECT_EQ(EscapeLabelValue("say \"hi\""), "say \\\"hi\\\"");
  EXPECT_EQ(EscapeLabelValue("two\nlines"), "two\\nlines");
  EXPECT_EQ(EscapeLabelValue("tab\tstays"), "tab\tstays");
}

TEST(Escape, HelpEscapesBackslashAndNewlineButNotQuotes) {
  EXPECT_EQ(EscapeHelp("a \"b\"\\c\nd"), "a \"b\"\\\\c\\nd");
}

TEST(FormatValue, ShortestRoundTripAndSpecials) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(0.005), "0.005");
  EXPECT_EQ(FormatValue(1e21), "1e+21");
  EXPECT_EQ(FormatValue(1.0 / 0.0), "+Inf");
  EXPECT_EQ(FormatValue(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(FormatValue(0.0 / 0.0), "NaN");
}

TEST(Names, Validity) {
  EXPECT_TRUE(ValidMetricName("edgevision_requests_total"));
  EXPECT_TRUE(ValidMetricName("a:b"));
  EXPECT_FALSE(ValidMetricName("9lives"));
  EXPECT_FALSE(ValidMetricName("has-dash"));
  EXPECT_FALSE(ValidMetricName(""));
  EXPECT_TRUE(ValidLabelName("route"));
  EXPECT_FALSE(ValidLabelName("a:b"));
  EXPECT_FALSE(ValidLabelName("__reserved"));
}

TEST(TextWriter, FamilyAndSamples) {
  TextWriter w;
  w.Family("x_total", "counter", "Line one\nline \\two");
  w.Sample("x_total", {{"route", "/a\"b"}, {"status", "200"}}, 3);
  w.Sample("x_total", 1.5);
  EXPECT_EQ(w.text(),
            "# HELP x_total Line one\\nline \\\\two\n"
            "# TYPE x_total counter\n"
            "x_total{route=\"/a\\\"b\",status=\"200\"} 3\n"
            "x_total 1.5\n");
}

TEST(Histogram, BucketsAreCumulativeAndLeIsInclusive) {
  Histogram h({0.1, 0.5, 1});
  for (double v : {0.05, 0.1, 0.3, 0.5, 0.7, 2.0}) h.Observe(v);
  Histogram::Snapshot s = h.Read();
  ASSERT_EQ(s.cumulative.size(), 4u);
  EXPECT_EQ(s.cumulative[0], 2u);  // 0.05, 0.1 (le="0.1" includes 0.1)
  EXPECT_EQ(s.cumulative[1], 4u);  // + 0.3, 0.5
  EXPECT_EQ(s.cumulative[2], 5u);  // + 0.7
  EXPECT_EQ(s.cumulative[3], 6u);  // + 2.0 in +Inf
  EXPECT_EQ(s.count(), 6u);
  EXPECT_DOUBLE_EQ(s.sum, 3.65);
}

TEST(Histogram, WrittenWithLeLabelLastAndSumCount) {
  Histogram h({0.5});
  h.Observe(0.25);
  TextWriter w;
  WriteHistogram(&w, "lat_seconds", {{"stage", "decode"}}, h.Read());
  EXPECT_EQ(w.text(),
            "lat_seconds_bucket{stage=\"decode\",le=\"0.5\"} 1\n"
            "lat_seconds_bucket{stage=\"decode\",le=\"+Inf\"} 1\n"
            "lat_seconds_sum{stage=\"decode\"} 0.25\n"
            "lat_seconds_count{stage=\"decode\"} 1\n");
}

TEST(Registry, RendersInstrumentsThenCollectors) {
  Registry r;
  Counter* c = r.AddCounter("a_total", "A.");
  Gauge* g = r.AddGauge("b", "B.");
  CounterFamily* f = r.AddCounterFamily("c_total", "C.", {"route"});
  r.AddCollector([](TextWriter* w) { w->Single("d", "gauge", "D.", 7); });
  c->Increment(2);
  g->Set(-1.5);
  f->With({"/y"})->Increment();
  f->With({"/x"})->Increment(3);
  EXPECT_EQ(r.Render(),
            "# HELP a_total A.\n# TYPE a_total counter\na_total 2\n"
            "# HELP b B.\n# TYPE b gauge\nb -1.5\n"
            "# HELP c_total C.\n# TYPE c_total counter\nc_total{route=\"/x\"} 3\nc_total{route=\"/y\"} 1\n"
            "# HELP d D.\n# TYPE d gauge\nd 7\n");
}

TEST(Family, SameLabelsSameChild) {
  CounterFamily f({"a", "b"});
  EXPECT_EQ(f.With({"1", "2"}), f.With({"1", "2"}));
  EXPECT_NE(f.With({"1", "2"}), f.With({"2", "1"}));
}

TEST(Family, SeriesBeyondTheCapShareOneOverflowChild) {
  CounterFamily f({"tag"});
  for (size_t i = 0; i < kMaxSeriesPerFamily; ++i) f.With({std::to_string(i)})->Increment();
  Counter* over1 = f.With({"one too many"});
  Counter* over2 = f.With({"and another"});
  EXPECT_EQ(over1, over2);
  over1->Increment();
  over2->Increment();
  size_t series = 0;
  uint64_t overflow = 0;
  f.ForEach([&](const Labels& labels, const Counter& c) {
    ++series;
    if (labels[0].second == "_overflow") overflow = c.value();
  });
  EXPECT_EQ(series, kMaxSeriesPerFamily + 1);
  EXPECT_EQ(overflow, 2u);
  // A combination seen before the cap keeps its own child.
  EXPECT_NE(f.With({"0"}), over1);
}

TEST(Family, ConcurrentUpdatesAreAllCounted) {
  CounterFamily counters({"status"});
  HistogramFamily hist({"stage"}, std::vector<double>{0.5});
  constexpr int kThreads = 4, kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        counters.With({i % 2 ? "200" : "500"})->Increment();
        hist.With({t % 2 ? "decode" : "inference"})->Observe(0.25);
      }
    });
  }
  for (auto& t : threads) t.join();
  uint64_t total = 0, observed = 0;
  counters.ForEach([&](const Labels&, const Counter& c) { total += c.value(); });
  hist.ForEach([&](const Labels&, const Histogram& h) { observed += h.Read().count(); });
  EXPECT_EQ(total, uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(observed, uint64_t{kThreads} * kPerThread);
}

}  // namespace
}  // namespace edgevision::metrics
