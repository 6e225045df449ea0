// ReceiptStore backends: JSON Lines, SQLite, PostgreSQL.
#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <mutex>

#include "handshake/storage/receipts.hpp"
#include "handshake/time.hpp"
#include "pg_internal.hpp"
#include "sqlite_util.hpp"

namespace handshake::storage {
namespace {

constexpr const char* kFailed = "receipts.store_failed";

std::string member(const Json& doc, const char* key) {
  auto it = doc.find(key);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<std::string> text_of(const Json& doc) {
  auto t = json::canonicalize(doc);
  if (!t.ok()) return make_error(ErrorCode::kInvalidArgument, kFailed, "not canonicalizable: " + t.error().message);
  return t;
}

// "" for null (stored as SQL NULL), else the canonical text.
Result<std::string> optional_text_of(const Json& doc) {
  if (doc.is_null()) return std::string();
  return text_of(doc);
}

Json parsed_or_null(std::string_view text) {
  if (text.empty()) return Json();
  auto doc = json::parse_strict(text);
  return doc.ok() ? std::move(doc).value() : Json();
}

std::string time_of(const StoredRecord& r) {
  return member(r.message, r.kind == StoredRecord::Kind::kReceipt ? "executed_at" : "iat");
}

// Newest first: `kept` is in the order the records were kept; sorted by their own time (RFC 3339
// compared as instants), ties in reverse keeping order; then filtered and cut to the limit.
std::vector<StoredRecord> select_records(std::vector<StoredRecord> kept, const RecordFilter& filter) {
  std::reverse(kept.begin(), kept.end());
  std::vector<std::pair<Timestamp, StoredRecord>> timed;
  for (auto& r : kept) {
    if (!record_matches(r, filter)) continue;
    auto t = time::parse_rfc3339(time_of(r));
    timed.emplace_back(t.ok() ? *t : Timestamp{}, std::move(r));
  }
  std::stable_sort(timed.begin(), timed.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<StoredRecord> out;
  for (auto& [t, r] : timed) {
    if (out.size() >= filter.limit) break;
    out.push_back(std::move(r));
  }
  return out;
}

class ReceiptLog final : public ReceiptStore {
 public:
  ReceiptLog(std::FILE* f, std::filesystem::path path) : f_(f), path_(std::move(path)) {}
  ~ReceiptLog() override { std::fclose(f_); }
  ReceiptLog(const ReceiptLog&) = delete;
  ReceiptLog& operator=(const ReceiptLog&) = delete;

  Status put_receipt(const Json& receipt, const Json& acceptance, std::string_view action,
                     const Json& delegation_chain) override {
    Json line{{"kind", "receipt"}, {"action", std::string(action)}, {"receipt", receipt}, {"acceptance", acceptance}};
    if (!delegation_chain.is_null()) line["delegation_chain"] = delegation_chain;
    return append(line);
  }
  Status put_refusal(const Json& refusal, std::string_view action) override {
    return append(Json{{"kind", "refusal"}, {"action", std::string(action)}, {"refusal", refusal}});
  }
  Result<std::optional<Json>> find_receipt(std::string_view id) const override {
    std::lock_guard lock(mu_);
    std::ifstream in(path_);
    if (!in) return make_error(ErrorCode::kIo, kFailed, "cannot read " + path_.string());
    std::string line;
    while (std::getline(in, line)) {
      auto doc = json::parse_strict(line);
      if (!doc.ok() || !doc->is_object() || !doc->contains("receipt")) continue;
      if (member((*doc)["receipt"], "id") == id) return std::optional<Json>((*doc)["receipt"]);
    }
    return std::optional<Json>();
  }
  Result<std::vector<StoredRecord>> list(const RecordFilter& filter) const override {
    std::lock_guard lock(mu_);
    std::ifstream in(path_);
    if (!in) return make_error(ErrorCode::kIo, kFailed, "cannot read " + path_.string());
    std::vector<StoredRecord> kept;
    std::string line;
    while (std::getline(in, line)) {
      auto doc = json::parse_strict(line);
      if (!doc.ok() || !doc->is_object()) continue;
      const std::string kind = member(*doc, "kind");
      StoredRecord r;
      r.action = member(*doc, "action");
      if (kind == "receipt" && doc->contains("receipt")) {
        r.message = (*doc)["receipt"];
        r.acceptance = doc->value("acceptance", Json());
        r.delegation_chain = doc->value("delegation_chain", Json());
      } else if (kind == "refusal" && doc->contains("refusal")) {
        r.kind = StoredRecord::Kind::kRefusal;
        r.message = (*doc)["refusal"];
      } else {
        continue;
      }
      kept.push_back(std::move(r));
    }
    return select_records(std::move(kept), filter);
  }

 private:
  Status append(const Json& record) {
    HSK_ASSIGN_OR_RETURN(auto text, text_of(record));
    text.push_back('\n');
    std::lock_guard lock(mu_);
    if (std::fwrite(text.data(), 1, text.size(), f_) != text.size() || std::fflush(f_) != 0) {
      return make_error(ErrorCode::kIo, kFailed, "cannot append to " + path_.string());
    }
    return ok_status();
  }
  mutable std::mutex mu_;
  std::FILE* f_;
  std::filesystem::path path_;
};

class SqliteReceipts final : public ReceiptStore {
 public:
  explicit SqliteReceipts(sqlite3* db) : db_(db) {}
  ~SqliteReceipts() override { sqlite3_close(db_); }
  SqliteReceipts(const SqliteReceipts&) = delete;
  SqliteReceipts& operator=(const SqliteReceipts&) = delete;

  Status put_receipt(const Json& receipt, const Json& acceptance, std::string_view action,
                     const Json& delegation_chain) override {
    HSK_ASSIGN_OR_RETURN(auto r, text_of(receipt));
    HSK_ASSIGN_OR_RETURN(auto a, optional_text_of(acceptance));
    HSK_ASSIGN_OR_RETURN(auto c, optional_text_of(delegation_chain));
    return run("INSERT OR IGNORE INTO receipts(id, handshake_id, action, executed_at, receipt, acceptance, "
               "delegation_chain) VALUES (?1, ?2, ?3, ?4, ?5, NULLIF(?6, ''), NULLIF(?7, ''))",
               {member(receipt, "id"), member(receipt, "handshake_id"), std::string(action),
                member(receipt, "executed_at"), r, a, c});
  }
  Status put_refusal(const Json& refusal, std::string_view action) override {
    HSK_ASSIGN_OR_RETURN(auto r, text_of(refusal));
    return run("INSERT INTO refusals(request_id, action, refusal) VALUES (?1, ?2, ?3)",
               {member(refusal, "request_id"), std::string(action), r});
  }
  Result<std::optional<Json>> find_receipt(std::string_view id) const override {
    std::lock_guard lock(mu_);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT receipt FROM receipts WHERE id = ?", -1, &st, nullptr) != SQLITE_OK) {
      return detail::sqlite_error(db_, kFailed, "read");
    }
    sqlite3_bind_text(st, 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
    const int rc = sqlite3_step(st);
    std::optional<Json> out;
    if (rc == SQLITE_ROW) {
      const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      auto doc = json::parse_strict(t ? t : "");
      if (doc.ok()) out = std::move(doc).value();
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return detail::sqlite_error(db_, kFailed, "read");
    if (rc == SQLITE_ROW && !out) return make_error(ErrorCode::kIo, kFailed, "a stored receipt does not parse");
    return out;
  }
  Result<std::vector<StoredRecord>> list(const RecordFilter& filter) const override {
    std::vector<StoredRecord> kept;
    HSK_TRY(read_rows("SELECT action, receipt, acceptance, delegation_chain FROM receipts ORDER BY rowid",
                      StoredRecord::Kind::kReceipt, kept));
    HSK_TRY(read_rows("SELECT action, refusal, NULL, NULL FROM refusals ORDER BY seq", StoredRecord::Kind::kRefusal,
                      kept));
    return select_records(std::move(kept), filter);
  }

 private:
  static std::string_view column(sqlite3_stmt* st, int i) {
    const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
    return t ? std::string_view(t, static_cast<std::size_t>(sqlite3_column_bytes(st, i))) : std::string_view();
  }
  Status read_rows(const char* sql, StoredRecord::Kind kind, std::vector<StoredRecord>& out) const {
    std::lock_guard lock(mu_);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) != SQLITE_OK) return detail::sqlite_error(db_, kFailed, "read");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      StoredRecord r;
      r.kind = kind;
      r.action = std::string(column(st, 0));
      r.message = parsed_or_null(column(st, 1));
      if (!r.message.is_object()) continue;  // a row that no longer parses: not listed
      r.acceptance = parsed_or_null(column(st, 2));
      r.delegation_chain = parsed_or_null(column(st, 3));
      out.push_back(std::move(r));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return detail::sqlite_error(db_, kFailed, "read");
    return ok_status();
  }
  Status run(const char* sql, const std::vector<std::string>& values) {
    std::lock_guard lock(mu_);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &st, nullptr) != SQLITE_OK) return detail::sqlite_error(db_, kFailed, "store");
    for (std::size_t i = 0; i < values.size(); ++i) {
      sqlite3_bind_text(st, static_cast<int>(i + 1), values[i].c_str(), static_cast<int>(values[i].size()),
                        SQLITE_TRANSIENT);
    }
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return detail::sqlite_error(db_, kFailed, "store");
    return ok_status();
  }
  mutable std::mutex mu_;
  sqlite3* db_;
};

constexpr const char* kPgSchema = R"sql(
CREATE TABLE IF NOT EXISTS hsk_receipts(id text PRIMARY KEY, handshake_id text NOT NULL, action text NOT NULL,
  executed_at text NOT NULL, receipt text NOT NULL, acceptance text);
CREATE INDEX IF NOT EXISTS hsk_receipts_handshake ON hsk_receipts(handshake_id);
CREATE TABLE IF NOT EXISTS hsk_refusals(seq bigserial PRIMARY KEY, request_id text NOT NULL, action text NOT NULL,
  refusal text NOT NULL);
ALTER TABLE hsk_receipts ADD COLUMN IF NOT EXISTS delegation_chain text;
ALTER TABLE hsk_receipts ADD COLUMN IF NOT EXISTS seq bigserial
)sql";
constexpr pg::Statement kPutReceipt{
    "hsk_put_receipt_chain",
    "INSERT INTO hsk_receipts(id, handshake_id, action, executed_at, receipt, acceptance, delegation_chain) "
    "VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), NULLIF($7, '')) ON CONFLICT (id) DO NOTHING"};
