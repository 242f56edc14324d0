#pragma once
// A backend-independent test suite for store::HistoryStore. A backend instantiates it with
//   INSTANTIATE_TEST_SUITE_P(Name, HistoryStoreSuite, ::testing::Values(HistoryBackend{...}));
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "store/history.hpp"

namespace ba::test {

struct HistoryBackend {
  std::string name;
  // Opens the store rooted at `dir`; opening the same dir twice gives two handles on the same data.
  std::function<std::unique_ptr<store::HistoryStore>(const std::filesystem::path& dir)> open;
};

inline std::string PrintToString(const HistoryBackend& b) { return b.name; }

class HistoryStoreSuite : public ::testing::TestWithParam<HistoryBackend> {
 protected:
  void SetUp() override;
  void TearDown() override;
  std::unique_ptr<store::HistoryStore> open() { return GetParam().open(dir_); }

  std::filesystem::path dir_;
};

}  // namespace ba::test
