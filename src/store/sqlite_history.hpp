#pragma once
// SQLite-backed HistoryStore (the embedded default: `--history sqlite:PATH`).
//
// WAL mode. The io thread never runs SQLite: appends and removes go to the file's writer thread, which
// commits everything queued in one transaction (group commit), loads and lists to a reader thread with a
// connection of its own; the awaiting coroutine resumes on its executor once the transaction committed
// (store/sqlite_worker.hpp). An append's result (and so a 200) means its turn is committed: with
// sync_to_disk it survives the process being killed, not a power loss (docs/storage.md, "Durability").
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
