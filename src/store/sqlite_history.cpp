#include "store/sqlite_history.hpp"

#include <sqlite3.h>

#include "store/sqlite_worker.hpp"

#include <algorithm>
#include <charconv>
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
  SqliteHistory(std::shared_ptr<SqliteDatabase> db, SqliteOptions options) : db_(std::move(db)), options_(options) {}
  ~SqliteHistory() override {
    // Every job of this store has run (the jobs point at it), then its statements go before the
    // connections can close.
    db_->barrier();
    for (Stmt* s : all_statements()) s->finalize();
  }

  Status init() {
    auto schema = db_->write_sync([this]() -> Status {
      sqlite3* w = db_->writer_db();
      int version = 0;
      {
        Stmt v;
        if (v.prepare(w, "PRAGMA user_version;") != SQLITE_OK) return db_error(w, "read schema version");
        if (v.step() == SQLITE_ROW) version = static_cast<int>(v.integer(0));
      }
      if (version > kSchemaVersion) {
        return fail(ErrorKind::internal, "history database schema version " + std::to_string(version) +
                                             " is newer than this build supports (" + std::to_string(kSchemaVersion) +
                                             "); upgrade bedrock-agent or use another --history path");
      }
      if (version < kSchemaVersion) {
        if (auto st = exec(w, kSchema); !st) return st;
        if (auto st = exec(w, "PRAGMA user_version=" + std::to_string(kSchemaVersion) + ";"); !st) return st;
      }
      return {};
    });
    if (!schema) return schema;

    struct {
      Stmt* s;
      sqlite3* db;
      const char* sql;
    } const statements[] = {
        // The writer's connection.
        {&w_owner_of_, db_->writer_db(), "SELECT owner FROM conversations WHERE id = ?1;"},
        {&insert_conversation_, db_->writer_db(),
         "INSERT INTO conversations (id, owner, created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?3);"},
        {&touch_conversation_, db_->writer_db(), "UPDATE conversations SET updated_at_ms = ?2 WHERE id = ?1;"},
        {&next_seq_, db_->writer_db(), "SELECT COALESCE(MAX(seq), 0) + 1 FROM turns WHERE conversation_id = ?1;"},
        {&insert_turn_, db_->writer_db(),
         "INSERT INTO turns (conversation_id, seq, user_input, assistant_reply, model_id, input_tokens, "
         "output_tokens, stop_reason, created_at_ms, request_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10);"},
        {&delete_turns_, db_->writer_db(), "DELETE FROM turns WHERE conversation_id = ?1;"},
        {&delete_conversation_, db_->writer_db(), "DELETE FROM conversations WHERE id = ?1;"},
        // The reader's.
        {&r_owner_of_, db_->reader_db(), "SELECT owner FROM conversations WHERE id = ?1;"},
        {&load_turns_, db_->reader_db(),
         "SELECT seq, user_input, assistant_reply, model_id, input_tokens, output_tokens, stop_reason, "
         "created_at_ms, request_id FROM turns WHERE conversation_id = ?1 ORDER BY seq DESC LIMIT ?2;"},
        {&list_, db_->reader_db(),
         "SELECT c.id, c.created_at_ms, c.updated_at_ms, "
         "(SELECT user_input FROM turns t WHERE t.conversation_id = c.id ORDER BY seq LIMIT 1), "
         "(SELECT COALESCE(MAX(seq), 0) FROM turns t WHERE t.conversation_id = c.id) "
         "FROM conversations c WHERE c.owner = ?1 AND "
         "(?2 = 0 OR c.created_at_ms < ?3 OR (c.created_at_ms = ?3 AND c.id < ?4)) "
         "ORDER BY c.created_at_ms DESC, c.id DESC LIMIT ?5;"},
    };
    for (const auto& [s, db, sql] : statements) {
      if (s->prepare(db, sql) != SQLITE_OK) return db_error(db, "prepare statement");
    }
    return {};
  }

  // Reads run on the reader's thread, writes on the writer's (sqlite_worker.hpp); the io thread only waits.
  boost::asio::awaitable<Result<std::vector<Turn>>> load(std::string owner, std::string conversation_id,
                                                         std::size_t limit) override {
    return db_->read<Result<std::vector<Turn>>>(
        [this, owner = std::move(owner), id = std::move(conversation_id), limit] { return load_sync(owner, id, limit); });
  }

  boost::asio::awaitable<Result<Turn>> append(std::string owner, Turn turn) override {
    if (turn.created_at_ms == 0) turn.created_at_ms = now_ms();  // the clock is read on the caller's thread
    return db_->write<Result<Turn>>(
        [this, owner = std::move(owner), turn = std::move(turn)]() mutable { return append_sync(owner, std::move(turn)); });
  }

  boost::asio::awaitable<Result<std::optional<std::string>>> owner_of(std::string conversation_id) override {
    return db_->read<Result<std::optional<std::string>>>(
        [this, id = std::move(conversation_id)] { return owner_sync(db_->reader_db(), r_owner_of_, id); });
  }

  boost::asio::awaitable<Status> remove(std::string owner, std::string conversation_id) override {
    return db_->write<Status>(
        [this, owner = std::move(owner), id = std::move(conversation_id)] { return remove_sync(owner, id); });
  }

  boost::asio::awaitable<Result<ConversationPage>> list(std::string owner, std::size_t limit,
                                                       std::string cursor) override {
    // Cursor position: "<created_at_ms> <id>" of the page's last conversation.
    std::int64_t after_ms = 0;
    std::string after_id;
    if (!cursor.empty()) {
      auto pos = decode_cursor(cursor);
      const auto space = pos ? pos->find(' ') : std::string::npos;
      if (space == std::string::npos) co_return fail(ErrorKind::invalid_input, "cursor is not one this server handed out");
      const char* end = pos->data() + space;
      if (auto [p, ec] = std::from_chars(pos->data(), end, after_ms); ec != std::errc() || p != end) {
        co_return fail(ErrorKind::invalid_input, "cursor is not one this server handed out");
      }
      after_id = pos->substr(space + 1);
    }
    limit = std::clamp<std::size_t>(limit, 1, 1000);
    // Named, not temporaries in the co_await expression (g++ 12 mishandles those in coroutines).
    auto job = [this, owner = std::move(owner), limit, first = cursor.empty(), after_ms,
                after_id = std::move(after_id)] { return list_sync(owner, limit, first, after_ms, after_id); };
    auto read = db_->read<Result<ConversationPage>>(std::move(job));
    co_return co_await std::move(read);
  }

  // The writer's state (its last transaction failed to begin or commit: unavailable); never blocks.
  Status check() override {
    if (auto st = db_->health(); !st) {
      return fail(ErrorKind::unavailable, "history store: " + st.error().message);
    }
    return {};
  }

 private:
  std::vector<Stmt*> all_statements() {
    return {&list_,         &w_owner_of_,   &r_owner_of_,  &insert_conversation_, &touch_conversation_,
            &next_seq_,     &insert_turn_,  &load_turns_,  &delete_turns_,        &delete_conversation_};
  }

  static std::unexpected<Error> db_error(sqlite3* db, std::string_view what) {
    return fail(ErrorKind::unavailable, "history store: " + std::string(what) + " failed: " + sqlite3_errmsg(db));
  }

  static Status exec(sqlite3* db, const std::string& sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
      std::string text = msg ? msg : sqlite3_errmsg(db);
      sqlite3_free(msg);
      return fail(ErrorKind::unavailable, "history store: " + text);
    }
    return {};
  }

  std::int64_t now_ms() const {
    Clock& clock = options_.clock ? *options_.clock : system_clock();
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock.wall().time_since_epoch()).count();
  }

  // The conversation's owner; nullopt if absent. On the thread of `s`'s connection.
  static Result<std::optional<std::string>> owner_sync(sqlite3* db, Stmt& s, std::string_view id) {
    ResetGuard g{s};
    s.bind(1, id);
    int rc = s.step();
    if (rc == SQLITE_ROW) return std::optional<std::string>(s.text(0));
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    return db_error(db, "look up conversation");
  }

  static std::unexpected<Error> not_found(std::string_view id) {
    return fail(ErrorKind::not_found, "conversation '" + std::string(id) + "' not found");
  }

  Status step_done(Stmt& s, std::string_view what) {
    ResetGuard g{s};
    if (s.step() != SQLITE_DONE) return db_error(db_->writer_db(), what);
    return {};
  }

  // On the reader's thread, inside its group's read transaction (one snapshot for both statements).
  Result<std::vector<Turn>> load_sync(const std::string& owner, const std::string& id, std::size_t limit) {
    sqlite3* r = db_->reader_db();
    auto who = owner_sync(r, r_owner_of_, id);
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
    if (rc != SQLITE_DONE) return db_error(r, "load turns");
    std::reverse(turns.begin(), turns.end());
    return turns;
  }

  // On the writer's thread, inside its group's transaction (a savepoint of its own).
  Result<Turn> append_sync(const std::string& owner, Turn turn) {
    sqlite3* w = db_->writer_db();
    auto who = owner_sync(w, w_owner_of_, turn.conversation_id);
    if (!who) return fail(who.error());
    if (*who && **who != owner) return not_found(turn.conversation_id);
    if (!*who) {
      ResetGuard g{insert_conversation_};
      insert_conversation_.bind(1, turn.conversation_id);
      insert_conversation_.bind(2, owner);
      insert_conversation_.bind(3, turn.created_at_ms);
      if (insert_conversation_.step() != SQLITE_DONE) return db_error(w, "create conversation");
      turn.seq = 1;  // a conversation created here has no turns yet (deleting one deletes its turns)
    } else {
      {
        ResetGuard g{touch_conversation_};
        touch_conversation_.bind(1, turn.conversation_id);
        touch_conversation_.bind(2, turn.created_at_ms);
        if (touch_conversation_.step() != SQLITE_DONE) return db_error(w, "update conversation");
      }
      ResetGuard g{next_seq_};
      next_seq_.bind(1, turn.conversation_id);
      if (next_seq_.step() != SQLITE_ROW) return db_error(w, "next sequence number");
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
    if (insert_turn_.step() != SQLITE_DONE) return db_error(w, "insert turn");
    return turn;
  }

  // On the reader's thread.
  Result<ConversationPage> list_sync(const std::string& owner, std::size_t limit, bool first_page,
                                     std::int64_t after_ms, const std::string& after_id) {
    ResetGuard g{list_};
    list_.bind(1, owner);
    list_.bind(2, std::int64_t{first_page ? 0 : 1});
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
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_error(db_->reader_db(), "list conversations");
    return page;
  }

  // On the writer's thread.
  Status remove_sync(const std::string& owner, const std::string& id) {
    auto who = owner_sync(db_->writer_db(), w_owner_of_, id);
    if (!who) return fail(who.error());
    if (!*who || **who != owner) return not_found(id);
    delete_turns_.bind(1, id);
    if (auto st = step_done(delete_turns_, "delete turns"); !st) return st;
    delete_conversation_.bind(1, id);
    return step_done(delete_conversation_, "delete conversation");
  }

  std::shared_ptr<SqliteDatabase> db_;
  SqliteOptions options_;
  // Each statement belongs to one connection, used by one thread: no lock.
  Stmt w_owner_of_, r_owner_of_, insert_conversation_, touch_conversation_, next_seq_, insert_turn_, load_turns_,
      delete_turns_, delete_conversation_, list_;
};

}  // namespace

Result<std::unique_ptr<HistoryStore>> make_sqlite_history(const std::string& path, SqliteOptions options) {
  if (path.empty()) return fail(ErrorKind::invalid_input, "history path is empty (expected --history sqlite:PATH)");
  auto db = SqliteDatabase::open(
      path, SqliteDatabaseOptions{.busy_timeout = options.busy_timeout, .sync_to_disk = options.sync_to_disk, .what = "history"});
  if (!db) return fail(std::move(db.error()));
  auto store = std::make_unique<SqliteHistory>(std::move(*db), options);
  if (auto st = store->init(); !st) {
    Error e = st.error();
    e.message = "history database '" + path + "': " + e.message;
    return fail(std::move(e));
  }
  return std::unique_ptr<HistoryStore>(std::move(store));
}

}  // namespace ba::store
