// The registry's Merkle log on PostgreSQL.
#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>

#include "handshake/encoding.hpp"
#include "handshake/registry_dids.hpp"
#include "handshake/registry_log.hpp"
#include "handshake/registry_revocations.hpp"
#include "handshake/storage/postgres.hpp"
#include "pg_internal.hpp"

namespace handshake::storage {
namespace {

constexpr const char* kLogFailed = "registry.store_failed";

// Leaves are level 0 of hsk_log_nodes as well, so every subtree read is one lookup.
constexpr const char* kLogSchema = R"sql(
CREATE TABLE IF NOT EXISTS hsk_log_leaves(idx bigint PRIMARY KEY, hash bytea NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS hsk_log_nodes(level int NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL,
  PRIMARY KEY (level, idx))
)sql";

constexpr pg::Statement kLock{"hsk_log_lock", "SELECT pg_advisory_xact_lock(7262613)"};
constexpr pg::Statement kSize{"hsk_log_size", "SELECT coalesce(max(idx) + 1, 0) FROM hsk_log_leaves"};
constexpr pg::Statement kFind{"hsk_log_find",
                              "SELECT encode(hash, 'hex'), idx FROM hsk_log_leaves "
                              "WHERE hash = ANY(ARRAY(SELECT decode(h, 'hex') FROM unnest($1::text[]) h))"};
constexpr pg::Statement kFindOne{"hsk_log_find_one", "SELECT idx FROM hsk_log_leaves WHERE hash = decode($1, 'hex')"};
constexpr pg::Statement kNode{"hsk_log_node",
                              "SELECT encode(hash, 'hex') FROM hsk_log_nodes WHERE level = $1::int AND idx = $2::bigint"};
constexpr pg::Statement kInsertLeaves{"hsk_log_insert_leaves",
                                      "INSERT INTO hsk_log_leaves(idx, hash) "
                                      "SELECT i, decode(h, 'hex') FROM unnest($1::bigint[], $2::text[]) AS t(i, h)"};
constexpr pg::Statement kInsertNodes{
    "hsk_log_insert_nodes",
    "INSERT INTO hsk_log_nodes(level, idx, hash) "
    "SELECT l, i, decode(h, 'hex') FROM unnest($1::int[], $2::bigint[], $3::text[]) AS t(l, i, h)"};

// {a,b,c}: an array literal of values that need no quoting (numbers, hex).
std::string array_literal(const std::vector<std::string>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += items[i];
  }
  return out + "}";
}

Result<merkle::Hash> parse_hash(std::string_view hex) {
  auto bytes = encoding::hex_decode(hex);
  if (!bytes.ok() || bytes->size() != 32) {
    return make_error(ErrorCode::kUnavailable, kLogFailed, "postgresql: a stored hash is not 32 bytes");
  }
  merkle::Hash h{};
  std::copy(bytes->begin(), bytes->end(), h.begin());
  return h;
}

class PgLog final : public registry::LogStore {
 public:
  explicit PgLog(std::shared_ptr<PgPool> pool) : pool_(std::move(pool)) {}

  Result<std::vector<std::uint64_t>> append(std::span<const merkle::Hash> leaves) override {
    return pool_->impl().with<std::vector<std::uint64_t>>(
        kLogFailed, [&](pg::Connection& c) -> Result<std::vector<std::uint64_t>> {
          return pg::in_transaction(c, kLogFailed, [&] { return append_in(c, leaves); });
        });
  }

  Result<std::uint64_t> size() const override {
    HSK_ASSIGN_OR_RETURN(auto rows, pool_->impl().run(kSize, {}, kLogFailed));
    return static_cast<std::uint64_t>(rows.int64(0, 0));
  }

  Result<std::uint64_t> index_of(const merkle::Hash& leaf) const override {
    HSK_ASSIGN_OR_RETURN(auto rows, pool_->impl().run(kFindOne, {encoding::hex_encode(leaf)}, kLogFailed));
    if (rows.size() == 0) return make_error(ErrorCode::kNotFound, "registry.unknown_leaf", "the log has no such leaf");
    return static_cast<std::uint64_t>(rows.int64(0, 0));
  }

