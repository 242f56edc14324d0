// The SQLite writer thread (store/sqlite_worker.hpp): group commit, one failing job failing alone, order,
// draining on shutdown. A job that blocks the writer makes the next ones queue, so they form one group
// deterministically (no timing).
#include "store/sqlite_worker.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite_history.hpp"
#include "store/sqlite_idempotency.hpp"
#include "support/run_sync.hpp"
#include "util/encoding.hpp"

namespace ba::test {
namespace {

namespace asio = boost::asio;

// Holds the writer inside its group until released.
class BlockingJob final : public store::SqliteJob {
 public:
  BlockingJob(std::promise<void>& started, std::shared_future<void> release) : started_(started), release_(release) {}
  bool run() override {
    started_.set_value();
    release_.wait();
    return true;
  }
  void fail(Error) override {}
  void complete() override {}

 private:
  std::promise<void>& started_;
  std::shared_future<void> release_;
};

class SqliteWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ba-writer-" + uuid_v4());
    path_ = (dir_ / "history.db").string();
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Blocks the writer of `db` until unblock(); returns once the writer is inside the blocking job.
  void block(store::SqliteDatabase& db) {
    std::promise<void> started;
    release_ = std::promise<void>();
    db.submit_write(std::make_unique<BlockingJob>(started, release_.get_future().share()));
    started.get_future().wait();
  }
  void unblock() { release_.set_value(); }

  static store::Turn turn(std::string id, std::string input) {
    store::Turn t;
    t.conversation_id = std::move(id);
    t.user_input = std::move(input);
    t.assistant_reply = "reply";
    t.model_id = "m";
    t.stop_reason = "end_turn";
    t.request_id = "r";
    return t;
  }

