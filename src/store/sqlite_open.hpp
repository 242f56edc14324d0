#pragma once
// Opening a SQLite database file for the embedded stores (history, idempotency): creates the parent
// directory, opens read-write/create in serialized mode. ":memory:" gives a private in-memory database.
#include <string>
#include <string_view>

#include "util/result.hpp"

struct sqlite3;

namespace ba::store {

// `what` names the database in messages ("history", "idempotency"). Errors: invalid_input (empty path),
// unavailable (the directory cannot be created or the file cannot be opened).
Result<sqlite3*> open_sqlite(const std::string& path, std::string_view what);

}  // namespace ba::store
