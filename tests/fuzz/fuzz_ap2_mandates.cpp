// The AP2 adapter's parsers and verifiers on one JSON document (strict JSON, as mandates are
// committed to by their JCS form): the v0.1 mandate and PaymentReceipt parsers (each on every
// input), amounts, DataPart discovery, mandate -> payment terms -> ActionBinding, the A2A
// metadata a payment receipt rides in, dispute bundles against the fixed fuzz world, and, for a
// JSON string, the compact SD-JWT of a v0.2 mandate.
//
// The SD-JWT seeds (seeds/ap2_mandates/sdjwt_*) are signed with the test-only P-256 issuer key
// below, whose private scalar is SHA-256("hsk-fuzz-ap2-issuer") (the holder's: "...-holder");
// bundle and metadata seeds are written by seed_corpus.cpp from the fixed world.
//
// Properties:
//   - null members and absent ones mean the same (the header's Python/Go rule): every parser
//     accepts drop_nulls(x) exactly when it accepts x, with the same typed result, and the
//     commitment of x is that of drop_nulls(x); drop_nulls is idempotent;
//   - every parsed amount is exact and bounded, and its minor units written back as a decimal
//     number in major units convert to the same minor units;
//   - the binding of a payment's terms binds exactly the terms' amount, currency and payee;
//   - payment metadata read back attaches again to the same metadata (round trip), and its
//     result is payment_result(evidence);
//   - a verified SD-JWT really verifies: ES256 header, the issuer signature checked here again
//     over its first two segments, an expected vct, within its validity at the fixed time, every
//     disclosure referenced, and a key-binding JWT only when it verifies with the payload's
//     cnf.jwk over the presentation's sd_hash;
//   - a verified dispute bundle really verifies: its acceptance and receipt signed by the world's
//     service, the receipt committing to payment_result of the bundle's mandate, and every chain
//     link signed by its issuer, starting at the world's root.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "handshake/ap2/amount.hpp"
#include "handshake/ap2/bundle.hpp"
#include "handshake/ap2/mandates.hpp"
#include "handshake/ap2/mapping.hpp"
#include "handshake/ap2/receipts.hpp"
#include "handshake/ap2/sd_jwt.hpp"

