#pragma once
// SQLite-backed HistoryStore (the embedded default: `--history sqlite:PATH`).
//
// One connection in WAL mode with a busy timeout; every call takes a mutex, so the store is safe to
// share between coroutines and threads. Calls are synchronous inside the returned awaitable: they are
// short local-disk operations on prepared statements and run on the caller's io thread.
#include <chrono>
#include <memory>
#include <string>

#include "store/history.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace ba::store {

struct SqliteOptions {
  std::chrono::milliseconds busy_timeout{5'000};
  Clock* clock = nullptr;  // created_at/updated_at when a turn has none; nullptr: system_clock()
  // false: never fsync (PRAGMA synchronous=OFF). A committed turn still survives the process crashing,
  // not the machine: right for a Lambda sandbox's /tmp, which does not outlive its machine anyway.
  bool sync_to_disk = true;
};

// Opens (creating the file, its parent directory and the schema if needed) the database at `path`.
// ":memory:" gives a private in-memory database. Errors: unavailable (cannot open/create), internal
// (schema newer than this build understands).
Result<std::unique_ptr<HistoryStore>> make_sqlite_history(const std::string& path, SqliteOptions options = {});

}  // namespace ba::store
