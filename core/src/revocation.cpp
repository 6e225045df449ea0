#include "handshake/revocation.hpp"

#include <sqlite3.h>

#include <fstream>
#include <sstream>

#include "handshake/ids.hpp"
#include "sqlite_util.hpp"

namespace handshake {

Result<Json> make_revocation(const Identity& issuer, std::optional<std::string> delegation_id,
                             std::optional<std::string> principal, std::string_view reason, Timestamp now,
                             std::optional<Timestamp> effective_at) {
  if (delegation_id.has_value() == principal.has_value()) {
    return make_error(ErrorCode::kInvalidArgument, "revocation.target",
                      "a revocation names exactly one delegation id or one principal");
  }
  RevocationStatement s;
  s.id = ids::make_id(ids::kRevocationPrefix, now);
  s.iss = issuer.did_string();
  s.iat = now;
  s.revoked_delegation_id = std::move(delegation_id);
  s.revoked_principal = std::move(principal);
  s.reason = std::string(reason);
  s.effective_at = effective_at;
  return sign_message(s.to_json(), issuer.key());
}

// ---- RevocationList ----------------------------------------------------------------------------

Result<RevocationStatement> RevocationList::verified(const Json& statement, const KeyResolver& keys) const {
  HSK_ASSIGN_OR_RETURN(auto s, RevocationStatement::from_json(statement));
  const auto key = keys.key_at(s.iss, s.iat);
  if (key.status == KeyResolver::Status::kUnavailable) {
    return make_error(ErrorCode::kUnavailable, "did.unavailable", "cannot resolve " + s.iss + ": " + key.detail);
  }
  if (key.status != KeyResolver::Status::kFound) {
    return make_error(ErrorCode::kNotFound, "did.unresolved", "no key known for " + s.iss);
  }
  HSK_TRY(verify_message_signature(statement, key.key));
  if (s.revoked_principal) {
    std::shared_lock lock(mu_);
    const bool self = *s.revoked_principal == s.iss;
    if (!self && authorities_.count(s.iss) == 0) {
      return make_error(ErrorCode::kPermission, "revocation.authority",
                        s.iss + " may not revoke principal " + *s.revoked_principal);
    }
  }
  return s;
}

Status RevocationList::check_statement(const Json& statement, const KeyResolver& keys) const {
  HSK_TRY(verified(statement, keys));
  return {};
}

Status RevocationList::add_statement(const Json& statement, const KeyResolver& keys) {
  HSK_ASSIGN_OR_RETURN(auto s, verified(statement, keys));
  const Timestamp effective = s.effective_at.value_or(s.iat);
  if (s.revoked_delegation_id) {
    add_delegation(*s.revoked_delegation_id, s.iss, effective);
  } else {
    add_principal(*s.revoked_principal, effective);
  }
  return {};
}

void RevocationList::add_delegation(std::string id, std::string issuer, Timestamp effective_at) {
  std::unique_lock lock(mu_);
  delegations_.emplace(std::move(id), DelegationEntry{std::move(issuer), effective_at});
}

void RevocationList::add_principal(std::string did, Timestamp effective_at) {
  std::unique_lock lock(mu_);
  auto [it, inserted] = principals_.emplace(std::move(did), effective_at);
  if (!inserted && effective_at < it->second) it->second = effective_at;
}

void RevocationList::add_authority(std::string did) {
  std::unique_lock lock(mu_);
  authorities_.insert(std::move(did));
}

RevocationSource::Answer RevocationList::delegation_revoked(std::string_view id, std::string_view issuer,
                                                            Timestamp at) const {
  std::shared_lock lock(mu_);
  auto [lo, hi] = delegations_.equal_range(id);
  for (auto it = lo; it != hi; ++it) {
    if ((it->second.issuer.empty() || it->second.issuer == issuer) && it->second.effective_at <= at) {
      return Answer::kRevoked;
    }
  }
  return Answer::kNotRevoked;
}

RevocationSource::Answer RevocationList::principal_revoked(std::string_view did, Timestamp at) const {
  std::shared_lock lock(mu_);
  auto it = principals_.find(did);
  return it != principals_.end() && it->second <= at ? Answer::kRevoked : Answer::kNotRevoked;
}

std::size_t RevocationList::size() const {
  std::shared_lock lock(mu_);
  return delegations_.size() + principals_.size();
}

Status load_revocation_file(const std::filesystem::path& path, const KeyResolver& keys, RevocationList& list) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kIo, "revocation.file", "cannot open " + path.string());
  std::ostringstream text;
  text << in.rdbuf();
  json::ParseLimits limits;
  limits.max_bytes = 64 * 1024 * 1024;
  HSK_ASSIGN_OR_RETURN(auto doc, json::parse_strict(text.str(), limits));
  if (!doc.is_array()) {
    return make_error(ErrorCode::kSchema, "revocation.file", path.string() + " must hold an array of RevocationStatements");
  }
  std::size_t i = 0;
  for (const auto& s : doc) {
    if (auto st = list.add_statement(s, keys); !st.ok()) {
      Error e = st.error();
      e.message = path.string() + "[" + std::to_string(i) + "]: " + e.message;
      return e;
    }
    ++i;
  }
  return {};
}