  Result<merkle::Hash> node(unsigned level, std::uint64_t index) const override {
    // Committed subtrees never change: upper levels, read by every proof, are kept in memory.
    const bool cacheable = level >= kCachedLevels && level < 64 && index < (std::uint64_t{1} << 58);
    const std::uint64_t key = (static_cast<std::uint64_t>(level) << 58) | index;
    if (cacheable) {
      std::lock_guard lock(mu_);
      if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    }
    HSK_ASSIGN_OR_RETURN(auto rows,
                         pool_->impl().run(kNode, {std::to_string(level), std::to_string(index)}, kLogFailed));
    if (rows.size() == 0) {
      return make_error(ErrorCode::kNotFound, "merkle.node",
                        "no subtree at level " + std::to_string(level) + " index " + std::to_string(index));
    }
    HSK_ASSIGN_OR_RETURN(auto h, parse_hash(rows.text(0, 0)));
    if (cacheable) {
      std::lock_guard lock(mu_);
      if (cache_.size() >= kMaxCached) cache_.clear();
      cache_.emplace(key, h);
    }
    return h;
  }

 private:
  Result<std::vector<std::uint64_t>> append_in(pg::Connection& c, std::span<const merkle::Hash> leaves) {
    // One sequencer at a time, until this transaction ends.
    HSK_TRY(c.run(kLock, {}, kLogFailed));
    HSK_ASSIGN_OR_RETURN(auto size_rows, c.run(kSize, {}, kLogFailed));
    std::uint64_t n = static_cast<std::uint64_t>(size_rows.int64(0, 0));

    std::vector<std::string> hex;
    hex.reserve(leaves.size());
    for (const auto& leaf : leaves) hex.push_back(encoding::hex_encode(leaf));
    std::map<std::string, std::uint64_t, std::less<>> known;  // hex -> index, stored or in this batch
    if (!hex.empty()) {
      HSK_ASSIGN_OR_RETURN(auto found, c.run(kFind, {array_literal(hex)}, kLogFailed));
      for (int i = 0; i < found.size(); ++i) {
        known.emplace(std::string(found.text(i, 0)), static_cast<std::uint64_t>(found.int64(i, 1)));
      }
    }

    // New subtrees of this batch, and the stored ones it reads (the log's right frontier).
    std::map<std::pair<unsigned, std::uint64_t>, merkle::Hash> fresh;
    auto read = [&](unsigned level, std::uint64_t index) -> Result<merkle::Hash> {
      if (auto it = fresh.find({level, index}); it != fresh.end()) return it->second;
      HSK_ASSIGN_OR_RETURN(auto rows, c.run(kNode, {std::to_string(level), std::to_string(index)}, kLogFailed));
      if (rows.size() == 0) {
        return make_error(ErrorCode::kUnavailable, kLogFailed,
                          "postgresql: the log misses its subtree at level " + std::to_string(level) + " index " +
                              std::to_string(index));
      }
      return parse_hash(rows.text(0, 0));
    };
    std::vector<std::string> leaf_idx, leaf_hex, node_level, node_idx, node_hex;
    std::vector<std::uint64_t> indexes;
    indexes.reserve(leaves.size());
    for (std::size_t k = 0; k < leaves.size(); ++k) {
      if (auto it = known.find(hex[k]); it != known.end()) {
        indexes.push_back(it->second);
        continue;
      }
      known.emplace(hex[k], n);
      leaf_idx.push_back(std::to_string(n));
      leaf_hex.push_back(hex[k]);
      fresh[{0, n}] = leaves[k];
      node_level.push_back("0");
      node_idx.push_back(std::to_string(n));
      node_hex.push_back(hex[k]);
      // Close every perfect subtree this leaf completes.
      merkle::Hash current = leaves[k];
      std::uint64_t index = n;
      for (unsigned level = 0; (index & 1) == 1; ++level, index >>= 1) {
        HSK_ASSIGN_OR_RETURN(auto left, read(level, index - 1));
        current = merkle::node_hash(left, current);
        fresh[{level + 1, index >> 1}] = current;
        node_level.push_back(std::to_string(level + 1));
        node_idx.push_back(std::to_string(index >> 1));
        node_hex.push_back(encoding::hex_encode(current));
      }
      indexes.push_back(n++);
    }
    if (!leaf_idx.empty()) {
      HSK_TRY(c.run(kInsertLeaves, {array_literal(leaf_idx), array_literal(leaf_hex)}, kLogFailed));
      HSK_TRY(c.run(kInsertNodes, {array_literal(node_level), array_literal(node_idx), array_literal(node_hex)},
                    kLogFailed));
    }
    return indexes;
  }

