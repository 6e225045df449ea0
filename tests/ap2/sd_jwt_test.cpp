// AP2 v0.2 SD-JWT mandates with real P-256 keys (OpenSSL) made by the test issuer, and every
// tampered form refused: signature, disclosures, vct, time, algorithm, key binding.

#include <catch2/catch.hpp>

#include <functional>

#include "handshake/ap2/mapping.hpp"
#include "handshake/ap2/sd_jwt.hpp"
#include "sd_jwt_issuer.hpp"

namespace ap2 = handshake::ap2;
namespace hs = handshake;
using hs::Json;
using namespace ap2_test;

namespace {

// 2026-04-29T14:00:00Z
constexpr std::int64_t kNow = 1777471200;
hs::Timestamp at(std::int64_t seconds) { return hs::Timestamp(std::chrono::seconds(seconds)); }

struct Mandate {
  P256Key issuer, holder;
  std::vector<Disclosure> disclosures;
  Json payload;
  Json header{{"alg", "ES256"}, {"typ", "dc+sd-jwt"}};

  Mandate() {
    disclosures = {disclose("salt-payee", "payee", Json{{"id", "merchant-1"}, {"name", "Example Shoes"}}),
                   disclose("salt-amount", "payment_amount", Json{{"amount", 12500}, {"currency", "EUR"}}),
                   disclose("salt-date", "execution_date", "2026-04-29")};
    payload = Json{{"vct", "mandate.payment.1"},
                   {"_sd_alg", "sha-256"},
                   {"iat", kNow - 60},
                   {"exp", kNow + 3600},
                   {"transaction_id", digest("checkout-jwt")},
                   {"payment_instrument", {{"id", "pi-1"}, {"type", "CARD"}}},
                   {"cnf", {{"jwk", holder.public_jwk()}}},
                   {"_sd", Json::array({disclosures[0].digest, disclosures[1].digest, disclosures[2].digest,
                                        digest("a decoy digest")})}};
  }
  [[nodiscard]] std::string issuer_jwt() const { return jwt(header, payload, issuer); }
  [[nodiscard]] std::string compact() const { return presentation(issuer_jwt(), disclosures); }
  [[nodiscard]] std::string with_kb(const std::string& aud = "pp-1", const std::string& nonce = "n-1") const {
    const auto pres = compact();
    return pres + kb_jwt(pres, holder, aud, nonce, kNow - 5);
  }
  [[nodiscard]] ap2::Es256PublicKey key() const { return ap2::Es256PublicKey::from_jwk(issuer.public_jwk()).value(); }
};

ap2::SdJwtOptions payment_options() {
  ap2::SdJwtOptions o;
  o.expected_vct = {std::string(ap2::kVctPaymentMandate)};
  return o;
}

std::string reason_of(const hs::Result<ap2::VerifiedSdJwt>& r) { return r.ok() ? std::string("ok") : r.error().reason; }

}  // namespace

TEST_CASE("a real SD-JWT payment mandate verifies and maps to minor units", "[ap2][sdjwt]") {
  Mandate m;
  auto v = ap2::verify_sd_jwt(m.compact(), m.key(), payment_options(), at(kNow));
  INFO((v.ok() ? "" : v.error().to_string()));
  REQUIRE(v.ok());
  CHECK(v->vct == "mandate.payment.1");
  CHECK(v->disclosures == 3);
  CHECK(v->claims["payee"]["id"] == "merchant-1");
  CHECK_FALSE(v->claims.contains("_sd"));
  CHECK_FALSE(v->claims.contains("_sd_alg"));
  CHECK_FALSE(v->key_binding.has_value());
  auto p = ap2::parse_sd_jwt_payment_mandate(*v, ap2::CurrencyTable::iso4217());
  REQUIRE(p.ok());
  CHECK(p->amount_minor == 12500);
  CHECK(p->currency == "EUR");
  CHECK(p->payee_id == "merchant-1");
  CHECK(p->execution_date == std::optional<std::string>("2026-04-29"));
  const auto terms = ap2::terms_of(*p);
  CHECK(terms.time == Json("2026-04-29"));
  CHECK(ap2::MandateMap().constraints(terms) ==
        Json{{"max_amount", 12500}, {"currency", "EUR"}, {"payee", "merchant-1"}, {"execution_window", "2026-04-29"}});

  // Only some claims disclosed: the others are simply absent (and the mandate then incomplete).
  Mandate partial;
  partial.disclosures.erase(partial.disclosures.begin() + 1);
  auto pv = ap2::verify_sd_jwt(partial.compact(), partial.key(), payment_options(), at(kNow));
  REQUIRE(pv.ok());
  CHECK_FALSE(pv->claims.contains("payment_amount"));
  CHECK(ap2::parse_sd_jwt_payment_mandate(*pv, ap2::CurrencyTable::iso4217()).error().reason == "ap2.mandate_invalid");
}

