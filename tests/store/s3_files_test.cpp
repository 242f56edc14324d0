#include "store/s3_files.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <vector>

#include "support/s3_rig.hpp"
#include "aws/xml.hpp"
#include "net/url.hpp"
#include "store/file_store_suite.hpp"
#include "support/run_sync.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

using boost::asio::awaitable;
using namespace std::chrono_literals;

// One rig (io thread + S3 client on the shared s3rver) and one bucket for the whole binary.
struct StoreRig {
  std::unique_ptr<S3Rig> rig;
  std::string bucket;
};

StoreRig* shared_store_rig() {
  static std::once_flag once;
  static StoreRig shared;
  std::call_once(once, [] {
    auto* server = shared_s3rver();
    if (!server) return;
    shared.rig = std::make_unique<S3Rig>(server->endpoint());
    shared.bucket = S3Rig::unique_bucket("files");
    auto made = shared.rig->run(store::ensure_bucket(shared.rig->client(), shared.bucket, true));
    if (!made) throw std::runtime_error("cannot create the test bucket: " + made.error().message);
    // Stopped when the test run ends, not at exit: its io thread must be gone before the leak check.
    struct StopRig : ::testing::Environment {
      void TearDown() override { shared.rig.reset(); }
    };
    ::testing::AddGlobalTestEnvironment(new StopRig);
  });
  return shared.rig ? &shared : nullptr;
}

// The suite calls the store from its own io_contexts (run_sync) and threads; the S3 client lives on the
// rig's io thread. This decorator runs every call there and hands the result back.
class OnRigThread final : public store::FileStore {
 public:
  OnRigThread(S3Rig& rig, std::unique_ptr<store::FileStore> inner) : rig_(rig), inner_(std::move(inner)) {}

  awaitable<Result<store::FileInfo>> put(std::string owner, std::string name, std::string type, std::string content) override {
    co_return co_await hop(inner_->put(std::move(owner), std::move(name), std::move(type), std::move(content)));
  }
  awaitable<Result<store::FileInfo>> head(std::string owner, std::string id) override {
    co_return co_await hop(inner_->head(std::move(owner), std::move(id)));
  }
  awaitable<Result<std::string>> read(std::string owner, std::string id) override {
    co_return co_await hop(inner_->read(std::move(owner), std::move(id)));
  }
  awaitable<Result<store::FileInfo>> get(std::string owner, std::string id, std::function<void(const store::FileInfo&)> on_info,
                                         store::ChunkSink sink) override {
    co_return co_await hop(inner_->get(std::move(owner), std::move(id), std::move(on_info), std::move(sink)));
  }
  awaitable<Result<store::FilePage>> list(std::string owner, std::size_t limit, std::string token) override {
    co_return co_await hop(inner_->list(std::move(owner), limit, std::move(token)));
  }
  awaitable<Status> remove(std::string owner, std::string id) override {
    co_return co_await hop(inner_->remove(std::move(owner), std::move(id)));
  }
  Result<store::PresignedUrl> presign_get(const std::string& owner, const std::string& id, std::chrono::seconds e) override {
    return inner_->presign_get(owner, id, e);
  }
  Result<store::PresignedUrl> presign_put(const std::string& owner, const std::string& name, const std::string& type,
                                          std::chrono::seconds e) override {
    return inner_->presign_put(owner, name, type, e);
  }
  awaitable<Status> put_blob(std::string key, std::string content) override {
    co_return co_await hop(inner_->put_blob(std::move(key), std::move(content)));
  }
  awaitable<Result<std::string>> get_blob(std::string key) override { co_return co_await hop(inner_->get_blob(std::move(key))); }
  awaitable<Status> remove_blob(std::string key) override { co_return co_await hop(inner_->remove_blob(std::move(key))); }
  std::uint64_t max_file_bytes() const override { return inner_->max_file_bytes(); }
  Status check() override { return inner_->check(); }
  std::string describe() const override { return inner_->describe(); }

  store::FileStore& inner() { return *inner_; }

 private:
  template <class T>
  awaitable<T> hop(awaitable<T> task) {
    co_return co_await boost::asio::co_spawn(rig_.io(), std::move(task), boost::asio::use_awaitable);
  }
  S3Rig& rig_;
  std::unique_ptr<store::FileStore> inner_;
};