namespace {

using namespace hsk_fuzz;
namespace ap2 = hs::ap2;

constexpr const char* kIssuerJwk =
    R"({"kty":"EC","crv":"P-256","x":"qpw4rssaM23HOsEl7MV6464z6Fq5JnFNC6HeomXB3yo","y":"2HjhgwHbIRqzGvNDaoTYaNgJIzGH0h6jzXTTrpz8QmU"})";

const ap2::Es256PublicKey& issuer_key() {
  static const auto* k = new ap2::Es256PublicKey(must(ap2::Es256PublicKey::from_jwk(must(hs::json::parse_strict(kIssuerJwk)))));
  return *k;
}

const ap2::MandateMap& mandate_map() {
  static const auto* m = new ap2::MandateMap();
  return *m;
}

ap2::SdJwtOptions sd_jwt_options() {
  ap2::SdJwtOptions o;
  o.expected_vct = {std::string(ap2::kVctPaymentMandate), std::string(ap2::kVctCheckoutMandate)};
  o.expected_audience = "merchant-agent";
  o.expected_nonce = "n-0S6";
  return o;
}

// ---- amounts ---------------------------------------------------------------------------------------

void check_amount(const ap2::Amount& a) {
  const auto& table = mandate_map().currencies();
  const auto exp = table.exponent(a.currency);
  if (!exp) violated("a parsed amount has an unknown currency", a.currency);
  if (a.minor > ap2::kMaxMinorUnits || a.minor < -ap2::kMaxMinorUnits) violated("a parsed amount is out of bounds");
  // The minor units as the decimal a sender would write, read again.
  const std::uint64_t mag = a.minor < 0 ? static_cast<std::uint64_t>(-a.minor) : static_cast<std::uint64_t>(a.minor);
  std::string digits = std::to_string(mag);
  std::string text = a.minor < 0 ? "-" : "";
  if (*exp == 0) {
    text += digits;
  } else {
    if (digits.size() <= static_cast<std::size_t>(*exp)) digits.insert(0, static_cast<std::size_t>(*exp) + 1 - digits.size(), '0');
    text += digits.substr(0, digits.size() - *exp) + "." + digits.substr(digits.size() - *exp);
  }
  const Json again = Json::parse(text);
  const auto minor = ap2::to_minor_units(again, a.currency, table);
  if (!minor.ok() || *minor != a.minor) violated("minor units written as a decimal do not read back", text);
}

void check_item(const ap2::PaymentItem& i) { check_amount(i.amount); }

// ---- v0.1 parsers: null and absent are the same -------------------------------------------------------

template <typename T, typename Parse, typename Same>
void check_parser(const Json& doc, const Json& dropped, Parse parse, Same same, const char* what) {
  const auto a = parse(doc);
  const auto b = parse(dropped);
  if (a.ok() != b.ok()) violated("null and absent members parse differently", std::string(what) + "\n" + doc.dump());
  if (!a.ok()) return;
  if (!same(*a, *b)) violated("null and absent members parse to different values", std::string(what) + "\n" + doc.dump());
}

bool same_amount(const ap2::Amount& x, const ap2::Amount& y) { return x.currency == y.currency && x.minor == y.minor; }
bool same_item(const ap2::PaymentItem& x, const ap2::PaymentItem& y) {
  return x.label == y.label && same_amount(x.amount, y.amount) && x.pending == y.pending && x.refund_period == y.refund_period;
}

void check_v01(const Json& doc) {
  const Json dropped = ap2::drop_nulls(doc);
  if (ap2::drop_nulls(dropped) != dropped) violated("drop_nulls is not idempotent", doc.dump());
  const auto c1 = ap2::commitment(doc);
  const auto c2 = ap2::commitment(dropped);
  if (c1.ok() != c2.ok() || (c1.ok() && c1->value != c2->value)) violated("a commitment depends on null members", doc.dump());
  const auto& table = mandate_map().currencies();

  check_parser<ap2::IntentMandate>(
      doc, dropped, [](const Json& j) { return ap2::parse_intent_mandate(j); },
      [](const ap2::IntentMandate& x, const ap2::IntentMandate& y) {
        return x.user_cart_confirmation_required == y.user_cart_confirmation_required &&
               x.natural_language_description == y.natural_language_description && x.merchants == y.merchants &&
               x.skus == y.skus && x.requires_refundability == y.requires_refundability && x.intent_expiry == y.intent_expiry;
      },
      "IntentMandate");
  check_parser<ap2::CartMandate>(
      doc, dropped, [&](const Json& j) { return ap2::parse_cart_mandate(j, table); },
      [](const ap2::CartMandate& x, const ap2::CartMandate& y) {
        const auto& a = x.contents;
        const auto& b = y.contents;
        bool items = a.display_items.size() == b.display_items.size();
        for (std::size_t i = 0; items && i < a.display_items.size(); ++i) items = same_item(a.display_items[i], b.display_items[i]);
        return items && a.id == b.id && a.payment_details_id == b.payment_details_id && same_item(a.total, b.total) &&
               a.supported_methods == b.supported_methods && a.cart_expiry == b.cart_expiry &&
               a.merchant_name == b.merchant_name && x.merchant_authorization == y.merchant_authorization;
      },
      "CartMandate");
  check_parser<ap2::PaymentMandate>(
      doc, dropped, [&](const Json& j) { return ap2::parse_payment_mandate(j, table); },
      [](const ap2::PaymentMandate& x, const ap2::PaymentMandate& y) {
        const auto& a = x.contents;
        const auto& b = y.contents;
        return a.payment_mandate_id == b.payment_mandate_id && a.payment_details_id == b.payment_details_id &&
               same_item(a.payment_details_total, b.payment_details_total) && a.method_name == b.method_name &&
               a.request_id == b.request_id && a.merchant_agent == b.merchant_agent && a.timestamp == b.timestamp &&
               x.user_authorization == y.user_authorization;
      },
      "PaymentMandate");
  check_parser<ap2::PaymentReceipt>(
      doc, dropped, [&](const Json& j) { return ap2::parse_payment_receipt(j, table); },
      [](const ap2::PaymentReceipt& x, const ap2::PaymentReceipt& y) {
        return x.payment_mandate_id == y.payment_mandate_id && x.timestamp == y.timestamp && x.payment_id == y.payment_id &&
               same_amount(x.amount, y.amount) && x.status == y.status && x.merchant_confirmation_id == y.merchant_confirmation_id;
      },
      "PaymentReceipt");

  // Parsed amounts, and the terms they bind.
  if (auto m = ap2::parse_cart_mandate(doc, table); m.ok()) {
    for (const auto& i : m->contents.display_items) check_item(i);
    check_item(m->contents.total);
  }
  if (auto m = ap2::parse_payment_mandate(doc, table); m.ok()) check_item(m->contents.payment_details_total);
  if (auto r = ap2::parse_payment_receipt(doc, table); r.ok()) check_amount(r->amount);
}

// ---- terms and bindings ---------------------------------------------------------------------------------

void check_terms(const ap2::PaymentTerms& t) {
  const auto b = mandate_map().binding(t);
  const bool payment = t.mandate_key != ap2::kIntentMandateKey;
  if (!b.ok()) {
    if (!payment) violated("an intent's terms have no binding");
    return;
  }
  if (b->capability != mandate_map().capability()) violated("a binding for another capability");
  const Json& c = b->constraints;
  if (payment) {
    if (!t.amount_minor || !t.currency || t.payees.size() != 1) violated("a payment bound without amount, currency and one payee");
    if (c.value("max_amount", Json()) != *t.amount_minor || c.value("currency", Json()) != *t.currency ||
        c.value("payee", Json()) != t.payees.front()) {
      violated("a payment's binding is not its terms", c.dump());
    }
  }
}

// ---- SD-JWT ---------------------------------------------------------------------------------------------

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (true) {
    const auto j = s.find(sep, i);
    out.push_back(s.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) return out;
    i = j + 1;
  }
}

