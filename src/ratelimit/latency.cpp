#include "ratelimit/latency.hpp"

#include <algorithm>
#include <cmath>

namespace ba::ratelimit {

LatencyTracker::LatencyTracker(Options options) : options_(options) {
  options_.window = std::max<std::size_t>(options_.window, 1);
  options_.min_samples = std::clamp<std::size_t>(options_.min_samples, 1, options_.window);
  options_.percentile = std::clamp(options_.percentile, 0.0, 1.0);
}

void LatencyTracker::record(std::string_view model, CallKind kind, std::chrono::nanoseconds sample) {
  if (sample < std::chrono::nanoseconds::zero()) sample = std::chrono::nanoseconds::zero();
  std::lock_guard lock(mu_);
  Rings& rings = rings_[static_cast<std::size_t>(kind)];
  auto it = rings.find(model);
  if (it == rings.end()) it = rings.emplace(std::string(model), Ring{}).first;
  Ring& ring = it->second;
  if (ring.samples.size() < options_.window) {
    ring.samples.push_back(sample);
  } else {
    ring.samples[ring.next] = sample;
  }
  ring.next = (ring.next + 1) % options_.window;
}

const LatencyTracker::Ring* LatencyTracker::find(std::string_view model, CallKind kind) const {
  const Rings& rings = rings_[static_cast<std::size_t>(kind)];
  auto it = rings.find(model);
  return it == rings.end() ? nullptr : &it->second;
}

std::chrono::nanoseconds LatencyTracker::expected(std::string_view model, CallKind kind) const {
  std::vector<std::chrono::nanoseconds> copy;
  {
    std::lock_guard lock(mu_);
    const Ring* ring = find(model, kind);
    if (!ring || ring->samples.size() < options_.min_samples) return std::chrono::nanoseconds::zero();
    copy = ring->samples;
  }
  return percentile(copy, options_.percentile);
}

std::size_t LatencyTracker::samples(std::string_view model, CallKind kind) const {
  std::lock_guard lock(mu_);
  const Ring* ring = find(model, kind);
  return ring ? ring->samples.size() : 0;
}

std::chrono::nanoseconds percentile(std::vector<std::chrono::nanoseconds>& samples, double p) {
  if (samples.empty()) return std::chrono::nanoseconds::zero();
  const auto n = samples.size();
  // Nearest rank: the ceil(p·n)-th smallest (1-based), at least the first. The epsilon keeps a product
  // that is whole in decimal (0.9 × 20) from rounding up a rank.
  auto rank = static_cast<std::size_t>(std::ceil(std::clamp(p, 0.0, 1.0) * static_cast<double>(n) - 1e-9));
  rank = std::clamp<std::size_t>(rank, 1, n);
  auto nth = samples.begin() + static_cast<std::ptrdiff_t>(rank - 1);
  std::nth_element(samples.begin(), nth, samples.end());
  return *nth;
}

}  // namespace ba::ratelimit
