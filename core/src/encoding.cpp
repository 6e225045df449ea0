#include "handshake/encoding.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace handshake::encoding {
namespace {

constexpr char kBase64UrlAlphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char kBase58Alphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
constexpr char kHexDigits[] = "0123456789abcdef";

constexpr std::uint8_t kInvalid = 0xff;

// Reverse lookup tables indexed by the unsigned byte value, so that every possible input byte
// (NUL, 0x80.., whitespace) lands on a defined entry.
template <std::size_t N>
constexpr std::array<std::uint8_t, 256> reverse_table(const char (&alphabet)[N]) {
  std::array<std::uint8_t, 256> table{};
  table.fill(kInvalid);
  for (std::size_t i = 0; i + 1 < N; ++i) {
    table[static_cast<unsigned char>(alphabet[i])] = static_cast<std::uint8_t>(i);
  }
  return table;
}

constexpr auto kBase64UrlValues = reverse_table(kBase64UrlAlphabet);
constexpr auto kBase58Values = reverse_table(kBase58Alphabet);

constexpr std::array<std::uint8_t, 256> hex_table() {
  std::array<std::uint8_t, 256> table{};
  table.fill(kInvalid);
  for (std::uint8_t i = 0; i < 10; ++i) table['0' + i] = i;
  for (std::uint8_t i = 0; i < 6; ++i) {
    table['a' + i] = static_cast<std::uint8_t>(10 + i);
    table['A' + i] = static_cast<std::uint8_t>(10 + i);
  }
  return table;
}

constexpr auto kHexValues = hex_table();

std::uint8_t lookup(const std::array<std::uint8_t, 256>& table, char c) noexcept {
  return table[static_cast<unsigned char>(c)];
}

Error base64url_error(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, "base64url.invalid", std::move(message));
}

Error base58_error(std::string reason, std::string message) {
  return make_error(ErrorCode::kInvalidArgument, std::move(reason), std::move(message));
}

}  // namespace

std::string base64url_encode(std::span<const std::uint8_t> data) {
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) |
                            std::uint32_t{data[i + 2]};
    out.push_back(kBase64UrlAlphabet[(v >> 18) & 0x3f]);
    out.push_back(kBase64UrlAlphabet[(v >> 12) & 0x3f]);
    out.push_back(kBase64UrlAlphabet[(v >> 6) & 0x3f]);
    out.push_back(kBase64UrlAlphabet[v & 0x3f]);
  }
  const std::size_t rest = data.size() - i;
  if (rest == 1) {
    const std::uint32_t v = std::uint32_t{data[i]} << 16;
    out.push_back(kBase64UrlAlphabet[(v >> 18) & 0x3f]);
    out.push_back(kBase64UrlAlphabet[(v >> 12) & 0x3f]);
  } else if (rest == 2) {
    const std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8);
    out.push_back(kBase64UrlAlphabet[(v >> 18) & 0x3f]);
    out.push_back(kBase64UrlAlphabet[(v >> 12) & 0x3f]);
    out.push_back(kBase64UrlAlphabet[(v >> 6) & 0x3f]);
  }
  return out;
}

Result<Bytes> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return base64url_error("length is 1 mod 4");
  // One pass, sized once and written through a pointer (session tickets put this on every warm
  // request). Every alphabet value is below 64 and kInvalid is 0xff, so OR-ing all the values
  // read tells whether any byte was outside the alphabet.
  const std::size_t rest = text.size() % 4;
  Bytes out(text.size() / 4 * 3 + (rest == 0 ? 0 : rest - 1));
  std::uint8_t* o = out.data();
  std::uint8_t seen = 0;
  auto value = [&](char c) {
    const std::uint8_t v = lookup(kBase64UrlValues, c);
    seen |= v;
    return std::uint32_t{v};
  };
  std::size_t i = 0;
  for (; i + 4 <= text.size(); i += 4) {
    const std::uint32_t v =
        (value(text[i]) << 18) | (value(text[i + 1]) << 12) | (value(text[i + 2]) << 6) | value(text[i + 3]);
    *o++ = static_cast<std::uint8_t>(v >> 16);
    *o++ = static_cast<std::uint8_t>(v >> 8);
    *o++ = static_cast<std::uint8_t>(v);
  }
  std::uint32_t tail = 0;
  if (rest >= 2) tail = (value(text[i]) << 18) | (value(text[i + 1]) << 12);
  if (rest == 3) tail |= value(text[i + 2]) << 6;
  if ((seen & 0x80) != 0) return base64url_error("character outside the base64url alphabet");
  if (rest == 2) {
    // Bits beyond the last whole byte must be zero, or two texts would decode to the same bytes.
    if ((tail & 0xffff) != 0) return base64url_error("non-zero trailing bits");
    *o++ = static_cast<std::uint8_t>(tail >> 16);
  } else if (rest == 3) {
    if ((tail & 0xff) != 0) return base64url_error("non-zero trailing bits");
    *o++ = static_cast<std::uint8_t>(tail >> 16);
    *o++ = static_cast<std::uint8_t>(tail >> 8);
  }
  return out;
}

