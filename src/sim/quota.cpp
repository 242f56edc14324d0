#include "sim/quota.hpp"

#include <algorithm>
#include <cmath>

namespace ba::sim {

const char* throttle_message(QuotaVerdict verdict) {
  switch (verdict) {
    case QuotaVerdict::too_many_requests: return "Too many requests, please wait before trying again.";
    case QuotaVerdict::too_many_tokens: return "Too many tokens, please wait before trying again.";
    case QuotaVerdict::too_many_tokens_per_day: return "Too many tokens per day, please wait before trying again.";
    case QuotaVerdict::admitted: break;
  }
  return "";
}

double QuotaModel::capacity(std::int64_t per_minute) const {
  return static_cast<double>(per_minute) * limits_.burst_seconds / 60.0;
}

void QuotaModel::refill(Bucket& b, std::int64_t per_minute, SteadyTime now) const {
  const double capacity = this->capacity(per_minute);
  if (!b.primed) {
    b.level = capacity;
    b.last = now;
    b.primed = true;
    return;
  }
  if (now > b.last) {
    const double secs = std::chrono::duration<double>(now - b.last).count();
    b.level = std::min(capacity, b.level + secs * static_cast<double>(per_minute) / 60.0);
    b.last = now;
  }
}

void QuotaModel::roll_day(ModelState& s) const {
  const auto day = std::chrono::duration_cast<std::chrono::days>(clock_.wall().time_since_epoch()).count();
  if (day != s.day) {
    s.day = day;
    s.used_today = 0;
  }
}

std::int64_t QuotaModel::charge(std::int64_t input, std::int64_t output) const {
  return input + static_cast<std::int64_t>(std::ceil(static_cast<double>(output) * limits_.burndown));
}

QuotaModel::Admission QuotaModel::admit(const std::string& model, std::int64_t input_tokens, std::int64_t max_tokens) {
  std::lock_guard lock(mu_);
  auto& s = models_[model];
  const auto now = clock_.now();
  const std::int64_t reserve = charge(input_tokens, max_tokens);
  if (limits_.tokens_per_day > 0) {
    roll_day(s);
    if (s.used_today + static_cast<double>(reserve) > static_cast<double>(limits_.tokens_per_day))
      return {QuotaVerdict::too_many_tokens_per_day, 0};
  }
  if (limits_.requests_per_minute > 0) {
    refill(s.requests, limits_.requests_per_minute, now);
    if (s.requests.level < 1.0) return {QuotaVerdict::too_many_requests, 0};
  }
  if (limits_.tokens_per_minute > 0) {
    refill(s.tokens, limits_.tokens_per_minute, now);
    if (s.tokens.level < static_cast<double>(reserve)) return {QuotaVerdict::too_many_tokens, 0};
  }
  if (limits_.requests_per_minute > 0) s.requests.level -= 1.0;
  if (limits_.tokens_per_minute > 0) s.tokens.level -= static_cast<double>(reserve);
  if (limits_.tokens_per_day > 0) s.used_today += static_cast<double>(reserve);
  return {QuotaVerdict::admitted, reserve};
}

void QuotaModel::settle(const std::string& model, std::int64_t reserved, std::int64_t input_tokens,
                        std::int64_t output_tokens) {
  std::lock_guard lock(mu_);
  auto& s = models_[model];
  const double refund = static_cast<double>(reserved - charge(input_tokens, output_tokens));
  if (limits_.tokens_per_minute > 0) {
    refill(s.tokens, limits_.tokens_per_minute, clock_.now());
    s.tokens.level = std::min(capacity(limits_.tokens_per_minute), s.tokens.level + refund);
  }
  if (limits_.tokens_per_day > 0) {
    roll_day(s);
    s.used_today = std::max(0.0, s.used_today - refund);
  }
}

double QuotaModel::tokens_available(const std::string& model) {
  std::lock_guard lock(mu_);
  if (limits_.tokens_per_minute <= 0) return 0;
  auto& s = models_[model];
  refill(s.tokens, limits_.tokens_per_minute, clock_.now());
  return s.tokens.level;
}

void QuotaModel::reset() {
  std::lock_guard lock(mu_);
  models_.clear();
}

}  // namespace ba::sim
