// Replay protection (§17): nonce stores (in memory, SQLite) and fixed-window rate limiters.
#include "handshake/nonce_store.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sodium.h>
#include <sqlite3.h>

#include "handshake/crypto.hpp"

namespace handshake {
namespace {

// Microseconds since the Unix epoch: the unit every store keeps times in.
using Micros = std::int64_t;
constexpr Micros kNoExpiry = std::numeric_limits<Micros>::max();

[[nodiscard]] Micros to_micros(Timestamp t) noexcept { return static_cast<Micros>(t.time_since_epoch().count()); }

// An entry recorded until `expires_at` is still live at `now` when now <= expires_at, and expired
// only once now > expires_at. At the boundary instant the nonce is still remembered: a message
// whose validity ends at `expires_at` may still be accepted at exactly that instant, so its
// nonce must not be reusable then.
[[nodiscard]] constexpr bool is_expired(Micros expires_at, Micros now) noexcept { return expires_at < now; }

// Issuers are DIDs (at most 512 bytes) and nonces are bounded to 512 bytes by the parser
// (docs/wire-encoding.md); anything else never reaches a store legitimately, and the bound keeps
// the memory per entry small.
constexpr std::size_t kMaxFieldBytes = 512;

[[nodiscard]] bool bad_field(std::string_view v) noexcept {
  return v.empty() || v.size() > kMaxFieldBytes || v.find('\0') != std::string_view::npos;
}

[[nodiscard]] Status validate(std::string_view iss, std::string_view nonce) {
  if (bad_field(iss)) {
    return make_error(ErrorCode::kInvalidArgument, "nonce.invalid", "iss must be 1 to 512 bytes without NUL");
  }
  if (bad_field(nonce)) {
    return make_error(ErrorCode::kInvalidArgument, "nonce.invalid", "nonce must be 1 to 512 bytes without NUL");
  }
  return ok_status();
}

// Keyed SipHash-2-4 (libsodium crypto_shorthash) with a random per-instance key. Issuers and
// nonces are chosen by whoever signs a message, and anyone can mint an identity, so an unkeyed
// hash (std::hash) would let a sender aim every entry at one shard and one bucket chain.
class KeyedHash {
 public:
  KeyedHash() { crypto::random_bytes(key_); }
  [[nodiscard]] std::uint64_t operator()(std::string_view s) const noexcept {
    static const unsigned char kEmpty = 0;
    std::array<unsigned char, crypto_shorthash_BYTES> out{};
    const auto* data = s.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(s.data());
    crypto_shorthash(out.data(), data, s.size(), key_.data());
    std::uint64_t v = 0;
    std::memcpy(&v, out.data(), sizeof v);
    return v;
  }

 private:
  std::array<std::uint8_t, crypto_shorthash_KEYBYTES> key_{};
};
static_assert(crypto_shorthash_BYTES >= sizeof(std::uint64_t));

// Hasher for the unordered_maps, sharing the owner's key.
struct MapHash {
  const KeyedHash* keyed = nullptr;
  [[nodiscard]] std::size_t operator()(const std::string& s) const noexcept {
    return static_cast<std::size_t>((*keyed)(s));
  }
};

// ---------------------------------------------------------------------------------------------
// In-memory nonce store
// ---------------------------------------------------------------------------------------------

class MemoryNonceStore final : public NonceStore {
 public:
  explicit MemoryNonceStore(std::size_t max_entries) : max_entries_(max_entries) {
    shards_.reserve(kShards);
    for (std::size_t i = 0; i < kShards; ++i) shards_.push_back(std::make_unique<Shard>(&hash_));
  }

