#pragma once
// Conversation history. Embedded default: SQLite; DynamoDB later behind the same interface.
// Conversations belong to an owner (the caller's identity); another owner sees "not found".
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
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
  // Cheap readiness probe for /health.
  virtual Status check() = 0;
};

}  // namespace ba::store
