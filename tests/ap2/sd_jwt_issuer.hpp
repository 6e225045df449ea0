// Test-only SD-JWT issuer: real P-256 keys from OpenSSL, ES256 signatures (R || S), disclosures,
// key-binding JWTs. Lets the tests build valid AP2 v0.2 mandates and every kind of tampered one.
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "handshake/crypto.hpp"
#include "handshake/encoding.hpp"
#include "handshake/json.hpp"

namespace ap2_test {

namespace hs = handshake;
using hs::Json;

inline std::string b64(std::string_view s) { return hs::encoding::base64url_encode(hs::encoding::as_bytes(s)); }
inline std::string b64json(const Json& j) { return b64(j.dump()); }
inline std::string digest(std::string_view s) {
  return hs::encoding::base64url_encode(hs::crypto::sha256(hs::encoding::as_bytes(s)));
}

class P256Key {
 public:
  P256Key() : pkey_(EVP_EC_gen("P-256"), EVP_PKEY_free) {
    if (!pkey_) throw std::runtime_error("EVP_EC_gen failed");
  }
  // ES256 over `message`: 64 bytes R || S.
  [[nodiscard]] std::string sign(std::string_view message) const {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::size_t len = 0;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey_.get());
    EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(message.data()), message.size());
    std::vector<unsigned char> der(len);
    if (EVP_DigestSign(ctx, der.data(), &len, reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
      throw std::runtime_error("EVP_DigestSign failed");
    }
    EVP_MD_CTX_free(ctx);
    const unsigned char* p = der.data();
    ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len));
    unsigned char raw[64];
    BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32);
    ECDSA_SIG_free(sig);
    return std::string(reinterpret_cast<const char*>(raw), 64);
  }
  [[nodiscard]] Json public_jwk() const {
    BIGNUM* x = nullptr;
    BIGNUM* y = nullptr;
    EVP_PKEY_get_bn_param(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_X, &x);
    EVP_PKEY_get_bn_param(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &y);
    unsigned char bx[32], by[32];
    BN_bn2binpad(x, bx, 32);
    BN_bn2binpad(y, by, 32);
    BN_free(x);
    BN_free(y);
    return Json{{"kty", "EC"}, {"crv", "P-256"},
                {"x", hs::encoding::base64url_encode(std::span<const std::uint8_t>(bx, 32))},
                {"y", hs::encoding::base64url_encode(std::span<const std::uint8_t>(by, 32))}};
  }
  [[nodiscard]] std::string public_pem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, pkey_.get());
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    std::string pem(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return pem;
  }

 private:
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> pkey_;
};

// header.payload.signature with ES256 by `key`.
inline std::string jwt(const Json& header, const Json& payload, const P256Key& key) {
  const std::string input = b64json(header) + "." + b64json(payload);
  return input + "." + b64(key.sign(input));
}

// HS256 with `secret` (the algorithm-confusion attack: the issuer's public key as an HMAC secret).
inline std::string jwt_hs256(const Json& header, const Json& payload, std::string_view secret) {
  const std::string input = b64json(header) + "." + b64json(payload);
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), reinterpret_cast<const unsigned char*>(input.data()),
       input.size(), mac, &len);
  return input + "." + b64(std::string(reinterpret_cast<const char*>(mac), len));
}

struct Disclosure {
  std::string text;    // base64url of the JSON array
  std::string digest;  // base64url(SHA-256(text))
};
inline Disclosure disclose(const std::string& salt, const std::string& name, const Json& value) {
  Disclosure d;
  d.text = b64json(Json::array({salt, name, value}));
  d.digest = digest(d.text);
  return d;
}
inline Disclosure disclose_element(const std::string& salt, const Json& value) {
  Disclosure d;
  d.text = b64json(Json::array({salt, value}));
  d.digest = digest(d.text);
  return d;
}

// <issuer-jwt>~<d1>~...~<dn>~
inline std::string presentation(const std::string& issuer_jwt, const std::vector<Disclosure>& ds) {
  std::string s = issuer_jwt + "~";
  for (const auto& d : ds) s += d.text + "~";
  return s;
}

// The KB-JWT for `pres` (which ends with '~').
inline std::string kb_jwt(const std::string& pres, const P256Key& holder, const std::string& aud, const std::string& nonce,
                          std::int64_t iat) {
  return jwt(Json{{"alg", "ES256"}, {"typ", "kb+jwt"}},
             Json{{"iat", iat}, {"aud", aud}, {"nonce", nonce}, {"sd_hash", digest(pres)}}, holder);
}

}  // namespace ap2_test
