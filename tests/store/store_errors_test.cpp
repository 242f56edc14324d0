#include "store/store_errors.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "store/file_store_suite.hpp"
#include "store/history_store_suite.hpp"
#include "store/idempotency_suite.hpp"
#include "store/local_files.hpp"
#include "store/sqlite_history.hpp"
#include "store/sqlite_idempotency.hpp"
#include "support/run_sync.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

namespace fs = std::filesystem;
using store::StoreFault;
using namespace std::chrono_literals;

// The guarded stores are still stores: every backend-independent suite passes through the guard (what a
// store answers itself, not_found, conflict, invalid_input, too_large, passes unchanged).
std::unique_ptr<store::HistoryStore> open_guarded_history(const fs::path& dir) {
  auto s = store::make_sqlite_history((dir / "history.db").string());
  if (!s) throw std::runtime_error(s.error().message);
  return store::guard_history(std::move(*s), "sqlite:" + (dir / "history.db").string(), nullptr);
}
INSTANTIATE_TEST_SUITE_P(Guarded, HistoryStoreSuite,
                         ::testing::Values(HistoryBackend{"guarded_sqlite", open_guarded_history}),
                         [](const auto& info) { return info.param.name; });

std::unique_ptr<store::IdempotencyStore> open_guarded_idempotency(const fs::path& dir, Clock& clock) {
  auto s = store::make_sqlite_idempotency((dir / "history.db").string(), {.clock = &clock});
  if (!s) throw std::runtime_error(s.error().message);
  return store::guard_idempotency(std::move(*s), "sqlite", nullptr);
}
INSTANTIATE_TEST_SUITE_P(Guarded, IdempotencyStoreSuite,
                         ::testing::Values(IdempotencyBackend{"guarded_sqlite", open_guarded_idempotency}),
                         [](const auto& info) { return info.param.name; });

std::unique_ptr<store::FileStore> open_guarded_files(const fs::path& dir, std::uint64_t max_file_bytes) {
  auto s = store::make_local_file_store((dir / "files").string(), {.max_file_bytes = max_file_bytes, .chunk_bytes = 16 * 1024});
  if (!s) throw std::runtime_error(s.error().message);
  return store::guard_files(std::move(*s), nullptr);
}
INSTANTIATE_TEST_SUITE_P(Guarded, FileStoreSuite,
                         ::testing::Values(FileBackend{"guarded_local", open_guarded_files, false}),
                         [](const auto& info) { return info.param.name; });

Error backend(ErrorKind kind, std::string code, int status, std::string message) {
  Error e = Error::make(kind, std::move(message));
  e.code = std::move(code);
  e.http_status = status;
  return e;
}

TEST(StoreErrors, ClassifiesByKindAndBackendCodeNeverByStatusAlone) {
  // Down, slow, throttling, 5xx, a broken reply, expired or missing credentials: unavailable.
  EXPECT_EQ(store::classify_store_error(Error::make(ErrorKind::network, "connect to 127.0.0.1:1 failed")),
            StoreFault::unavailable);
  EXPECT_EQ(store::classify_store_error(Error::make(ErrorKind::timeout, "read timed out")), StoreFault::unavailable);
  EXPECT_EQ(store::classify_store_error(backend(ErrorKind::throttled, "ThrottlingException", 400, "slow down")),
            StoreFault::unavailable);
  EXPECT_EQ(store::classify_store_error(backend(ErrorKind::unavailable, "InternalFailure", 500, "oops")),
            StoreFault::unavailable);
  EXPECT_EQ(store::classify_store_error(backend(ErrorKind::unauthorized, "ExpiredTokenException", 400, "expired")),
            StoreFault::unavailable);
  EXPECT_EQ(store::classify_store_error(Error::make(ErrorKind::unauthorized, "no credentials")), StoreFault::unavailable);
  EXPECT_EQ(store::classify_store_error(Error::make(ErrorKind::upstream, "DynamoDB Query: response is not JSON")),
            StoreFault::unavailable);
  // SQLite busy / I/O and a folder that cannot be written come as unavailable from their stores.
  EXPECT_EQ(store::classify_store_error(Error::make(ErrorKind::unavailable, "history store: database is locked")),
            StoreFault::unavailable);
  // A missing table or bucket, access denied, refused credentials: misconfigured.
  EXPECT_EQ(store::classify_store_error(backend(ErrorKind::not_found, "ResourceNotFoundException", 400, "Requested resource not found")),
            StoreFault::misconfigured);
  EXPECT_EQ(store::classify_store_error(backend(ErrorKind::not_found, "NoSuchBucket", 404, "no bucket")),
            StoreFault::misconfigured);
  EXPECT_EQ(store::classify_store_error(backend(ErrorKind::forbidden, "AccessDeniedException", 400, "denied")),
            StoreFault::misconfigured);
  EXPECT_EQ(store::classify_store_error(backend(ErrorKind::unauthorized, "UnrecognizedClientException", 400, "who")),
            StoreFault::misconfigured);
  // A missing object or item, and the store's own answers, stay what they are.
  EXPECT_EQ(store::classify_store_error(backend(ErrorKind::not_found, "NoSuchKey", 404, "no key")), StoreFault::none);
  EXPECT_EQ(store::classify_store_error(backend(ErrorKind::not_found, "NotFound", 404, "")), StoreFault::none);
  EXPECT_EQ(store::classify_store_error(Error::make(ErrorKind::not_found, "conversation 'x' not found")), StoreFault::none);
  EXPECT_EQ(store::classify_store_error(Error::make(ErrorKind::invalid_input, "bad cursor")), StoreFault::none);
  EXPECT_EQ(store::classify_store_error(Error::make(ErrorKind::conflict, "in flight")), StoreFault::none);
  EXPECT_EQ(store::classify_store_error(Error::make(ErrorKind::too_large, "over the limit")), StoreFault::none);
  // A request the backend refused, or a corrupt item: failed.
  EXPECT_EQ(store::classify_store_error(backend(ErrorKind::invalid_input, "ValidationException", 400, "bad")),
            StoreFault::failed);
  EXPECT_EQ(store::classify_store_error(Error::make(ErrorKind::internal, "corrupt metadata in /x")), StoreFault::failed);
}

