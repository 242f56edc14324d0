#pragma once
// A backend-independent test suite for store::FileStore. A backend instantiates it with
//   INSTANTIATE_TEST_SUITE_P(Name, FileStoreSuite, ::testing::Values(FileBackend{...}));
//
// What every store must do (besides the obvious round trips):
// - another owner's file is not_found (head/read/get/remove), never listed;
// - invalid names, content types and ids are invalid_input (see store/files.hpp for the rules);
// - content over max_file_bytes() is too_large (exactly the limit is accepted);
// - list(): limit outside 1..1000 or a next_token the store did not make (e.g. "../x") is invalid_input;
//   pages in a stable order, every file exactly once;
// - get(): on_info before the first chunk; a sink returning false ends it with cancelled;
// - blobs: put overwrites, get of an absent key is not_found, remove of an absent key is OK, keys with
//   "..", a leading '/', empty segments or other characters are invalid_input; blobs never appear in list();
// - presign_*: invalid_input if the backend cannot presign (FileBackend::presigns = false), else a URL.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "store/files.hpp"

namespace ba::test {

struct FileBackend {
  std::string name;
  // Opens the store rooted at `dir` (a fresh temporary folder per test; remote backends may use it as
  // a unique prefix) with the given size limit; opening the same dir twice gives two handles on the
  // same data.
  std::function<std::unique_ptr<store::FileStore>(const std::filesystem::path& dir, std::uint64_t max_file_bytes)> open;
  bool presigns = false;
};

inline std::string PrintToString(const FileBackend& b) { return b.name; }

class FileStoreSuite : public ::testing::TestWithParam<FileBackend> {
 protected:
  static constexpr std::uint64_t kMaxBytes = 256 * 1024;
  void SetUp() override;
  void TearDown() override;
  std::unique_ptr<store::FileStore> open(std::uint64_t max_file_bytes = kMaxBytes) {
    return GetParam().open(dir_, max_file_bytes);
  }

  std::filesystem::path dir_;
};

}  // namespace ba::test
