// Message identifiers: a kind prefix ("dt_", "hs_", "rc_", "rv_") followed by a ULID (§8).
#pragma once

#include <string>
#include <string_view>

#include "handshake/time.hpp"

namespace handshake::ids {

inline constexpr std::string_view kDelegationPrefix = "dt_";
inline constexpr std::string_view kRequestPrefix = "hs_";
inline constexpr std::string_view kReceiptPrefix = "rc_";
inline constexpr std::string_view kRevocationPrefix = "rv_";

// A new ULID: 48-bit millisecond time from `now`, 80 random bits from the CSPRNG, Crockford
// base32 (26 characters).
[[nodiscard]] std::string make_ulid(Timestamp now);
// `prefix` + make_ulid(now).
[[nodiscard]] std::string make_id(std::string_view prefix, Timestamp now);

// True when `text` is 26 Crockford base32 characters (the schemas' pattern).
[[nodiscard]] bool is_ulid(std::string_view text) noexcept;
// True when `text` is `prefix` followed by a ULID.
[[nodiscard]] bool is_id(std::string_view text, std::string_view prefix) noexcept;

}  // namespace handshake::ids
