#pragma once
// The records behind Idempotency-Key (the chat use case's: agent/idempotency.hpp decides what a record
// means for a repeat). Keys are per owner. Implemented by the SQLite and DynamoDB history backends (each
// in its own table/items), so it works with either history store.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "util/result.hpp"

namespace ba::store {

struct IdempotencyRecord {
  enum class State { in_flight, completed };
  State state = State::in_flight;
  std::string request_hash;   // the request's fingerprint (method, route, canonical body), to detect a reused key
  int status = 0;             // completed: the HTTP status of the stored answer
  std::string response_body;  // completed: the stored answer, the front door's body as it was sent
  std::int64_t expires_at_ms = 0;
};

class IdempotencyStore {
 public:
  virtual ~IdempotencyStore() = default;
  // Atomically claims (owner, key) as in flight until now + in_flight_ttl (so a crashed request frees it).
  // Returns nullopt when this call claimed it (the caller goes on, then completes or releases it), or the
  // existing unexpired record otherwise (in flight or completed). An expired record is replaced.
  virtual boost::asio::awaitable<Result<std::optional<IdempotencyRecord>>> claim(
      std::string owner, std::string key, std::string request_hash, std::chrono::milliseconds in_flight_ttl) = 0;
  // Stores the answer; it is returned to repeats until now + retention.
  virtual boost::asio::awaitable<Status> complete(std::string owner, std::string key, int status,
                                                  std::string response_body, std::chrono::milliseconds retention) = 0;
  // Drops an in-flight claim (the request failed: a retry may run it again).
  virtual boost::asio::awaitable<Status> release(std::string owner, std::string key) = 0;
};

}  // namespace ba::store