TEST_CASE("the issuer key may be a PEM, keys are checked when built", "[ap2][sdjwt]") {
  Mandate m;
  auto pem = ap2::Es256PublicKey::from_pem(m.issuer.public_pem());
  REQUIRE(pem.ok());
  CHECK(ap2::verify_sd_jwt(m.compact(), *pem, payment_options(), at(kNow)).ok());
  CHECK(pem->to_jwk() == m.issuer.public_jwk());
  CHECK(ap2::Es256PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n").error().reason ==
        "ap2.key_invalid");
  Json jwk = m.issuer.public_jwk();
  Json priv = jwk;
  priv["d"] = jwk["x"];
  CHECK(ap2::Es256PublicKey::from_jwk(priv).error().reason == "ap2.key_invalid");
  Json off_curve = jwk;
  off_curve["y"] = jwk["x"];  // (x, x) is not on P-256
  CHECK(ap2::Es256PublicKey::from_jwk(off_curve).error().reason == "ap2.key_invalid");
  Json ed = {{"kty", "OKP"}, {"crv", "Ed25519"}, {"x", jwk["x"]}};
  CHECK(ap2::Es256PublicKey::from_jwk(ed).error().reason == "ap2.key_invalid");
  Json short_x = jwk;
  short_x["x"] = "AAAA";
  CHECK(ap2::Es256PublicKey::from_jwk(short_x).error().reason == "ap2.key_invalid");
}