TEST(StoreErrors, TheCallerGetsItsTermsAndTheLogGetsTheBackendsWords) {
  Error down = Error::make(ErrorKind::network, "DynamoDB Query: connect to 127.0.0.1:8000 failed: Connection refused");
  down.retryable = true;
  Error e = store::store_error(down, "history store");
  EXPECT_EQ(e.kind, ErrorKind::unavailable);
  EXPECT_EQ(e.message, "history store unavailable, retry shortly");
  EXPECT_EQ(e.code, store::kCodeUnavailable);
  EXPECT_TRUE(e.retryable);
  ASSERT_TRUE(e.retry_after);
  EXPECT_EQ(*e.retry_after, store::kStoreRetryAfter);
  EXPECT_EQ(store::describe({store::StoreFault::unavailable, "history store", "DynamoDB table 'chat'", &down}),
            "DynamoDB table 'chat': DynamoDB Query: connect to 127.0.0.1:8000 failed: Connection refused");

  Error throttled = backend(ErrorKind::throttled, "SlowDown", 503, "Please reduce your request rate.");
  throttled.retry_after = 3s;
  throttled.request_id = "REQ1";
  e = store::store_error(throttled, "file store");
  EXPECT_EQ(e.kind, ErrorKind::unavailable);
  EXPECT_EQ(*e.retry_after, 3s);  // the backend's own hint
  EXPECT_EQ(e.request_id, "REQ1");
  EXPECT_EQ(store::describe({store::StoreFault::unavailable, "file store", "s3://bucket", &throttled}),
            "s3://bucket: Please reduce your request rate. (SlowDown)");

  e = store::store_error(backend(ErrorKind::not_found, "ResourceNotFoundException", 400,
                                 "DynamoDB Query: Requested resource not found"),
                         "history store");
  EXPECT_EQ(e.kind, ErrorKind::internal);
  EXPECT_EQ(e.message, "history store misconfigured: see the server log");
  EXPECT_EQ(e.code, store::kCodeMisconfigured);
  EXPECT_FALSE(e.retry_after);

  // Translated once: an inner store's error (a spilled turn's file store) keeps its words.
  Error inner = store::store_error(down, "file store");
  EXPECT_EQ(store::store_error(inner, "history store").message, "file store unavailable, retry shortly");

  // The store's own answers are untouched.
  Error missing = Error::make(ErrorKind::not_found, "conversation 'x' not found");
  e = store::store_error(missing, "history store");
  EXPECT_EQ(e.kind, ErrorKind::not_found);
  EXPECT_EQ(e.message, "conversation 'x' not found");
}

// A local folder that can no longer be written (here: replaced by a plain file) is "file store
// unavailable", its path only in the detail.
TEST(StoreErrors, ALocalFolderThatFailsIsUnavailableWithThePathInTheLogOnly) {
  const fs::path dir = fs::temp_directory_path() / ("ba-store-errors-" + uuid_v4());
  auto opened = store::make_local_file_store((dir / "files").string(), {});
  ASSERT_TRUE(opened) << opened.error().message;
  std::vector<std::string> logged;
  auto files = store::guard_files(std::move(*opened), [&](const store::StoreFailure& f) {
    EXPECT_EQ(f.store, "file store");
    logged.push_back(store::describe(f));
  });
  fs::remove_all(dir / "files");
  std::ofstream(dir / "files") << "not a folder";
  auto put = run_sync(files->put("owner", "a.txt", "text/plain", "hello"));
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().kind, ErrorKind::unavailable) << put.error().message;
  EXPECT_EQ(put.error().message, "file store unavailable, retry shortly");
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_NE(logged[0].find(dir.string()), std::string::npos) << logged[0];
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ba::test