constexpr pg::Statement kPutRefusal{"hsk_put_refusal",
                                    "INSERT INTO hsk_refusals(request_id, action, refusal) VALUES ($1, $2, $3)"};
constexpr pg::Statement kFindReceipt{"hsk_find_receipt", "SELECT receipt FROM hsk_receipts WHERE id = $1"};
constexpr pg::Statement kListReceipts{"hsk_list_receipts",
                                      "SELECT action, receipt, acceptance, delegation_chain FROM hsk_receipts ORDER BY seq"};
constexpr pg::Statement kListRefusals{"hsk_list_refusals", "SELECT action, refusal FROM hsk_refusals ORDER BY seq"};

class PgReceipts final : public ReceiptStore {
 public:
  explicit PgReceipts(std::shared_ptr<PgPool> pool) : pool_(std::move(pool)) {}
  Status put_receipt(const Json& receipt, const Json& acceptance, std::string_view action,
                     const Json& delegation_chain) override {
    HSK_ASSIGN_OR_RETURN(auto r, text_of(receipt));
    HSK_ASSIGN_OR_RETURN(auto a, optional_text_of(acceptance));
    HSK_ASSIGN_OR_RETURN(auto c, optional_text_of(delegation_chain));
    HSK_TRY(pool_->impl().run(kPutReceipt,
                              {member(receipt, "id"), member(receipt, "handshake_id"), std::string(action),
                               member(receipt, "executed_at"), r, a, c},
                              kFailed));
    return ok_status();
  }
  Status put_refusal(const Json& refusal, std::string_view action) override {
    HSK_ASSIGN_OR_RETURN(auto r, text_of(refusal));
    HSK_TRY(pool_->impl().run(kPutRefusal, {member(refusal, "request_id"), std::string(action), r}, kFailed));
    return ok_status();
  }
  Result<std::optional<Json>> find_receipt(std::string_view id) const override {
    HSK_ASSIGN_OR_RETURN(auto rows, pool_->impl().run(kFindReceipt, {std::string(id)}, kFailed));
    if (rows.size() == 0) return std::optional<Json>();
    auto doc = json::parse_strict(rows.text(0, 0));
    if (!doc.ok()) return make_error(ErrorCode::kUnavailable, kFailed, "a stored receipt does not parse");
    return std::optional<Json>(std::move(doc).value());
  }
  Result<std::vector<StoredRecord>> list(const RecordFilter& filter) const override {
    std::vector<StoredRecord> kept;
    HSK_ASSIGN_OR_RETURN(auto receipts, pool_->impl().run(kListReceipts, {}, kFailed));
    for (int i = 0; i < receipts.size(); ++i) {
      StoredRecord r;
      r.action = std::string(receipts.text(i, 0));
      r.message = parsed_or_null(receipts.text(i, 1));
      if (!r.message.is_object()) continue;
      r.acceptance = receipts.is_null(i, 2) ? Json() : parsed_or_null(receipts.text(i, 2));
      r.delegation_chain = receipts.is_null(i, 3) ? Json() : parsed_or_null(receipts.text(i, 3));
      kept.push_back(std::move(r));
    }
    HSK_ASSIGN_OR_RETURN(auto refusals, pool_->impl().run(kListRefusals, {}, kFailed));
    for (int i = 0; i < refusals.size(); ++i) {
      StoredRecord r;
      r.kind = StoredRecord::Kind::kRefusal;
      r.action = std::string(refusals.text(i, 0));
      r.message = parsed_or_null(refusals.text(i, 1));
      if (r.message.is_object()) kept.push_back(std::move(r));
    }
    return select_records(std::move(kept), filter);
  }

