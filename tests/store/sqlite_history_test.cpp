#include "store/sqlite_history.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>

#include "store/history_store_suite.hpp"
#include "support/run_sync.hpp"
#include "util/encoding.hpp"
#include "util/uuid.hpp"

namespace ba::test {
namespace {

std::unique_ptr<store::HistoryStore> open_sqlite(const std::filesystem::path& dir) {
  auto s = store::make_sqlite_history((dir / "history.db").string());
  if (!s) throw std::runtime_error(s.error().message);
  return std::move(*s);
}

// Without fsyncs (a Lambda sandbox's /tmp): the same behaviour.
std::unique_ptr<store::HistoryStore> open_sqlite_no_sync(const std::filesystem::path& dir) {
  auto s = store::make_sqlite_history((dir / "history.db").string(), store::SqliteOptions{.sync_to_disk = false});
  if (!s) throw std::runtime_error(s.error().message);
  return std::move(*s);
}

INSTANTIATE_TEST_SUITE_P(Sqlite, HistoryStoreSuite,
                         ::testing::Values(HistoryBackend{"sqlite", open_sqlite},
                                           HistoryBackend{"sqlite_no_sync", open_sqlite_no_sync}),
                         [](const auto& info) { return info.param.name; });

class SqliteHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = std::filesystem::temp_directory_path() / ("ba-sqlite-" + uuid_v4()); }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::filesystem::path dir_;
};

TEST_F(SqliteHistoryTest, CreatesParentDirectories) {
  auto path = dir_ / "nested" / "data" / "history.db";
  auto s = store::make_sqlite_history(path.string());
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST_F(SqliteHistoryTest, UsesWalModeAndRecordsSchemaVersion) {
  auto path = dir_ / "history.db";
  ASSERT_TRUE(store::make_sqlite_history(path.string()));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.string().c_str(), &db), SQLITE_OK);
  auto query = [&](const char* sql) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_step(st), SQLITE_ROW);
    std::string v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
  };
  EXPECT_EQ(query("PRAGMA journal_mode;"), "wal");
  EXPECT_EQ(query("PRAGMA user_version;"), "2");
  sqlite3_close(db);
}

TEST_F(SqliteHistoryTest, AVersion1DatabaseGetsTheListIndexAndKeepsItsConversations) {
  auto path = dir_ / "history.db";
  {
    auto s = store::make_sqlite_history(path.string());
    ASSERT_TRUE(s);
    store::Turn t;
    t.conversation_id = "old";
    t.user_input = "from version 1";
    ASSERT_TRUE(run_sync((*s)->append("o", t)));
  }
  // Back to what version 1 wrote: no index, user_version 1.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.string().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DROP INDEX conversations_by_owner; PRAGMA user_version=1;", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto s = store::make_sqlite_history(path.string());
  ASSERT_TRUE(s) << s.error().message;
  auto page = run_sync((*s)->list("o", 10, ""));
  ASSERT_TRUE(page) << page.error().message;
  ASSERT_EQ(page->conversations.size(), 1u);
  EXPECT_EQ(page->conversations[0].title, "from version 1");
  ASSERT_EQ(sqlite3_open(path.string().c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE name = 'conversations_by_owner';", -1,
                               &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 1);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST_F(SqliteHistoryTest, RefusesANewerSchema) {
  auto path = dir_ / "history.db";
  ASSERT_TRUE(store::make_sqlite_history(path.string()));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.string().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99;", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto s = store::make_sqlite_history(path.string());
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("schema version 99"), std::string::npos) << s.error().message;
}

TEST_F(SqliteHistoryTest, UnopenablePathIsAClearError) {
  std::filesystem::create_directories(dir_);
  // A directory where the database file should be.
  std::filesystem::create_directories(dir_ / "history.db");
  auto s = store::make_sqlite_history((dir_ / "history.db").string());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind, ErrorKind::unavailable);
  EXPECT_NE(s.error().message.find("history.db"), std::string::npos);
}

TEST_F(SqliteHistoryTest, InMemoryDatabaseWorks) {
  auto s = store::make_sqlite_history(":memory:");
  ASSERT_TRUE(s) << s.error().message;
  store::Turn t;
  t.conversation_id = "c";
  t.user_input = "hi";
  auto r = run_sync((*s)->append("o", t));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->seq, 1);
}

// Under steady writes the WAL starts over once checkpointed: its file stays near the checkpoint threshold
// (1,000 pages, 4 MB) instead of growing with every turn. A checkpointer on a thread of its own never
// caught up with a writer that kept committing, and the WAL grew without bound (6.3 GB in the soak's
// 14 minutes, docs/performance.md).
TEST_F(SqliteHistoryTest, TheWalStartsOverUnderSteadyWrites) {
  const auto path = dir_ / "history.db";
  auto s = store::make_sqlite_history(path.string());
  ASSERT_TRUE(s) << s.error().message;
  boost::asio::io_context io;
  int ok = 0;
  const std::string reply(600, 'r');
  for (int w = 0; w < 8; ++w) {
    boost::asio::co_spawn(io, [&, w]() -> boost::asio::awaitable<void> {
      for (int i = 0; i < 500; ++i) {
        store::Turn t;
        t.conversation_id = uuid_v7(1'700'000'000'000 + w * 1'000 + i);
        t.user_input = "question " + std::to_string(i);
        t.assistant_reply = reply;
        if (co_await (*s)->append("owner", t)) ++ok;
      }
    }, boost::asio::detached);
  }
  io.run();
  EXPECT_EQ(ok, 4'000);
  std::error_code ec;
  const auto wal = std::filesystem::file_size(path.string() + "-wal", ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_LT(wal, 16u * 1024 * 1024) << "the WAL did not start over";
}

}  // namespace
}  // namespace ba::test
