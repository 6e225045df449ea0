// SQLite plumbing shared by the stores (revocations, registry log, registry DID Documents).
#pragma once

#include <sqlite3.h>

#include <filesystem>
#include <string>

#include "handshake/result.hpp"

namespace handshake::detail {

// kUnavailable with the store's reason token, what failed and SQLite's own message.
inline Error sqlite_error(sqlite3* db, const char* reason, const std::string& what) {
  return make_error(ErrorCode::kUnavailable, reason, what + ": " + (db ? sqlite3_errmsg(db) : "cannot open database"));
}

// Opens (creating) `path` with a 5 s busy timeout and runs `ddl`. On failure nothing stays open.
// Errors: kUnavailable `reason`.
inline Result<sqlite3*> open_sqlite(const std::filesystem::path& path, const char* ddl, const char* reason,
                                    int thread_flag = SQLITE_OPEN_NOMUTEX) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | thread_flag, nullptr) != SQLITE_OK) {
    Error e = sqlite_error(db, reason, "open " + path.string());
    sqlite3_close(db);
    return e;
  }
  sqlite3_busy_timeout(db, 5000);
  char* msg = nullptr;
  if (sqlite3_exec(db, ddl, nullptr, nullptr, &msg) != SQLITE_OK) {
    const std::string m = msg ? msg : "?";
    sqlite3_free(msg);
    sqlite3_close(db);
    return make_error(ErrorCode::kUnavailable, reason, "initialize " + path.string() + ": " + m);
  }
  return db;
}

}  // namespace handshake::detail
