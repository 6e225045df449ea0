#include "handshake/ap2/sd_jwt.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <cmath>
#include <map>
#include <set>

#include "handshake/crypto.hpp"
#include "handshake/encoding.hpp"

namespace handshake::ap2 {

// ---- ES256 keys (OpenSSL EVP) ------------------------------------------------------------------

struct Es256PublicKey::Impl {
  EVP_PKEY* pkey = nullptr;
  ~Impl() { EVP_PKEY_free(pkey); }
};

Es256PublicKey::Es256PublicKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Es256PublicKey::Es256PublicKey(Es256PublicKey&&) noexcept = default;
Es256PublicKey& Es256PublicKey::operator=(Es256PublicKey&&) noexcept = default;
Es256PublicKey::~Es256PublicKey() = default;

namespace {

Error key_error(std::string message) { return make_error(ErrorCode::kKey, "ap2.key_invalid", std::move(message)); }

// The key is EC on P-256 and its point passes OpenSSL's public-key check (on the curve, not
// infinity).
bool is_p256_point(EVP_PKEY* pkey) {
  if (pkey == nullptr || !EVP_PKEY_is_a(pkey, "EC")) return false;
  char group[64] = {0};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) != 1) return false;
  const std::string g(group, len);
  if (g != "prime256v1" && g != "P-256") return false;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr);
  const bool ok = ctx != nullptr && EVP_PKEY_public_check(ctx) == 1;
  EVP_PKEY_CTX_free(ctx);
  return ok;
}

Result<encoding::Bytes> b64_field(const Json& jwk, const char* name, std::size_t size) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) return key_error(std::string("JWK member ") + name + " missing");
  auto b = encoding::base64url_decode(it->get<std::string>());
  if (!b.ok() || b->size() != size) return key_error(std::string("JWK member ") + name + " is not 32 bytes of base64url");
  return b;
}

}  // namespace

Result<Es256PublicKey> Es256PublicKey::from_jwk(const Json& jwk) {
  // Compared as JSON values: a member of another type is no match (value() would throw).
  if (!jwk.is_object() || !jwk.contains("kty") || jwk["kty"] != "EC" || !jwk.contains("crv") || jwk["crv"] != "P-256") {
    return key_error("expected an EC JWK on P-256");
  }
  if (jwk.contains("d")) return key_error("a private JWK was given where a public key belongs");
  HSK_ASSIGN_OR_RETURN(auto x, b64_field(jwk, "x", 32));
  HSK_ASSIGN_OR_RETURN(auto y, b64_field(jwk, "y", 32));
  std::vector<unsigned char> point{0x04};
  point.insert(point.end(), x.begin(), x.end());
  point.insert(point.end(), y.begin(), y.end());
  char group[] = "prime256v1";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end(),
  };
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* pkey = nullptr;
  const bool built = ctx != nullptr && EVP_PKEY_fromdata_init(ctx) == 1 &&
                     EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  auto impl = std::make_unique<Impl>();
  impl->pkey = pkey;
  if (!built || !is_p256_point(pkey)) return key_error("the JWK's point is not on P-256");
  return Es256PublicKey(std::move(impl));
}

Result<Es256PublicKey> Es256PublicKey::from_pem(std::string_view pem) {
  if (pem.size() > 16 * 1024) return key_error("PEM too large");
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return make_error(ErrorCode::kInternal, "ap2.openssl", "BIO_new_mem_buf failed");
  auto impl = std::make_unique<Impl>();
  impl->pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!is_p256_point(impl->pkey)) return key_error("expected a PEM public key (SubjectPublicKeyInfo) on P-256");
  return Es256PublicKey(std::move(impl));
}

