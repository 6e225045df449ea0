#include "handshake/registry_revocations.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <mutex>

#include "handshake/did.hpp"
#include "handshake/encoding.hpp"
#include "handshake/ids.hpp"
#include "handshake/messages.hpp"
#include "handshake/schema.hpp"
#include "sqlite_util.hpp"

namespace handshake::registry {
namespace {

Error store_error(sqlite3* db, const std::string& what) { return detail::sqlite_error(db, "registry.store_failed", what); }
std::int64_t micros(Timestamp t) { return t.time_since_epoch().count(); }
Timestamp from_micros(std::int64_t us) { return Timestamp(std::chrono::microseconds(us)); }

// A prepared statement that finalizes itself.
struct Stmt {
  sqlite3_stmt* st = nullptr;
  ~Stmt() { sqlite3_finalize(st); }
  void text(int i, const std::string& s) { sqlite3_bind_text(st, i, s.c_str(), static_cast<int>(s.size()), SQLITE_TRANSIENT); }
  void i64(int i, std::int64_t v) { sqlite3_bind_int64(st, i, v); }
  [[nodiscard]] std::string col_text(int i) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st, i))) : std::string();
  }
};

constexpr const char* kEntryColumns = "id, subject_did, key_id, reason, revoked_at_us, tree_head_id, published_at_us";

RevocationEntry entry_from_row(const Stmt& s) {
  RevocationEntry e;
  e.id = s.col_text(0);
  e.subject_did = s.col_text(1);
  e.key_id = s.col_text(2);
  e.reason = s.col_text(3);
  e.revoked_at = from_micros(sqlite3_column_int64(s.st, 4));
  e.tree_head_id = s.col_text(5);
  e.published_at = from_micros(sqlite3_column_int64(s.st, 6));
  return e;
}

Error entry_error(const std::string& m) { return make_error(ErrorCode::kInvalidArgument, "revocation.entry", m); }
Error feed_error(const std::string& m) { return make_error(ErrorCode::kSchema, "feed.invalid", m); }

Result<std::string> encode_cursor(const RevocationEntry& last) {
  HSK_ASSIGN_OR_RETURN(auto text, json::canonicalize(Json{{"i", last.id}, {"r", micros(last.revoked_at)}}));
  return encoding::base64url_encode(encoding::as_bytes(text));
}

struct Cursor {
  std::int64_t revoked_at_us = 0;
  std::string id;
};

Result<Cursor> decode_cursor(const std::string& cursor) {
  auto bad = [] { return make_error(ErrorCode::kInvalidArgument, "revocation.cursor", "not a cursor this registry issued"); };
  if (cursor.size() > 512) return bad();
  auto bytes = encoding::base64url_decode(cursor);
  if (!bytes.ok()) return bad();
  auto doc = json::parse_strict(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
  if (!doc.ok() || !doc->is_object() || doc->size() != 2 || !doc->contains("i") || !(*doc)["i"].is_string() ||
      !doc->contains("r") || !(*doc)["r"].is_number_integer()) {
    return bad();
  }
  return Cursor{(*doc)["r"].get<std::int64_t>(), (*doc)["i"].get<std::string>()};
}

}  // namespace

std::string tree_head_id(std::uint64_t tree_size, const merkle::Hash& root) {
  return "th_" + std::to_string(tree_size) + "_" + encoding::hex_encode(root);
}

Json RevocationEntry::to_json() const {
  return Json{{"id", id},
              {"subject_did", subject_did},
              {"key_id", key_id},
              {"reason", reason},
              {"revoked_at", time::format_rfc3339(revoked_at)},
              {"tree_head_id", tree_head_id}};
}

namespace {

Result<Json> parse_stored(const std::string& text, const char* what) {
  auto doc = json::parse_strict(text);
  if (!doc.ok()) {
    return make_error(ErrorCode::kUnavailable, "registry.store_failed", std::string("a stored ") + what + " does not parse");
  }
  return doc;
}

class SqliteRevocationRows final : public RevocationRows {
 public:
  explicit SqliteRevocationRows(sqlite3* db) : db_(db) {}
  ~SqliteRevocationRows() override { sqlite3_close_v2(db_); }
  SqliteRevocationRows(const SqliteRevocationRows&) = delete;
  SqliteRevocationRows& operator=(const SqliteRevocationRows&) = delete;

  Result<std::optional<RevocationEntry>> find_entry(const std::string& subject_did, const std::string& key_id,
                                                    const std::string& tree_head_id) const override {
    std::lock_guard lock(mu_);
    return find_locked(subject_did, key_id, tree_head_id);
  }

