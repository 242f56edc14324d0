#include "store/sqlite_open.hpp"

#include <sqlite3.h>

#include <filesystem>
#include <system_error>

namespace ba::store {

Result<sqlite3*> open_sqlite(const std::string& path, std::string_view what) {
  const std::string name(what);
  if (path.empty()) return fail(ErrorKind::invalid_input, name + " database path is empty");
  if (path != ":memory:") {
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(parent, ec);
      if (ec) {
        return fail(ErrorKind::unavailable,
                    "cannot create directory '" + parent.string() + "' for the " + name + " database: " + ec.message());
      }
    }
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return fail(ErrorKind::unavailable, "cannot open " + name + " database '" + path + "': " + msg);
  }
  return db;
}

}  // namespace ba::store
