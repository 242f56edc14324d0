#pragma once
// Conversation history. Embedded default: SQLite; DynamoDB later behind the same interface.
// Conversations belong to an owner (the caller's identity); another owner sees "not found".
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace ba::store {

struct Turn {
  std::string conversation_id;
  std::int64_t seq = 0;  // 1, 2, 3... within a conversation, assigned by the store
  std::string user_input;
  std::string assistant_reply;
  std::string model_id;
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::string stop_reason;
  std::int64_t created_at_ms = 0;  // Unix ms
  std::string request_id;
};

// One line of an owner's conversation list (GET /conversations).
struct ConversationSummary {
  std::string id;
  std::string title;               // the first input (or, for a conversation older than the list, the first
                                   // input after the upgrade), shortened by conversation_title()
  std::int64_t created_at_ms = 0;  // the list's order: newest first
  std::int64_t updated_at_ms = 0;  // the newest turn's time
  std::int64_t turns = 0;
};

struct ConversationPage {
  std::vector<ConversationSummary> conversations;
  std::string next_cursor;  // empty: the last page; otherwise opaque, for the next list() of the same owner
};

// A conversation's title: its first input with whitespace runs collapsed to one space, cut at a code
// point boundary after kTitleChars code points (then an ellipsis marks the cut).
inline constexpr std::size_t kTitleChars = 80;
std::string conversation_title(std::string_view first_input);

// For the stores: a list cursor as URL-safe text (base64url of the store's own position), and back
// (nullopt: not a cursor).
std::string encode_cursor(std::string_view position);
std::optional<std::string> decode_cursor(std::string_view cursor);

class HistoryStore {
 public:
  virtual ~HistoryStore() = default;
  // The newest `limit` turns of the conversation, oldest first. not_found if the conversation does not
  // exist or belongs to another owner.
  virtual boost::asio::awaitable<Result<std::vector<Turn>>> load(std::string owner, std::string conversation_id,
                                                                std::size_t limit) = 0;
  // Appends one turn atomically (creating the conversation for `owner` if new) and returns it with
  // its seq. not_found if the conversation belongs to another owner.
  virtual boost::asio::awaitable<Result<Turn>> append(std::string owner, Turn turn) = 0;
  // Who owns the conversation: nullopt if it does not exist. Lets the chat service refuse another
  // owner's conversation before calling the model (append() would refuse it anyway, after the spend).
  virtual boost::asio::awaitable<Result<std::optional<std::string>>> owner_of(std::string conversation_id) = 0;
  // Deletes the conversation and its turns; not_found if absent or not the owner's.
  virtual boost::asio::awaitable<Status> remove(std::string owner, std::string conversation_id) = 0;
  // The owner's conversations, newest first (by creation: a page boundary does not move while a listed
  // conversation goes on), at most `limit` (>= 1) from `cursor` (empty: the first page). invalid_input
  // for a cursor this store did not hand out.
  virtual boost::asio::awaitable<Result<ConversationPage>> list(std::string owner, std::size_t limit,
                                                               std::string cursor) = 0;
  // Cheap readiness probe for /health.
  virtual Status check() = 0;
};

}  // namespace ba::store
