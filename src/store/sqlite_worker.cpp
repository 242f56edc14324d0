#include "store/sqlite_worker.hpp"

#include <sqlite3.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace ba::store {

struct SqliteDatabase::Worker {
  enum class Mode { writer, reader, in_place };

  Worker(std::string name, sqlite3* db, Mode mode, std::size_t max_group)
      : name(std::move(name)), db(db), mode(mode), max_group(max_group) {}

  std::string name;  // for messages: "database '<path>'"
  sqlite3* db;
  Mode mode;
  std::size_t max_group;

  std::mutex mutex;  // the queue; in place: the connection
  std::condition_variable wake;
  std::deque<std::unique_ptr<SqliteJob>> queue;
  bool stopping = false;
  std::thread thread;

  mutable std::mutex stats_mutex;
  Stats stats;
  std::optional<Error> last_error;  // of the last group, if its BEGIN/COMMIT failed

  sqlite3_stmt* begin = nullptr;  // BEGIN IMMEDIATE (writer), BEGIN (reader)
  sqlite3_stmt* commit = nullptr;
  sqlite3_stmt* rollback = nullptr;
  sqlite3_stmt* savepoint = nullptr;
  sqlite3_stmt* rollback_to = nullptr;
  sqlite3_stmt* release = nullptr;

  Status prepare() {
    const bool writes = mode != Mode::reader;
    struct {
      sqlite3_stmt** s;
      const char* sql;
    } const all[] = {
        {&begin, writes ? "BEGIN IMMEDIATE;" : "BEGIN;"}, {&commit, "COMMIT;"},       {&rollback, "ROLLBACK;"},
        {&savepoint, "SAVEPOINT job;"},                   {&rollback_to, "ROLLBACK TO job;"}, {&release, "RELEASE job;"},
    };
    for (const auto& [s, sql] : all) {
      if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, s, nullptr) != SQLITE_OK) {
        return fail(ErrorKind::unavailable, name + ": prepare failed: " + sqlite3_errmsg(db));
      }
    }
    return {};
  }

  void finalize() {
    for (sqlite3_stmt** s : {&begin, &commit, &rollback, &savepoint, &rollback_to, &release}) {
      sqlite3_finalize(*s);
      *s = nullptr;
    }
  }

  // Runs a statement without results; the error (with SQLite's message) if it fails.
  Status step(sqlite3_stmt* s, std::string_view what) {
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
      sqlite3_reset(s);
      return {};
    }
    std::string msg = sqlite3_errmsg(db);
    sqlite3_reset(s);
    return fail(ErrorKind::unavailable, name + ": " + std::string(what) + " failed: " + msg);
  }

  void start() {
    if (mode == Mode::in_place) return;
    thread = std::thread([this] { loop(); });
  }

  void stop() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    wake.notify_one();
    if (thread.joinable()) thread.join();
  }

  void submit(std::unique_ptr<SqliteJob> job) {
    if (mode == Mode::in_place) {
      std::lock_guard lock(mutex);
      std::vector<std::unique_ptr<SqliteJob>> group;
      group.push_back(std::move(job));
      process(group);
      return;
    }
    bool was_empty;
    {
      std::lock_guard lock(mutex);
      was_empty = queue.empty();
      queue.push_back(std::move(job));
    }
    if (was_empty) wake.notify_one();
  }

  // Takes everything queued (up to max_group) whenever it wakes; ends once stopping and drained.
  void loop() {
    std::vector<std::unique_ptr<SqliteJob>> group;
    for (;;) {
      {
        std::unique_lock lock(mutex);
        wake.wait(lock, [this] { return !queue.empty() || stopping; });
        if (queue.empty()) return;  // stopping, drained
        while (!queue.empty() && group.size() < max_group) {
          group.push_back(std::move(queue.front()));
          queue.pop_front();
        }
      }
      process(group);
      group.clear();
    }
  }

  void process(std::vector<std::unique_ptr<SqliteJob>>& group) {
    if (mode == Mode::reader) {
      read_group(group);
    } else {
      write_group(group);
    }
    for (auto& job : group) job->complete();
  }

  // One read transaction for the group: a consistent snapshot, taken after every job of the group was
  // submitted (so each sees every commit its caller saw completed), for the price of one.
  void read_group(std::vector<std::unique_ptr<SqliteJob>>& group) {
    const bool txn = step(begin, "begin read").has_value();
    for (auto& job : group) job->run();
    if (txn && !step(commit, "end read")) (void)step(rollback, "rollback");
  }

  void write_group(std::vector<std::unique_ptr<SqliteJob>>& group) {
    std::size_t i = 0;
    while (i < group.size()) {
      const std::size_t first = i;
      if (auto st = step(begin, "begin transaction"); !st) {
        for (; i < group.size(); ++i) group[i]->fail(st.error());
        record(group.size() - first, st.error());
        return;
      }
      const bool alone = group.size() - first == 1;  // no savepoint needed: a failure rolls back the transaction
      bool ended = false;
      for (; i < group.size() && !ended; ++i) {
        if (!alone) {
          if (auto st = step(savepoint, "savepoint"); !st) {
            group[i]->fail(st.error());
            continue;
          }
        }
        const bool ok = group[i]->run();
        if (sqlite3_get_autocommit(db)) {
          // The transaction is gone: SQLite rolled it back (an I/O error, a full disk). The jobs before
          // this one in it lost their writes; the rest go in a new transaction.
          Error e = Error::make(ErrorKind::unavailable,
                                name + ": transaction rolled back by an error: " + std::string(sqlite3_errmsg(db)));
          for (std::size_t j = first; j < i; ++j) group[j]->fail(e);
          if (ok) group[i]->fail(e);
          record(i + 1 - first, e);
          ended = true;
          continue;
        }
        if (alone) {
          if (!ok) {
            (void)step(rollback, "rollback");
            record(1, std::nullopt);
            ended = true;
          }
          continue;
        }
        if (!ok && !step(rollback_to, "rollback to savepoint")) {
          // Could not undo this job alone: undo the group (the others fail too, nothing half-written).
          (void)step(rollback, "rollback");
          Error e = Error::make(ErrorKind::unavailable, name + ": rollback to savepoint failed: " + sqlite3_errmsg(db));
          for (std::size_t j = first; j < i; ++j) group[j]->fail(e);
          record(i + 1 - first, e);
          ended = true;
          continue;
        }
        (void)step(release, "release savepoint");
      }
      if (ended) continue;
      if (auto st = step(commit, "commit"); !st) {
        (void)step(rollback, "rollback");
        for (std::size_t j = first; j < i; ++j) group[j]->fail(st.error());
        record(i - first, st.error());
        continue;
      }
      record(i - first, std::nullopt);
    }
  }

  void record(std::size_t jobs, std::optional<Error> error) {
    std::lock_guard lock(stats_mutex);
    ++stats.transactions;
    stats.jobs += jobs;
    stats.largest_group = std::max<std::uint64_t>(stats.largest_group, jobs);
    last_error = std::move(error);
  }
};

