// Binary-to-text encodings used on the wire (§6.4).
//
// Decoders are strict: any input that is not the one canonical encoding of some byte string is
// rejected, so that two different texts never decode to the same bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/result.hpp"

namespace handshake::encoding {

using Bytes = std::vector<std::uint8_t>;

// RFC 4648 §5 base64url without padding.
[[nodiscard]] std::string base64url_encode(std::span<const std::uint8_t> data);
// Rejects (kInvalidArgument, reason "base64url.invalid"): '=' padding, '+', '/', whitespace or
// any byte outside [A-Za-z0-9_-], a length of 1 mod 4, and non-zero trailing bits.
[[nodiscard]] Result<Bytes> base64url_decode(std::string_view text);

// Bitcoin-alphabet base58 ("base58btc"); each leading 0x00 byte maps to one leading '1'.
[[nodiscard]] std::string base58btc_encode(std::span<const std::uint8_t> data);
// Rejects (reason "base58.invalid") any character outside the alphabet, whitespace included.
// Inputs longer than kMaxBase58Chars are refused (reason "base58.too_long") to bound the
// quadratic decode work.
inline constexpr std::size_t kMaxBase58Chars = 1024;
[[nodiscard]] Result<Bytes> base58btc_decode(std::string_view text);

// Multibase with the base58btc prefix 'z' (the only base this protocol uses).
[[nodiscard]] std::string multibase_z_encode(std::span<const std::uint8_t> data);
// Rejects (reason "multibase.unsupported") any prefix other than 'z', then decodes strictly.
[[nodiscard]] Result<Bytes> multibase_decode(std::string_view text);

// Lowercase hexadecimal.
[[nodiscard]] std::string hex_encode(std::span<const std::uint8_t> data);
// Accepts upper or lower case; rejects (reason "hex.invalid") odd length and non-hex characters.
[[nodiscard]] Result<Bytes> hex_decode(std::string_view text);

// Convenience: bytes of a string.
[[nodiscard]] inline std::span<const std::uint8_t> as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace handshake::encoding
