#include "store/sqlite_open.hpp"

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>

namespace ba::store {
namespace {

// Once, before the first connection opens (SQLite takes configuration only before it initializes).
// Memory statistics off: with them on (SQLite's default), every allocation SQLite makes takes one
// process-wide mutex, which the writer, the reader and the checkpointer threads all contend for; nothing
// here reads the statistics (sqlite3_memory_used, a soft heap limit). -6 % of an append's SQL
// (`make bench-sqlite`, BM_AppendMemory: 11.4 -> 10.8 us).
void configure_sqlite() {
  static const int rc = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);  // SQLITE_MISUSE if already initialized
  (void)rc;
}

}  // namespace

Result<sqlite3*> open_sqlite(const std::string& path, std::string_view what) {
  const std::string name(what);
  if (path.empty()) return fail(ErrorKind::invalid_input, name + " database path is empty");
  if (path != ":memory:") {
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(parent, ec);
      if (ec) {
        return fail(ErrorKind::unavailable,
                    "cannot create directory '" + parent.string() + "' for the " + name + " database: " + ec.message());
      }
    }
  }
  configure_sqlite();
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return fail(ErrorKind::unavailable, "cannot open " + name + " database '" + path + "': " + msg);
  }
  return db;
}

struct WalCheckpointer::State {
  std::string path;
  int pages = 1000;
  sqlite3* db = nullptr;  // the checkpointer's own connection, used by its thread only
  std::mutex mutex;
  std::condition_variable wake;
  bool requested = false;  // a checkpoint is asked for or running: commits do not ask again
  bool stopping = false;
  std::uint64_t done = 0;
  // The WAL's frames copied into the database by the last checkpoint. The WAL hook reports the WAL's
  // length, which a checkpoint does not shorten (the next writer starts the WAL over only once everything
  // was copied and no reader still uses it): counting from here, a checkpoint runs once `pages` new
  // frames were written, not after every commit once the WAL passed `pages` (each checkpoint syncs the
  // WAL and the database: that was an fsync per commit or two, competing with the writer's).
  std::atomic<int> backfilled{0};
  std::atomic<int> last_wal{0};  // the WAL's length at the last commit
  std::thread thread;

  // Frames written since the last checkpoint, for a WAL of `wal_pages` frames (on the committing thread).
  int pending(int wal_pages) {
    const int before = last_wal.exchange(wal_pages, std::memory_order_relaxed);
    int copied = backfilled.load(std::memory_order_relaxed);
    if (wal_pages < before || wal_pages < copied) {  // shorter than before: the WAL started over
      copied = 0;
      backfilled.store(0, std::memory_order_relaxed);
    }
    return wal_pages - copied;
  }

  void checkpoint(sqlite3* on) {
    int log = 0, copied = 0;
    // PASSIVE: copies what it can without waiting for the writer or readers; what is left goes next time.
    if (sqlite3_wal_checkpoint_v2(on, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &copied) == SQLITE_OK)
      backfilled.store(copied, std::memory_order_relaxed);
  }

  void run() {
    for (;;) {
      {
        std::unique_lock lock(mutex);
        wake.wait(lock, [this] { return requested || stopping; });
        if (stopping) return;
      }
      checkpoint(db);
      std::lock_guard lock(mutex);
      requested = false;
      ++done;
    }
  }
};

namespace {

std::mutex registry_mutex;
std::map<std::string, std::weak_ptr<WalCheckpointer>>& registry() {
  static std::map<std::string, std::weak_ptr<WalCheckpointer>> r;
  return r;
}

// Runs on the committing thread: only a flag and a notify (no I/O) once the WAL is long enough. If the
// checkpointer falls far behind (a long burst of writes), the committing connection checkpoints itself,
// as SQLite would have: the WAL stays bounded.
int on_commit(void* arg, sqlite3* db, const char*, int wal_pages) {
  auto* st = static_cast<WalCheckpointer::State*>(arg);
  const int pending = st->pending(wal_pages);
  if (pending < st->pages) return SQLITE_OK;
  if (pending >= WalCheckpointer::kFallBehind * st->pages) {
    st->checkpoint(db);
    return SQLITE_OK;
  }
  {
    std::lock_guard lock(st->mutex);
    if (st->requested) return SQLITE_OK;  // asked for, or running
    st->requested = true;
  }
  st->wake.notify_one();
  return SQLITE_OK;
}

}  // namespace

Result<std::shared_ptr<WalCheckpointer>> WalCheckpointer::for_file(const std::string& path, int pages) {
  std::lock_guard lock(registry_mutex);
  auto& slot = registry()[path];
  if (auto existing = slot.lock()) return existing;
  auto db = open_sqlite(path, "checkpointer");
  if (!db) return fail(std::move(db.error()));
  auto st = std::make_shared<State>();
  st->path = path;
  st->pages = pages;
  st->db = *db;
  sqlite3_busy_timeout(st->db, 5'000);  // this thread may wait; the io thread does not
  // As the writers: the checkpoint syncs the WAL and the database (NORMAL), which is the point of moving it.
  sqlite3_exec(st->db, "PRAGMA synchronous=NORMAL;", nullptr, nullptr, nullptr);
  st->thread = std::thread([raw = st.get()] { raw->run(); });
  std::shared_ptr<WalCheckpointer> c(new WalCheckpointer(std::move(st)));
  slot = c;
  return c;
}

WalCheckpointer::WalCheckpointer(std::shared_ptr<State> state) : state_(std::move(state)) {}

WalCheckpointer::~WalCheckpointer() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
  }
  state_->wake.notify_one();
  if (state_->thread.joinable()) state_->thread.join();
  sqlite3_close_v2(state_->db);
  std::lock_guard lock(registry_mutex);
  auto it = registry().find(state_->path);
  if (it != registry().end() && it->second.expired()) registry().erase(it);
}

std::shared_ptr<WalCheckpointer> WalCheckpointer::take_over(sqlite3* db, const std::string& path,
                                                           bool sync_to_disk) {
  if (!sync_to_disk || path == ":memory:") return nullptr;
  auto c = for_file(path);
  if (!c) return nullptr;
  (*c)->attach(db);
  return std::move(*c);
}

void WalCheckpointer::attach(sqlite3* db) { sqlite3_wal_hook(db, on_commit, state_.get()); }

void WalCheckpointer::detach(sqlite3* db) { sqlite3_wal_hook(db, nullptr, nullptr); }

std::uint64_t WalCheckpointer::checkpoints() const {
  std::lock_guard lock(state_->mutex);
  return state_->done;
}

bool WalCheckpointer::idle() const {
  std::lock_guard lock(state_->mutex);
  return !state_->requested;
}

}  // namespace ba::store
