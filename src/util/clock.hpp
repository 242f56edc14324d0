#pragma once
// Time and randomness are injected so limiters, backoff and credential expiry are tested
// deterministically. Production code uses system_clock()/system_random().
#include <chrono>
#include <cstdint>
#include <string>

namespace ba {

using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SteadyTime now() const = 0;   // monotonic, for durations and deadlines
  virtual WallTime wall() const = 0;    // calendar time, for signing and expiry
};

class Random {
 public:
  virtual ~Random() = default;
  virtual double uniform() = 0;          // in [0, 1)
  virtual std::uint64_t next_u64() = 0;
};

// "2026-11-25T12:00:00.123Z" (UTC, millisecond precision), as logs and the API print times.
std::string iso8601_ms(WallTime t);

Clock& system_clock();
Random& system_random();  // thread-safe, seeded from the OS

// A clock that only moves when told to (tests).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(WallTime wall_start = WallTime{std::chrono::seconds{1'700'000'000}})
      : wall_start_(wall_start) {}
  SteadyTime now() const override { return SteadyTime{} + elapsed_; }
  WallTime wall() const override {
    return wall_start_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(elapsed_);
  }
  void advance(std::chrono::nanoseconds d) { elapsed_ += d; }

 private:
  WallTime wall_start_;
  std::chrono::nanoseconds elapsed_{0};
};

// A deterministic generator (tests and the simulator): splitmix64.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(std::uint64_t seed) : state_(seed) {}
  double uniform() override { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  std::uint64_t next_u64() override {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

}  // namespace ba
