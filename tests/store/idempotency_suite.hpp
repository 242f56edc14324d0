#pragma once
// A backend-independent test suite for store::IdempotencyStore. A backend instantiates it with
//   INSTANTIATE_TEST_SUITE_P(Name, IdempotencyStoreSuite, ::testing::Values(IdempotencyBackend{...}));
// Contract beyond store/idempotency.hpp, checked here for every backend:
//   - a record expires when now >= expires_at_ms (then claim replaces it);
//   - complete() on a key that is not in flight (never claimed, released, completed): ErrorKind::conflict;
//   - release() on a key that is not in flight: success, and a completed answer stays.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "store/idempotency.hpp"
#include "util/clock.hpp"

namespace ba::test {

struct IdempotencyBackend {
  std::string name;
  // Opens the store rooted at `dir` reading time from `clock`; opening the same dir twice gives two
  // handles on the same data. Handles may be used from several threads at once.
  std::function<std::unique_ptr<store::IdempotencyStore>(const std::filesystem::path& dir, Clock& clock)> open;
};

inline std::string PrintToString(const IdempotencyBackend& b) { return b.name; }

class IdempotencyStoreSuite : public ::testing::TestWithParam<IdempotencyBackend> {
 protected:
  void SetUp() override;
  void TearDown() override;
  std::unique_ptr<store::IdempotencyStore> open() { return GetParam().open(dir_, clock_); }

  std::filesystem::path dir_;
  ManualClock clock_;
};

}  // namespace ba::test
