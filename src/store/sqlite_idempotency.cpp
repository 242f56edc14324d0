#include "store/sqlite_idempotency.hpp"

#include <sqlite3.h>

#include "store/sqlite_worker.hpp"

#include <atomic>
#include <utility>

namespace ba::store {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS idempotency_keys (
  owner         TEXT NOT NULL,
  idem_key      TEXT NOT NULL,
  state         TEXT NOT NULL CHECK (state IN ('in_flight', 'completed')),
  request_hash  TEXT NOT NULL,
  status        INTEGER NOT NULL DEFAULT 0,
  response_body TEXT NOT NULL DEFAULT '',
  expires_at_ms INTEGER NOT NULL,
  PRIMARY KEY (owner, idem_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON idempotency_keys (expires_at_ms);
)sql";

constexpr int kPurgeEvery = 256;  // claims between purges of expired rows

// A statement prepared once on one connection, reset after each use.
class Statement {
 public:
  Statement() = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { finalize(); }
  void finalize() {
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
  }
  bool prepare(sqlite3* db, const char* sql) {
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) == SQLITE_OK;
  }
  Statement& bind(int i, std::string_view s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  int step() { return sqlite3_step(stmt_); }
  std::string text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

struct Reset {
  Statement& s;
  ~Reset() { s.reset(); }
};

// Every call is a write (a claim is conditional: it must see the claims before it), so every call goes
// to the file's writer thread (store/sqlite_worker.hpp): in the order submitted, in a savepoint of its
// own inside the writer's group transaction; the caller resumes once that committed.
class SqliteIdempotency final : public IdempotencyStore {
 public:
  SqliteIdempotency(std::shared_ptr<SqliteDatabase> db, SqliteIdempotencyOptions options)
      : db_(std::move(db)), options_(options) {}
  ~SqliteIdempotency() override {
    db_->barrier();  // every job of this store has run (they point at it)
    for (Statement* s : {&select_, &claim_, &complete_, &release_, &purge_}) s->finalize();
  }

  Status init() {
    const std::int64_t now = now_ms();
    if (auto st = db_->write_sync([this] { return exec(kSchema); }); !st) return st;
    sqlite3* w = db_->writer_db();
    struct {
      Statement* s;
      const char* sql;
    } const statements[] = {
        {&select_, "SELECT state, request_hash, status, response_body, expires_at_ms FROM idempotency_keys "
                   "WHERE owner = ?1 AND idem_key = ?2;"},
        {&claim_, "INSERT OR REPLACE INTO idempotency_keys (owner, idem_key, state, request_hash, status, response_body, "
                  "expires_at_ms) VALUES (?1, ?2, 'in_flight', ?3, 0, '', ?4);"},
        {&complete_, "UPDATE idempotency_keys SET state = 'completed', status = ?3, response_body = ?4, expires_at_ms = ?5 "
                     "WHERE owner = ?1 AND idem_key = ?2 AND state = 'in_flight';"},
        {&release_, "DELETE FROM idempotency_keys WHERE owner = ?1 AND idem_key = ?2 AND state = 'in_flight';"},
        {&purge_, "DELETE FROM idempotency_keys WHERE expires_at_ms <= ?1;"},
    };
    for (const auto& [s, sql] : statements) {
      if (!s->prepare(w, sql)) return db_error("prepare statement");
    }
    return db_->write_sync([this, now] { return purge(now); });
  }

  boost::asio::awaitable<Result<std::optional<IdempotencyRecord>>> claim(
      std::string owner, std::string key, std::string request_hash, std::chrono::milliseconds in_flight_ttl) override {
    const std::int64_t now = now_ms();  // the clock is read on the caller's thread
    const bool purge_now = ++claims_ % kPurgeEvery == 0;
    return db_->write<Result<std::optional<IdempotencyRecord>>>(
        [this, owner = std::move(owner), key = std::move(key), hash = std::move(request_hash), in_flight_ttl, now,
         purge_now] {
          if (purge_now) (void)purge(now);
          return claim_sync(owner, key, hash, in_flight_ttl, now);
        });
  }

  boost::asio::awaitable<Status> complete(std::string owner, std::string key, int status, std::string response_body,
                                          std::chrono::milliseconds retention) override {
    const std::int64_t expires = now_ms() + retention.count();
    return db_->write<Status>([this, owner = std::move(owner), key = std::move(key), status,
                               body = std::move(response_body), expires] {
      return complete_sync(owner, key, status, body, expires);
    });
  }

  boost::asio::awaitable<Status> release(std::string owner, std::string key) override {
    return db_->write<Status>([this, owner = std::move(owner), key = std::move(key)]() -> Status {
      Reset r{release_};
      release_.bind(1, owner).bind(2, key);
      if (release_.step() != SQLITE_DONE) return db_error("release");
      return {};
    });
  }

 private:
  std::int64_t now_ms() const {
    Clock& clock = options_.clock ? *options_.clock : system_clock();
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock.wall().time_since_epoch()).count();
  }

  std::unexpected<Error> db_error(std::string_view what) const {
    return fail(ErrorKind::unavailable,
                "idempotency store: " + std::string(what) + " failed: " + sqlite3_errmsg(db_->writer_db()));
  }

  Status exec(const char* sql) {
    sqlite3* db = db_->writer_db();
    char* msg = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
      std::string text = msg ? msg : sqlite3_errmsg(db);
      sqlite3_free(msg);
      return fail(ErrorKind::unavailable, "idempotency store: " + text);
    }
    return {};
  }

  // On the writer's thread (as everything below).
  Status purge(std::int64_t now) {
    Reset r{purge_};
    purge_.bind(1, now);
    if (purge_.step() != SQLITE_DONE) return db_error("purge expired keys");
    return {};
  }

  Result<std::optional<IdempotencyRecord>> claim_sync(const std::string& owner, const std::string& key,
                                                      const std::string& request_hash, std::chrono::milliseconds ttl,
                                                      std::int64_t now) {
    {
      Reset r{select_};
      select_.bind(1, owner).bind(2, key);
      int rc = select_.step();
      if (rc == SQLITE_ROW && select_.integer(4) > now) {
        IdempotencyRecord rec;
        rec.state = select_.text(0) == "completed" ? IdempotencyRecord::State::completed
                                                   : IdempotencyRecord::State::in_flight;
        rec.request_hash = select_.text(1);
        rec.status = static_cast<int>(select_.integer(2));
        rec.response_body = select_.text(3);
        rec.expires_at_ms = select_.integer(4);
        return std::optional<IdempotencyRecord>(std::move(rec));
      }
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_error("look up key");
    }
    // Absent or expired: this call claims it.
    Reset r{claim_};
    claim_.bind(1, owner).bind(2, key).bind(3, request_hash).bind(4, now + ttl.count());
    if (claim_.step() != SQLITE_DONE) return db_error("claim key");
    return std::optional<IdempotencyRecord>();
  }

  Status complete_sync(const std::string& owner, const std::string& key, int status, const std::string& body,
                       std::int64_t expires_at_ms) {
    Reset r{complete_};
    complete_.bind(1, owner).bind(2, key).bind(3, static_cast<std::int64_t>(status)).bind(4, body).bind(5, expires_at_ms);
    if (complete_.step() != SQLITE_DONE) return db_error("complete key");
    if (sqlite3_changes(db_->writer_db()) == 0) {
      return fail(ErrorKind::conflict, "idempotency key '" + key + "' is not in flight (released, expired and purged, "
                                       "or already completed)");
    }
    return {};
  }

  std::shared_ptr<SqliteDatabase> db_;
  SqliteIdempotencyOptions options_;
  std::atomic<std::uint64_t> claims_{0};
  Statement select_, claim_, complete_, release_, purge_;  // the writer's connection, used by its thread
};

}  // namespace

Result<std::unique_ptr<IdempotencyStore>> make_sqlite_idempotency(const std::string& path,
                                                                  SqliteIdempotencyOptions options) {
  if (path.empty()) return fail(ErrorKind::invalid_input, "idempotency database path is empty");
  auto db = SqliteDatabase::open(path, SqliteDatabaseOptions{.busy_timeout = options.busy_timeout,
                                                             .sync_to_disk = options.sync_to_disk,
                                                             .what = "idempotency"});
  if (!db) return fail(std::move(db.error()));
  auto store = std::make_unique<SqliteIdempotency>(std::move(*db), options);
  if (auto st = store->init(); !st) {
    Error e = st.error();
    e.message = "idempotency database '" + path + "': " + e.message;
    return fail(std::move(e));
  }
  return std::unique_ptr<IdempotencyStore>(std::move(store));
}

}  // namespace ba::store