 private:
  std::shared_ptr<PgPool> pool_;
};

}  // namespace

Result<std::unique_ptr<ReceiptStore>> open_receipt_log(const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "ab");
  if (f == nullptr) return make_error(ErrorCode::kIo, kFailed, "cannot open " + path.string());
  return std::unique_ptr<ReceiptStore>(std::make_unique<ReceiptLog>(f, path));
}

Result<std::unique_ptr<ReceiptStore>> open_sqlite_receipt_store(const std::filesystem::path& path) {
  const char* ddl =
      "PRAGMA journal_mode=WAL;"
      "CREATE TABLE IF NOT EXISTS receipts(id TEXT PRIMARY KEY, handshake_id TEXT, action TEXT, executed_at TEXT,"
      "  receipt TEXT NOT NULL, acceptance TEXT, delegation_chain TEXT);"
      "CREATE TABLE IF NOT EXISTS refusals(seq INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT, action TEXT,"
      "  refusal TEXT NOT NULL);";
  auto db = detail::open_sqlite(path, ddl, kFailed, SQLITE_OPEN_FULLMUTEX);
  if (!db.ok()) {
    Error e = db.error();
    e.code = ErrorCode::kIo;
    return e;
  }
  // Files from before delegation chains were kept gain the column (NULL in their old rows).
  if (sqlite3_exec(*db, "SELECT delegation_chain FROM receipts LIMIT 0", nullptr, nullptr, nullptr) != SQLITE_OK &&
      sqlite3_exec(*db, "ALTER TABLE receipts ADD COLUMN delegation_chain TEXT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    Error e = detail::sqlite_error(*db, kFailed, "add column delegation_chain to " + path.string());
    e.code = ErrorCode::kIo;
    sqlite3_close(*db);
    return e;
  }
  return std::unique_ptr<ReceiptStore>(std::make_unique<SqliteReceipts>(*db));
}

Result<std::unique_ptr<ReceiptStore>> open_pg_receipt_store(std::shared_ptr<PgPool> pool) {
  if (!pool) return make_error(ErrorCode::kInvalidArgument, kFailed, "no PostgreSQL pool");
  HSK_TRY(create_pg_schema(pool->impl(), kPgSchema, kFailed));
  return std::unique_ptr<ReceiptStore>(std::make_unique<PgReceipts>(std::move(pool)));
}

Result<std::unique_ptr<ReceiptStore>> open_receipt_store(const std::string& where,
                                                        const std::optional<std::filesystem::path>& password_file) {
  if (where.rfind("postgresql://", 0) == 0 || where.rfind("postgres://", 0) == 0) {
    PgOptions o;
    o.url = where;
    o.password_file = password_file;
    o.pool_size = 4;
    HSK_ASSIGN_OR_RETURN(auto pool, PgPool::open(o));
    return open_pg_receipt_store(std::move(pool));
  }
  if (password_file) {
    return make_error(ErrorCode::kInvalidArgument, kFailed, "a password file is for a postgresql:// receipt store");
  }
  const std::filesystem::path p(where);
  if (p.extension() == ".jsonl") return open_receipt_log(p);
  return open_sqlite_receipt_store(p);
}

Result<std::unique_ptr<ReceiptStore>> open_receipt_option(const std::optional<std::string>& log_file,
                                                         const std::optional<std::string>& db,
                                                         const std::optional<std::string>& password_file) {
  if (log_file && db) return make_error(ErrorCode::kInvalidArgument, "usage", "--receipts and --receipts-db: choose one");
  if (password_file && !db) {
    return make_error(ErrorCode::kInvalidArgument, "usage", "--receipts-db-password-file needs --receipts-db");
  }
  if (log_file) return open_receipt_log(*log_file);
  if (db) {
    std::optional<std::filesystem::path> pw;
    if (password_file) pw = *password_file;
    return open_receipt_store(*db, pw);
  }
  return std::unique_ptr<ReceiptStore>();
}

}  // namespace handshake::storage