bool Es256PublicKey::verify(std::string_view message, std::string_view signature) const {
  if (!impl_ || signature.size() != 64) return false;
  const auto* s = reinterpret_cast<const unsigned char*>(signature.data());
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(s, 32, nullptr);
  BIGNUM* ss = BN_bin2bn(s + 32, 32, nullptr);
  if (sig == nullptr || r == nullptr || ss == nullptr || ECDSA_SIG_set0(sig, r, ss) != 1) {
    BN_free(r);
    BN_free(ss);
    ECDSA_SIG_free(sig);
    return false;
  }
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (der_len <= 0) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, impl_->pkey) == 1 &&
                  EVP_DigestVerify(ctx, der, static_cast<std::size_t>(der_len),
                                   reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  return ok;
}

Json Es256PublicKey::to_jwk() const {
  BIGNUM* x = nullptr;
  BIGNUM* y = nullptr;
  Json jwk = Json::object();
  if (EVP_PKEY_get_bn_param(impl_->pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
      EVP_PKEY_get_bn_param(impl_->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1) {
    std::uint8_t bx[32], by[32];
    BN_bn2binpad(x, bx, 32);
    BN_bn2binpad(y, by, 32);
    jwk = Json{{"kty", "EC"}, {"crv", "P-256"}, {"x", encoding::base64url_encode(bx)}, {"y", encoding::base64url_encode(by)}};
  }
  BN_free(x);
  BN_free(y);
  return jwk;
}

// ---- SD-JWT ------------------------------------------------------------------------------------

namespace {

constexpr std::size_t kMaxCompactBytes = 64 * 1024;
constexpr std::size_t kMaxDisclosures = 64;

Error malformed(std::string m) { return make_error(ErrorCode::kParse, "ap2.sdjwt.malformed", std::move(m)); }
Error refused(const char* reason, std::string m) { return make_error(ErrorCode::kSignature, reason, std::move(m)); }

struct Jwt {
  std::string_view signing_input;  // header.payload
  Json header, payload;
  std::string signature;           // raw bytes
};

Result<Json> decode_json_segment(std::string_view seg, const char* what) {
  auto bytes = encoding::base64url_decode(seg);
  if (!bytes.ok()) return malformed(std::string(what) + " is not base64url");
  auto j = json::parse_strict(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
  if (!j.ok() || !j->is_object()) return malformed(std::string(what) + " is not a JSON object");
  return j;
}

Result<Jwt> split_jwt(std::string_view text, const char* what) {
  const auto d1 = text.find('.');
  const auto d2 = d1 == std::string_view::npos ? d1 : text.find('.', d1 + 1);
  if (d2 == std::string_view::npos || text.find('.', d2 + 1) != std::string_view::npos) {
    return malformed(std::string(what) + " is not a compact JWS (three segments)");
  }
  Jwt jwt;
  jwt.signing_input = text.substr(0, d2);
  HSK_ASSIGN_OR_RETURN(jwt.header, decode_json_segment(text.substr(0, d1), what));
  HSK_ASSIGN_OR_RETURN(jwt.payload, decode_json_segment(text.substr(d1 + 1, d2 - d1 - 1), what));
  auto sig = encoding::base64url_decode(text.substr(d2 + 1));
  if (!sig.ok()) return malformed(std::string(what) + " signature is not base64url");
  jwt.signature.assign(sig->begin(), sig->end());
  return jwt;
}

// alg must be exactly ES256; typ, when present, one of `typs`.
Status check_header(const Json& header, std::initializer_list<std::string_view> typs, bool typ_required, const char* what) {
  auto alg = header.find("alg");
  if (alg == header.end() || !alg->is_string() || *alg != "ES256") {
    return refused("ap2.sdjwt.alg_unsupported",
                   std::string(what) + " alg must be ES256, got " + (alg == header.end() ? "nothing" : alg->dump()));
  }
  if (header.contains("crit")) return refused("ap2.sdjwt.alg_unsupported", std::string(what) + " has crit parameters");
  auto typ = header.find("typ");
  if (typ == header.end()) {
    if (typ_required) return refused("ap2.sdjwt.alg_unsupported", std::string(what) + " typ missing");
    return ok_status();
  }
  for (auto t : typs) {
    if (typ->is_string() && typ->get_ref<const std::string&>() == t) return ok_status();
  }
  return refused("ap2.sdjwt.alg_unsupported", std::string(what) + " typ " + typ->dump() + " not accepted");
}

std::string digest_of(std::string_view text) {
  return encoding::base64url_encode(crypto::sha256(encoding::as_bytes(text)));
}

struct Disclosure {
  Json array;     // [salt, name, value] or [salt, value]
  bool used = false;
};

// RFC 9901 §7.1 step 3-4: replaces digests by disclosed claims, recursively, in place.
Status apply_disclosures(Json& node, std::map<std::string, Disclosure>& disclosures, int depth) {
  if (depth > 256) return malformed("claims nested too deeply");
  if (node.is_object()) {
    Json sd;
    if (auto it = node.find("_sd"); it != node.end()) {
      sd = std::move(*it);
      node.erase("_sd");
      if (!sd.is_array()) return refused("ap2.sdjwt.disclosure_invalid", "_sd is not an array");
    }
    for (auto& [key, value] : node.items()) {
      (void)key;
      HSK_TRY(apply_disclosures(value, disclosures, depth + 1));
    }
    for (const auto& d : sd) {
      if (!d.is_string()) return refused("ap2.sdjwt.disclosure_invalid", "_sd holds a non-string digest");
      auto it = disclosures.find(d.get<std::string>());
      if (it == disclosures.end()) continue;  // a decoy, or a claim not disclosed
      Disclosure& disc = it->second;
      if (disc.used) return refused("ap2.sdjwt.disclosure_invalid", "a digest is referenced twice");
      disc.used = true;
      if (disc.array.size() != 3 || !disc.array[1].is_string()) {
        return refused("ap2.sdjwt.disclosure_invalid", "an _sd digest names a disclosure that is not [salt, name, value]");
      }
      const std::string name = disc.array[1].get<std::string>();
      if (name == "_sd" || name == "..." || node.contains(name)) {
        return refused("ap2.sdjwt.disclosure_invalid", "disclosed claim name '" + name + "' is reserved or already present");
      }
      Json value = disc.array[2];
      HSK_TRY(apply_disclosures(value, disclosures, depth + 1));
      node[name] = std::move(value);
    }
    return ok_status();
  }
  if (node.is_array()) {
    Json out = Json::array();
    for (auto& e : node) {
      if (e.is_object() && e.size() == 1 && e.contains("...")) {
        const Json& d = e["..."];
        if (!d.is_string()) return refused("ap2.sdjwt.disclosure_invalid", "an array digest is not a string");
        auto it = disclosures.find(d.get<std::string>());
        if (it == disclosures.end()) continue;  // undisclosed element: dropped
        Disclosure& disc = it->second;
        if (disc.used) return refused("ap2.sdjwt.disclosure_invalid", "a digest is referenced twice");
        disc.used = true;
        if (disc.array.size() != 2) {
          return refused("ap2.sdjwt.disclosure_invalid", "an array digest names a disclosure that is not [salt, value]");
        }
        Json value = disc.array[1];
        HSK_TRY(apply_disclosures(value, disclosures, depth + 1));
        out.push_back(std::move(value));
      } else {
        HSK_TRY(apply_disclosures(e, disclosures, depth + 1));
        out.push_back(std::move(e));
      }
    }
    node = std::move(out);
  }
  return ok_status();
}

// A JWT NumericDate (seconds since the epoch, integer or not) as a Timestamp.
std::optional<Timestamp> numeric_date(const Json* v) {
  if (v == nullptr || !v->is_number() || v->is_boolean()) return std::nullopt;
  const double d = v->get<double>();
  if (!std::isfinite(d) || d < 0 || d > 253402300799.0) return std::nullopt;
  return Timestamp(std::chrono::microseconds(static_cast<std::int64_t>(d * 1e6)));
}

const Json* member(const Json& o, const char* name) {
  auto it = o.find(name);
  return it == o.end() ? nullptr : &*it;
}

}  // namespace

Result<VerifiedSdJwt> verify_sd_jwt(std::string_view compact, const Es256PublicKey& issuer_key,
                                    const SdJwtOptions& options, Timestamp now) {
  if (options.expected_vct.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "ap2.sdjwt.config", "no expected vct configured");
  }
  // 1. shape
  if (compact.size() > kMaxCompactBytes) return malformed("SD-JWT larger than 64 KiB");
  const auto first = compact.find('~');
  const auto last = compact.rfind('~');
  if (first == std::string_view::npos) return malformed("not an SD-JWT: no '~' separator");
  const std::string_view issuer_text = compact.substr(0, first);
  const std::string_view kb_text = compact.substr(last + 1);
  const std::string_view presentation = compact.substr(0, last + 1);  // what sd_hash covers
  std::vector<std::string_view> disclosure_texts;
  for (std::size_t pos = first + 1; pos <= last && pos < compact.size();) {
    const auto next = compact.find('~', pos);
    if (next == std::string_view::npos || next > last) break;
    disclosure_texts.push_back(compact.substr(pos, next - pos));
    pos = next + 1;
  }
  if (disclosure_texts.size() > kMaxDisclosures) return malformed("more than 64 disclosures");
  HSK_ASSIGN_OR_RETURN(auto jwt, split_jwt(issuer_text, "issuer JWT"));
  // 2. algorithm, before any key is used
  HSK_TRY(check_header(jwt.header, {"dc+sd-jwt", "vc+sd-jwt"}, false, "issuer JWT"));
  // 3. signature with the configured key
  if (!issuer_key.verify(jwt.signing_input, jwt.signature)) {
    return refused("ap2.sdjwt.signature_invalid", "the issuer JWT's ES256 signature does not verify with the issuer key");
  }
  // 4. digest algorithm
  Json claims = std::move(jwt.payload);
  if (auto alg = claims.find("_sd_alg"); alg != claims.end()) {
    if (!alg->is_string() || *alg != "sha-256") {
      return refused("ap2.sdjwt.sd_alg_unsupported", "_sd_alg must be sha-256, got " + alg->dump());
    }
    claims.erase("_sd_alg");
  }
  // 5. disclosures
  std::map<std::string, Disclosure> disclosures;
  for (const auto text : disclosure_texts) {
    if (text.empty()) return malformed("an empty disclosure");
    auto bytes = encoding::base64url_decode(text);
    if (!bytes.ok()) return refused("ap2.sdjwt.disclosure_invalid", "a disclosure is not base64url");
    auto arr = json::parse_strict(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
    if (!arr.ok() || !arr->is_array() || (arr->size() != 2 && arr->size() != 3) || !(*arr)[0].is_string()) {
      return refused("ap2.sdjwt.disclosure_invalid", "a disclosure is not a JSON array [salt, (name,) value]");
    }
    auto [it, inserted] = disclosures.emplace(digest_of(text), Disclosure{std::move(arr).value(), false});
    if (!inserted) return refused("ap2.sdjwt.disclosure_unreferenced", "the same disclosure is presented twice");
  }
  HSK_TRY(apply_disclosures(claims, disclosures, 0));
  for (const auto& [digest, d] : disclosures) {
    if (!d.used) {
      return refused("ap2.sdjwt.disclosure_unreferenced", "a disclosure (digest " + digest + ") is not referenced by the issuer JWT");
    }
  }
  // 6. vct
  VerifiedSdJwt out;
  const Json* vct = member(claims, "vct");
  bool vct_ok = false;
  if (vct && vct->is_string()) {
    for (const auto& v : options.expected_vct) vct_ok = vct_ok || *vct == v;
  }
  if (!vct_ok) return refused("ap2.sdjwt.vct_mismatch", "vct " + (vct ? vct->dump() : std::string("missing")) + " not expected");
  out.vct = vct->get<std::string>();
  // 7. validity window
  const auto skew = std::chrono::duration_cast<std::chrono::microseconds>(options.clock_skew);
  const auto iat = numeric_date(member(claims, "iat"));
  const auto exp = numeric_date(member(claims, "exp"));
  if (!iat || !exp) return refused("ap2.sdjwt.malformed_claims", "iat and exp must be NumericDates");
  if (*iat > now + skew) return refused("ap2.sdjwt.not_yet_valid", "iat is in the future");
  if (const Json* nbf = member(claims, "nbf")) {
    const auto t = numeric_date(nbf);
    if (!t) return refused("ap2.sdjwt.malformed_claims", "nbf must be a NumericDate");
    if (*t > now + skew) return refused("ap2.sdjwt.not_yet_valid", "nbf is in the future");
  }
  if (*exp + skew < now) return refused("ap2.sdjwt.expired", "the mandate expired");
  out.iat = *iat;
  out.exp = *exp;
  // 8. key binding
  if (kb_text.empty()) {
    if (options.require_key_binding) return refused("ap2.sdjwt.kb_missing", "a key-binding JWT is required");
  } else {
    auto kb_refused = [](std::string m) { return refused("ap2.sdjwt.kb_invalid", std::move(m)); };
    HSK_ASSIGN_OR_RETURN(auto kb, split_jwt(kb_text, "key-binding JWT"));
    if (auto s = check_header(kb.header, {"kb+jwt"}, true, "key-binding JWT"); !s.ok()) return kb_refused(s.error().message);
    const Json* cnf = member(claims, "cnf");
    if (!cnf || !cnf->is_object() || !cnf->contains("jwk")) return kb_refused("the issuer JWT has no cnf.jwk");
    auto holder = Es256PublicKey::from_jwk((*cnf)["jwk"]);
    if (!holder.ok()) return kb_refused("cnf.jwk: " + holder.error().message);
    if (!holder->verify(kb.signing_input, kb.signature)) return kb_refused("the key-binding JWT's signature does not verify with cnf.jwk");
    const auto kb_iat = numeric_date(member(kb.payload, "iat"));
    const auto max_age = std::chrono::duration_cast<std::chrono::microseconds>(options.max_kb_age);
    if (!kb_iat || *kb_iat > now + skew || *kb_iat + max_age + skew < now) return kb_refused("key-binding iat missing or outside the window");
    const Json* sd_hash = member(kb.payload, "sd_hash");
    if (!sd_hash || !sd_hash->is_string() || !crypto::constant_time_equal(sd_hash->get<std::string>(), digest_of(presentation))) {
      return kb_refused("sd_hash does not match the presented SD-JWT");
    }
    const Json* aud = member(kb.payload, "aud");
    if (!aud || !aud->is_string() || (options.expected_audience && *aud != *options.expected_audience)) {
      return kb_refused("key-binding aud missing or not the expected audience");
    }
    const Json* nonce = member(kb.payload, "nonce");
    if (!nonce || !nonce->is_string() || (options.expected_nonce && *nonce != *options.expected_nonce)) {
      return kb_refused("key-binding nonce missing or not the expected nonce");
    }
    out.key_binding = std::move(kb.payload);
  }
  out.header = std::move(jwt.header);
  out.claims = std::move(claims);
  out.disclosures = disclosure_texts.size();
  return out;
}

// ---- v0.2 mandates from verified claims -------------------------------------------------------

namespace {

Error field_error(const std::string& path, const std::string& what) {
  return make_error(ErrorCode::kSchema, "ap2.mandate_invalid", path + ": " + what);
}

Result<std::string> str_at(const Json& o, const char* name, const std::string& path) {
  const Json* v = member(o, name);
  if (!v || !v->is_string()) return field_error(path + "." + name, "expected a string");
  return v->get<std::string>();
}

Result<std::optional<std::string>> opt_str_at(const Json& o, const char* name, const std::string& path) {
  const Json* v = member(o, name);
  if (!v || v->is_null()) return std::optional<std::string>();
  if (!v->is_string()) return field_error(path + "." + name, "expected a string or null");
  return std::optional<std::string>(v->get<std::string>());
}

Result<const Json*> obj_at(const Json& o, const char* name, const std::string& path) {
  const Json* v = member(o, name);
  if (!v || !v->is_object()) return field_error(path + "." + name, "expected an object");
  return v;
}

}  // namespace

Result<SdJwtPaymentMandate> parse_sd_jwt_payment_mandate(const VerifiedSdJwt& v, const CurrencyTable& currencies) {
  const std::string p = "PaymentMandate";
  if (v.vct != kVctPaymentMandate) return field_error(p + ".vct", "expected mandate.payment.1");
  const Json& c = v.claims;
  SdJwtPaymentMandate m;
  HSK_ASSIGN_OR_RETURN(m.transaction_id, str_at(c, "transaction_id", p));
  HSK_ASSIGN_OR_RETURN(const Json* payee, obj_at(c, "payee", p));
  HSK_ASSIGN_OR_RETURN(m.payee_id, str_at(*payee, "id", p + ".payee"));
  HSK_ASSIGN_OR_RETURN(auto name, opt_str_at(*payee, "name", p + ".payee"));
  m.payee_name = name.value_or("");
  HSK_ASSIGN_OR_RETURN(m.payee_website, opt_str_at(*payee, "website", p + ".payee"));
  HSK_ASSIGN_OR_RETURN(const Json* amount, obj_at(c, "payment_amount", p));
  HSK_ASSIGN_OR_RETURN(m.currency, str_at(*amount, "currency", p + ".payment_amount"));
  if (!currencies.exponent(m.currency)) {
    return make_error(ErrorCode::kInvalidArgument, "ap2.currency_unknown",
                      p + ".payment_amount.currency: '" + m.currency + "' is not configured");
  }
  const Json* minor = member(*amount, "amount");
  if (!minor || !minor->is_number_integer() || minor->get<std::int64_t>() < 0 ||
      minor->get<std::int64_t>() > kMaxMinorUnits) {
    return field_error(p + ".payment_amount.amount", "expected a non-negative integer (minor units)");
  }
  m.amount_minor = minor->get<std::int64_t>();
  HSK_ASSIGN_OR_RETURN(const Json* instrument, obj_at(c, "payment_instrument", p));
  HSK_ASSIGN_OR_RETURN(m.instrument_id, str_at(*instrument, "id", p + ".payment_instrument"));
  HSK_ASSIGN_OR_RETURN(m.instrument_type, str_at(*instrument, "type", p + ".payment_instrument"));
  HSK_ASSIGN_OR_RETURN(m.execution_date, opt_str_at(c, "execution_date", p));
  if (m.execution_date) {
    const std::string& d = *m.execution_date;
    const bool date = d.size() == 10 && time::parse_rfc3339(d + "T00:00:00Z").ok();
    if (!date && !time::parse_rfc3339(d).ok()) {
      return field_error(p + ".execution_date", "expected YYYY-MM-DD or an RFC 3339 date-time");
    }
  }
  if (const Json* pisp = member(c, "pisp"); pisp && !pisp->is_null() && !pisp->is_object()) {
    return field_error(p + ".pisp", "expected an object");
  }
  m.iat = v.iat;
  m.exp = v.exp;
  m.claims = v.claims;
  return m;
}

Result<SdJwtCheckoutMandate> parse_sd_jwt_checkout_mandate(const VerifiedSdJwt& v) {
  const std::string p = "CheckoutMandate";
  if (v.vct != kVctCheckoutMandate) return field_error(p + ".vct", "expected mandate.checkout.1");
  SdJwtCheckoutMandate m;
  HSK_ASSIGN_OR_RETURN(m.checkout_jwt, str_at(v.claims, "checkout_jwt", p));
  HSK_ASSIGN_OR_RETURN(m.checkout_hash, str_at(v.claims, "checkout_hash", p));
  if (!crypto::constant_time_equal(m.checkout_hash, digest_of(m.checkout_jwt))) {
    return make_error(ErrorCode::kSignature, "ap2.checkout_hash_mismatch", "checkout_hash is not SHA-256 of checkout_jwt");
  }
  m.iat = v.iat;
  m.exp = v.exp;
  m.claims = v.claims;
  return m;
}

}  // namespace handshake::ap2
