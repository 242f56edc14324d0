#pragma once
// The SDKs' adaptive retry mode as a pure, time-injected calculator (bedrock-protocol.md §7, botocore
// adaptive): a CUBIC send-rate controller that is off until the first throttle. Rates are requests/s.
//   measured rate: responses counted in 0.5 s buckets, smoothed 0.8·current + 0.2·previous
//   on success:    rate = 0.4·(t − last_throttle − K)^3 + W_max
//   on throttle:   W_max = measured (once enabled: min(measured, fill_rate)); K = cbrt(W_max·0.3/0.4);
//                  rate = 0.7·W_max; enabled = true
//   then:          fill_rate = max(0.5, min(rate, 2·measured))
// How it combines with the budget: Budget keeps, per key, an extra request bucket whose refill rate is
// fill_rate() and whose capacity is max(1, fill_rate()); admission consults it only once enabled().
#include "util/clock.hpp"

namespace ba::ratelimit {

class CubicRate {
 public:
  static constexpr double kMinFillRate = 0.5;

  explicit CubicRate(SteadyTime start);

  void on_success(SteadyTime now);
  void on_throttle(SteadyTime now);

  bool enabled() const { return enabled_; }
  double fill_rate() const { return fill_rate_; }   // what the send bucket refills at (req/s)
  double current_rate() const { return fill_rate_; }
  double measured_rate() const { return measured_; }
  double w_max() const { return w_max_; }

 private:
  double record(SteadyTime now);  // one response; returns the smoothed measured rate
  void set_fill(double rate, double measured);
  static double seconds(SteadyTime t);

  bool enabled_ = false;
  double fill_rate_ = kMinFillRate;
  double w_max_ = kMinFillRate;
  double k_ = 0;
  double last_fail_ = 0;
  double measured_ = 0;
  double last_bucket_ = 0;
  double count_ = 0;
};

}  // namespace ba::ratelimit