std::string b64_text(std::string_view s) {
  const auto bytes = must(hs::encoding::base64url_decode(s));
  return std::string(bytes.begin(), bytes.end());
}

std::string digest(std::string_view s) { return hs::encoding::base64url_encode(hs::crypto::sha256(hs::encoding::as_bytes(s))); }

void check_verified_sd_jwt(std::string_view compact, const ap2::VerifiedSdJwt& v, const ap2::SdJwtOptions& o) {
  const std::string text(compact);
  const auto parts = split(compact, '~');
  const auto jwt = split(parts.front(), '.');
  if (parts.size() < 2 || jwt.size() != 3) violated("a verified SD-JWT is not <jwt>~...", text);
  const std::string signing_input = std::string(jwt[0]) + "." + std::string(jwt[1]);
  if (v.header.value("alg", "") != "ES256") violated("a verified SD-JWT is not ES256", text);
  if (!issuer_key().verify(signing_input, b64_text(jwt[2]))) violated("a verified SD-JWT's issuer signature does not verify", text);
  if (std::find(o.expected_vct.begin(), o.expected_vct.end(), v.vct) == o.expected_vct.end()) violated("an unexpected vct", text);
  const auto now = world().now;
  if (v.iat > now + o.clock_skew || v.exp + o.clock_skew < now) violated("a verified SD-JWT outside its validity", text);
  // Every disclosure is referenced by the signed payload or by another disclosure.
  std::string referencing = b64_text(jwt[1]);
  std::vector<std::string_view> disclosures(parts.begin() + 1, parts.end() - 1);
  for (const auto d : disclosures) referencing += b64_text(d);
  for (const auto d : disclosures) {
    if (referencing.find(digest(d)) == std::string::npos) violated("a disclosure nobody references was accepted", text);
  }
  if (v.disclosures != disclosures.size()) violated("the disclosure count differs", text);
  // A key binding was checked for real.
  if (!parts.back().empty()) {
    if (!v.key_binding) violated("a KB-JWT was accepted without being verified", text);
    const auto kb = split(parts.back(), '.');
    const auto payload = must(hs::json::parse_strict(b64_text(jwt[1])));
    const auto holder = ap2::Es256PublicKey::from_jwk(payload.at("cnf").at("jwk"));
    if (kb.size() != 3 || !holder.ok() ||
        !holder->verify(std::string(kb[0]) + "." + std::string(kb[1]), b64_text(kb[2]))) {
      violated("a KB-JWT accepted whose signature does not verify with cnf.jwk", text);
    }
    const std::string presented = text.substr(0, text.size() - parts.back().size());
    if (v.key_binding->value("sd_hash", "") != digest(presented)) violated("a KB-JWT accepted for another presentation", text);
    if (v.key_binding->value("aud", "") != *o.expected_audience || v.key_binding->value("nonce", "") != *o.expected_nonce) {
      violated("a KB-JWT accepted for another audience or nonce", text);
    }
  } else if (v.key_binding) {
    violated("a key binding reported without a KB-JWT", text);
  }
}

void check_sd_jwt(std::string_view compact) {
  const auto o = sd_jwt_options();
  const auto v = ap2::verify_sd_jwt(compact, issuer_key(), o, world().now);
  if (std::getenv("HSK_FUZZ_VERBOSE") != nullptr) std::fprintf(stderr, "sd-jwt: %s\n", v.ok() ? "verified" : v.error().to_string().c_str());
  if (!v.ok()) return;
  check_verified_sd_jwt(compact, *v, o);
  const auto& table = mandate_map().currencies();
  if (auto p = ap2::parse_sd_jwt_payment_mandate(*v, table); p.ok()) {
    if (p->amount_minor < 0 || !table.exponent(p->currency)) violated("a v0.2 amount is negative or in an unknown currency");
    check_terms(ap2::terms_of(*p));
  }
  if (auto c = ap2::parse_sd_jwt_checkout_mandate(*v); c.ok()) {
    if (c->checkout_hash != digest(c->checkout_jwt)) violated("a checkout mandate whose hash is not its JWT's");
  }
}

