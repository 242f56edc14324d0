#pragma once
// Idempotency-Key on POST /chat (the flow is in chat_api.cpp; the store is store::IdempotencyStore).
#include <string>
#include <string_view>

namespace ba::http {

// 1-255 printable ASCII characters (0x21-0x7e; no spaces, no control characters).
bool valid_idempotency_key(std::string_view key);
inline constexpr std::string_view kIdempotencyKeyRule = "1-255 printable ASCII characters without spaces";

// Hex SHA-256 of "<method> <route>\n" + the canonical body: a JSON body re-serialized with object keys
// sorted (so key order and whitespace do not matter); anything else hashed as is.
std::string idempotency_request_hash(std::string_view method, std::string_view route, std::string_view body);

}  // namespace ba::http
