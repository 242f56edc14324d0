#include "util/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <thread>

namespace ba::metrics {
namespace {

TEST(Metrics, CounterFamilyRendersHelpTypeAndSortedChildren) {
  Registry reg;
  auto& c = reg.counter("ba_retries_total", "Retries sent upstream", {"model"});
  c.labels({"b-model"}).inc();
  c.labels({"a-model"}).inc(2);
  c.labels({"b-model"}).inc();
  c.labels({"b-model"}).inc(-5);  // ignored
  EXPECT_EQ(reg.render(),
            "# HELP ba_retries_total Retries sent upstream\n"
            "# TYPE ba_retries_total counter\n"
            "ba_retries_total{model=\"a-model\"} 2\n"
            "ba_retries_total{model=\"b-model\"} 2\n");
  EXPECT_EQ(c.labels({"b-model"}).value(), 2);
}

TEST(Metrics, GaugeWithoutLabelsAndFractions) {
  Registry reg;
  auto& g = reg.gauge("ba_fill_rate", "Adaptive fill rate");
  g.labels().set(0.25);
  g.labels().inc(1);
  g.labels().dec(0.5);
  EXPECT_EQ(reg.render(),
            "# HELP ba_fill_rate Adaptive fill rate\n"
            "# TYPE ba_fill_rate gauge\n"
            "ba_fill_rate 0.75\n");
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  Registry reg;
  auto& h = reg.histogram("ba_wait_seconds", "Wait", {"model"}, {0.1, 1, 0.5});
  auto& m = h.labels({"m"});
  m.observe(0.05);
  m.observe(0.1);  // le is inclusive
  m.observe(0.7);
  m.observe(3);
  EXPECT_EQ(reg.render(),
            "# HELP ba_wait_seconds Wait\n"
            "# TYPE ba_wait_seconds histogram\n"
            "ba_wait_seconds_bucket{model=\"m\",le=\"0.1\"} 2\n"
            "ba_wait_seconds_bucket{model=\"m\",le=\"0.5\"} 2\n"
            "ba_wait_seconds_bucket{model=\"m\",le=\"1\"} 3\n"
            "ba_wait_seconds_bucket{model=\"m\",le=\"+Inf\"} 4\n"
            "ba_wait_seconds_sum{model=\"m\"} 3.85\n"
            "ba_wait_seconds_count{model=\"m\"} 4\n");
}

TEST(Metrics, HistogramWithoutLabelsPutsLeAlone) {
  Registry reg;
  reg.histogram("h", "x", {}, {1}).labels().observe(2);
  EXPECT_EQ(reg.render(),
            "# HELP h x\n# TYPE h histogram\n"
            "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 1\nh_sum 2\nh_count 1\n");
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  Registry reg;
  reg.counter("c_total", "line1\nback\\slash \"quoted\"", {"a", "b"}).labels({"x\"y", "p\\q\nr"}).inc();
  EXPECT_EQ(reg.render(),
            "# HELP c_total line1\\nback\\\\slash \"quoted\"\n"
            "# TYPE c_total counter\n"
            "c_total{a=\"x\\\"y\",b=\"p\\\\q\\nr\"} 1\n");
}

TEST(Metrics, FamiliesRenderInRegistrationOrder) {
  Registry reg;
  reg.gauge("z_gauge", "z").labels().set(1);
  reg.counter("a_total", "a").labels().inc();
  EXPECT_EQ(reg.render(), "# HELP z_gauge z\n# TYPE z_gauge gauge\nz_gauge 1\n# HELP a_total a\n# TYPE a_total counter\na_total 1\n");
}

TEST(Metrics, FormatValue) {
  EXPECT_EQ(format_value(3), "3");
  EXPECT_EQ(format_value(0.005), "0.005");
  EXPECT_EQ(format_value(-2.5), "-2.5");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
}

TEST(Metrics, ReRegistrationReturnsSameFamilyOrThrows) {
  Registry reg;
  auto& a = reg.counter("x_total", "x", {"model"});
  auto& b = reg.counter("x_total", "x", {"model"});
  EXPECT_EQ(&a, &b);
  EXPECT_THROW(reg.counter("x_total", "x", {"other"}), std::invalid_argument);
  EXPECT_THROW(reg.gauge("x_total", "x", {"model"}), std::invalid_argument);
  EXPECT_THROW(reg.counter("bad name", "x"), std::invalid_argument);
  EXPECT_THROW(reg.histogram("h", "x", {"le"}), std::invalid_argument);
  EXPECT_THROW(a.labels({"a", "b"}), std::invalid_argument);
}

TEST(Metrics, ConcurrentIncrementsAreNotLost) {
  Registry reg;
  auto& fam = reg.counter("n_total", "n", {"t"});
  auto& h = reg.histogram("h_seconds", "h", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        fam.labels({"same"}).inc();
        h.labels().observe(0.5);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(fam.labels({"same"}).value(), 40000);
  EXPECT_EQ(h.labels().snapshot().count, 40000u);
}

}  // namespace
}  // namespace ba::metrics