// ---- documents: discovery, metadata, bundles ------------------------------------------------------------

void check_metadata(const Json& doc) {
  const auto a = ap2::read_from_metadata(doc);
  if (std::getenv("HSK_FUZZ_VERBOSE") != nullptr && a.ok()) std::fprintf(stderr, "metadata: read\n");
  if (!a.ok()) return;
  const auto result = ap2::payment_result(a->evidence);
  if (!result.ok()) violated("read metadata whose evidence has no result", doc.dump());
  Json again = Json::object();
  if (auto s = ap2::attach_to_metadata(again, a->receipt, a->evidence); !s.ok()) violated("read metadata does not attach again", doc.dump());
  const auto b = ap2::read_from_metadata(again);
  if (!b.ok() || b->receipt != a->receipt || b->evidence.mandate_key != a->evidence.mandate_key ||
      b->evidence.mandate != a->evidence.mandate || b->evidence.payment_receipt != a->evidence.payment_receipt) {
    violated("payment metadata does not survive read + attach + read", doc.dump());
  }
}

void check_bundle(const Json& doc) {
  const FuzzWorld& w = world();
  ap2::BundleVerifyOptions o;
  o.trust_roots = {w.root.did_string()};
  o.mandate.sd_jwt_issuer_key = &issuer_key();
  o.mandate.sd_jwt = sd_jwt_options();
  const auto v = ap2::verify_dispute_bundle(doc, w.keys, o);
  if (std::getenv("HSK_FUZZ_VERBOSE") != nullptr && doc.contains("type")) {
    std::fprintf(stderr, "bundle: %s\n", v.ok() ? "verified" : v.error().to_string().c_str());
  }
  if (!v.ok()) return;
  const std::string text = doc.dump();
  const Json& acceptance = doc.at("acceptance");
  const Json& receipt = doc.at("receipt");
  const auto svc = w.key_of(acceptance.value("iss", ""));
  if (!svc || !hs::verify_message_signature(acceptance, *svc).ok()) violated("a verified bundle's acceptance does not verify", text);
  ap2::PaymentEvidence e;
  e.mandate_key = doc.at("mandate").at("key").get<std::string>();
  e.mandate = doc.at("mandate").at("value");
  if (doc.contains("payment_receipt")) e.payment_receipt = doc["payment_receipt"];
  if (!ap2::verify_payment_receipt(receipt, e, w.keys).ok()) violated("a verified bundle's receipt does not commit to its payment", text);
  const Json& chain = doc.at("delegation_chain");
  const std::vector<Json> links = chain.is_array() ? chain.get<std::vector<Json>>() : std::vector<Json>{chain};
  if (links.empty() || links.front().value("iss", "") != w.root.did_string()) violated("a verified bundle's chain is not rooted at the root", text);
  for (const auto& l : links) {
    const auto k = w.key_of(l.value("iss", ""));
    if (!k || !hs::verify_message_signature(l, *k).ok()) violated("a verified bundle's chain link does not verify", text);
  }
  if (v->capability != mandate_map().capability()) violated("a verified bundle for another capability", text);
}

void check_document(const Json& doc) {
  check_v01(doc);
  const auto& table = mandate_map().currencies();
  for (const auto& part : ap2::find_ap2_parts(doc)) {
    if (part.key.rfind("ap2.", 0) != 0) violated("find_ap2_parts returned a non-AP2 key", part.key);
    check_v01(part.value);
    if (part.value.is_string()) check_sd_jwt(part.value.get_ref<const std::string&>());
  }
  if (auto found = ap2::mandate_from_document(doc); found.ok()) {
    ap2::MandateCheckOptions o;
    o.sd_jwt_issuer_key = &issuer_key();
    o.sd_jwt = sd_jwt_options();
    auto terms = ap2::payment_terms(*found, table, o, world().now);
    if (std::getenv("HSK_FUZZ_VERBOSE") != nullptr) std::fprintf(stderr, "terms: %s\n", terms.ok() ? found->key.c_str() : terms.error().to_string().c_str());
    if (terms.ok()) check_terms(*terms);
  }
  if (doc.is_object()) {
    check_metadata(doc);
    if (doc.contains("metadata")) check_metadata(doc["metadata"]);
    check_bundle(doc);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  hs::json::ParseLimits limits;
  limits.max_depth = 64;
  const auto doc = hs::json::parse_strict(as_text(data, size), limits);
  if (!doc.ok()) return 0;
  if (doc->is_string()) check_sd_jwt(doc->get_ref<const std::string&>());
  check_document(*doc);
  return 0;
}
