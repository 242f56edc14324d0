#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "store/sqlite_open.hpp"
#include "util/encoding.hpp"

namespace ba::store {
namespace {

class WalCheckpointerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ba-wal-" + uuid_v4());
    path_ = (dir_ / "db.sqlite").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  sqlite3* open_wal() {
    auto db = open_sqlite(path_, "test");
    EXPECT_TRUE(db.has_value());
    sqlite3_exec(*db, "PRAGMA synchronous=NORMAL; PRAGMA journal_mode=WAL;", nullptr, nullptr, nullptr);
    return *db;
  }
  static void exec(sqlite3* db, const std::string& sql) {
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  }
  // The WAL header's checkpoint sequence number (big-endian at byte 12): +1 each time the WAL starts
  // over, which a writer does after a complete checkpoint.
  std::uint32_t wal_restarts() const {
    std::ifstream in(path_ + "-wal", std::ios::binary);
    unsigned char h[16] = {};
    if (!in.read(reinterpret_cast<char*>(h), sizeof h)) return 0;
    return (std::uint32_t{h[12]} << 24) | (std::uint32_t{h[13]} << 16) | (std::uint32_t{h[14]} << 8) | h[15];
  }

  std::uintmax_t wal_size() const {
    std::error_code ec;
    auto n = std::filesystem::file_size(path_ + "-wal", ec);
    return ec ? 0 : n;
  }

  std::filesystem::path dir_;
  std::string path_;
};

// Commits past the threshold wake the checkpointer, whose checkpoints let the WAL start over; the
// committing connection itself does not checkpoint (its automatic checkpoint is replaced) unless the WAL
// grows kFallBehind thresholds long.
TEST_F(WalCheckpointerTest, CommitsPastTheThresholdAreCheckpointedByItsThread) {
  sqlite3* db = open_wal();
  auto c = WalCheckpointer::for_file(path_, 16);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  (*c)->attach(db);
  exec(db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT);");
  const std::string blob(3000, 'x');  // about a page per row
  // The checkpoints run on the checkpointer's thread: on a loaded machine it may not get the CPU
  // between two commits, so every 50 commits the test waits (up to 10 s) for it to have run once. (A
  // checkpoint that runs while commits go on may not complete: then the WAL does not start over yet.)
  auto caught_up = [&](std::uint64_t seen) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while ((*c)->checkpoints() <= seen && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return (*c)->checkpoints() > seen;
  };
  std::uint64_t batch_start = 0;
  for (int i = 0; i < 400; ++i) {
    if (i % 50 == 0) batch_start = (*c)->checkpoints();
    exec(db, "INSERT INTO t (v) VALUES ('" + blob + "');");
    if (i % 8 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // requests, not a bulk load
    if (i % 50 == 49) {
      ASSERT_TRUE(caught_up(batch_start)) << "no checkpoint in the 50 commits up to " << i;
    }
  }
  EXPECT_GT((*c)->checkpoints(), 0u);
  // Commits at a request's pace: the checkpointer then completes a checkpoint, and the next commit
  // starts the WAL over (the file keeps its high-water size; the header counts the restarts).
  int extra = 0;
  for (; extra < 40 && wal_restarts() == 0; ++extra) {
    exec(db, "INSERT INTO t (v) VALUES ('" + blob + "');");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_GT(wal_restarts(), 0u) << "the WAL never started over: " << wal_size() << " bytes";
  WalCheckpointer::detach(db);
  sqlite3_close_v2(db);
  c->reset();

  sqlite3* again = open_wal();
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(again, "SELECT COUNT(*) FROM t;", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 400 + extra);
  sqlite3_finalize(st);
  sqlite3_close_v2(again);
}

// A checkpoint per `pages` frames written since the last one, not one per commit once the WAL is longer
// than `pages`. A checkpoint does not shorten the WAL; the writer starts it over only when no reader
// uses it. Here a reader always does (a fresh snapshot after each commit, so the checkpoints can copy
// everything): before, every commit then woke the checkpointer, and each checkpoint synced the WAL and
// the database (an fsync storm: docs/performance.md, "The checkpointer's fsync storm").
TEST_F(WalCheckpointerTest, ACheckpointPerThresholdOfNewFramesNotPerCommit) {
  sqlite3* db = open_wal();
  sqlite3* reader = open_wal();
  constexpr int kPages = 16;
  auto c = WalCheckpointer::for_file(path_, kPages);
  ASSERT_TRUE(c.has_value()) << c.error().message;
  (*c)->attach(db);
  exec(db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT);");
  const std::string blob(3000, 'x');  // about a page per row
  auto wait_idle = [&] {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!(*c)->idle() && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return (*c)->idle();
  };
  constexpr int kCommits = 200;
  for (int i = 0; i < kCommits; ++i) {
    exec(db, "INSERT INTO t (v) VALUES ('" + blob + "');");
    ASSERT_TRUE(wait_idle()) << i;
    if (i > 0) exec(reader, "COMMIT;");
    exec(reader, "BEGIN; SELECT COUNT(*) FROM t;");  // holds the WAL: it cannot start over
  }
  exec(reader, "COMMIT;");
  const auto frames = wal_size() / (4096 + 24);
  EXPECT_EQ(wal_restarts(), 0u);
  EXPECT_GE(frames, static_cast<std::uintmax_t>(kCommits));
  EXPECT_GT((*c)->checkpoints(), 0u);
  // About one per kPages frames (the reader's snapshot keeps the last commit's ~3 frames from each
  // checkpoint, so a little more often); before, about one per commit (~kCommits).
  EXPECT_LE((*c)->checkpoints(), frames / (kPages / 2)) << frames << " frames";
  EXPECT_LT((*c)->checkpoints(), static_cast<std::uint64_t>(kCommits / 2));
  WalCheckpointer::detach(db);
  sqlite3_close_v2(reader);
  sqlite3_close_v2(db);
}

// One thread per file, shared by its connections (the history and idempotency stores use one file);
// a new one (with its own count, starting at 0) once the last user is gone.
TEST_F(WalCheckpointerTest, OnePerFileWhileInUse) {
  auto a = WalCheckpointer::for_file(path_, 1);
  auto b = WalCheckpointer::for_file(path_, 1);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->get(), b->get());
  sqlite3* db = open_wal();
  (*a)->attach(db);
  exec(db, "CREATE TABLE t (k INTEGER PRIMARY KEY);");
  exec(db, "INSERT INTO t DEFAULT VALUES;");
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((*b)->checkpoints() == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_GT((*b)->checkpoints(), 0u);  // the commits through `a` woke the thread `b` shares
  WalCheckpointer::detach(db);
  sqlite3_close_v2(db);
  a->reset();
  b->reset();
  auto c = WalCheckpointer::for_file(path_, 1);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ((*c)->checkpoints(), 0u);
}

}  // namespace
}  // namespace ba::store
