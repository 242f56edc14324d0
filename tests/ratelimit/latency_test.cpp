// LatencyTracker: a ring of samples per (model, kind) answered as a nearest-rank percentile.
#include "ratelimit/latency.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace ba::ratelimit {
namespace {

using namespace std::chrono_literals;
using ns = std::chrono::nanoseconds;

TEST(LatencyTracker, AnswersZeroUntilMinSamples) {
  LatencyTracker t;
  for (int i = 0; i < 4; ++i) t.record("m", CallKind::unary, 2s);
  EXPECT_EQ(t.samples("m", CallKind::unary), 4u);
  EXPECT_EQ(t.expected("m", CallKind::unary), 0ns);
  t.record("m", CallKind::unary, 2s);
  EXPECT_EQ(t.expected("m", CallKind::unary), 2s);
  EXPECT_EQ(t.expected("other", CallKind::unary), 0ns);
}

TEST(LatencyTracker, P90IsTheNearestRank) {
  LatencyTracker t;
  for (int i = 10; i >= 1; --i) t.record("m", CallKind::unary, std::chrono::seconds{i});  // order does not matter
  EXPECT_EQ(t.expected("m", CallKind::unary), 9s);  // ceil(0.9 × 10) = 9th of 1..10 s
  for (int i = 11; i <= 20; ++i) t.record("m", CallKind::unary, std::chrono::seconds{i});
  EXPECT_EQ(t.expected("m", CallKind::unary), 18s);  // 18th of 20, not the 19th (0.9 × 20 is whole)
}

TEST(LatencyTracker, KeepsTheLastWindowSamples) {
  LatencyTracker t;  // window 64
  for (int i = 1; i <= 100; ++i) t.record("m", CallKind::unary, std::chrono::milliseconds{i});
  EXPECT_EQ(t.samples("m", CallKind::unary), 64u);
  // Kept: 37..100 ms; the 58th smallest (ceil(0.9 × 64)) is 94 ms.
  EXPECT_EQ(t.expected("m", CallKind::unary), 94ms);
  // Fast samples replace the slow ones, oldest first.
  for (int i = 0; i < 64; ++i) t.record("m", CallKind::unary, 10ms);
  EXPECT_EQ(t.expected("m", CallKind::unary), 10ms);
}

TEST(LatencyTracker, ModelsAndKindsAreSeparate) {
  LatencyTracker t({.window = 8, .min_samples = 2, .percentile = 0.5});
  t.record("a", CallKind::unary, 4s);
  t.record("a", CallKind::unary, 4s);
  t.record("a", CallKind::stream, 300ms);
  t.record("a", CallKind::stream, 300ms);
  t.record("b", CallKind::unary, 1s);
  EXPECT_EQ(t.expected("a", CallKind::unary), 4s);
  EXPECT_EQ(t.expected("a", CallKind::stream), 300ms);
  EXPECT_EQ(t.expected("b", CallKind::unary), 0ns);  // one sample, two needed
  EXPECT_EQ(t.expected("b", CallKind::stream), 0ns);
}

TEST(LatencyTracker, PercentileOfAFewValues) {
  std::vector<ns> none;
  EXPECT_EQ(percentile(none, 0.9), 0ns);
  std::vector<ns> four{4s, 1s, 3s, 2s};
  EXPECT_EQ(percentile(four, 0.5), 2s);
  EXPECT_EQ(percentile(four, 0.9), 4s);
  EXPECT_EQ(percentile(four, 0.0), 1s);  // at least the first rank
  EXPECT_EQ(percentile(four, 1.0), 4s);
}

TEST(LatencyTracker, ConcurrentRecordsAreAllCounted) {
  LatencyTracker t({.window = 1000, .min_samples = 5, .percentile = 0.9});
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&t] {
      for (int k = 0; k < 200; ++k) {
        t.record("m", CallKind::stream, 1ms);
        (void)t.expected("m", CallKind::stream);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(t.samples("m", CallKind::stream), 800u);
  EXPECT_EQ(t.expected("m", CallKind::stream), 1ms);
}

}  // namespace
}  // namespace ba::ratelimit
