#include "handshake/registry_dids.hpp"

#include <sqlite3.h>

#include <mutex>

#include "handshake/did.hpp"
#include "handshake/did_document.hpp"
#include "sqlite_util.hpp"

namespace handshake::registry {
namespace {

Error store_error(sqlite3* db, const std::string& what) { return detail::sqlite_error(db, "registry.store_failed", what); }

class SqliteDidRows final : public DidRows {
 public:
  explicit SqliteDidRows(sqlite3* db) : db_(db) {}
  ~SqliteDidRows() override { sqlite3_close_v2(db_); }
  SqliteDidRows(const SqliteDidRows&) = delete;
  SqliteDidRows& operator=(const SqliteDidRows&) = delete;

  Result<std::vector<std::string>> documents(const std::string& did) const override {
    std::lock_guard lock(mu_);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT document FROM dids WHERE did = ? ORDER BY version", -1, &st, nullptr) !=
        SQLITE_OK) {
      return store_error(db_, "read");
    }
    sqlite3_bind_text(st, 1, did.c_str(), static_cast<int>(did.size()), SQLITE_TRANSIENT);
    std::vector<std::string> out;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
      out.emplace_back(text ? text : "");
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return store_error(db_, "read");
    return out;
  }

  Result<bool> insert(const std::string& did, std::uint64_t version, const std::string& text) override {
    std::lock_guard lock(mu_);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, "INSERT INTO dids(did, version, document) VALUES (?, ?, ?)", -1, &st, nullptr) !=
        SQLITE_OK) {
      return store_error(db_, "store");
    }
    sqlite3_bind_text(st, 1, did.c_str(), static_cast<int>(did.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, static_cast<sqlite3_int64>(version));
    sqlite3_bind_text(st, 3, text.c_str(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_CONSTRAINT) return false;
    if (rc != SQLITE_DONE) return store_error(db_, "store");
    return true;
  }

 private:
  sqlite3* db_;
  mutable std::mutex mu_;
};

}  // namespace

Result<std::unique_ptr<DidStore>> DidStore::open(const std::filesystem::path& path) {
  const char* ddl =
      "PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=FULL;"
      "CREATE TABLE IF NOT EXISTS dids(did TEXT NOT NULL, version INTEGER NOT NULL, document TEXT NOT NULL,"
      "  PRIMARY KEY(did, version)) WITHOUT ROWID;";
  HSK_ASSIGN_OR_RETURN(sqlite3 * db, detail::open_sqlite(path, ddl, "registry.store_failed"));
  return std::make_unique<DidStore>(std::make_unique<SqliteDidRows>(db));
}

Result<std::vector<Json>> DidStore::versions(const std::string& did) const {
  HSK_ASSIGN_OR_RETURN(auto texts, rows_->documents(did));
  std::vector<Json> out;
  out.reserve(texts.size());
  for (const auto& text : texts) {
    auto doc = json::parse_strict(text);
    if (!doc.ok()) return make_error(ErrorCode::kUnavailable, "registry.store_failed", "a stored document does not parse");
    out.push_back(std::move(doc).value());
  }
  if (out.empty()) return make_error(ErrorCode::kNotFound, "did.not_found", "the registry has no document for " + did.substr(0, 200));
  return out;
}

Result<Json> DidStore::publish(const Json& document, const Identity& registry, Timestamp now) {
  HSK_ASSIGN_OR_RETURN(auto parsed, parse_did_document(document));
  const std::string did = parsed.did.str();
  std::vector<Json> history;
  if (auto stored = versions(did); stored.ok()) {
    history = std::move(stored).value();
  } else if (stored.error().code != ErrorCode::kNotFound) {
    return stored.error();
  }
  if (parsed.version != history.size() + 1) {
    return make_error(ErrorCode::kInvalidArgument, "diddoc.history",
                      "expected version " + std::to_string(history.size() + 1) + " of " + did);
  }
  history.push_back(document);
  // The whole history must hold, and prove itself: the registry vouches only for what it can check.
  if (auto h = DidKeyHistory::build(history, /*trusted_source=*/false); !h.ok()) return h.error();
  HSK_ASSIGN_OR_RETURN(auto countersigned,
                       add_did_document_proof(document, registry.key(), registry.did_string() + "#keys-1", now));
  HSK_ASSIGN_OR_RETURN(auto text, json::canonicalize(countersigned));
  HSK_ASSIGN_OR_RETURN(bool stored, rows_->insert(did, parsed.version, text));
  if (!stored) {
    return make_error(ErrorCode::kInvalidArgument, "diddoc.history", "version already published (concurrent publish)");
  }
  return countersigned;
}

KeyResolver::Answer DidStoreKeyResolver::key_at(const std::string& did, Timestamp at) const {
  auto versions = store_.versions(did);
  if (!versions.ok()) {
    const auto status = versions.error().code == ErrorCode::kNotFound ? Status::kNotFound : Status::kUnavailable;
    return Answer{status, {}, versions.error().message};
  }
  auto history = DidKeyHistory::build(*versions, /*trusted_source=*/false);
  if (!history.ok()) return Answer{Status::kUnavailable, {}, history.error().message};
  auto key = history->key_at(at);
  if (!key.ok()) return Answer{Status::kNotFound, {}, key.error().message};
  return Answer{Status::kFound, *key, {}};
}

}  // namespace handshake::registry