std::string base58btc_encode(std::span<const std::uint8_t> data) {
  std::size_t zeros = 0;
  while (zeros < data.size() && data[zeros] == 0) ++zeros;

  // log(256) / log(58) < 1.38, so this many base58 digits always suffice.
  std::vector<std::uint8_t> digits((data.size() - zeros) * 138 / 100 + 1, 0);
  // Only the low `used` digits are non-zero; tracking it keeps the work to what is needed.
  std::size_t used = 0;
  for (std::size_t i = zeros; i < data.size(); ++i) {
    std::uint32_t carry = data[i];
    std::size_t j = 0;
    for (auto it = digits.rbegin(); (carry != 0 || j < used) && it != digits.rend(); ++it, ++j) {
      carry += std::uint32_t{*it} << 8;
      *it = static_cast<std::uint8_t>(carry % 58);
      carry /= 58;
    }
    used = j;
  }

  auto it = digits.begin();
  while (it != digits.end() && *it == 0) ++it;

  std::string out;
  out.reserve(zeros + static_cast<std::size_t>(digits.end() - it));
  out.assign(zeros, '1');
  for (; it != digits.end(); ++it) out.push_back(kBase58Alphabet[*it]);
  return out;
}

Result<Bytes> base58btc_decode(std::string_view text) {
  if (text.size() > kMaxBase58Chars) {
    return base58_error("base58.too_long", "input exceeds " + std::to_string(kMaxBase58Chars) +
                                               " characters");
  }
  for (const char c : text) {
    if (lookup(kBase58Values, c) == kInvalid) {
      return base58_error("base58.invalid", "character outside the base58btc alphabet");
    }
  }

  std::size_t ones = 0;
  while (ones < text.size() && text[ones] == '1') ++ones;

  // log(58) / log(256) < 0.733, so this many bytes always suffice.
  std::vector<std::uint8_t> bytes((text.size() - ones) * 733 / 1000 + 1, 0);
  std::size_t used = 0;
  for (std::size_t i = ones; i < text.size(); ++i) {
    std::uint32_t carry = lookup(kBase58Values, text[i]);
    std::size_t j = 0;
    for (auto it = bytes.rbegin(); (carry != 0 || j < used) && it != bytes.rend(); ++it, ++j) {
      carry += std::uint32_t{*it} * 58;
      *it = static_cast<std::uint8_t>(carry & 0xff);
      carry >>= 8;
    }
    used = j;
  }

  auto it = bytes.begin();
  while (it != bytes.end() && *it == 0) ++it;

  // The first non-'1' digit is non-zero, so the decoded value has no leading zero byte of its
  // own: every leading zero in the output comes from a '1', which keeps the encoding canonical.
  Bytes out(ones, 0);
  out.insert(out.end(), it, bytes.end());
  return out;
}

std::string multibase_z_encode(std::span<const std::uint8_t> data) {
  return "z" + base58btc_encode(data);
}

Result<Bytes> multibase_decode(std::string_view text) {
  if (text.empty() || text.front() != 'z') {
    return make_error(ErrorCode::kInvalidArgument, "multibase.unsupported",
                      text.empty() ? "empty input" : "only the base58btc prefix 'z' is supported");
  }
  return base58btc_decode(text.substr(1));
}

std::string hex_encode(std::span<const std::uint8_t> data) {
  std::string out;
  out.reserve(data.size() * 2);
  for (const std::uint8_t b : data) {
    out.push_back(kHexDigits[b >> 4]);
    out.push_back(kHexDigits[b & 0x0f]);
  }
  return out;
}

Result<Bytes> hex_decode(std::string_view text) {
  if (text.size() % 2 != 0) {
    return make_error(ErrorCode::kInvalidArgument, "hex.invalid", "odd length");
  }
  Bytes out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const std::uint8_t hi = lookup(kHexValues, text[i]);
    const std::uint8_t lo = lookup(kHexValues, text[i + 1]);
    if (hi == kInvalid || lo == kInvalid) {
      return make_error(ErrorCode::kInvalidArgument, "hex.invalid", "non-hex character");
    }
    out.push_back(static_cast<std::uint8_t>((hi << 4) | lo));
  }
  return out;
}

}  // namespace handshake::encoding