  Result<std::optional<RevocationEntry>> entry(const std::string& id) const override {
    std::lock_guard lock(mu_);
    Stmt e;
    const std::string sql = std::string("SELECT ") + kEntryColumns + " FROM published WHERE id = ?";
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &e.st, nullptr) != SQLITE_OK) return store_error(db_, "read");
    e.text(1, id);
    const int rc = sqlite3_step(e.st);
    if (rc == SQLITE_ROW) return std::optional<RevocationEntry>(entry_from_row(e));
    if (rc != SQLITE_DONE) return store_error(db_, "read");
    return std::optional<RevocationEntry>();
  }

  Result<RevocationEntry> insert_entry(const RevocationEntry& e) override {
    std::lock_guard lock(mu_);
    HSK_ASSIGN_OR_RETURN(auto existing, find_locked(e.subject_did, e.key_id, e.tree_head_id));
    if (existing) return *existing;
    Stmt s;
    const std::string sql = std::string("INSERT INTO published(") + kEntryColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?)";
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s.st, nullptr) != SQLITE_OK) return store_error(db_, "store");
    s.text(1, e.id);
    s.text(2, e.subject_did);
    s.text(3, e.key_id);
    s.text(4, e.reason);
    s.i64(5, micros(e.revoked_at));
    s.text(6, e.tree_head_id);
    s.i64(7, micros(e.published_at));
    if (sqlite3_step(s.st) != SQLITE_DONE) return store_error(db_, "store");
    return e;
  }

  Result<std::optional<StoredStatement>> statement(const std::string& id) const override {
    std::lock_guard lock(mu_);
    Stmt read;
    if (sqlite3_prepare_v2(db_, "SELECT body, entry_id FROM statements WHERE id = ?", -1, &read.st, nullptr) !=
        SQLITE_OK) {
      return store_error(db_, "read");
    }
    read.text(1, id);
    const int rc = sqlite3_step(read.st);
    if (rc == SQLITE_DONE) return std::optional<StoredStatement>();
    if (rc != SQLITE_ROW) return store_error(db_, "read");
    StoredStatement out{read.col_text(0), std::nullopt};
    if (sqlite3_column_type(read.st, 1) != SQLITE_NULL) out.entry_id = read.col_text(1);
    return std::optional<StoredStatement>(std::move(out));
  }

  Status insert_statement(const std::string& id, const StoredStatement& st) override {
    std::lock_guard lock(mu_);
    Stmt ins;
    if (sqlite3_prepare_v2(db_, "INSERT OR IGNORE INTO statements(id, body, entry_id) VALUES (?, ?, ?)", -1, &ins.st,
                           nullptr) != SQLITE_OK) {
      return store_error(db_, "store");
    }
    ins.text(1, id);
    ins.text(2, st.body);
    if (st.entry_id) {
      ins.text(3, *st.entry_id);
    } else {
      sqlite3_bind_null(ins.st, 3);
    }
    if (sqlite3_step(ins.st) != SQLITE_DONE) return store_error(db_, "store");
    return ok_status();
  }

  Result<std::vector<std::string>> statements() const override {
    std::lock_guard lock(mu_);
    Stmt s;
    if (sqlite3_prepare_v2(db_, "SELECT body FROM statements ORDER BY seq", -1, &s.st, nullptr) != SQLITE_OK) {
      return store_error(db_, "read");
    }
    std::vector<std::string> out;
    int rc;
    while ((rc = sqlite3_step(s.st)) == SQLITE_ROW) out.push_back(s.col_text(0));
    if (rc != SQLITE_DONE) return store_error(db_, "read");
    return out;
  }

  Result<std::vector<RevocationEntry>> entries(const std::optional<std::pair<Timestamp, std::string>>& after,
                                               std::size_t limit) const override {
    std::lock_guard lock(mu_);
    Stmt s;
    std::string sql = std::string("SELECT ") + kEntryColumns + " FROM published";
    if (after) sql += " WHERE revoked_at_us < ?1 OR (revoked_at_us = ?1 AND id < ?2)";
    sql += " ORDER BY revoked_at_us DESC, id DESC LIMIT ?3";
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s.st, nullptr) != SQLITE_OK) return store_error(db_, "read");
    if (after) {
      s.i64(1, micros(after->first));
      s.text(2, after->second);
    }
    s.i64(3, static_cast<std::int64_t>(limit));
    std::vector<RevocationEntry> out;
    int rc;
    while ((rc = sqlite3_step(s.st)) == SQLITE_ROW) out.push_back(entry_from_row(s));
    if (rc != SQLITE_DONE) return store_error(db_, "read");
    return out;
  }

 private:
  Result<std::optional<RevocationEntry>> find_locked(const std::string& subject_did, const std::string& key_id,
                                                     const std::string& tree_head_id) const {
    Stmt s;
    const std::string sql = std::string("SELECT ") + kEntryColumns +
                            " FROM published WHERE subject_did = ? AND key_id = ? AND tree_head_id = ?";
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s.st, nullptr) != SQLITE_OK) return store_error(db_, "read");
    s.text(1, subject_did);
    s.text(2, key_id);
    s.text(3, tree_head_id);
    const int rc = sqlite3_step(s.st);
    if (rc == SQLITE_ROW) return std::optional<RevocationEntry>(entry_from_row(s));
    if (rc != SQLITE_DONE) return store_error(db_, "read");
    return std::optional<RevocationEntry>();
  }

  sqlite3* db_;
  mutable std::mutex mu_;
};

}  // namespace

