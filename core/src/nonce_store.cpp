// Replay protection (§17): the in-memory nonce store and fixed-window rate limiter. Backends that
// persist or share state (SQLite, PostgreSQL) live in storage/ behind the same interfaces.
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

#include "handshake/crypto.hpp"
#include "store_rules.hpp"

namespace handshake {
namespace {

using detail::is_expired;
using detail::kNoExpiry;
using detail::Micros;
using detail::rate_window;
using detail::to_micros;
using detail::validate_nonce_key;


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
    HSK_TRY(validate_nonce_key(iss, nonce));
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
// In-memory rate limiter
// ---------------------------------------------------------------------------------------------

class MemoryRateLimiter final : public RateLimiter {
 public:
  explicit MemoryRateLimiter(std::size_t max_keys) : max_keys_(max_keys), windows_(16, MapHash{&hash_}) {}

  Result<Decision> hit(std::string_view key, std::int64_t count, std::int64_t per_seconds, Timestamp now) override {
    HSK_ASSIGN_OR_RETURN(const auto window, rate_window(key, count, per_seconds, now));
    const std::int64_t now_s = window.now_s;
    const std::int64_t index = window.index;
    const std::int64_t end = window.end;

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

std::unique_ptr<RateLimiter> make_memory_rate_limiter(std::size_t max_keys) {
  return std::make_unique<MemoryRateLimiter>(max_keys);
}

}  // namespace handshake