TEST_CASE("tampered SD-JWTs are refused", "[ap2][sdjwt]") {
  Mandate m;
  const auto key = m.key();
  const auto opts = payment_options();
  auto verify = [&](const std::string& compact, const ap2::SdJwtOptions& o = payment_options(),
                    std::int64_t now = kNow) { return reason_of(ap2::verify_sd_jwt(compact, key, o, at(now))); };

  SECTION("a flipped signature byte") {
    std::string issuer_jwt = m.issuer_jwt();
    const auto dot = issuer_jwt.rfind('.');
    auto sig = hs::encoding::base64url_decode(issuer_jwt.substr(dot + 1)).value();
    sig[10] ^= 0x01;
    issuer_jwt = issuer_jwt.substr(0, dot + 1) + hs::encoding::base64url_encode(sig);
    CHECK(verify(presentation(issuer_jwt, m.disclosures)) == "ap2.sdjwt.signature_invalid");
  }
  SECTION("another issuer's key") {
    Mandate other;
    CHECK(reason_of(ap2::verify_sd_jwt(m.compact(), other.key(), opts, at(kNow))) == "ap2.sdjwt.signature_invalid");
  }
  SECTION("a payload edited after signing") {
    std::string issuer_jwt = m.issuer_jwt();
    const auto d1 = issuer_jwt.find('.'), d2 = issuer_jwt.rfind('.');
    Json payload = m.payload;
    payload["exp"] = kNow + 999999;
    issuer_jwt = issuer_jwt.substr(0, d1 + 1) + b64json(payload) + issuer_jwt.substr(d2);
    CHECK(verify(presentation(issuer_jwt, m.disclosures)) == "ap2.sdjwt.signature_invalid");
  }
  SECTION("a disclosure not in _sd") {
    auto ds = m.disclosures;
    ds.push_back(disclose("salt-x", "payee", Json{{"id", "mallory"}}));
    CHECK(verify(presentation(m.issuer_jwt(), ds)) == "ap2.sdjwt.disclosure_unreferenced");
  }
  SECTION("an altered disclosure (another amount under the same salt)") {
    auto ds = m.disclosures;
    ds[1] = disclose("salt-amount", "payment_amount", Json{{"amount", 1}, {"currency", "EUR"}});
    CHECK(verify(presentation(m.issuer_jwt(), ds)) == "ap2.sdjwt.disclosure_unreferenced");
  }
  SECTION("the same disclosure twice") {
    auto ds = m.disclosures;
    ds.push_back(ds[0]);
    CHECK(verify(presentation(m.issuer_jwt(), ds)) == "ap2.sdjwt.disclosure_unreferenced");
  }
  SECTION("a digest referenced twice by the issuer") {
    m.payload["_sd"].push_back(m.disclosures[0].digest);
    CHECK(verify(m.compact()) == "ap2.sdjwt.disclosure_invalid");
  }
  SECTION("a disclosed name that is already a plain claim") {
    m.payload["payee"] = Json{{"id", "plain"}};
    CHECK(verify(m.compact()) == "ap2.sdjwt.disclosure_invalid");
  }
  SECTION("a disclosure that is not an array of 2 or 3") {
    Disclosure bad{b64json(Json::array({"salt"})), ""};
    bad.digest = digest(bad.text);
    m.payload["_sd"].push_back(bad.digest);
    m.disclosures.push_back(bad);
    CHECK(verify(m.compact()) == "ap2.sdjwt.disclosure_invalid");
  }
  SECTION("a disclosure that is not base64url") {
    CHECK(verify(m.issuer_jwt() + "~not+base64~") == "ap2.sdjwt.disclosure_invalid");
  }
  SECTION("wrong vct") {
    m.payload["vct"] = "mandate.payment.open.1";
    CHECK(verify(m.compact()) == "ap2.sdjwt.vct_mismatch");
    m.payload["vct"] = "mandate.payment.10";
    CHECK(verify(m.compact()) == "ap2.sdjwt.vct_mismatch");
    m.payload.erase("vct");
    CHECK(verify(m.compact()) == "ap2.sdjwt.vct_mismatch");
  }
  SECTION("a checkout mandate where a payment mandate is expected") {
    m.payload["vct"] = "mandate.checkout.1";
    CHECK(verify(m.compact()) == "ap2.sdjwt.vct_mismatch");
  }
  SECTION("expired, and not yet valid") {
    CHECK(verify(m.compact(), opts, kNow + 3600 + 61) == "ap2.sdjwt.expired");
    CHECK(verify(m.compact(), opts, kNow + 3600 + 59) == "ok");  // within the skew
    CHECK(verify(m.compact(), opts, kNow - 60 - 61) == "ap2.sdjwt.not_yet_valid");
    m.payload["nbf"] = kNow + 600;
    CHECK(verify(m.compact()) == "ap2.sdjwt.not_yet_valid");
  }
  SECTION("iat or exp missing or not a NumericDate") {
    m.payload.erase("exp");
    CHECK(verify(m.compact()) == "ap2.sdjwt.malformed_claims");
    m.payload["exp"] = "tomorrow";
    CHECK(verify(m.compact()) == "ap2.sdjwt.malformed_claims");
  }
  SECTION("alg none") {
    const std::string unsigned_jwt = b64json(Json{{"alg", "none"}}) + "." + b64json(m.payload) + ".";
    CHECK(verify(presentation(unsigned_jwt, m.disclosures)) == "ap2.sdjwt.alg_unsupported");
  }
  SECTION("alg HS256 keyed with the issuer's public key (algorithm confusion)") {
    const std::string forged = jwt_hs256(Json{{"alg", "HS256"}, {"typ", "dc+sd-jwt"}}, m.payload, m.issuer.public_pem());
    CHECK(verify(presentation(forged, m.disclosures)) == "ap2.sdjwt.alg_unsupported");
  }
  SECTION("other algorithms and headers") {
    m.header["alg"] = "ES384";
    CHECK(verify(m.compact()) == "ap2.sdjwt.alg_unsupported");
    m.header = Json{{"alg", "ES256"}, {"typ", "kb+jwt"}};
    CHECK(verify(m.compact()) == "ap2.sdjwt.alg_unsupported");
    m.header = Json{{"alg", "ES256"}, {"crit", Json::array({"b64"})}};
    CHECK(verify(m.compact()) == "ap2.sdjwt.alg_unsupported");
    m.header = Json{{"alg", "ES256"}};  // no typ: accepted
    CHECK(verify(m.compact()) == "ok");
  }
  SECTION("_sd_alg other than sha-256") {
    m.payload["_sd_alg"] = "sha-512";
    CHECK(verify(m.compact()) == "ap2.sdjwt.sd_alg_unsupported");
  }
  SECTION("malformed compact forms") {
    CHECK(verify(m.issuer_jwt()) == "ap2.sdjwt.malformed");        // no '~'
    CHECK(verify("a.b~") == "ap2.sdjwt.malformed");
    CHECK(verify("~") == "ap2.sdjwt.malformed");
    CHECK(verify("!!.!!.!!~") == "ap2.sdjwt.malformed");
    CHECK(verify(m.issuer_jwt() + "~~") == "ap2.sdjwt.malformed");  // an empty disclosure
    CHECK(verify(std::string(70000, 'a') + "~") == "ap2.sdjwt.malformed");
    const std::string not_json = b64("{\"alg\":\"ES256\"") + "." + b64json(m.payload) + "." + b64("sig");
    CHECK(verify(not_json + "~") == "ap2.sdjwt.malformed");
  }
  SECTION("no expected vct configured") {
    ap2::SdJwtOptions none;
    CHECK(verify(m.compact(), none) == "ap2.sdjwt.config");
  }
}

