#pragma once
// SQLite-backed IdempotencyStore: table `idempotency_keys` in the history database file. Its calls go to
// the file's writer thread, shared with the history store of the same file (store/sqlite_worker.hpp): the
// io thread never runs SQLite. Expired rows are replaced on claim and purged now and then.
#include <chrono>
#include <memory>
#include <string>

#include "store/idempotency.hpp"
#include "util/clock.hpp"
#include "util/result.hpp"

namespace ba::store {

struct SqliteIdempotencyOptions {
  std::chrono::milliseconds busy_timeout{5'000};
  Clock* clock = nullptr;  // expiry; nullptr: system_clock()
  bool sync_to_disk = true;  // as SqliteOptions::sync_to_disk
};

// Opens (creating the file, its parent directory and the table if needed) the database at `path`, usually
// the same file as `--history sqlite:PATH`. ":memory:" gives a private in-memory database.
// Errors: invalid_input (empty path), unavailable (cannot open/create).
Result<std::unique_ptr<IdempotencyStore>> make_sqlite_idempotency(const std::string& path,
                                                                  SqliteIdempotencyOptions options = {});

}  // namespace ba::store
