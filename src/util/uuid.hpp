#pragma once
// Time-ordered ids (implemented in encoding.cpp, next to uuid_v4, whose random block they share).
#include <cstdint>
#include <string>

namespace ba {

// Version-7 UUID (RFC 9562 section 5.7), lowercase with dashes: `unix_ms` (milliseconds since 1970, 48 bits)
// then 74 random bits. Ids made in a later millisecond sort after earlier ones, so an index keyed by them
// grows at its end: new conversation ids, so that a SQLite group of new conversations touches a few pages
// of each index instead of one random page per conversation (docs/performance.md, issue 17).
std::string uuid_v7(std::int64_t unix_ms);

}  // namespace ba
