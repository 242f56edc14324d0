#include "store/sqlite_idempotency.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "store/idempotency_suite.hpp"
#include "support/run_sync.hpp"
#include "store/sqlite_history.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<store::IdempotencyStore> open_sqlite(const std::filesystem::path& dir, Clock& clock) {
  auto s = store::make_sqlite_idempotency((dir / "history.db").string(), {.clock = &clock});
  if (!s) throw std::runtime_error(s.error().message);
  return std::move(*s);
}

std::unique_ptr<store::IdempotencyStore> open_sqlite_no_sync(const std::filesystem::path& dir, Clock& clock) {
  auto s = store::make_sqlite_idempotency((dir / "history.db").string(), {.clock = &clock, .sync_to_disk = false});
  if (!s) throw std::runtime_error(s.error().message);
  return std::move(*s);
}

INSTANTIATE_TEST_SUITE_P(Sqlite, IdempotencyStoreSuite,
                         ::testing::Values(IdempotencyBackend{"sqlite", open_sqlite},
                                           IdempotencyBackend{"sqlite_no_sync", open_sqlite_no_sync}),
                         [](const auto& info) { return info.param.name; });

class SqliteIdempotencyTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = std::filesystem::temp_directory_path() / ("ba-sqlite-idem-" + uuid_v4()); }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::filesystem::path dir_;
};

TEST_F(SqliteIdempotencyTest, SharesTheHistoryDatabaseFile) {
  auto path = (dir_ / "data" / "history.db").string();
  auto history = store::make_sqlite_history(path);
  ASSERT_TRUE(history) << history.error().message;
  auto idem = store::make_sqlite_idempotency(path);
  ASSERT_TRUE(idem) << idem.error().message;
  store::Turn t;
  t.conversation_id = "c1";
  t.user_input = "hi";
  ASSERT_TRUE(run_sync((*history)->append("alice", t)));
  ASSERT_TRUE(run_sync((*idem)->claim("alice", "k", "h", 30s)));
  // The history store still opens the file (its schema version is untouched) and both tables are there.
  history->reset();
  auto again = store::make_sqlite_history(path);
  ASSERT_TRUE(again) << again.error().message;
  auto turns = run_sync((*again)->load("alice", "c1", 10));
  ASSERT_TRUE(turns);
  EXPECT_EQ(turns->size(), 1u);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT state, request_hash FROM idempotency_keys WHERE owner = 'alice';", -1, &st,
                               nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "in_flight");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(SqliteIdempotencyTest, ExpiredRowsArePurgedOnOpen) {
  ManualClock clock;
  auto path = (dir_ / "idem.db").string();
  {
    auto s = store::make_sqlite_idempotency(path, {.clock = &clock});
    ASSERT_TRUE(s);
    ASSERT_TRUE(run_sync((*s)->claim("alice", "old", "h", 1s)));
    ASSERT_TRUE(run_sync((*s)->claim("alice", "fresh", "h", 1h)));
  }
  clock.advance(2s);
  ASSERT_TRUE(store::make_sqlite_idempotency(path, {.clock = &clock}));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT idem_key FROM idempotency_keys;", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "fresh");
  EXPECT_EQ(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(SqliteIdempotencyTest, BadPathsAreClearErrors) {
  auto empty = store::make_sqlite_idempotency("");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().kind, ErrorKind::invalid_input);
  std::filesystem::create_directories(dir_ / "history.db");  // a directory where the file should be
  auto dir = store::make_sqlite_idempotency((dir_ / "history.db").string());
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().kind, ErrorKind::unavailable);
}

}  // namespace
}  // namespace ba::test
