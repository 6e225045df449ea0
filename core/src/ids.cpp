#include "handshake/ids.hpp"

#include <array>
#include <cstdint>

#include "handshake/crypto.hpp"

namespace handshake::ids {
namespace {
constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
}

std::string make_ulid(Timestamp now) {
  const auto ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count());
  std::array<std::uint8_t, 16> bytes{};
  for (int i = 0; i < 6; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(ms >> (8 * (5 - i)));
  crypto::random_bytes(std::span<std::uint8_t>(bytes).subspan(6));
  // 128 bits -> 26 base32 digits, most significant first (the first digit carries 3 bits).
  std::string out(26, '0');
  for (int i = 25; i >= 0; --i) {
    // Take the low 5 bits of the 128-bit big-endian number, then shift it right by 5.
    const unsigned v = bytes[15] & 0x1Fu;
    out[static_cast<std::size_t>(i)] = kCrockford[v];
    unsigned carry = 0;
    for (auto& b : bytes) {
      const unsigned cur = b;
      b = static_cast<std::uint8_t>((cur >> 5) | (carry << 3));
      carry = cur & 0x1Fu;
    }
  }
  return out;
}

std::string make_id(std::string_view prefix, Timestamp now) { return std::string(prefix) + make_ulid(now); }

bool is_ulid(std::string_view text) noexcept {
  static constexpr std::array<bool, 256> kAlphabet = [] {
    std::array<bool, 256> t{};
    for (const char* p = kCrockford; *p; ++p) t[static_cast<unsigned char>(*p)] = true;
    return t;
  }();
  if (text.size() != 26) return false;
  for (char c : text) {
    if (!kAlphabet[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

bool is_id(std::string_view text, std::string_view prefix) noexcept {
  return text.size() == prefix.size() + 26 && text.substr(0, prefix.size()) == prefix &&
         is_ulid(text.substr(prefix.size()));
}

}  // namespace handshake::ids
