#include "store/dynamodb_history.hpp"

#include <algorithm>
#include <charconv>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "aws/dynamodb.hpp"
#include "store/dynamodb_table.hpp"
#include "store/files.hpp"
#include "util/encoding.hpp"

namespace ba::store {
namespace {

namespace json = boost::json;
namespace dyn = aws::dynamodb;
using boost::asio::awaitable;
using dyn::attr_n;
using dyn::attr_s;
using dyn::Item;

// Turn item attributes (docs/storage.md).
constexpr std::string_view kOwner = "owner";
constexpr std::string_view kConversationId = "conversation_id";
constexpr std::string_view kUserInput = "user_input";
constexpr std::string_view kAssistantReply = "assistant_reply";
constexpr std::string_view kUserInputBlob = "user_input_blob";
constexpr std::string_view kAssistantReplyBlob = "assistant_reply_blob";
constexpr std::string_view kModelId = "model_id";
constexpr std::string_view kInputTokens = "input_tokens";
constexpr std::string_view kOutputTokens = "output_tokens";
constexpr std::string_view kStopReason = "stop_reason";
constexpr std::string_view kCreatedAtMs = "created_at_ms";
constexpr std::string_view kRequestId = "request_id";
constexpr std::string_view kWriteId = "write_id";
constexpr std::string_view kListSk = "list_sk";  // on turn items: the sk of the conversation's list item
// List item attributes (one per conversation, under the owner's pk; conversation_id and owner as above).
constexpr std::string_view kTitle = "title";
constexpr std::string_view kUpdatedAtMs = "updated_at_ms";
constexpr std::string_view kTurns = "turns";

// Room for pk/sk and a little slack on top of the measured attributes.
constexpr std::size_t kKeyOverhead = 64;

std::unexpected<Error> not_found(std::string_view id) {
  return fail(ErrorKind::not_found, "conversation '" + std::string(id) + "' not found");
}

bool is_health_failure(const Error& e) {
  switch (e.kind) {
    case ErrorKind::unavailable:
    case ErrorKind::network:
    case ErrorKind::timeout:
    case ErrorKind::unauthorized:
    case ErrorKind::forbidden:
    case ErrorKind::throttled: return true;
    case ErrorKind::not_found: return e.code == "ResourceNotFoundException";  // the table, not an item
    default: return false;
  }
}

class DynamoHistory final : public HistoryStore {
 public:
  DynamoHistory(dyn::Client& client, DynamoHistoryOptions options)
      : client_(client), options_(std::move(options)) {
    if (options_.table.empty()) throw std::invalid_argument("DynamoDB history: no table name");
    if (options_.page_size < 1) options_.page_size = 1;
    if (options_.max_append_attempts < 1) options_.max_append_attempts = 1;
  }

  awaitable<Result<std::vector<Turn>>> load(std::string owner, std::string conversation_id,
                                            std::size_t limit) override {
    co_return observe(co_await load_impl(owner, conversation_id, limit));
  }

  awaitable<Result<Turn>> append(std::string owner, Turn turn) override {
    co_return observe(co_await append_impl(owner, std::move(turn)));
  }

  awaitable<Status> remove(std::string owner, std::string conversation_id) override {
    co_return observe(co_await remove_impl(owner, conversation_id));
  }

  awaitable<Result<ConversationPage>> list(std::string owner, std::size_t limit, std::string cursor) override {
    co_return observe(co_await list_impl(owner, limit, cursor));
  }

  // No network call here (/health must be cheap): the outcome of the most recent DynamoDB call.
  Status check() override {
    std::lock_guard lock(health_mutex_);
    if (last_failure_) return fail(*last_failure_);
    return {};
  }

 private:
  template <class R>
  R observe(R r) {
    std::lock_guard lock(health_mutex_);
    if (r) last_failure_.reset();
    else if (is_health_failure(r.error())) last_failure_ = r.error();
    return r;
  }

  Clock& clock() const { return options_.clock ? *options_.clock : system_clock(); }
  Random& random() const { return options_.random ? *options_.random : system_random(); }
  std::int64_t now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock().wall().time_since_epoch()).count();
  }