namespace {

// Runs a function and hands its status to a waiting thread.
class SyncJob final : public SqliteJob {
 public:
  explicit SyncJob(std::function<Status()> f) : f_(std::move(f)) {}
  std::future<Status> result() { return promise_.get_future(); }
  bool run() override {
    status_ = f_();
    return status_.has_value();
  }
  void fail(Error e) override { status_ = std::unexpected(std::move(e)); }
  void complete() override { promise_.set_value(std::move(status_)); }

 private:
  std::function<Status()> f_;
  Status status_;
  std::promise<Status> promise_;
};

std::mutex registry_mutex;
std::map<std::string, std::weak_ptr<SqliteDatabase>>& registry() {
  static std::map<std::string, std::weak_ptr<SqliteDatabase>> r;
  return r;
}

Status exec(sqlite3* db, const char* sql, const std::string& name) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string text = msg ? msg : sqlite3_errmsg(db);
    sqlite3_free(msg);
    return fail(ErrorKind::unavailable, name + ": " + text);
  }
  return {};
}

}  // namespace

Result<std::shared_ptr<SqliteDatabase>> SqliteDatabase::open(const std::string& path, SqliteDatabaseOptions options) {
  if (path.empty()) return fail(ErrorKind::invalid_input, "database path is empty");
  const bool memory = path == ":memory:";
  std::shared_ptr<SqliteDatabase> d;  // destroyed (on failure) after the lock is released: ~SqliteDatabase takes it
  std::unique_lock lock(registry_mutex, std::defer_lock);
  if (!memory) {
    lock.lock();
    if (auto existing = registry()[path].lock()) return existing;
  }
  const std::string name = "database '" + path + "'";
  d.reset(new SqliteDatabase());
  d->path_ = path;
  auto w = open_sqlite(path, options.what);
  if (!w) return fail(std::move(w.error()));
  d->writer_owned_ = std::make_unique<Worker>(name, *w, memory ? Worker::Mode::in_place : Worker::Mode::writer,
                                              options.max_group);
  d->writer_ = d->writer_owned_.get();
  sqlite3_busy_timeout(*w, static_cast<int>(options.busy_timeout.count()));
  // synchronous first: switching a new file to WAL then costs no fsync. WAL is not available in memory
  // (the pragma then reports "memory", which is fine).
  if (auto st = exec(*w, "PRAGMA foreign_keys=ON;", name); !st) return fail(st.error());
  if (auto st = exec(*w, options.sync_to_disk ? "PRAGMA synchronous=NORMAL;" : "PRAGMA synchronous=OFF;", name); !st) {
    return fail(st.error());
  }
  if (auto st = exec(*w, "PRAGMA journal_mode=WAL;", name); !st) return fail(st.error());
  if (auto st = d->writer_->prepare(); !st) return fail(st.error());
  if (memory) {
    d->reader_ = d->writer_;
  } else {
    auto r = open_sqlite(path, options.what);
    if (!r) return fail(std::move(r.error()));
    d->reader_owned_ = std::make_unique<Worker>(name, *r, Worker::Mode::reader, options.max_group);
    d->reader_ = d->reader_owned_.get();
    sqlite3_busy_timeout(*r, static_cast<int>(options.busy_timeout.count()));
    if (auto st = exec(*r, "PRAGMA query_only=ON;", name); !st) return fail(st.error());
    if (auto st = d->reader_->prepare(); !st) return fail(st.error());
    // No WalCheckpointer here: checkpoints run in the writer's own commits (SQLite's automatic
    // checkpoint, every 1,000 WAL pages), on the writer thread, not on an io thread. A checkpoint on a
    // thread of its own runs while the writer goes on committing, so it never copies the last frames,
    // and the WAL only starts over once a checkpoint has copied them all: under steady writes it never
    // did, and the WAL grew without bound (the soak of 2026-12-08: 6.3 GB in 14 minutes).
  }
  d->writer_->start();
  if (d->reader_owned_) d->reader_->start();
  if (!memory) registry()[path] = d;
  return d;
}

