// The rules every NonceStore and RateLimiter backend shares (memory here, SQLite and PostgreSQL in
// storage/): time unit, expiry boundary, field bounds, window arithmetic. Internal header.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake::detail {

// Microseconds since the Unix epoch: the unit every store keeps times in.
using Micros = std::int64_t;
inline constexpr Micros kNoExpiry = std::numeric_limits<Micros>::max();

[[nodiscard]] inline Micros to_micros(Timestamp t) noexcept { return static_cast<Micros>(t.time_since_epoch().count()); }

// An entry recorded until `expires_at` is still live at `now` when now <= expires_at, and expired
// only once now > expires_at. At the boundary instant the nonce is still remembered: a message
// whose validity ends at `expires_at` may still be accepted at exactly that instant, so its
// nonce must not be reusable then.
[[nodiscard]] constexpr bool is_expired(Micros expires_at, Micros now) noexcept { return expires_at < now; }

// Issuers are DIDs (at most 512 bytes) and nonces are bounded to 512 bytes by the parser
// (docs/wire-encoding.md); anything else never reaches a store legitimately, and the bound keeps
// the memory per entry small.
inline constexpr std::size_t kMaxNonceFieldBytes = 512;

[[nodiscard]] inline bool bad_nonce_field(std::string_view v) noexcept {
  return v.empty() || v.size() > kMaxNonceFieldBytes || v.find('\0') != std::string_view::npos;
}

// Errors: kInvalidArgument "nonce.invalid".
[[nodiscard]] inline Status validate_nonce_key(std::string_view iss, std::string_view nonce) {
  if (bad_nonce_field(iss)) {
    return make_error(ErrorCode::kInvalidArgument, "nonce.invalid", "iss must be 1 to 512 bytes without NUL");
  }
  if (bad_nonce_field(nonce)) {
    return make_error(ErrorCode::kInvalidArgument, "nonce.invalid", "nonce must be 1 to 512 bytes without NUL");
  }
  return ok_status();
}

// Caller keys of a rate limit (an address, a DID, ...) are bounded so that max_keys bounds memory.
inline constexpr std::size_t kMaxRateKeyBytes = 4096;

[[nodiscard]] constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// The fixed window a hit at `now` falls in: windows are [i * per, (i + 1) * per) seconds since
// the epoch, i = floor(now / per).
struct RateWindow {
  std::int64_t now_s = 0;
  std::int64_t index = 0;
  std::int64_t end = 0;  // first second after the window
};

// Checks a hit's parameters and places it in its window. Errors: kInvalidArgument "ratelimit.invalid".
[[nodiscard]] inline Result<RateWindow> rate_window(std::string_view key, std::int64_t count, std::int64_t per_seconds,
                                                    Timestamp now) {
  if (count <= 0 || per_seconds <= 0) {
    return make_error(ErrorCode::kInvalidArgument, "ratelimit.invalid", "count and per_seconds must be positive");
  }
  if (key.size() > kMaxRateKeyBytes) {
    return make_error(ErrorCode::kInvalidArgument, "ratelimit.invalid", "key longer than 4096 bytes");
  }
  RateWindow w;
  w.now_s = floor_div(to_micros(now), 1'000'000);
  w.index = floor_div(w.now_s, per_seconds);
  const std::int64_t start = w.index * per_seconds;  // in (now_s - per_seconds, now_s]: no overflow
  if (__builtin_add_overflow(start, per_seconds, &w.end)) w.end = std::numeric_limits<std::int64_t>::max();
  return w;
}

}  // namespace handshake::detail