  static std::string pk_of(std::string_view id) { return std::string(ddb::kConversationPrefix) + std::string(id); }

  static Item key(std::string_view id, std::int64_t seq) {
    return Item{{ddb::kPk, attr_s(pk_of(id))}, {ddb::kSk, attr_n(seq)}};
  }

  // Query of the conversation's items; `forward` false = newest first.
  dyn::QueryRequest query(std::string_view id, bool forward, int limit, std::string projection = {}) const {
    dyn::QueryRequest q;
    q.table = options_.table;
    q.key_condition = "#pk = :pk";
    q.names = Item{{"#pk", ddb::kPk}};
    q.values = Item{{":pk", attr_s(pk_of(id))}};
    q.forward = forward;
    q.limit = limit;
    q.consistent_read = true;
    if (!projection.empty()) {
      // DynamoDB rejects ExpressionAttributeNames that no expression uses: add only those named.
      const std::pair<std::string_view, std::string_view> known[] = {
          {"#sk", ddb::kSk}, {"#o", kOwner}, {"#ub", kUserInputBlob}, {"#ab", kAssistantReplyBlob}, {"#x", kListSk}};
      std::string_view rest = projection;
      while (!rest.empty()) {
        auto comma = rest.find(',');
        std::string_view token = trim(rest.substr(0, comma));
        for (const auto& [placeholder, name] : known) {
          if (token == placeholder) q.names[placeholder] = name;
        }
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
      q.projection = std::move(projection);
    }
    return q;
  }

  struct Newest {
    std::int64_t seq = 0;
    std::string owner;
    std::optional<std::int64_t> list_sk;  // absent on turns written before the conversation list existed
  };

  // The newest turn item's seq, owner and list position; nullopt when the conversation has no items.
  awaitable<Result<std::optional<Newest>>> newest(std::string_view id) {
    auto page = co_await client_.query(query(id, false, 1, "#pk, #sk, #o, #x"));
    if (!page) co_return std::unexpected(std::move(page.error()));
    if (page->items.empty()) co_return std::optional<Newest>();
    const Item& item = page->items.front();
    auto seq = dyn::get_n(item, ddb::kSk);
    if (!seq) co_return fail(ErrorKind::internal, "DynamoDB history: an item of conversation '" + std::string(id) +
                                                      "' has no numeric sk");
    co_return std::optional(Newest{*seq, dyn::get_s(item, kOwner).value_or(""), dyn::get_n(item, kListSk)});
  }

  static std::string owner_pk(std::string_view owner) {
    return std::string(ddb::kOwnerPrefix) + sha256_hex(owner);
  }

  // A new conversation's list position: its creation time, then three digits from its id so that two
  // conversations created in the same millisecond (almost always) get distinct positions.
  static std::int64_t list_position(std::int64_t created_at_ms, std::string_view id) {
    const std::string h = sha256(id);
    const auto spread = (static_cast<unsigned char>(h[0]) << 8 | static_cast<unsigned char>(h[1])) % 1000;
    return created_at_ms * 1000 + spread;
  }

  // After a turn landed: the conversation's list item gets the turn's count and time (created with the
  // title when absent). Conditioned on an older count, so concurrent appends leave the newest; a lost race
  // is no failure. A failure here does not undo the stored turn: the next turn repairs the item.
  awaitable<void> update_list_item(const std::string& owner, const Turn& turn, std::int64_t list_sk,
                                   const Item& turn_item) {
    Item key{{ddb::kPk, attr_s(owner_pk(owner))}, {ddb::kSk, attr_n(list_sk)}};
    dyn::Condition cond;
    cond.expression = "attribute_not_exists(#pk) OR (#c = :c AND #n < :n)";
    cond.names = Item{{"#pk", ddb::kPk}, {"#c", kConversationId}, {"#n", kTurns}, {"#k", ddb::kKind},
                      {"#o", kOwner},    {"#t", kTitle},          {"#cr", kCreatedAtMs}, {"#u", kUpdatedAtMs}};
    cond.values = Item{{":c", attr_s(turn.conversation_id)},
                       {":n", attr_n(turn.seq)},
                       {":k", attr_s("conversation")},
                       {":o", attr_s(owner)},
                       {":t", attr_s(conversation_title(turn.user_input))},
                       {":u", attr_n(turn.created_at_ms)}};
    std::string update = "SET #c = :c, #n = :n, #k = :k, #o = :o, #t = if_not_exists(#t, :t), "
                         "#cr = if_not_exists(#cr, :u), #u = :u";
    if (auto ttl = turn_item.find(ddb::kTtl); ttl != turn_item.end()) {
      cond.names["#e"] = ddb::kTtl;
      cond.values[":e"] = ttl->value();
      update += ", #e = :e";
    }
    auto updated = co_await client_.update_item(options_.table, std::move(key), std::move(update), std::move(cond));
    if (!updated && updated.error().kind != ErrorKind::conflict && options_.on_list_item_failure)
      options_.on_list_item_failure(updated.error());
  }

  awaitable<Result<ConversationPage>> list_impl(const std::string& owner, std::size_t limit, const std::string& cursor) {
    dyn::QueryRequest q;
    q.table = options_.table;
    q.key_condition = "#pk = :pk";
    q.names = Item{{"#pk", ddb::kPk}};
    q.values = Item{{":pk", attr_s(owner_pk(owner))}};
    q.forward = false;
    limit = std::clamp<std::size_t>(limit, 1, 1000);
    q.limit = static_cast<int>(limit) + 1;  // one more than the page: whether another page follows
    q.consistent_read = true;
    if (!cursor.empty()) {
      // The cursor holds only the sk: the pk is the caller's own, so no cursor reaches another owner's list.
      auto pos = decode_cursor(cursor);
      std::int64_t sk = 0;
      const char* end = pos ? pos->data() + pos->size() : nullptr;
      if (!pos || pos->empty() || std::from_chars(pos->data(), end, sk).ptr != end) {
        co_return fail(ErrorKind::invalid_input, "cursor is not one this server handed out");
      }
      q.exclusive_start_key = Item{{ddb::kPk, attr_s(owner_pk(owner))}, {ddb::kSk, attr_n(sk)}};
    }
    ConversationPage out;
    bool more = false;
    for (;;) {
      auto page = co_await client_.query(q);
      if (!page) co_return std::unexpected(std::move(page.error()));
      for (const Item& item : page->items) {
        if (out.conversations.size() == limit) {
          more = true;
          break;
        }
        ConversationSummary c;
        c.id = dyn::get_s(item, kConversationId).value_or("");
        c.title = dyn::get_s(item, kTitle).value_or("");
        c.created_at_ms = dyn::get_n(item, kCreatedAtMs).value_or(0);
        c.updated_at_ms = dyn::get_n(item, kUpdatedAtMs).value_or(0);
        c.turns = dyn::get_n(item, kTurns).value_or(0);
        if (auto sk = dyn::get_n(item, ddb::kSk)) out.next_cursor = encode_cursor(std::to_string(*sk));
        out.conversations.push_back(std::move(c));
      }
      if (more || !page->last_evaluated_key) break;
      q.exclusive_start_key = std::move(page->last_evaluated_key);
    }
    if (!more) out.next_cursor.clear();
    co_return out;
  }

  // The owner is on every turn item; the newest one says who holds the conversation now.
  awaitable<Result<std::optional<std::string>>> owner_of(std::string conversation_id) override {
    auto latest = co_await newest(conversation_id);
    if (!latest) co_return std::unexpected(std::move(latest.error()));
    if (!*latest) co_return std::optional<std::string>();
    co_return std::optional<std::string>((*latest)->owner);
  }

  Result<Turn> parse(const Item& item, std::string_view id) const {
    Turn t;
    auto seq = dyn::get_n(item, ddb::kSk);
    if (!seq) return fail(ErrorKind::internal, "DynamoDB history: a turn of '" + std::string(id) + "' has no numeric sk");
    t.conversation_id = std::string(id);
    t.seq = *seq;
    t.user_input = dyn::get_s(item, kUserInput).value_or("");
    t.assistant_reply = dyn::get_s(item, kAssistantReply).value_or("");
    t.model_id = dyn::get_s(item, kModelId).value_or("");
    t.input_tokens = dyn::get_n(item, kInputTokens).value_or(0);
    t.output_tokens = dyn::get_n(item, kOutputTokens).value_or(0);
    t.stop_reason = dyn::get_s(item, kStopReason).value_or("");
    t.created_at_ms = dyn::get_n(item, kCreatedAtMs).value_or(0);
    t.request_id = dyn::get_s(item, kRequestId).value_or("");
    return t;
  }

  awaitable<Result<std::vector<Turn>>> load_impl(const std::string& owner, const std::string& id, std::size_t limit) {
    std::vector<Turn> turns;
    std::vector<std::pair<std::size_t, std::string>> user_blobs, reply_blobs;  // (index in turns, key)
    std::optional<Item> start;
    bool first = true;
    std::size_t remaining = limit;
    for (;;) {
      const int page_limit =
          static_cast<int>(std::max<std::size_t>(1, std::min<std::size_t>(remaining, options_.page_size)));
      auto q = query(id, false, page_limit);
      q.exclusive_start_key = std::move(start);
      auto page = co_await client_.query(std::move(q));
      if (!page) co_return std::unexpected(std::move(page.error()));
      if (first) {
        // The newest item says who owns the conversation.
        if (page->items.empty() || dyn::get_s(page->items.front(), kOwner).value_or("") != owner) {
          co_return not_found(id);
        }
        first = false;
      }
      for (const Item& item : page->items) {
        if (remaining == 0) break;
        // An item of another owner can only be a leftover of a deleted and re-created conversation.
        if (dyn::get_s(item, kOwner).value_or("") != owner) {
          remaining = 0;
          break;
        }
        auto t = parse(item, id);
        if (!t) co_return std::unexpected(std::move(t.error()));
        if (auto b = dyn::get_s(item, kUserInputBlob)) user_blobs.emplace_back(turns.size(), *b);
        if (auto b = dyn::get_s(item, kAssistantReplyBlob)) reply_blobs.emplace_back(turns.size(), *b);
        turns.push_back(std::move(*t));
        --remaining;
      }
      if (remaining == 0 || !page->last_evaluated_key) break;
      start = std::move(page->last_evaluated_key);
    }
    // Spilled texts come back from the file store; a missing blob is an error, never an empty text.
    for (auto* blobs : {&user_blobs, &reply_blobs}) {
      for (auto& [index, blob] : *blobs) {
        if (!options_.files) {
          co_return fail(ErrorKind::internal, "conversation '" + id + "' has a turn stored in the file store (" +
                                                  blob + ") but no file store is configured");
        }
        auto text = co_await options_.files->get_blob(blob);
        if (!text) {
          Error e = std::move(text.error());
          e.message = "conversation '" + id + "': spilled turn text " + blob + ": " + e.message;
          if (e.kind == ErrorKind::not_found) e.kind = ErrorKind::internal;
          co_return std::unexpected(std::move(e));
        }
        (blobs == &user_blobs ? turns[index].user_input : turns[index].assistant_reply) = std::move(*text);
      }
    }
    std::reverse(turns.begin(), turns.end());
    co_return turns;
  }

  // The turn item without its sk; large texts moved to blobs (listed in `spilled`).
  awaitable<Result<Item>> build_item(const std::string& owner, const Turn& turn, const std::string& write_id,
                                     std::vector<std::string>& spilled) {
    Item item{{ddb::kPk, attr_s(pk_of(turn.conversation_id))},
              {ddb::kKind, attr_s("turn")},
              {kConversationId, attr_s(turn.conversation_id)},
              {kOwner, attr_s(owner)},
              {kUserInput, attr_s(turn.user_input)},
              {kAssistantReply, attr_s(turn.assistant_reply)},
              {kModelId, attr_s(turn.model_id)},
              {kInputTokens, attr_n(turn.input_tokens)},
              {kOutputTokens, attr_n(turn.output_tokens)},
              {kStopReason, attr_s(turn.stop_reason)},
              {kCreatedAtMs, attr_n(turn.created_at_ms)},
              {kRequestId, attr_s(turn.request_id)},
              {kWriteId, attr_s(write_id)}};
    if (options_.retention.count() > 0) {
      const auto now_s = std::chrono::duration_cast<std::chrono::seconds>(clock().wall().time_since_epoch());
      item[ddb::kTtl] = attr_n((now_s + options_.retention).count());
    }
    auto size = [&] { return dyn::item_size(item) + kKeyOverhead; };
    if (size() <= options_.spill_threshold_bytes) co_return item;
    const std::size_t before = size();
    if (!options_.files) {
      co_return fail(ErrorKind::too_large,
                     "turn of conversation '" + turn.conversation_id + "' is " + std::to_string(before) +
                         " bytes, over the " + std::to_string(options_.spill_threshold_bytes) +
                         "-byte DynamoDB item budget, and no file store is configured to hold its text");
    }
    // Largest text first, until the item fits.
    struct Field {
      std::string_view attr, blob_attr;
      const std::string* text;
    };
    std::vector<Field> fields{{kUserInput, kUserInputBlob, &turn.user_input},
                              {kAssistantReply, kAssistantReplyBlob, &turn.assistant_reply}};
    std::ranges::sort(fields, [](const Field& a, const Field& b) { return a.text->size() > b.text->size(); });
    const std::string prefix = "history/" + sha256_hex(turn.conversation_id) + "/" + write_id + "/";
    for (const auto& f : fields) {
      if (size() <= options_.spill_threshold_bytes) break;
      std::string blob = prefix + std::string(f.attr);
      auto st = co_await options_.files->put_blob(blob, *f.text);
      if (!st) {
        Error e = std::move(st.error());
        e.message = "spilling a large turn to the file store: " + e.message;
        co_return std::unexpected(std::move(e));
      }
      spilled.push_back(blob);
      item.erase(f.attr);
      item[f.blob_attr] = attr_s(blob);
    }
    if (size() > options_.spill_threshold_bytes) {
      co_return fail(ErrorKind::too_large, "turn of conversation '" + turn.conversation_id +
                                               "' is too large for a DynamoDB item even with its texts in the "
                                               "file store (" + std::to_string(size()) + " bytes)");
    }
    co_return item;
  }

  awaitable<void> drop_blobs(const std::vector<std::string>& blobs) {
    if (!options_.files) co_return;
    for (const auto& b : blobs) (void)co_await options_.files->remove_blob(b);
  }

  // Built outside coroutine bodies: GCC 12 rejects brace-init lists inside co_await expressions.
  static dyn::Condition absent_only() { return {"attribute_not_exists(#pk)", Item{{"#pk", ddb::kPk}}, Item{}}; }
  static dyn::Condition same_conversation(std::string_view id) {
    return {"#c = :c", Item{{"#c", kConversationId}}, Item{{":c", attr_s(id)}}};
  }

  awaitable<Result<Turn>> append_impl(const std::string& owner, Turn turn) {
    if (turn.created_at_ms == 0) turn.created_at_ms = now_ms();
    const std::string write_id = uuid_v4();
    std::vector<std::string> spilled;
    auto built = co_await build_item(owner, turn, write_id, spilled);
    if (!built) {
      co_await drop_blobs(spilled);
      co_return std::unexpected(std::move(built.error()));
    }
    Item& item = *built;
    for (int attempt = 1; attempt <= options_.max_append_attempts; ++attempt) {
      auto last = co_await newest(turn.conversation_id);
      if (!last) {
        co_await drop_blobs(spilled);
        co_return std::unexpected(std::move(last.error()));
      }
      if (*last && (*last)->owner != owner) {
        co_await drop_blobs(spilled);
        co_return not_found(turn.conversation_id);
      }
      const std::int64_t seq = *last ? (*last)->seq + 1 : 1;
      item[ddb::kSk] = attr_n(seq);
      // The list position is the first turn's, carried on every turn (a conversation from before the list
      // existed gets one now).
      const std::int64_t list_sk = *last && (*last)->list_sk ? *(*last)->list_sk
                                                              : list_position(turn.created_at_ms, turn.conversation_id);
      item[kListSk] = attr_n(list_sk);
      // The single conditional write: the turn lands whole, and only if nobody holds this seq yet.
      auto put = co_await client_.put_item(options_.table, item, absent_only());
      if (put) {
        turn.seq = seq;
        co_await update_list_item(owner, turn, list_sk, item);
        co_return turn;
      }
      if (put.error().kind != ErrorKind::conflict) {
        co_await drop_blobs(spilled);
        co_return std::unexpected(std::move(put.error()));
      }
      // Lost the race for this seq... unless the client retried a write that had in fact landed.
      auto mine = co_await client_.get_item(options_.table, key(turn.conversation_id, seq));
      if (mine && *mine && dyn::get_s(**mine, kWriteId).value_or("") == write_id) {
        turn.seq = seq;
        co_await update_list_item(owner, turn, list_sk, item);
        co_return turn;
      }
      const auto cap = options_.conflict_backoff.count() * std::min(attempt, 8);
      co_await dyn::wait_for(std::chrono::milliseconds(static_cast<std::int64_t>(random().uniform() * cap)));
    }
    co_await drop_blobs(spilled);
    Error e = Error::make(ErrorKind::conflict, "conversation '" + turn.conversation_id + "': gave up after " +
                                                   std::to_string(options_.max_append_attempts) +
                                                   " concurrent writes took the next turn number");
    e.retryable = true;
    co_return std::unexpected(std::move(e));
  }

  awaitable<Status> remove_impl(const std::string& owner, const std::string& id) {
    auto last = co_await newest(id);
    if (!last) co_return std::unexpected(std::move(last.error()));
    if (!*last || (*last)->owner != owner) co_return not_found(id);
    // The list item first: a conversation half deleted is not listed (its turns still go below).
    if ((*last)->list_sk) {
      Item list_key{{ddb::kPk, attr_s(owner_pk(owner))}, {ddb::kSk, attr_n(*(*last)->list_sk)}};
      auto st = co_await client_.delete_item(options_.table, std::move(list_key), same_conversation(id));
      if (!st && st.error().kind != ErrorKind::conflict) co_return st;
    }
    std::vector<std::string> blobs;
    // Oldest first, page by page, until the conversation has no items of this owner left (this also catches
    // turns appended while the deletion runs).
    for (;;) {
      auto page = co_await client_.query(query(id, true, options_.page_size, "#pk, #sk, #o, #ub, #ab"));
      if (!page) co_return std::unexpected(std::move(page.error()));
      std::vector<Item> keys;
      bool foreign = false;
      for (const Item& item : page->items) {
        if (dyn::get_s(item, kOwner).value_or("") != owner) {
          foreign = true;
          continue;
        }
        auto seq = dyn::get_n(item, ddb::kSk);
        if (!seq) continue;
        keys.push_back(key(id, *seq));
        for (auto attr : {kUserInputBlob, kAssistantReplyBlob}) {
          if (auto b = dyn::get_s(item, attr)) blobs.push_back(*b);
        }
      }
      if (keys.empty()) break;
      auto st = co_await client_.batch_delete(options_.table, std::move(keys));
      if (!st) co_return st;
      if (foreign) break;
    }
    co_await drop_blobs(blobs);
    co_return Status{};
  }

  dyn::Client& client_;
  DynamoHistoryOptions options_;
  std::mutex health_mutex_;
  std::optional<Error> last_failure_;
};

}  // namespace

std::unique_ptr<HistoryStore> make_dynamodb_history(aws::dynamodb::Client& client, DynamoHistoryOptions options) {
  return std::make_unique<DynamoHistory>(client, std::move(options));
}

}  // namespace ba::store
