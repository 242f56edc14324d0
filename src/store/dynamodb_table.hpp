#pragma once
// The DynamoDB table behind `--history dynamodb:TABLE` (docs/storage.md documents it): one table, key
// pk (S, HASH) + sk (N, RANGE), TTL on `expires_at` (epoch seconds), on-demand billing.
//   conversation turns: pk = "conv#<conversation id>", sk = seq (1, 2, ...)
//   idempotency records: pk = "idem#<hex sha256 of owner>#<key>", sk = 0
//   conversation list:   pk = "owner#<hex sha256 of owner>", sk = the conversation's list position
//                        (created_at_ms * 1000 + 0..999), one item per conversation
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace ba::aws::dynamodb {
class Client;
}

namespace ba::store::ddb {

// Key and attribute names (the documented schema).
inline constexpr std::string_view kPk = "pk";
inline constexpr std::string_view kSk = "sk";
inline constexpr std::string_view kTtl = "expires_at";     // N, Unix seconds: DynamoDB TTL attribute
inline constexpr std::string_view kKind = "kind";          // S: "turn" | "idempotency" | "conversation"
inline constexpr std::string_view kConversationPrefix = "conv#";
inline constexpr std::string_view kIdempotencyPrefix = "idem#";
inline constexpr std::string_view kOwnerPrefix = "owner#";

struct EnsureTableOptions {
  bool create_missing = false;  // --create-missing: create the table when DescribeTable says it is absent
  std::chrono::seconds wait_active{60};  // how long to wait for CREATING -> ACTIVE
  std::chrono::milliseconds poll_interval{250};
};

// Start-up check of the table (run it before serving, e.g. through a run-to-completion helper):
//  - present: its key schema must be pk (S, HASH) + sk (N, RANGE), else invalid_input saying what differs;
//    waits while it is CREATING/UPDATING.
//  - absent: not_found ("... pass --create-missing ...") unless options.create_missing, in which case it
//    is created (PAY_PER_REQUEST), awaited until ACTIVE, and TTL enabled on `expires_at`. A server without
//    UpdateTimeToLive (dynalite: UnknownOperationException) is tolerated; `warn` gets a message then.
boost::asio::awaitable<Status> ensure_dynamodb_table(aws::dynamodb::Client& client, std::string table,
                                                     EnsureTableOptions options = {},
                                                     std::function<void(std::string_view)> warn = nullptr);

}  // namespace ba::store::ddb

namespace ba::store {
using ddb::ensure_dynamodb_table;
using ddb::EnsureTableOptions;
}  // namespace ba::store
