#include "handshake/registry_log.hpp"

#include <sqlite3.h>

#include <cstring>
#include <map>
#include <unordered_map>

#include "handshake/did.hpp"
#include "handshake/encoding.hpp"
#include "handshake/messages.hpp"
#include "sqlite_util.hpp"

namespace handshake::registry {
namespace {

Error store_error(sqlite3* db, const std::string& what) { return detail::sqlite_error(db, "registry.store_failed", what); }

class Statement {
 public:
  Statement() = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(s_); }
  bool prepare(sqlite3* db, const char* sql) { return sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) == SQLITE_OK; }
  sqlite3_stmt* get() const { return s_; }
  void reset() const {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

 private:
  sqlite3_stmt* s_ = nullptr;
};

bool read_hash(sqlite3_stmt* st, int col, merkle::Hash& out) {
  if (sqlite3_column_bytes(st, col) != 32) return false;
  std::memcpy(out.data(), sqlite3_column_blob(st, col), 32);
  return true;
}

class SqliteLog final : public LogStore {
 public:
  // close_v2 defers the close until the statements (members, destroyed after this body) are
  // finalized.
  ~SqliteLog() override { sqlite3_close_v2(db_); }

  static Result<std::unique_ptr<LogStore>> open(const std::filesystem::path& path) {
    std::unique_ptr<SqliteLog> log(new SqliteLog());
    // synchronous=FULL: a commit is on stable storage before the append is acknowledged.
    const char* ddl =
        "PRAGMA journal_mode=WAL;"
        "PRAGMA synchronous=FULL;"
        "CREATE TABLE IF NOT EXISTS leaves(idx INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE);"
        "CREATE TABLE IF NOT EXISTS nodes(level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
        "  PRIMARY KEY(level, idx)) WITHOUT ROWID;";
    HSK_ASSIGN_OR_RETURN(log->db_, detail::open_sqlite(path, ddl, "registry.store_failed"));
    if (!log->find_leaf_.prepare(log->db_, "SELECT idx FROM leaves WHERE hash = ?") ||
        !log->insert_leaf_.prepare(log->db_, "INSERT INTO leaves(idx, hash) VALUES (?, ?)") ||
        !log->insert_node_.prepare(log->db_, "INSERT INTO nodes(level, idx, hash) VALUES (?, ?, ?)") ||
        !log->get_leaf_.prepare(log->db_, "SELECT hash FROM leaves WHERE idx = ?") ||
        !log->get_node_.prepare(log->db_, "SELECT hash FROM nodes WHERE level = ? AND idx = ?") ||
        !log->count_.prepare(log->db_, "SELECT COALESCE(MAX(idx) + 1, 0) FROM leaves")) {
      return store_error(log->db_, "prepare");
    }
    return std::unique_ptr<LogStore>(std::move(log));
  }