// ---- SqliteRevocationStore -----------------------------------------------------------------------

namespace {

sqlite3* db_of(void* p) { return static_cast<sqlite3*>(p); }

Error store_error(sqlite3* db, const std::string& what) {
  return detail::sqlite_error(db, "revocation.store_failed", what);
}

}  // namespace

Result<std::unique_ptr<SqliteRevocationStore>> SqliteRevocationStore::open(
    const std::filesystem::path& path, const KeyResolver& keys, const std::vector<std::string>& authorities) {
  const char* ddl =
      "PRAGMA journal_mode=WAL;"
      "CREATE TABLE IF NOT EXISTS revocations ("
      "  rowid INTEGER PRIMARY KEY AUTOINCREMENT,"
      "  id TEXT NOT NULL UNIQUE,"
      "  statement TEXT NOT NULL);";
  HSK_ASSIGN_OR_RETURN(sqlite3* db, detail::open_sqlite(path, ddl, "revocation.store_failed", SQLITE_OPEN_FULLMUTEX));
  std::unique_ptr<SqliteRevocationStore> store(new SqliteRevocationStore(db, keys));
  for (const auto& a : authorities) store->list_.add_authority(a);
  HSK_TRY(store->refresh());
  return store;
}

SqliteRevocationStore::~SqliteRevocationStore() { sqlite3_close(db_of(db_)); }

Status SqliteRevocationStore::refresh() {
  std::lock_guard lock(write_mu_);
  sqlite3* db = db_of(db_);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT rowid, statement FROM revocations WHERE rowid > ? ORDER BY rowid", -1, &st,
                         nullptr) != SQLITE_OK) {
    failed_ = true;
    return store_error(db, "read revocations");
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
    return store_error(db, "read revocations");
  }
  failed_ = false;
  return {};
}

Status SqliteRevocationStore::add_statement(const Json& statement) {
  // Verify against a scratch list (same authorities) first: nothing unverified reaches the file.
  HSK_TRY(list_.check_statement(statement, keys_));
  HSK_ASSIGN_OR_RETURN(auto text, json::canonicalize(statement));
  {
    std::lock_guard lock(write_mu_);
    sqlite3* db = db_of(db_);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO revocations(id, statement) VALUES (?, ?)", -1, &st, nullptr) !=
        SQLITE_OK) {
      return store_error(db, "store revocation");
    }
    const std::string id = statement["id"].get<std::string>();
    sqlite3_bind_text(st, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, text.c_str(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return store_error(db, "store revocation");
  }
  return refresh();
}

RevocationSource::Answer SqliteRevocationStore::delegation_revoked(std::string_view id, std::string_view issuer,
                                                                   Timestamp at) const {
  if (failed_) return Answer::kUnavailable;
  return list_.delegation_revoked(id, issuer, at);
}

RevocationSource::Answer SqliteRevocationStore::principal_revoked(std::string_view did, Timestamp at) const {
  if (failed_) return Answer::kUnavailable;
  return list_.principal_revoked(did, at);
}

}  // namespace handshake
