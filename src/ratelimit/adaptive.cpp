#include "ratelimit/adaptive.hpp"

#include <algorithm>
#include <cmath>

namespace ba::ratelimit {
namespace {
constexpr double kScale = 0.4;
constexpr double kBeta = 0.7;
constexpr double kSmoothing = 0.8;
constexpr double kBucketSeconds = 0.5;
constexpr double kMaxAdjust = 2.0;

double zero_point(double w_max) { return std::cbrt(w_max * (1 - kBeta) / kScale); }
}  // namespace

double CubicRate::seconds(SteadyTime t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

CubicRate::CubicRate(SteadyTime start) {
  last_fail_ = seconds(start);
  last_bucket_ = std::floor(last_fail_ / kBucketSeconds) * kBucketSeconds;
  k_ = zero_point(w_max_);
}

double CubicRate::record(SteadyTime now) {
  double t = seconds(now);
  double bucket = std::floor(t / kBucketSeconds) * kBucketSeconds;
  count_ += 1;
  if (bucket > last_bucket_) {
    double current = count_ / (bucket - last_bucket_);
    measured_ = current * kSmoothing + measured_ * (1 - kSmoothing);
    count_ = 0;
    last_bucket_ = bucket;
  }
  return measured_;
}

void CubicRate::set_fill(double rate, double measured) {
  fill_rate_ = std::max(kMinFillRate, std::min(rate, kMaxAdjust * measured));
}

void CubicRate::on_success(SteadyTime now) {
  double measured = record(now);
  double dt = seconds(now) - last_fail_;
  double rate = kScale * std::pow(dt - k_, 3) + w_max_;
  set_fill(rate, measured);
}

void CubicRate::on_throttle(SteadyTime now) {
  double measured = record(now);
  double base = enabled_ ? std::min(measured, fill_rate_) : measured;
  w_max_ = base;
  k_ = zero_point(w_max_);
  last_fail_ = seconds(now);
  enabled_ = true;
  set_fill(base * kBeta, measured);
}

}  // namespace ba::ratelimit
