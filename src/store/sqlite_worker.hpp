#pragma once
// Internal to the SQLite stores (sqlite_history.cpp, sqlite_idempotency.cpp and their tests): it brings in
// Asio, so keep it out of widely included headers.
//
// SqliteDatabase: one database file served off the io thread. A writer thread owns the only writing
// connection of this process to the file and commits in groups: every job queued when it wakes goes in one
// transaction (BEGIN IMMEDIATE ... COMMIT), each job inside a savepoint of its own, so a job that fails
// (a conditional write that does not apply, a constraint) is rolled back alone and fails only its caller.
// Jobs run in the order they were submitted, so the writes of one caller (one conversation) keep their
// order, and a conditional write sees every write submitted before it (committed or in the same group).
// A reader thread runs the reads on a connection of its own (WAL: readers do not wait for the writer),
// also in groups, in one read transaction per group. A caller learns its result only after its group's
// COMMIT returned: the result is posted to the executor of the awaiting coroutine, which never blocks.
//
// The stores of one file in one process (history and idempotency) share its SqliteDatabase (open()).
// ":memory:" is private to one connection: there is no reader connection and no thread; the jobs run on
// the caller's thread (an in-memory database has no disk to wait for).
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "store/sqlite_open.hpp"
#include "util/result.hpp"

struct sqlite3;

namespace ba::store {

// One unit of work. run() and complete() are called on the worker's thread (or the caller's, in memory).
class SqliteJob {
 public:
  virtual ~SqliteJob() = default;
  // Does the work on the worker's connection and keeps the result; false if it failed (its writes are
  // then rolled back to before it; the other jobs of its group keep theirs).
  virtual bool run() = 0;
  // The group's transaction failed (begin or commit): the result becomes `e`.
  virtual void fail(Error e) = 0;
  // Hands the result to the caller. Called once, after the group's transaction ended.
  virtual void complete() = 0;
};

namespace detail {

// A job whose result goes to an Asio completion handler, posted to the handler's executor (the awaiting
// coroutine's); the work guard keeps that executor's loop running until then.
template <class R, class F, class Handler>
class AsyncJob final : public SqliteJob {
 public:
  AsyncJob(F f, Handler h)
      : f_(std::move(f)), handler_(std::move(h)), work_(boost::asio::make_work_guard(handler_)) {}
  bool run() override {
    result_.emplace(f_());
    return result_->has_value();
  }
  void fail(Error e) override { result_.emplace(std::unexpected(std::move(e))); }
  void complete() override {
    auto ex = work_.get_executor();
    boost::asio::post(ex, [h = std::move(handler_), r = std::move(*result_)]() mutable { std::move(h)(std::move(r)); });
    work_.reset();
  }

 private:
  F f_;
  Handler handler_;
  boost::asio::executor_work_guard<boost::asio::associated_executor_t<Handler>> work_;
  std::optional<R> result_;
};

}  // namespace detail

struct SqliteDatabaseOptions {
  std::chrono::milliseconds busy_timeout{5'000};
  // true: PRAGMA synchronous=NORMAL (WAL: a commit is in the operating system once COMMIT returns, so it
  // survives the process being killed; the WAL is fsynced at checkpoints). false: synchronous=OFF.
  bool sync_to_disk = true;
  std::size_t max_group = 256;  // jobs per transaction at most
  std::string what = "history";  // names the database in messages ("history", "idempotency")
};

class SqliteDatabase {
 public:
  struct Worker;

  // The database of `path`, shared by the stores of this process that open the same path (the first
  // opener's options hold). ":memory:": a private one. Errors: invalid_input (empty path), unavailable
  // (cannot open/create).
  static Result<std::shared_ptr<SqliteDatabase>> open(const std::string& path, SqliteDatabaseOptions options = {});
  ~SqliteDatabase();  // drains both queues (every job submitted runs and completes), joins, closes
  SqliteDatabase(const SqliteDatabase&) = delete;
  SqliteDatabase& operator=(const SqliteDatabase&) = delete;

  sqlite3* writer_db() const;
  sqlite3* reader_db() const;  // the writer's connection for ":memory:"
  bool in_memory() const;

  // Awaitable results: `f` (R(), R a Result<T> or Status) runs on the writer's (reader's) thread with
  // that connection; the coroutine resumes on its own executor with the result.
  template <class R, class F>
  boost::asio::awaitable<R> write(F f) {
    return call<R>(writer_, std::move(f));
  }
  template <class R, class F>
  boost::asio::awaitable<R> read(F f) {
    return call<R>(reader_, std::move(f));
  }

  // Runs `f` in the writer's next group and waits for its commit (start-up and tests only: it blocks).
  Status write_sync(std::function<Status()> f);
  // Returns once every job submitted before the call (both queues) has completed (blocks).
  void barrier();
  // Queues a job (tests: a job that blocks the writer, so that the next ones queue into one group).
  void submit_write(std::unique_ptr<SqliteJob> job);

  // Health: the error of the writer's last failed BEGIN/COMMIT if the last group failed so; else ok.
  Status health() const;

  struct Stats {
    std::uint64_t transactions = 0;  // groups committed or rolled back by the writer
    std::uint64_t jobs = 0;          // write jobs run
    std::uint64_t largest_group = 0;
  };
  Stats write_stats() const;

 private:
  SqliteDatabase() = default;
  static void submit(Worker* w, std::unique_ptr<SqliteJob> job);

  template <class R, class F>
  static boost::asio::awaitable<R> call(Worker* w, F f) {
    return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(R)>(
        [w](auto handler, F fn) {
          submit(w, std::make_unique<detail::AsyncJob<R, F, decltype(handler)>>(std::move(fn), std::move(handler)));
        },
        boost::asio::use_awaitable, std::move(f));
  }

  std::string path_;
  std::unique_ptr<Worker> writer_owned_, reader_owned_;
  Worker* writer_ = nullptr;
  Worker* reader_ = nullptr;
};

}  // namespace ba::store