  static constexpr unsigned kCachedLevels = 6;
  static constexpr std::size_t kMaxCached = 1 << 20;
  std::shared_ptr<PgPool> pool_;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::uint64_t, merkle::Hash> cache_;
};

constexpr const char* kDidSchema = R"sql(
CREATE TABLE IF NOT EXISTS hsk_dids(did text NOT NULL, version bigint NOT NULL, document text NOT NULL,
  PRIMARY KEY (did, version))
)sql";
constexpr pg::Statement kDidRead{"hsk_did_read", "SELECT document FROM hsk_dids WHERE did = $1 ORDER BY version"};
constexpr pg::Statement kDidInsert{"hsk_did_insert",
                                   "INSERT INTO hsk_dids(did, version, document) VALUES ($1, $2::bigint, $3) "
                                   "ON CONFLICT DO NOTHING"};

class PgDidRows final : public registry::DidRows {
 public:
  explicit PgDidRows(std::shared_ptr<PgPool> pool) : pool_(std::move(pool)) {}
  Result<std::vector<std::string>> documents(const std::string& did) const override {
    HSK_ASSIGN_OR_RETURN(auto rows, pool_->impl().run(kDidRead, {did}, kLogFailed));
    std::vector<std::string> out;
    out.reserve(static_cast<std::size_t>(rows.size()));
    for (int i = 0; i < rows.size(); ++i) out.emplace_back(rows.text(i, 0));
    return out;
  }
  Result<bool> insert(const std::string& did, std::uint64_t version, const std::string& text) override {
    HSK_ASSIGN_OR_RETURN(auto rows, pool_->impl().run(kDidInsert, {did, std::to_string(version), text}, kLogFailed));
    return rows.affected() == 1;
  }

 private:
  std::shared_ptr<PgPool> pool_;
};

constexpr const char* kRevSchema = R"sql(
CREATE TABLE IF NOT EXISTS hsk_registry_feed(id text PRIMARY KEY, subject_did text NOT NULL, key_id text NOT NULL,
  reason text NOT NULL, revoked_at_us bigint NOT NULL, tree_head_id text NOT NULL, published_at_us bigint NOT NULL,
  UNIQUE (subject_did, key_id, tree_head_id));
CREATE INDEX IF NOT EXISTS hsk_registry_feed_order ON hsk_registry_feed(revoked_at_us DESC, id DESC);
CREATE TABLE IF NOT EXISTS hsk_registry_statements(seq bigserial PRIMARY KEY, id text NOT NULL UNIQUE,
  body text NOT NULL, entry_id text)
)sql";

#define HSK_ENTRY_COLUMNS "id, subject_did, key_id, reason, revoked_at_us, tree_head_id, published_at_us"
constexpr pg::Statement kEntryByTriple{
    "hsk_reg_entry_triple",
    "SELECT " HSK_ENTRY_COLUMNS " FROM hsk_registry_feed WHERE subject_did = $1 AND key_id = $2 AND tree_head_id = $3"};
