// AP2 v0.2 mandates: SD-JWT VCs (RFC 9901 SD-JWT; ES256 = ECDSA P-256 / SHA-256, RFC 7518 §3.4)
// told apart by `vct` ("mandate.payment.1", "mandate.checkout.1"; suffixes match exactly).
//
// Compact form: <issuer-jwt>~<disclosure>~...~<disclosure>~[<kb-jwt>]. verify_sd_jwt checks, in
// this order, and refuses at the first failure (never accepts on any failure):
//   1. shape: at least one '~'; three base64url JWT segments; header and payload strict JSON
//      objects; at most 64 disclosures; total size bounded               -> "ap2.sdjwt.malformed"
//   2. header alg is exactly "ES256" ("none", HS256, RS256, EdDSA, ... are refused; a key is never
//      chosen by the token), typ, when present, "dc+sd-jwt" or "vc+sd-jwt" -> "ap2.sdjwt.alg_unsupported"
//   3. the issuer signature (64-byte R||S) with the configured issuer key -> "ap2.sdjwt.signature_invalid"
//   4. _sd_alg absent or "sha-256"                                         -> "ap2.sdjwt.sd_alg_unsupported"
//   5. every disclosure is base64url of a JSON array [salt, name, value] or [salt, value], its
//      digest base64url(SHA-256(disclosure text)) is referenced exactly once by an `_sd` array or
//      an array element {"...": digest} reachable in the payload (or in an earlier disclosed
//      value), names are not "_sd"/"..."/already present                    -> "ap2.sdjwt.disclosure_invalid"
//      (a disclosure that no digest references, or two equal disclosures)  -> "ap2.sdjwt.disclosure_unreferenced"
//   6. claims rebuilt (undisclosed digests dropped); vct one of the expected values
//                                                                          -> "ap2.sdjwt.vct_mismatch"
//   7. iat (required) <= now + skew; nbf, when present, <= now + skew      -> "ap2.sdjwt.not_yet_valid"
//      exp (required) + skew >= now                                        -> "ap2.sdjwt.expired"
//   8. key binding: with a KB-JWT, the payload's cnf.jwk (an EC P-256 JWK) verifies it (ES256,
//      typ "kb+jwt"), its iat within [now - max_kb_age - skew, now + skew], sd_hash =
//      base64url(SHA-256(everything up to and including the last '~')), aud = expected_audience
//      when configured (else present), nonce = expected_nonce when configured
//                                                                          -> "ap2.sdjwt.kb_invalid"
//      no KB-JWT while required                                           -> "ap2.sdjwt.kb_missing"
// All errors are kSignature except malformed input (kParse) and configuration errors.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/ap2/amount.hpp"
#include "handshake/json.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake::ap2 {

inline constexpr std::string_view kVctPaymentMandate = "mandate.payment.1";
inline constexpr std::string_view kVctCheckoutMandate = "mandate.checkout.1";

// An EC P-256 public key (for ES256). Built only through the checking factories, so an object
// that exists holds a valid point on the curve.
class Es256PublicKey {
 public:
  // {"kty":"EC","crv":"P-256","x":b64url(32 bytes),"y":b64url(32 bytes)} (RFC 7518 §6.2.1); "d"
  // (a private key) is refused. Errors: kKey "ap2.key_invalid".
  [[nodiscard]] static Result<Es256PublicKey> from_jwk(const Json& jwk);
  // A PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----") of an EC P-256 key.
  // Errors: kKey "ap2.key_invalid".
  [[nodiscard]] static Result<Es256PublicKey> from_pem(std::string_view pem);

  // True when `signature` (JWS form: 32-byte R || 32-byte S) is a valid ES256 signature of
  // `message` (SHA-256, ECDSA P-256) under this key.
  [[nodiscard]] bool verify(std::string_view message, std::string_view signature) const;
  // The public JWK (kty, crv, x, y).
  [[nodiscard]] Json to_jwk() const;

  Es256PublicKey(Es256PublicKey&&) noexcept;
  Es256PublicKey& operator=(Es256PublicKey&&) noexcept;
  ~Es256PublicKey();

 private:
  struct Impl;
  explicit Es256PublicKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct SdJwtOptions {
  std::vector<std::string> expected_vct;          // e.g. {"mandate.payment.1"}; empty is refused
  std::chrono::seconds clock_skew{60};
  bool require_key_binding = false;
  std::optional<std::string> expected_audience;   // KB-JWT aud
  std::optional<std::string> expected_nonce;      // KB-JWT nonce
  std::chrono::seconds max_kb_age{300};
};

struct VerifiedSdJwt {
  Json header;             // issuer JWT header
  Json claims;             // the payload with every disclosure applied, _sd/_sd_alg removed
  std::string vct;
  Timestamp iat{}, exp{};
  std::optional<Json> key_binding;  // the KB-JWT payload, when one was present and verified
  std::size_t disclosures = 0;
};

// See the header comment. `issuer_key` is the one key the issuer JWT must verify with (a
// configuration choice, never taken from the token). Errors: configuration kInvalidArgument
// "ap2.sdjwt.config" (no expected vct), and the reasons listed above.
[[nodiscard]] Result<VerifiedSdJwt> verify_sd_jwt(std::string_view compact, const Es256PublicKey& issuer_key,
                                                  const SdJwtOptions& options, Timestamp now);

// A closed v0.2 Payment Mandate ("mandate.payment.1"), from verified claims.
struct SdJwtPaymentMandate {
  std::string transaction_id;
  std::string payee_id, payee_name;
  std::optional<std::string> payee_website;
  std::int64_t amount_minor = 0;  // payment_amount.amount: integer minor units, >= 0
  std::string currency;           // payment_amount.currency: a configured ISO 4217 code
  std::string instrument_id, instrument_type;
  std::optional<std::string> execution_date;  // as sent: YYYY-MM-DD or an RFC 3339 time
  Timestamp iat{}, exp{};
  Json claims;
};

// A closed v0.2 Checkout Mandate ("mandate.checkout.1"), from verified claims; checkout_hash is
// checked to be base64url(SHA-256(checkout_jwt)).
struct SdJwtCheckoutMandate {
  std::string checkout_jwt;
  std::string checkout_hash;
  Timestamp iat{}, exp{};
  Json claims;
};

// Errors: kSchema "ap2.mandate_invalid" naming the field (wrong vct, a field missing or of the
// wrong type, a negative or fractional amount), "ap2.currency_unknown", kSignature
// "ap2.checkout_hash_mismatch" (checkout only).
[[nodiscard]] Result<SdJwtPaymentMandate> parse_sd_jwt_payment_mandate(const VerifiedSdJwt& v,
                                                                      const CurrencyTable& currencies);
[[nodiscard]] Result<SdJwtCheckoutMandate> parse_sd_jwt_checkout_mandate(const VerifiedSdJwt& v);

}  // namespace handshake::ap2