Result<std::unique_ptr<RevocationPublisher>> RevocationPublisher::open(const std::filesystem::path& path) {
  const char* ddl =
      "PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=FULL;"
      "CREATE TABLE IF NOT EXISTS published(id TEXT PRIMARY KEY, subject_did TEXT NOT NULL, key_id TEXT NOT NULL,"
      "  reason TEXT NOT NULL, revoked_at_us INTEGER NOT NULL, tree_head_id TEXT NOT NULL,"
      "  published_at_us INTEGER NOT NULL, UNIQUE(subject_did, key_id, tree_head_id));"
      "CREATE INDEX IF NOT EXISTS published_order ON published(revoked_at_us DESC, id DESC);"
      "CREATE TABLE IF NOT EXISTS statements(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
      "  body TEXT NOT NULL, entry_id TEXT);";
  HSK_ASSIGN_OR_RETURN(sqlite3 * db, detail::open_sqlite(path, ddl, "registry.store_failed"));
  return std::make_unique<RevocationPublisher>(std::make_unique<SqliteRevocationRows>(db));
}

Result<RevocationEntry> RevocationPublisher::publish(const std::string& subject_did, const std::string& key_id,
                                                     const std::string& reason, const std::string& tree_head_id,
                                                     Timestamp revoked_at, Timestamp now) {
  if (!parse_did(subject_did).ok()) return entry_error("subject_did is not a did:hsk DID");
  if (key_id.empty() || key_id.size() > 1024 || tree_head_id.empty() || tree_head_id.size() > 1024 ||
      reason.size() > 1024) {
    return entry_error("key_id and tree_head_id must be non-empty; every field at most 1 KiB");
  }
  HSK_ASSIGN_OR_RETURN(auto existing, rows_->find_entry(subject_did, key_id, tree_head_id));
  if (existing) return *existing;
  return rows_->insert_entry(
      RevocationEntry{ids::make_id("rvp_", now), subject_did, key_id, reason, revoked_at, tree_head_id, now});
}

Result<std::optional<RevocationEntry>> RevocationPublisher::add_statement(const Json& statement,
                                                                          const std::string& tree_head_id,
                                                                          Timestamp now) {
  HSK_ASSIGN_OR_RETURN(auto parsed, RevocationStatement::from_json(statement));
  HSK_ASSIGN_OR_RETURN(auto body, json::canonicalize(statement));
  std::lock_guard serial(statement_mu_);
  HSK_ASSIGN_OR_RETURN(auto stored, rows_->statement(parsed.id));
  if (stored) {
    // A repeat: the same answer as the first time, nothing new stored.
    if (stored->body != body) {
      return make_error(ErrorCode::kInvalidArgument, "revocation.conflict",
                        "another statement is already stored under " + parsed.id);
    }
    if (!stored->entry_id) return std::optional<RevocationEntry>();
    HSK_ASSIGN_OR_RETURN(auto e, rows_->entry(*stored->entry_id));
    if (!e) return make_error(ErrorCode::kUnavailable, "registry.store_failed", "a statement's feed entry is missing");
    return e;
  }
  std::optional<RevocationEntry> entry;
  if (parsed.revoked_principal) {
    HSK_ASSIGN_OR_RETURN(auto e, publish(*parsed.revoked_principal, kAllKeys, parsed.reason, tree_head_id,
                                         parsed.effective_at.value_or(parsed.iat), now));
    entry = std::move(e);
  }
  HSK_TRY(rows_->insert_statement(parsed.id, RevocationRows::StoredStatement{
                                                 body, entry ? std::optional<std::string>(entry->id) : std::nullopt}));
  return entry;
}

