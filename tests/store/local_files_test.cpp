#include "store/local_files.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "store/file_store_suite.hpp"
#include "support/run_sync.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<store::FileStore> open_local(const fs::path& dir, std::uint64_t max_file_bytes) {
  auto s = store::make_local_file_store((dir / "files").string(), {.max_file_bytes = max_file_bytes, .chunk_bytes = 16 * 1024});
  if (!s) throw std::runtime_error(s.error().message);
  return std::move(*s);
}

INSTANTIATE_TEST_SUITE_P(Local, FileStoreSuite, ::testing::Values(FileBackend{"local", open_local, false}),
                         [](const auto& info) { return info.param.name; });

class LocalFilesTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = fs::temp_directory_path() / ("ba-local-files-" + uuid_v4()); }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // Every regular file under the root, relative to it.
  std::vector<std::string> tree() const {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir_)) {
      if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir_).string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  fs::path dir_;
};

TEST_F(LocalFilesTest, CreatesTheRootAndDescribesIt) {
  auto s = store::make_local_file_store((dir_ / "a" / "b").string());
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(fs::is_directory(dir_ / "a" / "b" / "tmp"));
  EXPECT_EQ((*s)->describe(), "local:" + (dir_ / "a" / "b").string());
  EXPECT_EQ((*s)->max_file_bytes(), 20u * 1024 * 1024);
}

TEST_F(LocalFilesTest, OwnerNeverAppearsInAPathAndNoTempFilesRemain) {
  auto s = store::make_local_file_store(dir_.string());
  ASSERT_TRUE(s);
  const std::string owner = "key:0123456789abcdef";
  auto put = run_sync((*s)->put(owner, "../../escape.txt", "text/plain", "x"));
  ASSERT_FALSE(put);
  put = run_sync((*s)->put(owner, "report.pdf", "application/pdf", "%PDF-1.4"));
  ASSERT_TRUE(put) << put.error().message;
  auto files = tree();
  ASSERT_EQ(files.size(), 2u);
  const std::string owner_dir = "owners/" + sha256_hex(owner).substr(0, 32) + "/";
  EXPECT_EQ(files[0], owner_dir + put->id + ".bin");
  EXPECT_EQ(files[1], owner_dir + put->id + ".json");
  for (const auto& f : files) {
    EXPECT_EQ(f.find("0123456789abcdef"), std::string::npos) << f;
    EXPECT_EQ(f.find("report"), std::string::npos) << "the caller's file name must not be a path: " << f;
  }
  EXPECT_TRUE(fs::is_empty(dir_ / "tmp"));
}

TEST_F(LocalFilesTest, BlobsLiveUnderBlobs) {
  auto s = store::make_local_file_store(dir_.string());
  ASSERT_TRUE(s);
  ASSERT_TRUE(run_sync((*s)->put_blob("history/c1/7", "spilled")));
  EXPECT_EQ(tree(), std::vector<std::string>{"blobs/history/c1/7"});
}

TEST_F(LocalFilesTest, AFileWithoutItsSidecarDoesNotExist) {
  auto s = store::make_local_file_store(dir_.string());
  ASSERT_TRUE(s);
  auto put = run_sync((*s)->put("alice", "a.txt", "text/plain", "a"));
  ASSERT_TRUE(put);
  const auto owner_dir = dir_ / "owners" / sha256_hex("alice").substr(0, 32);
  fs::remove(owner_dir / (put->id + ".json"));
  auto head = run_sync((*s)->head("alice", put->id));
  ASSERT_FALSE(head);
  EXPECT_EQ(head.error().kind, ErrorKind::not_found);
  auto page = run_sync((*s)->list("alice", 10, ""));
  ASSERT_TRUE(page);
  EXPECT_TRUE(page->files.empty());
}

TEST_F(LocalFilesTest, ARootThatIsAFileIsUnavailable) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / "file") << "x";
  auto s = store::make_local_file_store((dir_ / "file").string());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind, ErrorKind::unavailable);
  EXPECT_NE(s.error().message.find("file"), std::string::npos);
}

TEST_F(LocalFilesTest, PresignExplainsWhatToUseInstead) {
  auto s = store::make_local_file_store(dir_.string());
  ASSERT_TRUE(s);
  auto p = (*s)->presign_put("alice", "big.pdf", "application/pdf", std::chrono::seconds(60));
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().kind, ErrorKind::invalid_input);
  EXPECT_NE(p.error().message.find("s3://"), std::string::npos) << p.error().message;
}

TEST_F(LocalFilesTest, CreatedAtComesFromTheInjectedClockAndIdsFromTheRandomSource) {
  ManualClock clock;
  SeededRandom r1(42), r2(42);
  auto a = store::make_local_file_store((dir_ / "a").string(), {.clock = &clock, .random = &r1});
  auto b = store::make_local_file_store((dir_ / "b").string(), {.clock = &clock, .random = &r2});
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  auto pa = run_sync((*a)->put("o", "x.txt", "text/plain", "x"));
  auto pb = run_sync((*b)->put("o", "x.txt", "text/plain", "x"));
  ASSERT_TRUE(pa);
  ASSERT_TRUE(pb);
  EXPECT_EQ(pa->created_at_ms, 1'700'000'000'000);
  EXPECT_EQ(pa->id, pb->id);
  EXPECT_EQ(pa->id.size(), 22u);
}

}  // namespace
}  // namespace ba::test