  std::filesystem::path dir_;
  std::string path_;
  std::promise<void> release_;
};

TEST_F(SqliteWorkerTest, TurnsQueuedTogetherCommitInOneTransactionInOrder) {
  auto db = store::SqliteDatabase::open(path_);
  ASSERT_TRUE(db) << db.error().message;
  auto history = store::make_sqlite_history(path_);
  ASSERT_TRUE(history) << history.error().message;
  const auto before = (*db)->write_stats();

  asio::io_context io;
  constexpr int kTurns = 20;
  std::vector<std::optional<Result<store::Turn>>> results(kTurns);
  block(**db);
  for (int i = 0; i < kTurns; ++i) {
    asio::co_spawn(io, (*history)->append("o", turn(i % 2 ? "odd" : "even", std::to_string(i))),
                   [&, i](std::exception_ptr, Result<store::Turn> r) { results[i] = std::move(r); });
  }
  io.poll();  // every append is queued behind the blocking job
  unblock();
  io.run();

  const auto after = (*db)->write_stats();
  EXPECT_EQ(after.transactions - before.transactions, 2u);  // the blocking job's group, then all the turns
  EXPECT_GE(after.largest_group, static_cast<std::uint64_t>(kTurns));
  // Each caller got its own turn, numbered in the order submitted within its conversation.
  for (int i = 0; i < kTurns; ++i) {
    ASSERT_TRUE(results[i] && *results[i]) << i;
    EXPECT_EQ((*results[i])->user_input, std::to_string(i));
    EXPECT_EQ((*results[i])->seq, i / 2 + 1) << i;
  }
  auto even = run_sync((*history)->load("o", "even", 100));
  ASSERT_TRUE(even);
  ASSERT_EQ(even->size(), static_cast<std::size_t>(kTurns / 2));
  for (std::size_t k = 0; k < even->size(); ++k) EXPECT_EQ((*even)[k].user_input, std::to_string(2 * k));
}

TEST_F(SqliteWorkerTest, AFailingJobFailsOnlyItsCaller) {
  auto db = store::SqliteDatabase::open(path_);
  ASSERT_TRUE(db);
  auto history = store::make_sqlite_history(path_);
  ASSERT_TRUE(history);
  ASSERT_TRUE(run_sync((*history)->append("alice", turn("alices", "mine"))));

  asio::io_context io;
  std::optional<Result<store::Turn>> a, b, c;
  block(**db);
  asio::co_spawn(io, (*history)->append("bob", turn("bobs", "first")), [&](std::exception_ptr, auto r) { a = r; });
  // Another owner's conversation: not found, in the same group as the others.
  asio::co_spawn(io, (*history)->append("bob", turn("alices", "intruder")), [&](std::exception_ptr, auto r) { b = r; });
  asio::co_spawn(io, (*history)->append("bob", turn("bobs", "second")), [&](std::exception_ptr, auto r) { c = r; });
  io.poll();
  unblock();
  io.run();

  ASSERT_TRUE(a && *a) << (a && !*a ? a->error().message : "");
  ASSERT_TRUE(b);
  ASSERT_FALSE(*b);
  EXPECT_EQ(b->error().kind, ErrorKind::not_found);
  ASSERT_TRUE(c && *c);
  EXPECT_EQ((*c)->seq, 2);
  auto bobs = run_sync((*history)->load("bob", "bobs", 10));
  ASSERT_TRUE(bobs);
  EXPECT_EQ(bobs->size(), 2u);
  auto alices = run_sync((*history)->load("alice", "alices", 10));
  ASSERT_TRUE(alices);
  ASSERT_EQ(alices->size(), 1u);
  EXPECT_EQ((*alices)[0].user_input, "mine");
}

// Claims are conditional: a claim sees the claims before it, also in the same group.
TEST_F(SqliteWorkerTest, ClaimsInOneGroupSeeEachOther) {
  auto db = store::SqliteDatabase::open(path_);
  ASSERT_TRUE(db);
  auto idem = store::make_sqlite_idempotency(path_);
  ASSERT_TRUE(idem);

  asio::io_context io;
  using Claim = Result<std::optional<store::IdempotencyRecord>>;
  std::optional<Claim> first, second, other;
  block(**db);
  asio::co_spawn(io, (*idem)->claim("o", "k", "h1", std::chrono::minutes(1)),
                 [&](std::exception_ptr, Claim r) { first = std::move(r); });
  asio::co_spawn(io, (*idem)->claim("o", "k", "h2", std::chrono::minutes(1)),
                 [&](std::exception_ptr, Claim r) { second = std::move(r); });
  asio::co_spawn(io, (*idem)->claim("o", "k2", "h3", std::chrono::minutes(1)),
                 [&](std::exception_ptr, Claim r) { other = std::move(r); });
  io.poll();
  unblock();
  io.run();

  ASSERT_TRUE(first && *first && second && *second && other && *other);
  EXPECT_FALSE(first->value().has_value());  // claimed
  ASSERT_TRUE(second->value().has_value());  // sees the first claim
  EXPECT_EQ((*second)->value().request_hash, "h1");
  EXPECT_EQ((*second)->value().state, store::IdempotencyRecord::State::in_flight);
  EXPECT_FALSE(other->value().has_value());
}

// Destroying the stores and the database while turns are queued: every queued turn is written, and
// every caller learns it, before the threads end.
TEST_F(SqliteWorkerTest, ShutdownDrainsTheQueue) {
  constexpr int kTurns = 10;
  std::vector<std::optional<Result<store::Turn>>> results(kTurns);
  asio::io_context io;
  {
    auto db = store::SqliteDatabase::open(path_);
    ASSERT_TRUE(db);
    auto history = store::make_sqlite_history(path_);
    ASSERT_TRUE(history);
    block(**db);
    for (int i = 0; i < kTurns; ++i) {
      asio::co_spawn(io, (*history)->append("o", turn("c", std::to_string(i))),
                     [&, i](std::exception_ptr, Result<store::Turn> r) { results[i] = std::move(r); });
    }
    io.poll();
    std::thread releaser([this] { unblock(); });
    history->reset();  // waits for its jobs
    db->reset();       // the last user: the writer drains, the threads join
    releaser.join();
  }
  io.run();
  for (int i = 0; i < kTurns; ++i) ASSERT_TRUE(results[i] && *results[i]) << i;

  auto reopened = store::make_sqlite_history(path_);
  ASSERT_TRUE(reopened);
  auto turns = run_sync((*reopened)->load("o", "c", 100));
  ASSERT_TRUE(turns);
  EXPECT_EQ(turns->size(), static_cast<std::size_t>(kTurns));
}

// History and idempotency on one file share one writer (one writing connection per file in a process).
TEST_F(SqliteWorkerTest, StoresOfOneFileShareTheDatabase) {
  auto a = store::SqliteDatabase::open(path_);
  auto b = store::SqliteDatabase::open(path_);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->get(), b->get());
  auto m1 = store::SqliteDatabase::open(":memory:");
  auto m2 = store::SqliteDatabase::open(":memory:");
  ASSERT_TRUE(m1 && m2);
  EXPECT_NE(m1->get(), m2->get());
  EXPECT_TRUE((*m1)->in_memory());
  EXPECT_FALSE((*a)->in_memory());
  EXPECT_NE((*a)->writer_db(), (*a)->reader_db());
}

}  // namespace
}  // namespace ba::test
