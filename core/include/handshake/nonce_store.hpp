// Replay protection (§17): every accepted (iss, nonce) is remembered until it expires.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake {

// One interface, several stores: in memory (here); SQLite and PostgreSQL in handshake::storage
// (handshake/storage/sqlite.hpp, handshake/storage/postgres.hpp). tests/storage runs one contract
// suite against every one of them.
class NonceStore {
 public:
  virtual ~NonceStore() = default;
  // Atomically: if (iss, nonce) is present and not expired at `now`, returns false; otherwise
  // records it until `expires_at` and returns true. Exactly one of any number of concurrent
  // calls with the same (iss, nonce) returns true. Errors (kUnavailable "nonce.store_full",
  // "nonce.store_failed") mean "cannot tell": the caller must refuse (service_unavailable),
  // never accept. A store never forgets an unexpired nonce to make room.
  [[nodiscard]] virtual Result<bool> check_and_insert(std::string_view iss, std::string_view nonce,
                                                      Timestamp expires_at, Timestamp now) = 0;
  // Number of remembered entries (expired ones may still be counted until swept).
  [[nodiscard]] virtual std::size_t size() const = 0;
};

// Sharded hash map with lazy expiry. Memory is bounded by `max_entries`: when full, expired
// entries are swept; if it is still full, check_and_insert fails with "nonce.store_full".
[[nodiscard]] std::unique_ptr<NonceStore> make_memory_nonce_store(std::size_t max_entries = 1'000'000);

// Fixed-window counters for rate limits, bounded in memory the same way.
class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  struct Decision {
    bool allowed = true;
    std::int64_t retry_after_seconds = 0;  // when !allowed: until the window resets
  };
  // Counts one event for `key` in a window of `per_seconds` allowing `count` events; an event
  // that would exceed the count is not counted and is refused with the seconds to wait.
  [[nodiscard]] virtual Result<Decision> hit(std::string_view key, std::int64_t count, std::int64_t per_seconds,
                                            Timestamp now) = 0;
};

// Per process: every instance counts on its own. Instances that must share one budget use the
// PostgreSQL limiter (handshake/storage/postgres.hpp).
[[nodiscard]] std::unique_ptr<RateLimiter> make_memory_rate_limiter(std::size_t max_keys = 1'000'000);

}  // namespace handshake