  Result<bool> check_and_insert(std::string_view iss, std::string_view nonce, Timestamp expires_at,
                                Timestamp now) override {
    HSK_TRY(validate(iss, nonce));
    const Micros exp = to_micros(expires_at);
    const Micros at = to_micros(now);

    // iss never contains NUL (validated), so iss + '\0' + nonce is unambiguous.
    std::string key;
    key.reserve(iss.size() + 1 + nonce.size());
    key.append(iss).push_back('\0');
    key.append(nonce);
    Shard& shard = *shards_[static_cast<std::size_t>(hash_(key) >> kShardShift)];

    bool swept_all = false;
    for (;;) {
      {
        std::lock_guard lock(shard.mu);
        if (auto it = shard.entries.find(key); it != shard.entries.end()) {
          if (!is_expired(it->second, at)) return false;
          it->second = exp;  // an expired entry is forgotten and the nonce recorded afresh
          note_expiry(shard, exp);
          return true;
        }
        if (try_reserve() || (sweep(shard, at) > 0 && try_reserve())) return insert(shard, std::move(key), exp);
        if (swept_all) {
          return make_error(ErrorCode::kUnavailable, "nonce.store_full",
                            "every remembered nonce is still within its validity window");
        }
      }
      // Still full: sweep the other shards without holding this one (no lock is ever held while
      // taking another, so there is no lock ordering to get wrong), then look again from the
      // start, because another caller may have recorded this very nonce in the meantime.
      for (auto& other : shards_) {
        if (other.get() == &shard || other->min_expiry_hint.load(std::memory_order_relaxed) >= at) continue;
        std::lock_guard lock(other->mu);
        sweep(*other, at);
      }
      swept_all = true;
    }
  }

  std::size_t size() const override {
    std::size_t n = 0;
    for (const auto& shard : shards_) {
      std::lock_guard lock(shard->mu);
      n += shard->entries.size();
    }
    return n;
  }

 private:
  static constexpr std::size_t kShards = 64;
  static constexpr int kShardShift = 58;  // the top 6 bits of the 64-bit hash pick the shard
  static_assert((std::uint64_t{1} << (64 - kShardShift)) == kShards);

  struct Shard {
    explicit Shard(const KeyedHash* h) : entries(16, MapHash{h}) {}
    mutable std::mutex mu;
    std::unordered_map<std::string, Micros, MapHash> entries;  // key -> expires_at
    // A lower bound of every expires_at in `entries` (exact right after a sweep), guarded by mu;
    // the hint is a copy readable without the lock. A shard whose bound is not below `now`
    // holds nothing expired, so sweeps skip it: work is spent only where something can go.
    Micros min_expiry = kNoExpiry;
    std::atomic<Micros> min_expiry_hint{kNoExpiry};
  };

  static void note_expiry(Shard& shard, Micros exp) noexcept {
    if (exp < shard.min_expiry) {
      shard.min_expiry = exp;
      shard.min_expiry_hint.store(exp, std::memory_order_relaxed);
    }
  }

  // Removes the expired entries of `shard` (its lock held); returns how many went.
  std::size_t sweep(Shard& shard, Micros now) {
    if (!is_expired(shard.min_expiry, now)) return 0;
    std::size_t removed = 0;
    Micros min_left = kNoExpiry;
    for (auto it = shard.entries.begin(); it != shard.entries.end();) {
      if (is_expired(it->second, now)) {
        it = shard.entries.erase(it);
        ++removed;
      } else {
        min_left = std::min(min_left, it->second);
        ++it;
      }
    }
    shard.min_expiry = min_left;
    shard.min_expiry_hint.store(min_left, std::memory_order_relaxed);
    if (removed > 0) count_.fetch_sub(removed, std::memory_order_relaxed);
    return removed;
  }

  // Claims room for one new entry; the total never exceeds max_entries_.
  bool try_reserve() noexcept {
    std::size_t c = count_.load(std::memory_order_relaxed);
    while (c < max_entries_) {
      if (count_.compare_exchange_weak(c, c + 1, std::memory_order_relaxed)) return true;
    }
    return false;
  }

  Result<bool> insert(Shard& shard, std::string key, Micros exp) {
    try {
      shard.entries.emplace(std::move(key), exp);
    } catch (const std::bad_alloc&) {
      count_.fetch_sub(1, std::memory_order_relaxed);
      return make_error(ErrorCode::kUnavailable, "nonce.store_failed", "out of memory");
    }
    note_expiry(shard, exp);
    return true;
  }

