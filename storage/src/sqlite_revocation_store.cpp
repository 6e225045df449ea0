// RevocationStatements persisted in SQLite (WAL): every accepted statement is stored, and the
// in-memory index is rebuilt from it on open.
#include <sqlite3.h>

#include <atomic>
#include <mutex>

#include "handshake/storage/sqlite.hpp"
#include "sqlite_util.hpp"

namespace handshake::storage {
namespace {

Error store_error(sqlite3* db, const std::string& what) {
  return detail::sqlite_error(db, "revocation.store_failed", what);
}

class SqliteRevocationStore final : public RevocationStore {
 public:
  SqliteRevocationStore(sqlite3* db, const KeyResolver& keys) : db_(db), keys_(keys) {}
  ~SqliteRevocationStore() override { sqlite3_close(db_); }
  SqliteRevocationStore(const SqliteRevocationStore&) = delete;
  SqliteRevocationStore& operator=(const SqliteRevocationStore&) = delete;

  void add_authority(const std::string& did) { list_.add_authority(did); }

  Status refresh() override {
    std::lock_guard lock(write_mu_);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT rowid, statement FROM revocations WHERE rowid > ? ORDER BY rowid", -1, &st,
                           nullptr) != SQLITE_OK) {
      failed_ = true;
      return store_error(db_, "read revocations");
    }
    sqlite3_bind_int64(st, 1, last_rowid_);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      const auto rowid = sqlite3_column_int64(st, 0);
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
      auto doc = json::parse_strict(text ? text : "");
      // Rows were verified before they were written; a row that no longer verifies (a tampered
      // file) is a store failure, not something to skip silently.
      if (!doc.ok() || !list_.add_statement(*doc, keys_).ok()) {
        sqlite3_finalize(st);
        failed_ = true;
        return make_error(ErrorCode::kUnavailable, "revocation.store_failed",
                          "row " + std::to_string(rowid) + " does not verify");
      }
      last_rowid_ = rowid;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
      failed_ = true;
      return store_error(db_, "read revocations");
    }
    failed_ = false;
    return {};
  }

  Status add_statement(const Json& statement) override {
    // Verify first: nothing unverified reaches the file.
    HSK_TRY(list_.check_statement(statement, keys_));
    HSK_ASSIGN_OR_RETURN(auto text, json::canonicalize(statement));
    {
      std::lock_guard lock(write_mu_);
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db_, "INSERT OR IGNORE INTO revocations(id, statement) VALUES (?, ?)", -1, &st,
                             nullptr) != SQLITE_OK) {
        return store_error(db_, "store revocation");
      }
      const std::string id = statement["id"].get<std::string>();
      sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(st, 2, text.c_str(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
      const int rc = sqlite3_step(st);
      sqlite3_finalize(st);
      if (rc != SQLITE_DONE) return store_error(db_, "store revocation");
    }
    return refresh();
  }

  Answer delegation_revoked(std::string_view id, std::string_view issuer, Timestamp at) const override {
    if (failed_) return Answer::kUnavailable;
    return list_.delegation_revoked(id, issuer, at);
  }

  Answer principal_revoked(std::string_view did, Timestamp at) const override {
    if (failed_) return Answer::kUnavailable;
    return list_.principal_revoked(did, at);
  }

 private:
  sqlite3* db_;
  const KeyResolver& keys_;
  RevocationList list_;
  std::mutex write_mu_;
  std::int64_t last_rowid_ = 0;
  std::atomic<bool> failed_{false};
};

}  // namespace

Result<std::unique_ptr<RevocationStore>> open_sqlite_revocation_store(const std::filesystem::path& path,
                                                                      const KeyResolver& keys,
                                                                      const std::vector<std::string>& authorities) {
  const char* ddl =
      "PRAGMA journal_mode=WAL;"
      "CREATE TABLE IF NOT EXISTS revocations ("
      "  rowid INTEGER PRIMARY KEY AUTOINCREMENT,"
      "  id TEXT NOT NULL UNIQUE,"
      "  statement TEXT NOT NULL);";
  HSK_ASSIGN_OR_RETURN(sqlite3 * db, detail::open_sqlite(path, ddl, "revocation.store_failed", SQLITE_OPEN_FULLMUTEX));
  auto store = std::make_unique<SqliteRevocationStore>(db, keys);
  for (const auto& a : authorities) store->add_authority(a);
  HSK_TRY(store->refresh());
  return std::unique_ptr<RevocationStore>(std::move(store));
}

}  // namespace handshake::storage