constexpr pg::Statement kEntryById{"hsk_reg_entry_id",
                                   "SELECT " HSK_ENTRY_COLUMNS " FROM hsk_registry_feed WHERE id = $1"};
constexpr pg::Statement kEntryInsert{
    "hsk_reg_entry_insert",
    "INSERT INTO hsk_registry_feed(" HSK_ENTRY_COLUMNS ") VALUES ($1, $2, $3, $4, $5::bigint, $6, $7::bigint) "
    "ON CONFLICT (subject_did, key_id, tree_head_id) DO NOTHING"};
constexpr pg::Statement kEntriesFirst{"hsk_reg_entries_first",
                                      "SELECT " HSK_ENTRY_COLUMNS " FROM hsk_registry_feed "
                                      "ORDER BY revoked_at_us DESC, id DESC LIMIT $1::bigint"};
constexpr pg::Statement kEntriesAfter{
    "hsk_reg_entries_after",
    "SELECT " HSK_ENTRY_COLUMNS " FROM hsk_registry_feed "
    "WHERE revoked_at_us < $1::bigint OR (revoked_at_us = $1::bigint AND id < $2) "
    "ORDER BY revoked_at_us DESC, id DESC LIMIT $3::bigint"};
#undef HSK_ENTRY_COLUMNS
constexpr pg::Statement kStatementById{"hsk_reg_statement",
                                       "SELECT body, entry_id FROM hsk_registry_statements WHERE id = $1"};
constexpr pg::Statement kStatements{"hsk_reg_statements", "SELECT body FROM hsk_registry_statements ORDER BY seq"};

std::int64_t micros(Timestamp t) { return t.time_since_epoch().count(); }

registry::RevocationEntry entry_at(const pg::Rows& r, int i) {
  registry::RevocationEntry e;
  e.id = std::string(r.text(i, 0));
  e.subject_did = std::string(r.text(i, 1));
  e.key_id = std::string(r.text(i, 2));
  e.reason = std::string(r.text(i, 3));
  e.revoked_at = Timestamp(std::chrono::microseconds(r.int64(i, 4)));
  e.tree_head_id = std::string(r.text(i, 5));
  e.published_at = Timestamp(std::chrono::microseconds(r.int64(i, 6)));
  return e;
}

class PgRevocationRows final : public registry::RevocationRows {
 public:
  explicit PgRevocationRows(std::shared_ptr<PgPool> pool) : pool_(std::move(pool)) {}

