#include "store/sqlite_idempotency.hpp"

#include <sqlite3.h>

#include "store/sqlite_open.hpp"

#include <mutex>
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

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }
  bool ok() const { return rc_ == SQLITE_OK; }
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

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

class SqliteIdempotency final : public IdempotencyStore {
 public:
  SqliteIdempotency(sqlite3* db, SqliteIdempotencyOptions options) : db_(db), options_(options) {}
  ~SqliteIdempotency() override { sqlite3_close_v2(db_); }

  void checkpoint_in_background(const std::string& path) {
    checkpointer_ = WalCheckpointer::take_over(db_, path, options_.sync_to_disk);
  }

  Status init() {
    sqlite3_busy_timeout(db_, static_cast<int>(options_.busy_timeout.count()));
    // synchronous first: switching a new file to WAL then costs no fsync.
    if (auto st = exec(options_.sync_to_disk ? "PRAGMA synchronous=NORMAL;" : "PRAGMA synchronous=OFF;"); !st) return st;
    if (auto st = exec("PRAGMA journal_mode=WAL;"); !st) return st;
    if (auto st = exec(kSchema); !st) return st;
    return purge(now_ms());
  }

  boost::asio::awaitable<Result<std::optional<IdempotencyRecord>>> claim(
      std::string owner, std::string key, std::string request_hash, std::chrono::milliseconds in_flight_ttl) override {
    co_return claim_sync(owner, key, request_hash, in_flight_ttl);
  }

  boost::asio::awaitable<Status> complete(std::string owner, std::string key, int status, std::string response_body,
                                          std::chrono::milliseconds retention) override {
    co_return complete_sync(owner, key, status, response_body, retention);
  }

  boost::asio::awaitable<Status> release(std::string owner, std::string key) override {
    std::lock_guard lock(mutex_);
    Statement s(db_, "DELETE FROM idempotency_keys WHERE owner = ?1 AND idem_key = ?2 AND state = 'in_flight';");
    if (!s.ok()) co_return db_error("prepare release");
    s.bind(1, owner).bind(2, key);
    if (s.step() != SQLITE_DONE) co_return db_error("release");
    co_return Status{};
  }

 private:
  std::int64_t now_ms() const {
    Clock& clock = options_.clock ? *options_.clock : system_clock();
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock.wall().time_since_epoch()).count();
  }

  std::unexpected<Error> db_error(std::string_view what) const {
    return fail(ErrorKind::unavailable,
                "idempotency store: " + std::string(what) + " failed: " + sqlite3_errmsg(db_));
  }

  Status exec(const char* sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
      std::string text = msg ? msg : sqlite3_errmsg(db_);
      sqlite3_free(msg);
      return fail(ErrorKind::unavailable, "idempotency store: " + text);
    }
    return {};
  }

  Status purge(std::int64_t now) {
    Statement s(db_, "DELETE FROM idempotency_keys WHERE expires_at_ms <= ?1;");
    if (!s.ok()) return db_error("prepare purge");
    s.bind(1, now);
    if (s.step() != SQLITE_DONE) return db_error("purge expired keys");
    return {};
  }

  Result<std::optional<IdempotencyRecord>> claim_sync(const std::string& owner, const std::string& key,
                                                      const std::string& request_hash,
                                                      std::chrono::milliseconds ttl) {
    std::lock_guard lock(mutex_);
    const std::int64_t now = now_ms();
    if (++claims_ % kPurgeEvery == 0) (void)purge(now);
    if (auto st = exec("BEGIN IMMEDIATE;"); !st) return fail(st.error());
    auto result = [&]() -> Result<std::optional<IdempotencyRecord>> {
      {
        Statement s(db_,
                    "SELECT state, request_hash, status, response_body, expires_at_ms FROM idempotency_keys "
                    "WHERE owner = ?1 AND idem_key = ?2;");
        if (!s.ok()) return db_error("prepare claim");
        s.bind(1, owner).bind(2, key);
        int rc = s.step();
        if (rc == SQLITE_ROW && s.integer(4) > now) {
          IdempotencyRecord r;
          r.state = s.text(0) == "completed" ? IdempotencyRecord::State::completed : IdempotencyRecord::State::in_flight;
          r.request_hash = s.text(1);
          r.status = static_cast<int>(s.integer(2));
          r.response_body = s.text(3);
          r.expires_at_ms = s.integer(4);
          return std::optional<IdempotencyRecord>(std::move(r));
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_error("look up key");
      }
      // Absent or expired: this call claims it.
      Statement w(db_,
                  "INSERT OR REPLACE INTO idempotency_keys (owner, idem_key, state, request_hash, status, response_body, "
                  "expires_at_ms) VALUES (?1, ?2, 'in_flight', ?3, 0, '', ?4);");
      if (!w.ok()) return db_error("prepare claim");
      w.bind(1, owner).bind(2, key).bind(3, request_hash).bind(4, now + ttl.count());
      if (w.step() != SQLITE_DONE) return db_error("claim key");
      return std::optional<IdempotencyRecord>();
    }();
    if (!result) {
      (void)exec("ROLLBACK;");
      return result;
    }
    if (auto st = exec("COMMIT;"); !st) {
      (void)exec("ROLLBACK;");
      return fail(st.error());
    }
    return result;
  }

  Status complete_sync(const std::string& owner, const std::string& key, int status, const std::string& body,
                       std::chrono::milliseconds retention) {
    std::lock_guard lock(mutex_);
    Statement s(db_,
                "UPDATE idempotency_keys SET state = 'completed', status = ?3, response_body = ?4, expires_at_ms = ?5 "
                "WHERE owner = ?1 AND idem_key = ?2 AND state = 'in_flight';");
    if (!s.ok()) return db_error("prepare complete");
    s.bind(1, owner).bind(2, key).bind(3, static_cast<std::int64_t>(status)).bind(4, body).bind(5, now_ms() + retention.count());
    if (s.step() != SQLITE_DONE) return db_error("complete key");
    if (sqlite3_changes(db_) == 0) {
      return fail(ErrorKind::conflict, "idempotency key '" + key + "' is not in flight (released, expired and purged, "
                                       "or already completed)");
    }
    return {};
  }

  sqlite3* db_;
  SqliteIdempotencyOptions options_;
  std::shared_ptr<WalCheckpointer> checkpointer_;  // outlives db_: its hook is called by db_'s commits
  std::mutex mutex_;
  std::uint64_t claims_ = 0;
};

}  // namespace

Result<std::unique_ptr<IdempotencyStore>> make_sqlite_idempotency(const std::string& path,
                                                                  SqliteIdempotencyOptions options) {
  if (path.empty()) return fail(ErrorKind::invalid_input, "idempotency database path is empty");
  auto db = open_sqlite(path, "idempotency");
  if (!db) return fail(std::move(db.error()));
  auto store = std::make_unique<SqliteIdempotency>(*db, options);
  if (auto st = store->init(); !st) {
    Error e = st.error();
    e.message = "idempotency database '" + path + "': " + e.message;
    return fail(std::move(e));
  }
  store->checkpoint_in_background(path);
  return std::unique_ptr<IdempotencyStore>(std::move(store));
}

}  // namespace ba::store
