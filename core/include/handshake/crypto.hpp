// Cryptographic primitives (§6, §7). Everything here delegates to libsodium (Ed25519, SHA-256,
// CSPRNG, constant-time compare) or OpenSSL (SHA3-256 only). No primitive is implemented here.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "handshake/result.hpp"

namespace handshake::crypto {

inline constexpr std::size_t kPublicKeyBytes = 32;
inline constexpr std::size_t kSeedBytes = 32;
inline constexpr std::size_t kSignatureBytes = 64;
inline constexpr std::size_t kSha256Bytes = 32;
inline constexpr std::size_t kNonceBytes = 16;  // 128 bits (§8.2)

using PublicKey = std::array<std::uint8_t, kPublicKeyBytes>;
using Signature = std::array<std::uint8_t, kSignatureBytes>;
using Digest = std::array<std::uint8_t, kSha256Bytes>;

// Initializes libsodium once; safe to call from any thread, any number of times. Every function
// below calls it, so callers need not.
void ensure_initialized();

// What signs for an identity: a key in this process (SigningKey, from a key file) or a key in
// hardware (pkcs11.hpp), behind one interface. Only Ed25519 (pure, RFC 8032). Thread-safe.
class Signer {
 public:
  virtual ~Signer() = default;
  // The signature of `message`. Errors: kUnavailable "signer.unavailable" when the key cannot be
  // used now (a token removed, a module failing): the caller cannot sign and must say so.
  [[nodiscard]] virtual Result<Signature> try_sign(std::span<const std::uint8_t> message) const = 0;
  [[nodiscard]] virtual const PublicKey& public_key() const noexcept = 0;
  [[nodiscard]] virtual std::string_view algorithm() const noexcept { return "Ed25519"; }
  // Where the key lives, for logs ("key file", "pkcs11:token=...;object=..."); never the secret.
  [[nodiscard]] virtual std::string where() const { return "in-process key"; }
};

// An Ed25519 private key (the RFC 8032 32-byte seed and libsodium's expanded form). Move-only;
// the secret bytes are wiped on destruction. The only accessor to the secret is seed_bytes(),
// which exists so that key files can be written; grep for it when auditing secret handling.
class SigningKey final : public Signer {
 public:
  // A new key from the CSPRNG.
  [[nodiscard]] static SigningKey generate();
  // The key whose RFC 8032 secret is `seed`. Errors: kKey ("key.seed_length") unless 32 bytes.
  [[nodiscard]] static Result<SigningKey> from_seed(std::span<const std::uint8_t> seed);

  SigningKey(SigningKey&& other) noexcept;
  SigningKey& operator=(SigningKey&& other) noexcept;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;
  ~SigningKey() override;

  [[nodiscard]] const PublicKey& public_key() const noexcept override { return public_key_; }
  // Pure Ed25519 signature (RFC 8032) of `message`.
  [[nodiscard]] Signature sign(std::span<const std::uint8_t> message) const;
  // The same; never fails.
  [[nodiscard]] Result<Signature> try_sign(std::span<const std::uint8_t> message) const override { return sign(message); }
  // The secret seed. Handle with care: never log it.
  [[nodiscard]] std::span<const std::uint8_t, kSeedBytes> seed_bytes() const noexcept {
    return std::span<const std::uint8_t, kSeedBytes>(secret_.data(), kSeedBytes);
  }

 private:
  SigningKey() = default;
  std::array<std::uint8_t, 64> secret_{};  // libsodium layout: seed || public key
  PublicKey public_key_{};
};

// True when `signature` is a valid Ed25519 signature of `message` under `key`. libsodium rejects
// non-canonical signatures and small-order public keys.
[[nodiscard]] bool verify(const PublicKey& key, std::span<const std::uint8_t> message,
                          std::span<const std::uint8_t> signature) noexcept;

// True when `key` is a canonical encoding of a point usable as an Ed25519 public key
// (not small order).
[[nodiscard]] bool is_valid_public_key(std::span<const std::uint8_t> key) noexcept;

[[nodiscard]] Digest sha256(std::span<const std::uint8_t> data);
// Errors: kInternal ("crypto.sha3_unavailable") if OpenSSL cannot provide SHA3-256.
[[nodiscard]] Result<Digest> sha3_256(std::span<const std::uint8_t> data);

// Fills `out` from the CSPRNG.
void random_bytes(std::span<std::uint8_t> out);
// A fresh 128-bit nonce, base64url without padding (22 characters).
[[nodiscard]] std::string make_nonce();

// Constant-time equality of two byte strings (false when the lengths differ; the length itself
// is not secret).
[[nodiscard]] bool constant_time_equal(std::span<const std::uint8_t> a,
                                       std::span<const std::uint8_t> b) noexcept;
[[nodiscard]] bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace handshake::crypto