  Result<std::optional<registry::RevocationEntry>> find_entry(const std::string& subject_did, const std::string& key_id,
                                                              const std::string& tree_head_id) const override {
    HSK_ASSIGN_OR_RETURN(auto rows, pool_->impl().run(kEntryByTriple, {subject_did, key_id, tree_head_id}, kLogFailed));
    if (rows.size() == 0) return std::optional<registry::RevocationEntry>();
    return std::optional<registry::RevocationEntry>(entry_at(rows, 0));
  }
  Result<std::optional<registry::RevocationEntry>> entry(const std::string& id) const override {
    HSK_ASSIGN_OR_RETURN(auto rows, pool_->impl().run(kEntryById, {id}, kLogFailed));
    if (rows.size() == 0) return std::optional<registry::RevocationEntry>();
    return std::optional<registry::RevocationEntry>(entry_at(rows, 0));
  }
  Result<registry::RevocationEntry> insert_entry(const registry::RevocationEntry& e) override {
    HSK_ASSIGN_OR_RETURN(auto ins, pool_->impl().run(kEntryInsert,
                                                     {e.id, e.subject_did, e.key_id, e.reason,
                                                      std::to_string(micros(e.revoked_at)), e.tree_head_id,
                                                      std::to_string(micros(e.published_at))},
                                                     kLogFailed));
    if (ins.affected() == 1) return e;
    // Another process stored the triple first: its entry is the one.
    HSK_ASSIGN_OR_RETURN(auto stored, find_entry(e.subject_did, e.key_id, e.tree_head_id));
    if (!stored) return make_error(ErrorCode::kUnavailable, kLogFailed, "postgresql: a feed entry vanished");
    return *stored;
  }
  Result<std::optional<StoredStatement>> statement(const std::string& id) const override {
    HSK_ASSIGN_OR_RETURN(auto rows, pool_->impl().run(kStatementById, {id}, kLogFailed));
    if (rows.size() == 0) return std::optional<StoredStatement>();
    StoredStatement s{std::string(rows.text(0, 0)), std::nullopt};
    if (!rows.is_null(0, 1)) s.entry_id = std::string(rows.text(0, 1));
    return std::optional<StoredStatement>(std::move(s));
  }
  Status insert_statement(const std::string& id, const StoredStatement& s) override {
    // libpq takes NULL for a missing parameter value; run() passes text, so a missing entry id
    // is stored through NULLIF on an empty string, which no entry id can be.
    static constexpr pg::Statement kInsert{"hsk_reg_statement_insert_n",
                                           "INSERT INTO hsk_registry_statements(id, body, entry_id) "
                                           "VALUES ($1, $2, NULLIF($3, '')) ON CONFLICT (id) DO NOTHING"};
    HSK_TRY(pool_->impl().run(kInsert, {id, s.body, s.entry_id.value_or("")}, kLogFailed));
    return ok_status();
  }
  Result<std::vector<std::string>> statements() const override {
    HSK_ASSIGN_OR_RETURN(auto rows, pool_->impl().run(kStatements, {}, kLogFailed));
    std::vector<std::string> out;
    for (int i = 0; i < rows.size(); ++i) out.emplace_back(rows.text(i, 0));
    return out;
  }
  Result<std::vector<registry::RevocationEntry>> entries(const std::optional<std::pair<Timestamp, std::string>>& after,
                                                         std::size_t limit) const override {
    auto rows = after ? pool_->impl().run(kEntriesAfter,
                                          {std::to_string(micros(after->first)), after->second, std::to_string(limit)},
                                          kLogFailed)
                      : pool_->impl().run(kEntriesFirst, {std::to_string(limit)}, kLogFailed);
    if (!rows.ok()) return rows.error();
    std::vector<registry::RevocationEntry> out;
    for (int i = 0; i < rows->size(); ++i) out.push_back(entry_at(*rows, i));
    return out;
  }

 private:
  std::shared_ptr<PgPool> pool_;
};

}  // namespace

Result<std::unique_ptr<registry::RevocationRows>> open_pg_revocation_rows(std::shared_ptr<PgPool> pool) {
  if (!pool) return make_error(ErrorCode::kInvalidArgument, kLogFailed, "no PostgreSQL pool");
  HSK_TRY(create_pg_schema(pool->impl(), kRevSchema, kLogFailed));
  return std::unique_ptr<registry::RevocationRows>(std::make_unique<PgRevocationRows>(std::move(pool)));
}

Result<std::unique_ptr<registry::DidRows>> open_pg_did_rows(std::shared_ptr<PgPool> pool) {
  if (!pool) return make_error(ErrorCode::kInvalidArgument, kLogFailed, "no PostgreSQL pool");
  HSK_TRY(create_pg_schema(pool->impl(), kDidSchema, kLogFailed));
  return std::unique_ptr<registry::DidRows>(std::make_unique<PgDidRows>(std::move(pool)));
}

Result<std::unique_ptr<registry::LogStore>> open_pg_log(std::shared_ptr<PgPool> pool) {
  if (!pool) return make_error(ErrorCode::kInvalidArgument, kLogFailed, "no PostgreSQL pool");
  HSK_TRY(create_pg_schema(pool->impl(), kLogSchema, kLogFailed));
  return std::unique_ptr<registry::LogStore>(std::make_unique<PgLog>(std::move(pool)));
}

}  // namespace handshake::storage
