// The SQLite nonce store (WAL): shared safely by the processes of one host.
#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>
#include <string_view>

#include "handshake/storage/sqlite.hpp"
#include "store_rules.hpp"

namespace handshake::storage {
namespace {

using detail::Micros;
using detail::to_micros;
using detail::validate_nonce_key;

// ---------------------------------------------------------------------------------------------
// SQLite nonce store
// ---------------------------------------------------------------------------------------------

// Fresh inserts (by this instance) between two periodic sweeps, and the rows such a sweep may
// delete: twice the insert rate, so sweeping keeps up with expiry while each sweep stays short.
constexpr std::uint32_t kSweepEvery = 1024;
constexpr std::int64_t kPeriodicSweepLimit = 2 * kSweepEvery;
// Rows a sweep may delete when the store is full.
constexpr std::int64_t kFullSweepLimit = 4096;

// The row count lives in nonce_count, kept exact by triggers inside the same transactions as the
// inserts and deletes, so the capacity bound holds across every process sharing the file and
// reading it costs one row, not a table scan.
constexpr const char* kSchema = R"sql(
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS nonces(
  iss TEXT NOT NULL,
  nonce TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (iss, nonce)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS nonces_expires_at ON nonces(expires_at);
CREATE TABLE IF NOT EXISTS nonce_count(
  id INTEGER PRIMARY KEY CHECK (id = 0),
  n INTEGER NOT NULL
);
INSERT OR IGNORE INTO nonce_count(id, n) SELECT 0, count(*) FROM nonces;
CREATE TRIGGER IF NOT EXISTS nonces_count_insert AFTER INSERT ON nonces
BEGIN
  UPDATE nonce_count SET n = n + 1 WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS nonces_count_delete AFTER DELETE ON nonces
BEGIN
  UPDATE nonce_count SET n = n - 1 WHERE id = 0;
END;
COMMIT;
)sql";

class SqliteNonceStore final : public NonceStore {
 public:
  explicit SqliteNonceStore(std::size_t max_entries)
      : max_entries_(static_cast<std::int64_t>(
            std::min<std::size_t>(max_entries, static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())))) {}

  SqliteNonceStore(const SqliteNonceStore&) = delete;
  SqliteNonceStore& operator=(const SqliteNonceStore&) = delete;

  ~SqliteNonceStore() override {
    for (sqlite3_stmt* s : {begin_, commit_, rollback_, delete_expired_key_, insert_, exists_, sweep_, count_}) {
      sqlite3_finalize(s);  // a no-op for nullptr
    }
    sqlite3_close_v2(db_);  // likewise
  }

  Status open(const std::filesystem::path& path) {
    const std::string file = path.string();
    if (file.empty()) return failed("open", "empty path");
    // The store's own mutex serializes use of the connection, so SQLite's is not needed.
    const int rc = sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                   nullptr);
    if (rc != SQLITE_OK) {
      return failed("open " + file, db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    }
    sqlite3_extended_result_codes(db_, 1);
    // Other processes may hold the write lock for a moment; wait for it rather than fail.
    if (sqlite3_busy_timeout(db_, 5000) != SQLITE_OK) return sql_error("busy_timeout");

    // WAL lets readers and the writer proceed together and keeps several processes safe
    // through SQLite's own locking. The mode is persistent in the file; insist on getting it.
    std::string mode;
    HSK_TRY(query_text("PRAGMA journal_mode=WAL", mode));
    if (mode != "wal") return failed("open " + file, "cannot enable WAL (journal_mode is " + mode + ")");
    // synchronous=NORMAL is safe in WAL mode: a power loss can drop the last transactions but
    // never corrupts the database, and it spares an fsync per insert (FULL would sync the WAL on
    // every commit). Losing the most recent nonces in a power cut is accepted here.
    HSK_TRY(exec("PRAGMA synchronous=NORMAL"));
    if (sqlite3_exec(db_, kSchema, nullptr, nullptr, nullptr) != SQLITE_OK) {
      Error err = sql_error("create schema");
      if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return err;
    }

    HSK_TRY(prepare("BEGIN IMMEDIATE", begin_));
    HSK_TRY(prepare("COMMIT", commit_));
    HSK_TRY(prepare("ROLLBACK", rollback_));
    HSK_TRY(prepare("DELETE FROM nonces WHERE iss = ?1 AND nonce = ?2 AND expires_at < ?3", delete_expired_key_));
    HSK_TRY(prepare("INSERT OR IGNORE INTO nonces(iss, nonce, expires_at) "
                    "SELECT ?1, ?2, ?3 WHERE (SELECT n FROM nonce_count WHERE id = 0) < ?4",
                    insert_));
    HSK_TRY(prepare("SELECT 1 FROM nonces WHERE iss = ?1 AND nonce = ?2", exists_));
    HSK_TRY(prepare("DELETE FROM nonces WHERE (iss, nonce) IN "
                    "(SELECT iss, nonce FROM nonces WHERE expires_at < ?1 LIMIT ?2)",
                    sweep_));
    HSK_TRY(prepare("SELECT n FROM nonce_count WHERE id = 0", count_));
    return ok_status();
  }

  Result<bool> check_and_insert(std::string_view iss, std::string_view nonce, Timestamp expires_at,
                                Timestamp now) override {
    HSK_TRY(validate_nonce_key(iss, nonce));
    std::lock_guard lock(mu_);
    Result<bool> r = check_and_insert_locked(iss, nonce, to_micros(expires_at), to_micros(now));
    if (sqlite3_get_autocommit(db_) == 0) {
      // Only an error leaves the transaction open: undo it. The error stands either way.
      sqlite3_step(rollback_);
      sqlite3_reset(rollback_);
      if (r.ok()) return failed("commit", "transaction left open");
    }
    return r;
  }

