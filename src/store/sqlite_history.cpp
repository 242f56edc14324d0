#include "store/sqlite_history.hpp"

#include <sqlite3.h>

#include "store/sqlite_open.hpp"

#include <algorithm>
#include <charconv>
#include <mutex>
#include <utility>

namespace ba::store {
namespace {

// 1: conversations and turns; 2: the index behind list() (added by the same IF NOT EXISTS script).
constexpr int kSchemaVersion = 2;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS conversations (
  id            TEXT PRIMARY KEY,
  owner         TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
  conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
  seq             INTEGER NOT NULL,
  user_input      TEXT NOT NULL,
  assistant_reply TEXT NOT NULL,
  model_id        TEXT NOT NULL,
  input_tokens    INTEGER NOT NULL,
  output_tokens   INTEGER NOT NULL,
  stop_reason     TEXT NOT NULL,
  created_at_ms   INTEGER NOT NULL,
  request_id      TEXT NOT NULL,
  PRIMARY KEY (conversation_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS conversations_by_owner ON conversations (owner, created_at_ms, id);
)sql";

// A prepared statement, reset after each use.
class Stmt {
 public:
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { finalize(); }
  void finalize() {
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
  }

  int prepare(sqlite3* db, const char* sql) { return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr); }
  sqlite3_stmt* get() const { return stmt_; }

  void bind(int i, std::string_view s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  void bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
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

// Resets a statement when the scope ends (every exit path).
struct ResetGuard {
  Stmt& s;
  ~ResetGuard() { s.reset(); }
};

class SqliteHistory final : public HistoryStore {
 public:
  SqliteHistory(sqlite3* db, SqliteOptions options) : db_(db), options_(options) {}
  ~SqliteHistory() override {
    // Statements must be finalized before the connection closes.
    for (Stmt* s : all_statements()) s->finalize();
    sqlite3_close_v2(db_);
  }

  void checkpoint_in_background(const std::string& path) {
    checkpointer_ = WalCheckpointer::take_over(db_, path, options_.sync_to_disk);
  }

  Status init() {
    if (auto st = exec("PRAGMA foreign_keys=ON;"); !st) return st;
    sqlite3_busy_timeout(db_, static_cast<int>(options_.busy_timeout.count()));
    // WAL is not available for in-memory databases; the pragma then reports "memory", which is fine.
    // synchronous first: switching a new file to WAL then costs no fsync.
    if (auto st = exec(options_.sync_to_disk ? "PRAGMA synchronous=NORMAL;" : "PRAGMA synchronous=OFF;"); !st) return st;
    if (auto st = exec("PRAGMA journal_mode=WAL;"); !st) return st;

    int version = 0;
    {
      Stmt v;
      if (v.prepare(db_, "PRAGMA user_version;") != SQLITE_OK) return db_error("read schema version");
      if (v.step() == SQLITE_ROW) version = static_cast<int>(v.integer(0));
    }
    if (version > kSchemaVersion) {
      return fail(ErrorKind::internal, "history database schema version " + std::to_string(version) +
                                           " is newer than this build supports (" + std::to_string(kSchemaVersion) +
                                           "); upgrade bedrock-agent or use another --history path");
    }
    if (version < kSchemaVersion) {
      if (auto st = exec("BEGIN IMMEDIATE;"); !st) return st;
      if (auto st = exec(kSchema); !st) {
        exec("ROLLBACK;");
        return st;
      }
      if (auto st = exec("PRAGMA user_version=" + std::to_string(kSchemaVersion) + ";"); !st) {
        exec("ROLLBACK;");
        return st;
      }
      if (auto st = exec("COMMIT;"); !st) return st;
    }

    struct {
      Stmt* s;
      const char* sql;
    } const statements[] = {
        {&owner_of_, "SELECT owner FROM conversations WHERE id = ?1;"},
        {&insert_conversation_,
         "INSERT INTO conversations (id, owner, created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?3);"},
        {&touch_conversation_, "UPDATE conversations SET updated_at_ms = ?2 WHERE id = ?1;"},
        {&next_seq_, "SELECT COALESCE(MAX(seq), 0) + 1 FROM turns WHERE conversation_id = ?1;"},
        {&insert_turn_,
         "INSERT INTO turns (conversation_id, seq, user_input, assistant_reply, model_id, input_tokens, "
         "output_tokens, stop_reason, created_at_ms, request_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10);"},
        {&load_turns_,
         "SELECT seq, user_input, assistant_reply, model_id, input_tokens, output_tokens, stop_reason, "
         "created_at_ms, request_id FROM turns WHERE conversation_id = ?1 ORDER BY seq DESC LIMIT ?2;"},
        {&delete_turns_, "DELETE FROM turns WHERE conversation_id = ?1;"},
        {&delete_conversation_, "DELETE FROM conversations WHERE id = ?1;"},
        {&list_,
         "SELECT c.id, c.created_at_ms, c.updated_at_ms, "
         "(SELECT user_input FROM turns t WHERE t.conversation_id = c.id ORDER BY seq LIMIT 1), "
         "(SELECT COALESCE(MAX(seq), 0) FROM turns t WHERE t.conversation_id = c.id) "
         "FROM conversations c WHERE c.owner = ?1 AND "
         "(?2 = 0 OR c.created_at_ms < ?3 OR (c.created_at_ms = ?3 AND c.id < ?4)) "
         "ORDER BY c.created_at_ms DESC, c.id DESC LIMIT ?5;"},
        {&begin_, "BEGIN IMMEDIATE;"},
        {&commit_, "COMMIT;"},
        {&rollback_, "ROLLBACK;"},
        {&ping_, "SELECT 1;"},
    };
    for (const auto& [s, sql] : statements) {
      if (s->prepare(db_, sql) != SQLITE_OK) return db_error("prepare statement");
    }
    return {};
  }

  boost::asio::awaitable<Result<std::vector<Turn>>> load(std::string owner, std::string conversation_id,
                                                         std::size_t limit) override {
    co_return load_sync(owner, conversation_id, limit);
  }

  boost::asio::awaitable<Result<Turn>> append(std::string owner, Turn turn) override {
    co_return append_sync(owner, std::move(turn));
  }

  boost::asio::awaitable<Result<std::optional<std::string>>> owner_of(std::string conversation_id) override {
    co_return owner_locked(conversation_id);
  }

  boost::asio::awaitable<Status> remove(std::string owner, std::string conversation_id) override {
    co_return remove_sync(owner, conversation_id);
  }

  boost::asio::awaitable<Result<ConversationPage>> list(std::string owner, std::size_t limit,
                                                       std::string cursor) override {
    co_return list_sync(owner, limit, cursor);
  }

  Status check() override {
    std::lock_guard lock(mutex_);
    ResetGuard g{ping_};
    if (ping_.step() != SQLITE_ROW) return db_error("health check");
    return {};
  }

 private:
  std::vector<Stmt*> all_statements() {
    return {&list_, &owner_of_, &insert_conversation_, &touch_conversation_, &next_seq_, &insert_turn_, &load_turns_,
            &delete_turns_, &delete_conversation_, &begin_, &commit_, &rollback_, &ping_};
  }

  std::unexpected<Error> db_error(std::string_view what) const {
    return fail(ErrorKind::unavailable, "history store: " + std::string(what) + " failed: " + sqlite3_errmsg(db_));
  }

  Status exec(const std::string& sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
      std::string text = msg ? msg : sqlite3_errmsg(db_);
      sqlite3_free(msg);
      return fail(ErrorKind::unavailable, "history store: " + text);
    }
    return {};
  }

  std::int64_t now_ms() const {
    Clock& clock = options_.clock ? *options_.clock : system_clock();
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock.wall().time_since_epoch()).count();
  }

  Result<std::optional<std::string>> owner_locked(std::string_view id) {
    std::lock_guard lock(mutex_);
    return owner_sync(id);
  }

  // The conversation's owner; nullopt if absent. Caller holds the mutex.
  Result<std::optional<std::string>> owner_sync(std::string_view id) {
    ResetGuard g{owner_of_};
    owner_of_.bind(1, id);
    int rc = owner_of_.step();
    if (rc == SQLITE_ROW) return std::optional<std::string>(owner_of_.text(0));
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    return db_error("look up conversation");
  }

  static std::unexpected<Error> not_found(std::string_view id) {
    return fail(ErrorKind::not_found, "conversation '" + std::string(id) + "' not found");
  }

  Status step_done(Stmt& s, std::string_view what) {
    ResetGuard g{s};
    if (s.step() != SQLITE_DONE) return db_error(what);
    return {};
  }

  Result<std::vector<Turn>> load_sync(const std::string& owner, const std::string& id, std::size_t limit) {
    std::lock_guard lock(mutex_);
    auto who = owner_sync(id);
    if (!who) return fail(who.error());
    if (!*who || **who != owner) return not_found(id);
    std::vector<Turn> turns;
    if (limit == 0) return turns;
    ResetGuard g{load_turns_};
    load_turns_.bind(1, id);
    load_turns_.bind(2, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
    int rc;
    while ((rc = load_turns_.step()) == SQLITE_ROW) {
      Turn t;
      t.conversation_id = id;
      t.seq = load_turns_.integer(0);
      t.user_input = load_turns_.text(1);
      t.assistant_reply = load_turns_.text(2);
      t.model_id = load_turns_.text(3);
      t.input_tokens = load_turns_.integer(4);
      t.output_tokens = load_turns_.integer(5);
      t.stop_reason = load_turns_.text(6);
      t.created_at_ms = load_turns_.integer(7);
      t.request_id = load_turns_.text(8);
      turns.push_back(std::move(t));
    }
    if (rc != SQLITE_DONE) return db_error("load turns");
    std::reverse(turns.begin(), turns.end());
    return turns;
  }

  // Runs `body` inside BEGIN IMMEDIATE ... COMMIT, rolling back on failure. Caller holds the mutex.
  template <class F>
  auto transaction(F&& body) -> decltype(body()) {
    if (auto st = step_done(begin_, "begin transaction"); !st) return fail(st.error());
    auto result = body();
    if (!result) {
      (void)step_done(rollback_, "rollback");
      return result;
    }
    if (auto st = step_done(commit_, "commit"); !st) {
      (void)step_done(rollback_, "rollback");
      return fail(st.error());
    }
    return result;
  }

  Result<Turn> append_sync(const std::string& owner, Turn turn) {
    std::lock_guard lock(mutex_);
    return transaction([&]() -> Result<Turn> {
      const std::int64_t now = now_ms();
      if (turn.created_at_ms == 0) turn.created_at_ms = now;
      auto who = owner_sync(turn.conversation_id);
      if (!who) return fail(who.error());
      if (*who && **who != owner) return not_found(turn.conversation_id);
      if (!*who) {
        ResetGuard g{insert_conversation_};
        insert_conversation_.bind(1, turn.conversation_id);
        insert_conversation_.bind(2, owner);
        insert_conversation_.bind(3, turn.created_at_ms);
        if (insert_conversation_.step() != SQLITE_DONE) return db_error("create conversation");
      } else {
        ResetGuard g{touch_conversation_};
        touch_conversation_.bind(1, turn.conversation_id);
        touch_conversation_.bind(2, turn.created_at_ms);
        if (touch_conversation_.step() != SQLITE_DONE) return db_error("update conversation");
      }
      {
        ResetGuard g{next_seq_};
        next_seq_.bind(1, turn.conversation_id);
        if (next_seq_.step() != SQLITE_ROW) return db_error("next sequence number");
        turn.seq = next_seq_.integer(0);
      }
      ResetGuard g{insert_turn_};
      insert_turn_.bind(1, turn.conversation_id);
      insert_turn_.bind(2, turn.seq);
      insert_turn_.bind(3, turn.user_input);
      insert_turn_.bind(4, turn.assistant_reply);
      insert_turn_.bind(5, turn.model_id);
      insert_turn_.bind(6, turn.input_tokens);
      insert_turn_.bind(7, turn.output_tokens);
      insert_turn_.bind(8, turn.stop_reason);
      insert_turn_.bind(9, turn.created_at_ms);
      insert_turn_.bind(10, turn.request_id);
      if (insert_turn_.step() != SQLITE_DONE) return db_error("insert turn");
      return turn;
    });
  }

  // Cursor position: "<created_at_ms> <id>" of the page's last conversation.
  Result<ConversationPage> list_sync(const std::string& owner, std::size_t limit, const std::string& cursor) {
    std::int64_t after_ms = 0;
    std::string after_id;
    if (!cursor.empty()) {
      auto pos = decode_cursor(cursor);
      const auto space = pos ? pos->find(' ') : std::string::npos;
      if (space == std::string::npos) return fail(ErrorKind::invalid_input, "cursor is not one this server handed out");
      const char* end = pos->data() + space;
      if (auto [p, ec] = std::from_chars(pos->data(), end, after_ms); ec != std::errc() || p != end) {
        return fail(ErrorKind::invalid_input, "cursor is not one this server handed out");
      }
      after_id = pos->substr(space + 1);
    }
    limit = std::clamp<std::size_t>(limit, 1, 1000);
    std::lock_guard lock(mutex_);
    ResetGuard g{list_};
    list_.bind(1, owner);
    list_.bind(2, std::int64_t{cursor.empty() ? 0 : 1});
    list_.bind(3, after_ms);
    list_.bind(4, after_id);
    list_.bind(5, static_cast<std::int64_t>(limit + 1));
    ConversationPage page;
    int rc;
    while ((rc = list_.step()) == SQLITE_ROW) {
      if (page.conversations.size() == limit) {
        const auto& last = page.conversations.back();
        page.next_cursor = encode_cursor(std::to_string(last.created_at_ms) + " " + last.id);
        break;
      }
      ConversationSummary c;
      c.id = list_.text(0);
      c.created_at_ms = list_.integer(1);
      c.updated_at_ms = list_.integer(2);
      c.title = conversation_title(list_.text(3));
      c.turns = list_.integer(4);
      page.conversations.push_back(std::move(c));
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_error("list conversations");
    return page;
  }

  Status remove_sync(const std::string& owner, const std::string& id) {
    std::lock_guard lock(mutex_);
    return transaction([&]() -> Status {
      auto who = owner_sync(id);
      if (!who) return fail(who.error());
      if (!*who || **who != owner) return not_found(id);
      delete_turns_.bind(1, id);
      if (auto st = step_done(delete_turns_, "delete turns"); !st) return st;
      delete_conversation_.bind(1, id);
      return step_done(delete_conversation_, "delete conversation");
    });
  }

  sqlite3* db_;
  SqliteOptions options_;
  std::shared_ptr<WalCheckpointer> checkpointer_;  // outlives db_: its hook is called by db_'s commits
  std::mutex mutex_;
  Stmt owner_of_, insert_conversation_, touch_conversation_, next_seq_, insert_turn_, load_turns_, delete_turns_,
      delete_conversation_, list_, begin_, commit_, rollback_, ping_;
};

}  // namespace

Result<std::unique_ptr<HistoryStore>> make_sqlite_history(const std::string& path, SqliteOptions options) {
  if (path.empty()) return fail(ErrorKind::invalid_input, "history path is empty (expected --history sqlite:PATH)");
  auto db = open_sqlite(path, "history");
  if (!db) return fail(std::move(db.error()));
  auto store = std::make_unique<SqliteHistory>(*db, options);
  if (auto st = store->init(); !st) {
    Error e = st.error();
    e.message = "history database '" + path + "': " + e.message;
    return fail(std::move(e));
  }
  store->checkpoint_in_background(path);
  return std::unique_ptr<HistoryStore>(std::move(store));
}

}  // namespace ba::store
