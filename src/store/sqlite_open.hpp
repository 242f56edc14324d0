#pragma once
// Opening a SQLite database file for the embedded stores (history, idempotency): creates the parent
// directory, opens read-write/create in serialized mode. ":memory:" gives a private in-memory database.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "util/result.hpp"

struct sqlite3;

namespace ba::store {

// `what` names the database in messages ("history", "idempotency"). Errors: invalid_input (empty path),
// unavailable (the directory cannot be created or the file cannot be opened).
Result<sqlite3*> open_sqlite(const std::string& path, std::string_view what);

// Checkpoints a WAL database file from a thread of its own. In WAL mode with synchronous=NORMAL a commit
// only appends to the WAL; the checkpoint (copying the WAL into the database, every ~1,000 pages) is what
// writes the database and fsyncs, for milliseconds, and SQLite runs it inside the commit that crosses
// the threshold: on the io thread, stalling every request in flight. attach() replaces that automatic
// checkpoint on `db` with a WAL hook that only wakes this thread, which runs a PASSIVE checkpoint
// (it never blocks the writer) on a connection of its own, once `pages` frames were written since the
// last one (SQLite's trigger is the WAL's length, which a checkpoint does not shorten). If it falls
// kFallBehind thresholds behind, the committing connection checkpoints itself, as SQLite would: the WAL
// stays bounded. One thread per file, shared by the connections attached to it; it stops when the last
// user lets go of it.
class WalCheckpointer {
 public:
  // The checkpointer of `path` (started on first use). Errors: unavailable (cannot open the file).
  static Result<std::shared_ptr<WalCheckpointer>> for_file(const std::string& path, int pages = 1000);
  ~WalCheckpointer();
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  // For a store's connection `db` to `path`: attaches it to the file's checkpointer when its commits are
  // synced (`sync_to_disk`) and it is a file. nullptr otherwise (":memory:", no fsync to move, or the
  // checkpointer cannot open the file): SQLite's automatic checkpoint then stays. Keep the result alive
  // until `db` is closed.
  static std::shared_ptr<WalCheckpointer> take_over(sqlite3* db, const std::string& path, bool sync_to_disk);

  // Installs the hook on `db` (a connection to this file). The connection must be closed, or detached,
  // before the last shared_ptr to this checkpointer goes.
  void attach(sqlite3* db);
  static void detach(sqlite3* db);
  std::uint64_t checkpoints() const;  // run by the thread so far (tests)
  bool idle() const;                  // no checkpoint asked for or running (tests)
  static constexpr int kFallBehind = 8;

  struct State;

 private:
  explicit WalCheckpointer(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

}  // namespace ba::store
