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

// Listing reads an owner's folder once and then keeps its ids (a page used to read the whole folder: the
// soak's GET /files over a growing folder, docs/performance.md). Files written or removed by anything
// else, here another store on the same folder (another process), are seen: the folder's modification
// time moved, so it is read again.
TEST_F(LocalFilesTest, ListingSeesWhatAnotherProcessChangedInTheFolder) {
  auto a = store::make_local_file_store(dir_.string());
  auto b = store::make_local_file_store(dir_.string());
  ASSERT_TRUE(a && b);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(run_sync((*a)->put("alice", "a.txt", "text/plain", "a"))->id);
  auto ids_of = [](const store::FilePage& p) {
    std::vector<std::string> out;
    for (const auto& f : p.files) out.push_back(f.id);
    return out;
  };
  std::sort(ids.begin(), ids.end());
  ASSERT_EQ(ids_of(*run_sync((*a)->list("alice", 100, ""))), ids);  // indexed now
  auto other = run_sync((*b)->put("alice", "b.txt", "text/plain", "b"));
  ASSERT_TRUE(other);
  ASSERT_TRUE(run_sync((*b)->remove("alice", ids[0])));
  ids.erase(ids.begin());
  ids.insert(std::lower_bound(ids.begin(), ids.end(), other->id), other->id);
  EXPECT_EQ(ids_of(*run_sync((*a)->list("alice", 100, ""))), ids);
  // This store's own changes keep its index in step: pages of 2, in id order, to the end.
  auto mine = run_sync((*a)->put("alice", "c.txt", "text/plain", "c"));
  ASSERT_TRUE(run_sync((*a)->remove("alice", ids[1])));
  ids.erase(ids.begin() + 1);
  ids.insert(std::lower_bound(ids.begin(), ids.end(), mine->id), mine->id);
  std::vector<std::string> paged;
  std::string token;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = run_sync((*a)->list("alice", 2, token));
    ASSERT_TRUE(page);
    for (auto& id : ids_of(*page)) paged.push_back(id);
    if (page->next_token.empty()) break;
    token = page->next_token;
  }
  EXPECT_EQ(paged, ids);
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