std::unique_ptr<OnRigThread> open_s3(const std::filesystem::path& dir, std::uint64_t max_file_bytes) {
  StoreRig* r = shared_store_rig();
  if (!r) throw std::runtime_error(kNoS3rver);
  // The test's temporary folder name is unique: it becomes the prefix, so each test has its own data.
  store::S3FileOptions o{.bucket = r->bucket, .prefix = "t/" + dir.filename().string(), .max_file_bytes = max_file_bytes};
  auto s = std::make_unique<OnRigThread>(*r->rig, store::make_s3_file_store(r->rig->client(), o));
  // Credentials for presigning (the suite presigns before any other call on a fresh handle).
  if (auto ok = r->rig->run(r->rig->client().refresh_credentials()); !ok) throw std::runtime_error(ok.error().message);
  return s;
}

// Without s3rver the S3 instantiation is empty (the S3FilesTest cases below say why they skip).
std::vector<FileBackend> s3_backends() {
  if (!s3rver_available() && !std::getenv("BA_S3RVER_PORT")) return {};
  return {FileBackend{"s3",
                      [](const std::filesystem::path& dir, std::uint64_t max) {
                        std::unique_ptr<store::FileStore> s = open_s3(dir, max);
                        return s;
                      },
                      true}};
}

INSTANTIATE_TEST_SUITE_P(S3, FileStoreSuite, ::testing::ValuesIn(s3_backends()),
                         [](const auto& info) { return info.param.name; });

// ---- S3-specific behaviour ------------------------------------------------------------------------

class S3FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rig_ = shared_store_rig();
    if (!rig_) GTEST_SKIP() << kNoS3rver;
    prefix_ = "own/" + uuid_v4().substr(0, 8);
    store_ = open_s3(std::filesystem::path("/x") / prefix_.substr(4), 1 << 20);
  }
  S3Rig& rig() { return *rig_->rig; }
  aws::S3Client& client() { return rig_->rig->client(); }
  std::string base() const { return "t/" + prefix_.substr(4) + "/"; }

  StoreRig* rig_ = nullptr;
  std::string prefix_;
  std::unique_ptr<OnRigThread> store_;
};

TEST_F(S3FilesTest, KeysFollowTheLayoutAndMetadataIsOnTheObject) {
  const std::string owner = "key:0123456789abcdef";
  const std::string name = "r\xC3\xA9sum\xC3\xA9 2026.pdf";
  auto put = run_sync(store_->put(owner, name, "application/pdf", "%PDF-1.4"));
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ(put->id.size(), 28u);
  EXPECT_TRUE(store::valid_file_id(put->id));
  const std::string key = base() + "files/" + sha256_hex(owner).substr(0, 32) + "/" + put->id;
  auto obj = rig().run(client().head_object(rig_->bucket, key));
  ASSERT_TRUE(obj) << key << ": " << obj.error().message;
  EXPECT_EQ(obj->content_type, "application/pdf");
  EXPECT_EQ(obj->meta("sha256").value_or(""), sha256_hex("%PDF-1.4"));
  EXPECT_EQ(net::uri_decode(obj->meta("name").value_or("")), name);
  EXPECT_EQ(obj->meta("created-ms").value_or(""), std::to_string(put->created_at_ms));
  auto head = run_sync(store_->head(owner, put->id));
  ASSERT_TRUE(head);
  EXPECT_EQ(head->name, name);

  ASSERT_TRUE(run_sync(store_->put_blob("history/c1/7", "spilled")));
  auto blob = rig().run(client().get_object_bytes(rig_->bucket, base() + "blobs/history/c1/7"));
  ASSERT_TRUE(blob) << blob.error().message;
  EXPECT_EQ(blob->second, "spilled");
  EXPECT_EQ(store_->describe(), "s3://" + rig_->bucket + "/" + base().substr(0, base().size() - 1));
}