  std::size_t size() const override {
    std::lock_guard lock(mu_);
    const int rc = sqlite3_step(count_);
    if (rc == SQLITE_ROW) last_size_ = static_cast<std::size_t>(std::max<sqlite3_int64>(0, sqlite3_column_int64(count_, 0)));
    sqlite3_reset(count_);
    return last_size_;  // the last count read if this one failed: size() cannot report errors
  }

 private:
  Result<bool> check_and_insert_locked(std::string_view iss, std::string_view nonce, Micros exp, Micros now) {
    HSK_TRY(run(begin_, "begin"));
    if (inserts_since_sweep_ >= kSweepEvery) {
      HSK_TRY(sweep(now, kPeriodicSweepLimit));
      inserts_since_sweep_ = 0;
    }
    // The pair: forget this key if it has expired, then record it unless present (or full).
    bind_key(delete_expired_key_, iss, nonce);
    sqlite3_bind_int64(delete_expired_key_, 3, now);
    HSK_TRY(run(delete_expired_key_, "delete expired"));
    HSK_ASSIGN_OR_RETURN(bool inserted, insert(iss, nonce, exp));
    if (!inserted) {
      // Either the key is present and live (a replay) or the store is full.
      HSK_ASSIGN_OR_RETURN(bool present, exists(iss, nonce));
      if (present) {
        HSK_TRY(run(commit_, "commit"));
        return false;
      }
      HSK_TRY(sweep(now, kFullSweepLimit));
      HSK_ASSIGN_OR_RETURN(inserted, insert(iss, nonce, exp));
      if (!inserted) {
        HSK_TRY(run(commit_, "commit"));  // keep whatever the sweep removed
        return make_error(ErrorCode::kUnavailable, "nonce.store_full",
                          "every remembered nonce is still within its validity window");
      }
    }
    HSK_TRY(run(commit_, "commit"));
    ++inserts_since_sweep_;
    return true;
  }

  // INSERT OR IGNORE under the capacity bound; true when a row was added.
  Result<bool> insert(std::string_view iss, std::string_view nonce, Micros exp) {
    bind_key(insert_, iss, nonce);
    sqlite3_bind_int64(insert_, 3, exp);
    sqlite3_bind_int64(insert_, 4, max_entries_);
    HSK_TRY(run(insert_, "insert"));
    return sqlite3_changes(db_) == 1;
  }

  Result<bool> exists(std::string_view iss, std::string_view nonce) {
    bind_key(exists_, iss, nonce);
    const int rc = sqlite3_step(exists_);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      Error err = sql_error("select");
      reset(exists_);
      return err;
    }
    reset(exists_);
    return rc == SQLITE_ROW;
  }

  // Deletes at most `limit` expired rows (through the expires_at index).
  Status sweep(Micros now, std::int64_t limit) {
    sqlite3_bind_int64(sweep_, 1, now);
    sqlite3_bind_int64(sweep_, 2, limit);
    return run(sweep_, "sweep");
  }

  static void bind_key(sqlite3_stmt* s, std::string_view iss, std::string_view nonce) {
    // Both are at most 512 bytes (validated) and outlive the statement's step: SQLITE_STATIC.
    sqlite3_bind_text(s, 1, iss.data(), static_cast<int>(iss.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 2, nonce.data(), static_cast<int>(nonce.size()), SQLITE_STATIC);
  }

  static void reset(sqlite3_stmt* s) {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }

  // Steps a statement that returns no rows, then resets it.
  Status run(sqlite3_stmt* s, const char* what) {
    if (sqlite3_step(s) != SQLITE_DONE) {
      Error err = sql_error(what);  // read the message before reset can touch it
      reset(s);
      return err;
    }
    reset(s);
    return ok_status();
  }

  Status exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return sql_error(sql);
    return ok_status();
  }

  Status query_text(const char* sql, std::string& out) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) return sql_error(sql);
    const int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
      Error err = rc == SQLITE_DONE ? failed(sql, "no result") : sql_error(sql);
      sqlite3_finalize(s);
      return err;
    }
    const unsigned char* text = sqlite3_column_text(s, 0);
    out = text != nullptr ? reinterpret_cast<const char*>(text) : "";
    sqlite3_finalize(s);
    return ok_status();
  }

  Status prepare(const char* sql, sqlite3_stmt*& out) {
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &out, nullptr) != SQLITE_OK) {
      return sql_error(sql);
    }
    return ok_status();
  }

  [[nodiscard]] static Error failed(std::string_view what, std::string_view message) {
    return make_error(ErrorCode::kUnavailable, "nonce.store_failed",
                      "sqlite: " + std::string(what) + ": " + std::string(message));
  }
  [[nodiscard]] Error sql_error(std::string_view what) const { return failed(what, sqlite3_errmsg(db_)); }

  const std::int64_t max_entries_;
  mutable std::mutex mu_;  // guards the connection, the statements and the fields below
  sqlite3* db_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  sqlite3_stmt* rollback_ = nullptr;
  sqlite3_stmt* delete_expired_key_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* exists_ = nullptr;
  sqlite3_stmt* sweep_ = nullptr;
  sqlite3_stmt* count_ = nullptr;
  std::uint32_t inserts_since_sweep_ = 0;
  mutable std::size_t last_size_ = 0;
};
}  // namespace

Result<std::unique_ptr<NonceStore>> open_sqlite_nonce_store(const std::filesystem::path& path, std::size_t max_entries) {
  auto store = std::make_unique<SqliteNonceStore>(max_entries);
  HSK_TRY(store->open(path));
  return std::unique_ptr<NonceStore>(std::move(store));
}

}  // namespace handshake::storage
