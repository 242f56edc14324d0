#pragma once
// DynamoDB-backed IdempotencyStore, in the history table (store/dynamodb_table.hpp, docs/storage.md):
// one item per (owner, key), pk = "idem#<hex sha256 of owner>#<key>", sk = 0.
//   claim:    PutItem conditioned on attribute_not_exists(pk) OR expires_at_ms <= now
//   complete: UpdateItem conditioned on state = in_flight
//   release:  DeleteItem conditioned on state = in_flight (a completed answer is never dropped)
// Each is one single-item conditional write: no transactions. Time comes from the injected clock.
#include <chrono>
#include <memory>
#include <string>

#include "store/idempotency.hpp"
#include "util/clock.hpp"

namespace ba::aws::dynamodb {
class Client;
}

namespace ba::store {

struct DynamoIdempotencyOptions {
  std::string table;
  Clock* clock = nullptr;  // nullptr: system_clock()
  // Stored answers above this size fail complete() with too_large (the item limit is 400 KB).
  std::size_t max_response_bytes = 350 * 1024;
};

// `client` must outlive the store. Throws std::invalid_argument for an empty table name.
// complete() on a key that is not in flight (never claimed, released, or already completed): conflict.
// release() on a key that is not in flight: no-op success.
std::unique_ptr<IdempotencyStore> make_dynamodb_idempotency(aws::dynamodb::Client& client,
                                                            DynamoIdempotencyOptions options);

}  // namespace ba::store
