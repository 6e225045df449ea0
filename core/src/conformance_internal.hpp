// Shared by the conformance generator and runner.
#pragma once

#include <array>
#include <cstdint>

namespace handshake::conformance::detail {

// DER prefixes of an Ed25519 SubjectPublicKeyInfo (RFC 8410) and PKCS#8 private key; the raw
// 32-byte key or seed follows.
inline constexpr std::array<std::uint8_t, 12> kSpkiPrefix = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                                             0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
inline constexpr std::array<std::uint8_t, 16> kPkcs8Prefix = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                                              0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};

}  // namespace handshake::conformance::detail
