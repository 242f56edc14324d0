#pragma once
// Bedrock's on-demand quotas as the simulator models them (independent of src/ratelimit, so the
// client-side limiter is checked against a separate implementation).
//
// Per model id, two token buckets refilled continuously at the quota's rate (quota/60 per second):
// requests (RPM) and tokens (TPM), plus an optional daily token cap counted per UTC day. A bucket holds
// `burst_seconds` of its rate (capacity = quota x burst_seconds / 60; default 60 s = one minute's quota;
// Bedrock's real buckets hold less, e.g. 10 s) and starts full.
// Token charging follows AWS's "token burndown" rule: at the start of a request Bedrock reserves
// input + max_tokens x burndown; at the end the charge is settled to input + output x burndown and the
// difference is given back. A request whose reservation does not fit is throttled and charges nothing.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "util/clock.hpp"

namespace ba::sim {

struct QuotaLimits {
  std::int64_t requests_per_minute = 0;  // 0: no limit
  std::int64_t tokens_per_minute = 0;    // 0: no limit
  std::int64_t tokens_per_day = 0;       // 0: no limit
  double burndown = 1.0;                 // output-token multiplier (5 for Claude 4-class models on AWS)
  double burst_seconds = 60;             // bucket capacity in seconds of the rate (RPM and TPM); > 0
};

enum class QuotaVerdict { admitted, too_many_requests, too_many_tokens, too_many_tokens_per_day };

// Bedrock's message for a verdict ("Too many requests, please wait before trying again." ...).
const char* throttle_message(QuotaVerdict verdict);

class QuotaModel {
 public:
  QuotaModel(QuotaLimits limits, const Clock& clock) : limits_(limits), clock_(clock) {}

  struct Admission {
    QuotaVerdict verdict = QuotaVerdict::admitted;
    std::int64_t reserved = 0;  // tokens held until settle()
  };
  // Charges one request and reserves input + max_tokens x burndown against `model`'s buckets.
  Admission admit(const std::string& model, std::int64_t input_tokens, std::int64_t max_tokens);
  // Settles an admitted request: the reservation is replaced by input + output x burndown.
  void settle(const std::string& model, std::int64_t reserved, std::int64_t input_tokens, std::int64_t output_tokens);

  // Tokens currently available in the per-minute token bucket (tests, /sim/stats).
  double tokens_available(const std::string& model);
  void reset();

 private:
  struct Bucket {
    double level = 0;
    SteadyTime last{};
    bool primed = false;
  };
  struct ModelState {
    Bucket requests;
    Bucket tokens;
    std::int64_t day = -1;  // UTC day number of `used_today`
    double used_today = 0;
  };
  // Capacities of the per-minute buckets: quota x burst_seconds / 60.
  double capacity(std::int64_t per_minute) const;
  void refill(Bucket& b, std::int64_t per_minute, SteadyTime now) const;
  void roll_day(ModelState& s) const;
  std::int64_t charge(std::int64_t input, std::int64_t output) const;

  QuotaLimits limits_;
  const Clock& clock_;
  std::mutex mu_;
  std::map<std::string, ModelState> models_;
};

}  // namespace ba::sim