TEST_CASE("key binding: cnf.jwk, sd_hash, aud, nonce, required when configured", "[ap2][sdjwt]") {
  Mandate m;
  const auto key = m.key();
  ap2::SdJwtOptions o = payment_options();
  o.require_key_binding = true;
  o.expected_audience = "pp-1";
  o.expected_nonce = "n-1";
  auto verify = [&](const std::string& compact) { return reason_of(ap2::verify_sd_jwt(compact, key, o, at(kNow))); };

  auto ok = ap2::verify_sd_jwt(m.with_kb(), key, o, at(kNow));
  REQUIRE(ok.ok());
  REQUIRE(ok->key_binding.has_value());
  CHECK((*ok->key_binding)["aud"] == "pp-1");

  CHECK(verify(m.compact()) == "ap2.sdjwt.kb_missing");
  CHECK(verify(m.with_kb("someone-else")) == "ap2.sdjwt.kb_invalid");
  CHECK(verify(m.with_kb("pp-1", "n-2")) == "ap2.sdjwt.kb_invalid");
  // sd_hash over another presentation: a disclosure dropped after the holder signed.
  {
    const auto kb = m.with_kb().substr(m.compact().size());
    auto fewer = m.disclosures;
    fewer.pop_back();
    CHECK(verify(presentation(m.issuer_jwt(), fewer) + kb) == "ap2.sdjwt.kb_invalid");
  }
  // Signed by a key other than cnf.jwk.
  {
    P256Key stranger;
    const auto pres = m.compact();
    CHECK(verify(pres + kb_jwt(pres, stranger, "pp-1", "n-1", kNow)) == "ap2.sdjwt.kb_invalid");
  }
  // Stale key binding.
  {
    const auto pres = m.compact();
    CHECK(verify(pres + kb_jwt(pres, m.holder, "pp-1", "n-1", kNow - 3600)) == "ap2.sdjwt.kb_invalid");
  }
  // Wrong typ on the KB-JWT.
  {
    const auto pres = m.compact();
    const auto bad = jwt(Json{{"alg", "ES256"}, {"typ", "JWT"}},
                         Json{{"iat", kNow}, {"aud", "pp-1"}, {"nonce", "n-1"}, {"sd_hash", digest(pres)}}, m.holder);
    CHECK(verify(pres + bad) == "ap2.sdjwt.kb_invalid");
  }
  // A KB-JWT when the issuer JWT binds no key.
  {
    Mandate unbound;
    unbound.payload.erase("cnf");
    const auto pres = unbound.compact();
    CHECK(reason_of(ap2::verify_sd_jwt(pres + kb_jwt(pres, unbound.holder, "pp-1", "n-1", kNow), unbound.key(), o,
                                       at(kNow))) == "ap2.sdjwt.kb_invalid");
  }
  // A KB-JWT is still checked when not required.
  ap2::SdJwtOptions optional_kb = payment_options();
  CHECK(reason_of(ap2::verify_sd_jwt(m.with_kb("x", "y"), key, optional_kb, at(kNow))) == "ok");
  P256Key stranger;
  const auto pres = m.compact();
  CHECK(reason_of(ap2::verify_sd_jwt(pres + kb_jwt(pres, stranger, "x", "y", kNow), key, optional_kb, at(kNow))) ==
        "ap2.sdjwt.kb_invalid");
}

TEST_CASE("nested and array-element disclosures are rebuilt", "[ap2][sdjwt]") {
  Mandate m;
  const auto element = disclose_element("salt-e", "merchant-2");
  const auto nested = disclose("salt-n", "website", "https://shoes.example");
  m.disclosures.push_back(element);
  m.disclosures.push_back(nested);
  m.payload["allowed"] = Json::array({"merchant-1", Json{{"...", element.digest}}, Json{{"...", digest("undisclosed")}}});
  m.disclosures[0] = disclose("salt-payee", "payee",
                              Json{{"id", "merchant-1"}, {"_sd", Json::array({nested.digest})}});
  m.payload["_sd"][0] = m.disclosures[0].digest;
  auto v = ap2::verify_sd_jwt(m.compact(), m.key(), payment_options(), at(kNow));
  INFO((v.ok() ? "" : v.error().to_string()));
  REQUIRE(v.ok());
  CHECK(v->claims["allowed"] == Json::array({"merchant-1", "merchant-2"}));
  CHECK(v->claims["payee"]["website"] == "https://shoes.example");
  auto p = ap2::parse_sd_jwt_payment_mandate(*v, ap2::CurrencyTable::iso4217());
  REQUIRE(p.ok());
  CHECK(p->payee_website == std::optional<std::string>("https://shoes.example"));
}

