#include "util/clock.hpp"

#include <mutex>
#include <random>

namespace ba {
namespace {

class RealClock final : public Clock {
 public:
  SteadyTime now() const override { return std::chrono::steady_clock::now(); }
  WallTime wall() const override { return std::chrono::system_clock::now(); }
};

class RealRandom final : public Random {
 public:
  RealRandom() : engine_(std::random_device{}()) {}
  double uniform() override {
    std::lock_guard lock(mu_);
    return std::uniform_real_distribution<double>(0.0, 1.0)(engine_);
  }
  std::uint64_t next_u64() override {
    std::lock_guard lock(mu_);
    return engine_();
  }

 private:
  std::mutex mu_;
  std::mt19937_64 engine_;
};

}  // namespace

Clock& system_clock() {
  static RealClock clock;
  return clock;
}

Random& system_random() {
  static RealRandom random;
  return random;
}

}  // namespace ba