SqliteDatabase::~SqliteDatabase() {
  for (Worker* w : {writer_owned_.get(), reader_owned_.get()}) {
    if (!w) continue;
    w->stop();
    w->finalize();
    sqlite3_close_v2(w->db);
  }
  if (writer_owned_ && writer_owned_->mode == Worker::Mode::writer) {
    std::lock_guard lock(registry_mutex);
    auto it = registry().find(path_);
    if (it != registry().end() && it->second.expired()) registry().erase(it);
  }
}

sqlite3* SqliteDatabase::writer_db() const { return writer_->db; }
sqlite3* SqliteDatabase::reader_db() const { return reader_->db; }
bool SqliteDatabase::in_memory() const { return writer_ == reader_; }

void SqliteDatabase::submit(Worker* w, std::unique_ptr<SqliteJob> job) { w->submit(std::move(job)); }

void SqliteDatabase::submit_write(std::unique_ptr<SqliteJob> job) { writer_->submit(std::move(job)); }

Status SqliteDatabase::write_sync(std::function<Status()> f) {
  auto job = std::make_unique<SyncJob>(std::move(f));
  auto done = job->result();
  writer_->submit(std::move(job));
  return done.get();
}

void SqliteDatabase::barrier() {
  std::vector<std::future<Status>> waits;
  for (Worker* w : {writer_, reader_}) {
    auto job = std::make_unique<SyncJob>([] { return Status{}; });
    waits.push_back(job->result());
    w->submit(std::move(job));
    if (writer_ == reader_) break;
  }
  for (auto& f : waits) f.wait();
}

Status SqliteDatabase::health() const {
  std::lock_guard lock(writer_->stats_mutex);
  if (writer_->last_error) return fail(*writer_->last_error);
  return {};
}

SqliteDatabase::Stats SqliteDatabase::write_stats() const {
  std::lock_guard lock(writer_->stats_mutex);
  return writer_->stats;
}

}  // namespace ba::store