TEST_CASE("v0.2 payment mandate fields are checked after verification", "[ap2][sdjwt]") {
  auto parse_with = [](const std::function<void(Mandate&)>& edit) {
    Mandate m;
    edit(m);
    auto v = ap2::verify_sd_jwt(m.compact(), m.key(), payment_options(), at(kNow));
    if (!v.ok()) return v.error().reason;
    auto p = ap2::parse_sd_jwt_payment_mandate(*v, ap2::CurrencyTable::iso4217());
    return p.ok() ? std::string("ok") : p.error().reason;
  };
  CHECK(parse_with([](Mandate&) {}) == "ok");
  CHECK(parse_with([](Mandate& m) { m.disclosures[1] = disclose("s", "payment_amount", Json{{"amount", 125.5}, {"currency", "EUR"}});
                                    m.payload["_sd"][1] = m.disclosures[1].digest; }) == "ap2.mandate_invalid");
  CHECK(parse_with([](Mandate& m) { m.disclosures[1] = disclose("s", "payment_amount", Json{{"amount", -1}, {"currency", "EUR"}});
                                    m.payload["_sd"][1] = m.disclosures[1].digest; }) == "ap2.mandate_invalid");
  CHECK(parse_with([](Mandate& m) { m.disclosures[1] = disclose("s", "payment_amount", Json{{"amount", 100}, {"currency", "XXX"}});
                                    m.payload["_sd"][1] = m.disclosures[1].digest; }) == "ap2.currency_unknown");
  CHECK(parse_with([](Mandate& m) { m.disclosures[2] = disclose("s", "execution_date", "next tuesday");
                                    m.payload["_sd"][2] = m.disclosures[2].digest; }) == "ap2.mandate_invalid");
  CHECK(parse_with([](Mandate& m) { m.payload.erase("transaction_id"); }) == "ap2.mandate_invalid");
  CHECK(parse_with([](Mandate& m) { m.payload["payment_instrument"] = "card"; }) == "ap2.mandate_invalid");
}

TEST_CASE("v0.2 checkout mandates: checkout_hash binds checkout_jwt", "[ap2][sdjwt]") {
  P256Key issuer;
  const std::string checkout_jwt = "eyJhbGciOiJFUzI1NiJ9.eyJpZCI6ImNoZWNrb3V0LTEifQ.c2ln";
  Json payload{{"vct", "mandate.checkout.1"}, {"iat", kNow - 10}, {"exp", kNow + 600},
               {"checkout_jwt", checkout_jwt}, {"checkout_hash", digest(checkout_jwt)}};
  const auto key = ap2::Es256PublicKey::from_jwk(issuer.public_jwk()).value();
  ap2::SdJwtOptions o;
  o.expected_vct = {std::string(ap2::kVctCheckoutMandate)};
  auto v = ap2::verify_sd_jwt(jwt(Json{{"alg", "ES256"}}, payload, issuer) + "~", key, o, at(kNow));
  REQUIRE(v.ok());
  CHECK(ap2::parse_sd_jwt_checkout_mandate(*v).ok());
  CHECK(ap2::parse_sd_jwt_payment_mandate(*v, ap2::CurrencyTable::iso4217()).error().reason == "ap2.mandate_invalid");
  payload["checkout_hash"] = digest("another checkout");
  auto v2 = ap2::verify_sd_jwt(jwt(Json{{"alg", "ES256"}}, payload, issuer) + "~", key, o, at(kNow));
  REQUIRE(v2.ok());
  CHECK(ap2::parse_sd_jwt_checkout_mandate(*v2).error().reason == "ap2.checkout_hash_mismatch");
}

TEST_CASE("a JWK whose kty or crv is not a string is refused, not thrown", "[ap2][sdjwt][fuzz]") {
  // Same class as the fuzz_a2a_envelope finding: Json::value() throws on a member of another type.
  for (const Json& bad : {Json{{"kty", 5}, {"crv", "P-256"}}, Json{{"kty", "EC"}, {"crv", Json::array()}},
                          Json{{"kty", nullptr}}}) {
    const auto k = ap2::Es256PublicKey::from_jwk(bad);
    REQUIRE_FALSE(k.ok());
    CHECK(k.error().reason == "ap2.key_invalid");
  }
}
