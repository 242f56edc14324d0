#pragma once
// SQLite-backed IdempotencyStore: table `idempotency_keys` in the history database file (its own
// connection, WAL, busy timeout; every call takes a mutex and runs one short transaction on the caller's
// thread). Expired rows are replaced on claim and purged now and then.
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