  Result<std::vector<std::uint64_t>> append(std::span<const merkle::Hash> leaves) override {
    std::lock_guard lock(mu_);
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) return store_error(db_, "begin");
    auto result = append_locked(leaves);
    if (!result.ok()) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return result;
    }
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      Error e = store_error(db_, "commit");
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return e;
    }
    return result;
  }

  Result<std::uint64_t> size() const override {
    std::lock_guard lock(mu_);
    return size_locked();
  }

  Result<std::uint64_t> index_of(const merkle::Hash& leaf) const override {
    std::lock_guard lock(mu_);
    find_leaf_.reset();
    sqlite3_bind_blob(find_leaf_.get(), 1, leaf.data(), 32, SQLITE_STATIC);
    const int rc = sqlite3_step(find_leaf_.get());
    if (rc == SQLITE_ROW) return static_cast<std::uint64_t>(sqlite3_column_int64(find_leaf_.get(), 0));
    if (rc == SQLITE_DONE) return make_error(ErrorCode::kNotFound, "registry.unknown_leaf", "the log has no such leaf");
    return store_error(db_, "find leaf");
  }

  Result<merkle::Hash> node(unsigned level, std::uint64_t index) const override {
    std::lock_guard lock(mu_);
    // Upper levels are few and read by every proof: keep them in memory. Only committed nodes
    // get here (appends read inside their transaction through node_locked, never through the
    // cache), and a committed node never changes, so the cache cannot go stale.
    const bool cacheable = level >= kCachedLevels && level < 64;
    const std::uint64_t key = (static_cast<std::uint64_t>(level) << 58) | (index & ((std::uint64_t{1} << 58) - 1));
    if (cacheable && index < (std::uint64_t{1} << 58)) {
      if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    }
    auto h = node_locked(level, index);
    if (h.ok() && cacheable && index < (std::uint64_t{1} << 58)) {
      if (cache_.size() >= kMaxCached) cache_.clear();
      cache_.emplace(key, *h);
    }
    return h;
  }

 private:
  SqliteLog() = default;

  Result<std::uint64_t> size_locked() const {
    count_.reset();
    if (sqlite3_step(count_.get()) != SQLITE_ROW) return store_error(db_, "count");
    return static_cast<std::uint64_t>(sqlite3_column_int64(count_.get(), 0));
  }

  Result<merkle::Hash> node_locked(unsigned level, std::uint64_t index) const {
    const Statement& st = level == 0 ? get_leaf_ : get_node_;
    st.reset();
    if (level == 0) {
      sqlite3_bind_int64(st.get(), 1, static_cast<sqlite3_int64>(index));
    } else {
      sqlite3_bind_int(st.get(), 1, static_cast<int>(level));
      sqlite3_bind_int64(st.get(), 2, static_cast<sqlite3_int64>(index));
    }
    const int rc = sqlite3_step(st.get());
    merkle::Hash h{};
    if (rc == SQLITE_ROW && read_hash(st.get(), 0, h)) return h;
    if (rc == SQLITE_DONE) {
      return make_error(ErrorCode::kNotFound, "merkle.node",
                        "no subtree at level " + std::to_string(level) + " index " + std::to_string(index));
    }
    return store_error(db_, "read node");
  }

  Result<std::vector<std::uint64_t>> append_locked(std::span<const merkle::Hash> leaves) {
    HSK_ASSIGN_OR_RETURN(std::uint64_t n, size_locked());
    std::vector<std::uint64_t> indexes;
    indexes.reserve(leaves.size());
    for (const auto& leaf : leaves) {
      find_leaf_.reset();
      sqlite3_bind_blob(find_leaf_.get(), 1, leaf.data(), 32, SQLITE_STATIC);
      const int found = sqlite3_step(find_leaf_.get());
      if (found == SQLITE_ROW) {
        indexes.push_back(static_cast<std::uint64_t>(sqlite3_column_int64(find_leaf_.get(), 0)));
        continue;
      }
      if (found != SQLITE_DONE) return store_error(db_, "find leaf");
      insert_leaf_.reset();
      sqlite3_bind_int64(insert_leaf_.get(), 1, static_cast<sqlite3_int64>(n));
      sqlite3_bind_blob(insert_leaf_.get(), 2, leaf.data(), 32, SQLITE_STATIC);
      if (sqlite3_step(insert_leaf_.get()) != SQLITE_DONE) return store_error(db_, "insert leaf");
      // Close every perfect subtree this leaf completes.
      merkle::Hash current = leaf;
      std::uint64_t index = n;
      for (unsigned level = 0; (index & 1) == 1; ++level, index >>= 1) {
        HSK_ASSIGN_OR_RETURN(auto left, node_locked(level, index - 1));
        current = merkle::node_hash(left, current);
        insert_node_.reset();
        sqlite3_bind_int(insert_node_.get(), 1, static_cast<int>(level + 1));
        sqlite3_bind_int64(insert_node_.get(), 2, static_cast<sqlite3_int64>(index >> 1));
        sqlite3_bind_blob(insert_node_.get(), 3, current.data(), 32, SQLITE_TRANSIENT);
        if (sqlite3_step(insert_node_.get()) != SQLITE_DONE) return store_error(db_, "insert node");
      }
      indexes.push_back(n++);
    }
    return indexes;
  }

  static constexpr unsigned kCachedLevels = 6;  // 1 node per 64 leaves and up
  static constexpr std::size_t kMaxCached = 1 << 20;
  mutable std::unordered_map<std::uint64_t, merkle::Hash> cache_;
  mutable std::mutex mu_;
  sqlite3* db_ = nullptr;
  Statement find_leaf_, insert_leaf_, insert_node_, get_leaf_, get_node_, count_;
};