  const std::size_t max_entries_;
  KeyedHash hash_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<std::size_t> count_{0};  // entries in all shards, including reserved slots
};

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
    HSK_TRY(validate(iss, nonce));
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

// ---------------------------------------------------------------------------------------------
// In-memory rate limiter
// ---------------------------------------------------------------------------------------------

// Caller keys (an address, a DID, ...) are bounded so that max_keys bounds the memory.
constexpr std::size_t kMaxRateKeyBytes = 4096;

[[nodiscard]] constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

class MemoryRateLimiter final : public RateLimiter {
 public:
  explicit MemoryRateLimiter(std::size_t max_keys) : max_keys_(max_keys), windows_(16, MapHash{&hash_}) {}

  Result<Decision> hit(std::string_view key, std::int64_t count, std::int64_t per_seconds, Timestamp now) override {
    if (count <= 0 || per_seconds <= 0) {
      return make_error(ErrorCode::kInvalidArgument, "ratelimit.invalid", "count and per_seconds must be positive");
    }
    if (key.size() > kMaxRateKeyBytes) {
      return make_error(ErrorCode::kInvalidArgument, "ratelimit.invalid", "key longer than 4096 bytes");
    }
    // Windows are [i * per, (i + 1) * per) seconds since the epoch, i = floor(now / per).
    const std::int64_t now_s = floor_div(to_micros(now), 1'000'000);
    const std::int64_t index = floor_div(now_s, per_seconds);
    const std::int64_t start = index * per_seconds;  // in (now_s - per_seconds, now_s]: no overflow
    std::int64_t end = 0;
    if (__builtin_add_overflow(start, per_seconds, &end)) end = std::numeric_limits<std::int64_t>::max();

    // The window size is part of the key: one caller key may carry several limits.
    std::string map_key(sizeof per_seconds, '\0');
    std::memcpy(map_key.data(), &per_seconds, sizeof per_seconds);
    map_key.append(key);

    std::lock_guard lock(mu_);
    auto it = windows_.find(map_key);
    if (it == windows_.end()) {
      if (windows_.size() >= max_keys_) sweep(now_s);
      if (windows_.size() >= max_keys_) {
        return make_error(ErrorCode::kUnavailable, "ratelimit.full", "too many rate-limited keys in their window");
      }
      it = windows_.emplace(std::move(map_key), Window{index, 0, end}).first;
      min_end_ = std::min(min_end_, end);
    } else if (it->second.index != index) {
      it->second = Window{index, 0, end};
      min_end_ = std::min(min_end_, end);
    }
    Window& w = it->second;
    if (w.hits >= count) {
      // end > now_s, so this is in [1, per_seconds]; a fractional second left counts as one.
      return Decision{false, end - now_s};
    }
    ++w.hits;
    return Decision{true, 0};
  }

 private:
  struct Window {
    std::int64_t index = 0;  // window number, floor(now / per_seconds)
    std::int64_t hits = 0;   // events allowed in it
    std::int64_t end = 0;    // first second after it
  };

  // Drops the windows that have ended (lock held). min_end_ bounds every window's end from
  // below, so while nothing can have ended the sweep costs nothing.
  void sweep(std::int64_t now_s) {
    if (min_end_ > now_s) return;
    std::int64_t min_left = std::numeric_limits<std::int64_t>::max();
    for (auto it = windows_.begin(); it != windows_.end();) {
      if (it->second.end <= now_s) {
        it = windows_.erase(it);
      } else {
        min_left = std::min(min_left, it->second.end);
        ++it;
      }
    }
    min_end_ = min_left;
  }

  const std::size_t max_keys_;
  KeyedHash hash_;
  std::mutex mu_;
  std::unordered_map<std::string, Window, MapHash> windows_;
  std::int64_t min_end_ = std::numeric_limits<std::int64_t>::max();
};

}  // namespace

std::unique_ptr<NonceStore> make_memory_nonce_store(std::size_t max_entries) {
  return std::make_unique<MemoryNonceStore>(max_entries);
}

Result<std::unique_ptr<NonceStore>> make_sqlite_nonce_store(const std::filesystem::path& path,
                                                             std::size_t max_entries) {
  auto store = std::make_unique<SqliteNonceStore>(max_entries);
  HSK_TRY(store->open(path));
  return std::unique_ptr<NonceStore>(std::move(store));
}

std::unique_ptr<RateLimiter> make_memory_rate_limiter(std::size_t max_keys) {
  return std::make_unique<MemoryRateLimiter>(max_keys);
}

}  // namespace handshake
