#pragma once
// DynamoDB-backed HistoryStore (`--history dynamodb:TABLE`, env CONVERSATION_TABLE). Table schema in
// store/dynamodb_table.hpp and docs/storage.md.
//
// One item per turn: pk = "conv#<conversation id>", sk = seq. The item carries the owner; the owner of a
// conversation is whoever wrote its seq 1. append() reads the newest turn (strongly consistent Query,
// Limit 1), checks its owner, and writes turn seq+1 with ONE PutItem conditioned on
// attribute_not_exists(pk): all or nothing, and a concurrent writer that took the same seq makes it fail
// (ConditionalCheckFailed), after which it re-reads and retries with jittered backoff. No transactions.
//
// A turn whose item would exceed `spill_threshold_bytes` has its user_input/assistant_reply (largest first)
// stored in the FileStore as internal blobs and the item keeps a reference; without a FileStore such a
// turn fails with too_large. Nothing is truncated.
//
// Calls run on the io_context of the client's HttpClient (call them from coroutines on that context).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "store/history.hpp"
#include "util/clock.hpp"

namespace ba::aws::dynamodb {
class Client;
}

namespace ba::store {

class FileStore;

struct DynamoHistoryOptions {
  std::string table;
  // TTL: each turn item gets expires_at = write time + retention (epoch seconds). 0: no TTL attribute.
  std::chrono::seconds retention{std::chrono::hours(24 * 90)};
  std::size_t spill_threshold_bytes = 350 * 1024;
  int page_size = 100;             // Query Limit per page (load/remove paginate)
  int max_append_attempts = 200;   // conditional-write conflicts before giving up with `conflict`
  std::chrono::milliseconds conflict_backoff{10};  // base of the jittered backoff after a lost race
  FileStore* files = nullptr;      // spill target; nullptr: too-large turns fail with too_large
  Clock* clock = nullptr;          // nullptr: system_clock()
  Random* random = nullptr;        // backoff jitter; nullptr: system_random()
  // Told when a conversation's list item could not be updated after its turn was stored (the turn stays;
  // GET /conversations shows the previous count and time until a later turn repairs the item). A lost race
  // with a newer turn is not a failure. Empty: not told.
  std::function<void(const Error&)> on_list_item_failure;
};

// `client` (and `options.files`) must outlive the store. Throws std::invalid_argument for an empty table name.
std::unique_ptr<HistoryStore> make_dynamodb_history(aws::dynamodb::Client& client, DynamoHistoryOptions options);

}  // namespace ba::store