Error head_error(const std::string& why) { return make_error(ErrorCode::kSchema, "registry.tree_head", why); }

}  // namespace

Result<std::unique_ptr<LogStore>> open_sqlite_log(const std::filesystem::path& path) { return SqliteLog::open(path); }

Json TreeHead::to_json() const {
  return Json{{"tree_size", tree_size},
              {"root_hash", encoding::hex_encode(root_hash)},
              {"timestamp", time::format_rfc3339(timestamp)},
              {"log_id", log_id},
              {"alg", "EdDSA"}};
}

Result<Json> sign_tree_head(const LogStore& log, const Identity& registry, Timestamp now) {
  TreeHead h;
  HSK_ASSIGN_OR_RETURN(h.tree_size, log.size());
  HSK_ASSIGN_OR_RETURN(h.root_hash, merkle::root(h.tree_size, log));
  h.timestamp = std::chrono::floor<std::chrono::seconds>(now);
  h.log_id = registry.did_string();
  Json doc = h.to_json();
  HSK_ASSIGN_OR_RETURN(auto input, signing_input(doc));
  HSK_ASSIGN_OR_RETURN(const auto sig, registry.key().try_sign(encoding::as_bytes(input)));
  doc["signature"] = encoding::base64url_encode(sig);
  return doc;
}

Result<TreeHead> verify_tree_head(const Json& head, const crypto::PublicKey& registry_key) {
  if (!head.is_object()) return head_error("a tree head is an object");
  for (const auto& [k, v] : head.items()) {
    if (k != "tree_size" && k != "root_hash" && k != "timestamp" && k != "log_id" && k != "alg" && k != "signature") {
      return head_error("unknown member \"" + k.substr(0, 40) + "\"");
    }
  }
  TreeHead h;
  if (!head.contains("tree_size") || !head["tree_size"].is_number_integer() || head["tree_size"].get<std::int64_t>() < 0) {
    return head_error("tree_size must be a non-negative integer");
  }
  h.tree_size = static_cast<std::uint64_t>(head["tree_size"].get<std::int64_t>());
  if (!head.contains("root_hash") || !head["root_hash"].is_string()) return head_error("root_hash missing");
  auto root = encoding::hex_decode(head["root_hash"].get<std::string>());
  if (!root.ok() || root->size() != 32 || encoding::hex_encode(*root) != head["root_hash"].get<std::string>()) {
    return head_error("root_hash must be 64 lowercase hex digits");
  }
  std::copy(root->begin(), root->end(), h.root_hash.begin());
  if (!head.contains("timestamp") || !head["timestamp"].is_string()) return head_error("timestamp missing");
  auto ts = time::parse_rfc3339(head["timestamp"].get<std::string>());
  if (!ts.ok()) return head_error(ts.error().message);
  h.timestamp = *ts;
  if (!head.contains("log_id") || !head["log_id"].is_string() || !parse_did(head["log_id"].get<std::string>()).ok()) {
    return head_error("log_id must be the registry's DID");
  }
  h.log_id = head["log_id"].get<std::string>();
  HSK_TRY(verify_message_signature(head, registry_key));
  return h;
}

}  // namespace handshake::registry
