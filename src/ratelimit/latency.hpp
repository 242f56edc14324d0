#pragma once
// What a model has recently needed to answer, per (model id, call kind): the last `window` samples in a
// ring, answered as a high percentile once there are `min_samples` of them (0 before: "unknown", which
// changes nothing for the caller). Unary samples are the duration of a successful call; stream samples
// are the time from send to the first delta (time to first token). Pure: durations are passed in.
// Thread-safe (one mutex), so one tracker may serve every request of a process.
#include <array>
#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace ba::ratelimit {

enum class CallKind { unary, stream };

class LatencyTracker {
 public:
  struct Options {
    std::size_t window = 64;      // samples kept per key (the oldest is overwritten)
    std::size_t min_samples = 5;  // fewer than this: expected() answers 0
    double percentile = 0.9;      // nearest rank over the samples kept
  };

  LatencyTracker() : LatencyTracker(Options{}) {}
  explicit LatencyTracker(Options options);

  void record(std::string_view model, CallKind kind, std::chrono::nanoseconds sample);
  // The percentile of the samples kept, or 0 while there are fewer than min_samples.
  std::chrono::nanoseconds expected(std::string_view model, CallKind kind) const;
  std::size_t samples(std::string_view model, CallKind kind) const;
  const Options& options() const { return options_; }

 private:
  struct Ring {
    std::vector<std::chrono::nanoseconds> samples;  // grows to window, then overwritten at next
    std::size_t next = 0;
  };
  using Rings = std::map<std::string, Ring, std::less<>>;

  const Ring* find(std::string_view model, CallKind kind) const;

  Options options_;
  mutable std::mutex mu_;
  std::array<Rings, 2> rings_;  // indexed by CallKind
};

// The nearest-rank percentile (p in (0, 1]) of samples: the smallest value with at least p of the
// samples at or below it. 0 for no samples. Reorders `samples`.
std::chrono::nanoseconds percentile(std::vector<std::chrono::nanoseconds>& samples, double p);

}  // namespace ba::ratelimit
