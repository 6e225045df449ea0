// Mandate -> ActionBinding through the real verifier: a delegation "at most 200 EUR, only these
// merchants, this week" accepts a mandate inside it and refuses, with a signed scope_exceeded,
// one over the amount, in another currency, to another merchant or outside the week, whatever
// the agent declares. Also the mapping file.

#include <catch2/catch.hpp>

#include <functional>

#include "core/fixtures.hpp"
#include "handshake/ap2/bundle.hpp"
#include "handshake/ap2/mapping.hpp"
#include "samples.hpp"
#include "sd_jwt_issuer.hpp"

namespace ap2 = handshake::ap2;
namespace hs = handshake;
using hs::Json;
using namespace hsk_fx;

namespace {

// The week of t0 (2026-04-29, a Wednesday): Monday to Sunday.
const Json kDelegated{{"max_amount", 20000},
                      {"currency", Json::array({"EUR"})},
                      {"payee", Json::array({"Example Shoes", "merchant-1"})},
                      {"execution_window", Json::array({"2026-04-27", "2026-05-03"})}};

struct PayWorld : World {
  ap2::MandateMap map;
  hs::Agent payer = agent_for(kAgentSeed, {});
  PayWorld() {
    options.capabilities.add(map.capability_schema());
    payer = agent_for(kAgentSeed, {grant(root, agent, {cap("pay.transfer", kDelegated)})});
  }
  hs::ActionBinding binding_for(const Json& mandate) {
    auto parsed = ap2::parse_payment_mandate(mandate, map.currencies());
    REQUIRE(parsed.ok());
    auto b = map.binding(ap2::terms_of(*parsed));
    REQUIRE(b.ok());
    return b.value();
  }
  // The agent declares `declared` (default: exactly what the mandate derives).
  hs::Decision pay(const Json& mandate, std::optional<Json> declared = std::nullopt) {
    const auto b = binding_for(mandate);
    const Json request = this->request(payer, cap("pay.transfer", declared.value_or(b.constraints)));
    last_request = request;
    return service().verify(request, b);
  }
  Json last_request;
};

}  // namespace

TEST_CASE("a v0.1 payment mandate within the delegation is accepted", "[ap2][mapping]") {
  PayWorld w;
  const auto b = w.binding_for(ap2_test::payment_mandate());
  CHECK(b.capability == "pay.transfer");
  CHECK(b.constraints == Json{{"max_amount", 12500}, {"currency", "EUR"}, {"payee", "Example Shoes"},
                              {"execution_window", "2026-04-29T13:59:00.123456Z"}});
  const auto d = w.pay(ap2_test::payment_mandate());
  w.expect_acceptance(d, w.last_request);
  // The agent may also declare nothing: the service binds the mandate's values itself.
  const auto quiet = w.pay(ap2_test::payment_mandate(199.99), Json::object());
  w.expect_acceptance(quiet, w.last_request);
}

TEST_CASE("mandates outside the delegation are refused with scope_exceeded", "[ap2][mapping]") {
  PayWorld w;
  SECTION("over the amount, even when the agent declares a small one") {
    const auto d = w.pay(ap2_test::payment_mandate(200.01), Json{{"max_amount", 100}});
    w.expect_refusal(d, hs::RefusalCode::kScopeExceeded, w.last_request);
    CHECK(d.refusal->detail.find("max_amount") != std::string::npos);
  }
  SECTION("exactly the limit is fine") {
    w.expect_acceptance(w.pay(ap2_test::payment_mandate(200.0)), w.last_request);
  }
  SECTION("another currency") {
    w.expect_refusal(w.pay(ap2_test::payment_mandate(20.0, "USD")), hs::RefusalCode::kScopeExceeded, w.last_request);
  }
  SECTION("another merchant") {
    w.expect_refusal(w.pay(ap2_test::payment_mandate(20.0, "EUR", "Mallory Mart")), hs::RefusalCode::kScopeExceeded,
                     w.last_request);
  }
  SECTION("outside the week") {
    w.expect_refusal(w.pay(ap2_test::payment_mandate(20.0, "EUR", "Example Shoes", "2026-05-04T00:00:00Z")),
                     hs::RefusalCode::kScopeExceeded, w.last_request);
    w.expect_refusal(w.pay(ap2_test::payment_mandate(20.0, "EUR", "Example Shoes", "2026-04-26T23:59:59+00:00")),
                     hs::RefusalCode::kScopeExceeded, w.last_request);
  }
  SECTION("a request for another capability does not cover pay.transfer") {
    const auto b = w.binding_for(ap2_test::payment_mandate());
    w.options.capabilities.add({"pay.refund", "", {}});
    w.payer = w.agent_for(kAgentSeed, {w.grant(w.root, w.agent, {cap("pay.refund")})});
    const Json request = w.request(w.payer, cap("pay.refund"));
    w.expect_refusal(w.service().verify(request, b), hs::RefusalCode::kScopeExceeded, request);
  }
}