TEST_F(S3FilesTest, PresignedPutAndGetWorkWithAPlainClient) {
  auto up = store_->presign_put("alice", "upload.txt", "text/plain", 300s);
  ASSERT_TRUE(up) << up.error().message;
  net::HttpRequest put;
  put.method = up->method;
  put.url = up->url;
  for (const auto& [k, v] : up->headers) put.headers.add(k, v);
  put.body = "sent straight to S3";
  auto sent = rig().run(rig().http().send(put));
  ASSERT_TRUE(sent) << sent.error().message;
  ASSERT_EQ(sent->status, 200) << sent->body;

  auto head = run_sync(store_->head("alice", up->file_id));
  ASSERT_TRUE(head) << head.error().message;
  EXPECT_EQ(head->size, 19u);
  EXPECT_EQ(head->content_type, "text/plain");
  EXPECT_TRUE(head->sha256_hex.empty()) << "no hash is known for a presigned upload";
  // AWS applies the x-amz-meta-* of the presigned query; s3rver ignores them, so the name is the id there.
  EXPECT_TRUE(head->name == "upload.txt" || head->name == up->file_id) << head->name;
  EXPECT_EQ(run_sync(store_->list("bob", 10, ""))->files.size(), 0u);

  auto down = store_->presign_get("alice", up->file_id, 300s);
  ASSERT_TRUE(down);
  net::HttpRequest get;
  get.url = down->url;
  auto got = rig().run(rig().http().send(get));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, 200);
  EXPECT_EQ(got->body, "sent straight to S3");

  // Another owner's presigned GET points at another key: nothing there.
  auto other = store_->presign_get("bob", up->file_id, 300s);
  ASSERT_TRUE(other);
  get.url = other->url;
  auto missing = rig().run(rig().http().send(get));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST_F(S3FilesTest, ListIsOldestFirstAndTokensAreIds) {
  ManualClock clock;
  SeededRandom random(7);
  store::S3FileOptions o{.bucket = rig_->bucket, .prefix = base() + "clocked", .clock = &clock, .random = &random};
  OnRigThread s(rig(), store::make_s3_file_store(client(), o));
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    auto put = run_sync(s.put("alice", "f" + std::to_string(i), "text/plain", "x"));
    ASSERT_TRUE(put);
    ids.push_back(put->id);
    clock.advance(std::chrono::milliseconds(1));
  }
  auto page = run_sync(s.list("alice", 3, ""));
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->files.size(), 3u);
  EXPECT_EQ(page->files[0].id, ids[0]);
  EXPECT_EQ(page->files[2].id, ids[2]);
  EXPECT_EQ(page->files[1].name, "f1");
  EXPECT_EQ(page->next_token, ids[2]);
  auto rest = run_sync(s.list("alice", 3, page->next_token));
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->files.size(), 1u);
  EXPECT_EQ(rest->files[0].id, ids[3]);
  EXPECT_TRUE(rest->next_token.empty());
}

TEST_F(S3FilesTest, ParsesS3Uris) {
  auto a = store::parse_s3_uri("s3://my-bucket");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->first, "my-bucket");
  EXPECT_EQ(a->second, "");
  auto b = store::parse_s3_uri("s3://my-bucket/some/prefix/");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->second, "some/prefix");
  for (const char* bad : {"my-bucket", "s3://", "s3://Bad_Bucket/x", "s3://ok-bucket//x", "http://b/x"}) {
    EXPECT_FALSE(store::parse_s3_uri(bad)) << bad;
  }
}

TEST_F(S3FilesTest, EnsureBucketCreatesOnlyWhenAsked) {
  const std::string b = S3Rig::unique_bucket("ensure");
  auto refused = rig().run(store::ensure_bucket(client(), b, false));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::not_found);
  EXPECT_NE(refused.error().message.find("--create-missing"), std::string::npos);
  EXPECT_TRUE(rig().run(store::ensure_bucket(client(), b, true)));
  EXPECT_TRUE(rig().run(client().head_bucket(b)));
  EXPECT_TRUE(rig().run(store::ensure_bucket(client(), b, true)));  // idempotent
  auto opened = rig().run(store::open_s3_file_store(client(), {.bucket = b}, false));
  ASSERT_TRUE(opened);
  EXPECT_EQ((*opened)->describe(), "s3://" + b);
}

}  // namespace
}  // namespace ba::test
