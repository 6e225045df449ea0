#include "handshake/crypto.hpp"

#include <cstdlib>
#include <string>

#include <openssl/evp.h>
#include <sodium.h>

#include "handshake/encoding.hpp"

namespace handshake::crypto {
namespace {

// libsodium and OpenSSL take (pointer, length); an empty span may carry a null pointer, which the
// C standard does not allow even with a zero length (memcpy), so hand them a real address.
const unsigned char* data_or_dummy(std::span<const std::uint8_t> bytes) noexcept {
  static const unsigned char kDummy = 0;
  return bytes.empty() ? &kDummy : bytes.data();
}

}  // namespace

void ensure_initialized() {
  // A function-local static is initialized exactly once, even under concurrent first calls.
  static const bool initialized = [] {
    // Without a working CSPRNG nothing here is safe to use; there is no sensible fallback.
    if (sodium_init() < 0) std::abort();
    return true;
  }();
  (void)initialized;
}

SigningKey SigningKey::generate() {
  ensure_initialized();
  SigningKey key;
  crypto_sign_keypair(key.public_key_.data(), key.secret_.data());
  return key;
}

Result<SigningKey> SigningKey::from_seed(std::span<const std::uint8_t> seed) {
  if (seed.size() != kSeedBytes) {
    return make_error(ErrorCode::kKey, "key.seed_length",
                      "an Ed25519 seed is " + std::to_string(kSeedBytes) + " bytes, got " +
                          std::to_string(seed.size()));
  }
  ensure_initialized();
  SigningKey key;
  crypto_sign_seed_keypair(key.public_key_.data(), key.secret_.data(), seed.data());
  return key;
}

SigningKey::SigningKey(SigningKey&& other) noexcept
    : secret_(other.secret_), public_key_(other.public_key_) {
  sodium_memzero(other.secret_.data(), other.secret_.size());
  other.public_key_.fill(0);
}

SigningKey& SigningKey::operator=(SigningKey&& other) noexcept {
  if (this != &other) {
    secret_ = other.secret_;
    public_key_ = other.public_key_;
    sodium_memzero(other.secret_.data(), other.secret_.size());
    other.public_key_.fill(0);
  }
  return *this;
}

SigningKey::~SigningKey() { sodium_memzero(secret_.data(), secret_.size()); }

Signature SigningKey::sign(std::span<const std::uint8_t> message) const {
  ensure_initialized();
  Signature signature{};
  crypto_sign_detached(signature.data(), nullptr, data_or_dummy(message), message.size(),
                       secret_.data());
  return signature;
}

bool verify(const PublicKey& key, std::span<const std::uint8_t> message,
            std::span<const std::uint8_t> signature) noexcept {
  if (signature.size() != kSignatureBytes) return false;
  ensure_initialized();
  return crypto_sign_verify_detached(signature.data(), data_or_dummy(message), message.size(),
                                     key.data()) == 0;
}

bool is_valid_public_key(std::span<const std::uint8_t> key) noexcept {
  if (key.size() != kPublicKeyBytes) return false;
  ensure_initialized();
  return crypto_core_ed25519_is_valid_point(key.data()) == 1;
}

Digest sha256(std::span<const std::uint8_t> data) {
  ensure_initialized();
  Digest digest{};
  crypto_hash_sha256(digest.data(), data_or_dummy(data), data.size());
  return digest;
}

Result<Digest> sha3_256(std::span<const std::uint8_t> data) {
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA3-256", nullptr);
  if (md == nullptr) {
    return make_error(ErrorCode::kInternal, "crypto.sha3_unavailable",
                      "OpenSSL could not provide SHA3-256");
  }
  Digest digest{};
  unsigned int length = 0;
  const int ok = EVP_Digest(data_or_dummy(data), data.size(), digest.data(), &length, md, nullptr);
  EVP_MD_free(md);
  if (ok != 1 || length != digest.size()) {
    return make_error(ErrorCode::kInternal, "crypto.sha3_unavailable",
                      "OpenSSL SHA3-256 computation failed");
  }
  return digest;
}

void random_bytes(std::span<std::uint8_t> out) {
  ensure_initialized();
  if (!out.empty()) randombytes_buf(out.data(), out.size());
}

std::string make_nonce() {
  std::array<std::uint8_t, kNonceBytes> nonce{};
  random_bytes(nonce);
  return encoding::base64url_encode(nonce);
}

bool constant_time_equal(std::span<const std::uint8_t> a,
                         std::span<const std::uint8_t> b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  ensure_initialized();
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  return constant_time_equal(encoding::as_bytes(a), encoding::as_bytes(b));
}

}  // namespace handshake::crypto