TEST_CASE("a v0.2 SD-JWT payment mandate maps through the same binding", "[ap2][mapping][sdjwt]") {
  PayWorld w;
  ap2_test::P256Key issuer;
  const auto key = ap2::Es256PublicKey::from_jwk(issuer.public_jwk()).value();
  auto mandate = [&](std::int64_t amount, const std::string& payee) {
    const auto amt = ap2_test::disclose("s1", "payment_amount", Json{{"amount", amount}, {"currency", "EUR"}});
    const Json payload{{"vct", "mandate.payment.1"}, {"iat", 1777471200 - 30}, {"exp", 1777471200 + 600},
                       {"transaction_id", ap2_test::digest("checkout")}, {"payee", {{"id", payee}, {"name", "Shop"}}},
                       {"payment_instrument", {{"id", "pi"}, {"type", "CARD"}}}, {"_sd", Json::array({amt.digest})}};
    return ap2_test::presentation(ap2_test::jwt(Json{{"alg", "ES256"}, {"typ", "dc+sd-jwt"}}, payload, issuer), {amt});
  };
  ap2::MandateCheckOptions o;
  o.sd_jwt_issuer_key = &key;
  auto bind = [&](const std::string& compact) {
    auto terms = ap2::payment_terms({std::string(ap2::kPaymentMandateSdJwtKey), compact, "$"}, w.map.currencies(), o, w.now());
    REQUIRE(terms.ok());
    return w.map.binding(*terms).value();
  };
  const auto ok = bind(mandate(15000, "merchant-1"));
  CHECK(ok.constraints["max_amount"] == 15000);
  CHECK(ok.constraints["execution_window"] == "2026-04-29T13:59:30Z");  // iat, no execution_date
  const Json r1 = w.request(w.payer, cap("pay.transfer", ok.constraints));
  w.expect_acceptance(w.service().verify(r1, ok), r1);
  const auto over = bind(mandate(25000, "merchant-1"));
  const Json r2 = w.request(w.payer, cap("pay.transfer", Json::object()));
  w.expect_refusal(w.service().verify(r2, over), hs::RefusalCode::kScopeExceeded, r2);
  const auto elsewhere = bind(mandate(100, "merchant-9"));
  const Json r3 = w.request(w.payer, cap("pay.transfer", Json::object()));
  w.expect_refusal(w.service().verify(r3, elsewhere), hs::RefusalCode::kScopeExceeded, r3);
  // Without the issuer key an SD-JWT mandate has no terms at all.
  auto no_key = ap2::payment_terms({std::string(ap2::kPaymentMandateSdJwtKey), mandate(1, "merchant-1"), "$"},
                                   w.map.currencies(), {}, w.now());
  CHECK(no_key.error().reason == "ap2.sdjwt_issuer_key_missing");
}

TEST_CASE("cart and intent mandates map too, incomplete payment terms are refused", "[ap2][mapping]") {
  ap2::MandateMap map;
  auto cart = ap2::parse_cart_mandate(ap2_test::cart_artifact()["parts"][0]["data"]["ap2.mandates.CartMandate"], map.currencies());
  REQUIRE(cart.ok());
  CHECK(map.binding(ap2::terms_of(*cart))->constraints ==
        Json{{"max_amount", 12500}, {"currency", "USD"}, {"payee", "Example Shoes"}});
  auto intent = ap2::parse_intent_mandate(ap2_test::intent_message()["parts"][1]["data"]["ap2.mandates.IntentMandate"]);
  REQUIRE(intent.ok());
  CHECK(map.binding(ap2::terms_of(*intent))->constraints == Json{{"payee", "Example Shoes"}});
  ap2::PaymentTerms broken;
  broken.mandate_key = std::string(ap2::kPaymentMandateKey);
  CHECK(map.binding(broken).error().reason == "ap2.mapping_incomplete");
  // A checkout mandate carries no payment terms.
  CHECK(ap2::payment_terms({std::string(ap2::kCheckoutMandateSdJwtKey), "x~", "$"}, map.currencies(), {}, {}).error().reason ==
        "ap2.mandate_unsupported");
}

TEST_CASE("the mapping file: names, capability, currencies, typos refused", "[ap2][mapping]") {
  auto m = ap2::MandateMap::from_yaml(
      "capability: payments.card\n"
      "constraints:\n"
      "  amount: max_total_cents\n"
      "  payee: merchant\n"
      "  time: null\n"
      "currencies: {XTS: 2}\n");
  REQUIRE(m.ok());
  CHECK(m->capability() == "payments.card");
  ap2::PaymentTerms t;
  t.mandate_key = std::string(ap2::kPaymentMandateKey);
  t.amount_minor = 5;
  t.currency = "XTS";
  t.payees = {"m"};
  t.time = "2026-04-29T00:00:00Z";
  CHECK(m->constraints(t) == Json{{"max_total_cents", 5}, {"currency", "XTS"}, {"merchant", "m"}});
  CHECK(m->currencies().exponent("XTS") == std::optional<int>(2));
  const Json doc = m->discovery_document();
  CHECK(doc["capabilities"][0]["name"] == "payments.card");
  CHECK(doc["capabilities"][0]["constraints"]["max_total_cents"]["type"] == "numeric_max");
  CHECK(doc["capabilities"][0]["constraints"]["merchant"]["type"] == "enum");
  CHECK_FALSE(doc["capabilities"][0]["constraints"].contains("execution_window"));
  CHECK(hs::capability::CapabilitySchemaSet::from_json(doc).ok());

  auto reason = [](const char* yaml) {
    auto r = ap2::MandateMap::from_yaml(yaml);
    return r.ok() ? std::string("ok") : r.error().reason;
  };
  CHECK(reason("capabilty: pay.transfer\n") == "ap2.mapping");
  CHECK(reason("constraints: {amout: x}\n") == "ap2.mapping");
  CHECK(reason("constraints: {amount: 3}\n") == "ap2.mapping");
  CHECK(reason("constraints: {amount: payee}\n") == "ap2.mapping");  // bound twice
  CHECK(reason("capability: Pay Transfer\n") == "capability.name");
  CHECK(reason("capability: handshake.pay\n") == "capability.reserved");
  CHECK(reason("currencies: {usd: 2}\n") == "ap2.currency_invalid");
  CHECK(reason("currencies: {XTS: two}\n") == "ap2.mapping");
  CHECK(reason("- a\n- b\n") == "ap2.mapping");
  CHECK(reason("capability: [unclosed\n") == "yaml.invalid");
  CHECK(reason("") == "ok");
}