Result<std::vector<Json>> RevocationPublisher::statements() const {
  HSK_ASSIGN_OR_RETURN(auto bodies, rows_->statements());
  std::vector<Json> out;
  out.reserve(bodies.size());
  for (const auto& b : bodies) {
    HSK_ASSIGN_OR_RETURN(auto doc, parse_stored(b, "statement"));
    out.push_back(std::move(doc));
  }
  return out;
}

Result<RevocationPublisher::Page> RevocationPublisher::page(const std::optional<std::string>& cursor,
                                                            std::size_t limit) const {
  std::optional<std::pair<Timestamp, std::string>> after;
  if (cursor) {
    HSK_ASSIGN_OR_RETURN(auto c, decode_cursor(*cursor));
    after.emplace(from_micros(c.revoked_at_us), std::move(c.id));
  }
  limit = std::clamp<std::size_t>(limit, 1, 10000);
  Page out;
  HSK_ASSIGN_OR_RETURN(out.entries, rows_->entries(after, limit + 1));  // one more tells whether a next page exists
  if (out.entries.size() > limit) {
    out.entries.resize(limit);
    HSK_ASSIGN_OR_RETURN(auto next, encode_cursor(out.entries.back()));
    out.next_cursor = std::move(next);
  }
  return out;
}

Result<Json> sign_revocation_feed(const Identity& registry, const RevocationPublisher::Page& page, Timestamp as_of) {
  Json entries = Json::array();
  for (const auto& e : page.entries) entries.push_back(e.to_json());
  Json feed{{"version", 1},
            {"issuer_did", registry.did_string()},
            {"as_of", time::format_rfc3339(as_of)},
            {"revocations", std::move(entries)},
            {"next_cursor", page.next_cursor ? Json(*page.next_cursor) : Json(nullptr)}};
  HSK_ASSIGN_OR_RETURN(auto input, json::canonicalize(feed));
  HSK_ASSIGN_OR_RETURN(const auto sig, registry.key().try_sign(encoding::as_bytes(input)));
  feed["signature"] = Json{{"alg", "Ed25519"},
                           {"key_id", registry.did_string() + "#keys-1"},
                           {"value", encoding::base64url_encode(sig)}};
  return feed;
}

Result<VerifiedFeed> verify_revocation_feed(const Json& feed, const std::string& registry_did,
                                            const crypto::PublicKey& registry_key) {
  HSK_TRY(schema::validate("revocations-published-feed.json", feed));
  if (feed["issuer_did"].get<std::string>() != registry_did) {
    return make_error(ErrorCode::kSignature, "feed.issuer", "the feed is not issued by " + registry_did);
  }
  const auto& sig = feed["signature"];
  if (sig["key_id"].get<std::string>() != registry_did + "#keys-1") {
    return make_error(ErrorCode::kSignature, "feed.issuer", "the feed is not signed with " + registry_did + "#keys-1");
  }
  auto value = encoding::base64url_decode(sig["value"].get<std::string>());
  if (!value.ok() || value->size() != crypto::kSignatureBytes) {
    return make_error(ErrorCode::kSignature, "sig.malformed", "signature.value is not 64 bytes of base64url");
  }
  HSK_ASSIGN_OR_RETURN(auto input, json::canonicalize_without(feed, "signature"));
  if (!crypto::verify(registry_key, encoding::as_bytes(input), *value)) {
    return make_error(ErrorCode::kSignature, "sig.invalid", "the feed's signature does not verify");
  }
  // Signed by the registry: now its fields can be read.
  VerifiedFeed out;
  HSK_ASSIGN_OR_RETURN(out.as_of, time::parse_rfc3339(feed["as_of"].get<std::string>()));
  for (const auto& e : feed["revocations"]) {
    RevocationEntry entry;
    entry.id = e["id"].get<std::string>();
    entry.subject_did = e["subject_did"].get<std::string>();
    entry.key_id = e["key_id"].get<std::string>();
    entry.reason = e["reason"].get<std::string>();
    auto at = time::parse_rfc3339(e["revoked_at"].get<std::string>());
    if (!at.ok()) return feed_error("revoked_at of " + entry.id.substr(0, 60) + ": " + at.error().message);
    entry.revoked_at = *at;
    entry.tree_head_id = e["tree_head_id"].get<std::string>();
    out.entries.push_back(std::move(entry));
  }
  if (feed["next_cursor"].is_string()) out.next_cursor = feed["next_cursor"].get<std::string>();
  return out;
}

}  // namespace handshake::registry
