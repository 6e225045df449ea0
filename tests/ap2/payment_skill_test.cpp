// The AP2 half of a payment skill on the A2A path (payment_skill.hpp): which mandate a message
// may pay with, the evidence of a finished payment task, and what its receipt says — including
// a merchant's PaymentReceipt that does not match the mandate.

#include <catch2/catch.hpp>

#include "handshake/ap2/extension.hpp"
#include "handshake/ap2/payment_skill.hpp"
#include "handshake/ap2/receipts.hpp"
#include "samples.hpp"
#include "sd_jwt_issuer.hpp"

namespace ap2 = handshake::ap2;
namespace hs = handshake;
using hs::Json;

namespace {

const hs::Timestamp kNow = hs::time::parse_rfc3339("2026-04-29T14:00:00Z").value();

Json data_part(const std::string& key, const Json& value) { return Json{{"kind", "data"}, {"data", {{key, value}}}}; }
Json message_with(const std::vector<Json>& parts) {
  return Json{{"messageId", "m-1"}, {"role", "user"}, {"kind", "message"}, {"parts", Json(parts)}};
}
Json artifact_with(const Json& receipt) {
  return Json{{"artifactId", "payment"}, {"parts", Json::array({data_part(std::string(ap2::kPaymentReceiptKey), receipt)})}};
}

struct SdJwtIssuer {
  ap2_test::P256Key key;
  std::string mandate(std::int64_t amount, const std::string& payee = "merchant-1") const {
    const auto amt = ap2_test::disclose("s1", "payment_amount", Json{{"amount", amount}, {"currency", "EUR"}});
    const Json payload{{"vct", "mandate.payment.1"}, {"iat", 1777471200 - 30}, {"exp", 1777471200 + 600},
                       {"transaction_id", "tx-1"}, {"payee", {{"id", payee}, {"name", "Shop"}}},
                       {"payment_instrument", {{"id", "pi"}, {"type", "CARD"}}}, {"_sd", Json::array({amt.digest})}};
    return ap2_test::presentation(ap2_test::jwt(Json{{"alg", "ES256"}, {"typ", "dc+sd-jwt"}}, payload, key), {amt});
  }
  std::shared_ptr<const ap2::Es256PublicKey> public_key() const {
    return std::make_shared<const ap2::Es256PublicKey>(ap2::Es256PublicKey::from_jwk(key.public_jwk()).value());
  }
};

}  // namespace

TEST_CASE("payment skill: a message pays with exactly one payment mandate", "[ap2][a2a]") {
  ap2::PaymentSkillConfig config;
  const Json v01 = ap2_test::payment_message(ap2_test::payment_mandate(125.0));

  auto paid = ap2::payment_in_message(v01, config, kNow);
  REQUIRE(paid.ok());
  CHECK(paid->mandate.key == ap2::kPaymentMandateKey);
  CHECK(paid->terms.amount_minor == 12500);
  auto binding = ap2::payment_binding(v01, config, kNow);
  REQUIRE(binding.ok());
  CHECK(binding->capability == "pay.transfer");
  CHECK(binding->constraints["max_amount"] == 12500);
  CHECK(binding->constraints["payee"] == "Example Shoes");

  SECTION("no mandate") {
    auto r = ap2::payment_in_message(message_with({Json{{"kind", "text"}, {"text", "pay please"}}}), config, kNow);
    CHECK(r.error().reason == "ap2.not_found");
  }
  SECTION("an intent or a cart carries no payment to hold the agent to") {
    auto intent = ap2::payment_in_message(ap2_test::intent_message(), config, kNow);
    CHECK(intent.error().reason == "ap2.mandate_unsupported");
    auto cart = ap2::payment_in_message(ap2_test::cart_artifact(), config, kNow);
    CHECK(cart.error().reason == "ap2.mandate_unsupported");
  }
  SECTION("two mandates: the service will not choose") {
    Json two = v01;
    two["parts"].push_back(data_part(std::string(ap2::kPaymentMandateKey), ap2_test::payment_mandate(1.0)));
    CHECK(ap2::payment_in_message(two, config, kNow).error().reason == "ap2.ambiguous");
    Json mixed = v01;
    mixed["parts"].push_back(data_part(std::string(ap2::kIntentMandateKey), Json::object()));
    CHECK(ap2::payment_in_message(mixed, config, kNow).error().reason == "ap2.ambiguous");
  }
  SECTION("a malformed v0.1 mandate") {
    Json bad = ap2_test::payment_mandate(125.0);
    bad["payment_mandate_contents"].erase("merchant_agent");
    CHECK(ap2::payment_in_message(ap2_test::payment_message(bad), config, kNow).error().reason == "ap2.mandate_invalid");
  }
}

TEST_CASE("payment skill: v0.2 SD-JWT mandates need the issuer's key", "[ap2][a2a][sdjwt]") {
  SdJwtIssuer issuer;
  const std::string key(ap2::kPaymentMandateSdJwtKey);
  const Json message = message_with({data_part(key, issuer.mandate(15000))});
  ap2::PaymentSkillConfig config;
  CHECK(ap2::payment_in_message(message, config, kNow).error().reason == "ap2.sdjwt_issuer_key_missing");
  config.sd_jwt_issuer_key = issuer.public_key();
  auto paid = ap2::payment_in_message(message, config, kNow);
  REQUIRE(paid.ok());
  CHECK(paid->terms.amount_minor == 15000);
  CHECK(paid->terms.payees == std::vector<std::string>{"merchant-1"});

  SdJwtIssuer mallory;
  auto forged = ap2::payment_in_message(message_with({data_part(key, mallory.mandate(15000))}), config, kNow);
  CHECK(forged.error().reason == "ap2.sdjwt.signature_invalid");
  auto expired = ap2::payment_in_message(message, config, kNow + std::chrono::hours(2));
  CHECK(expired.error().reason == "ap2.sdjwt.expired");
}

TEST_CASE("payment skill: the evidence of a finished task and what its receipt says", "[ap2][a2a][receipt]") {
  ap2::PaymentSkillConfig config;
  const Json mandate = ap2_test::payment_mandate(125.0);
  const Json message = ap2_test::payment_message(mandate);
  const Json receipt = ap2_test::payment_receipt(125.0);

  auto evidence = ap2::evidence_in_task(message, Json::array({artifact_with(receipt)}));
  REQUIRE(evidence.ok());
  CHECK(evidence->mandate_key == ap2::kPaymentMandateKey);
  CHECK(evidence->mandate == mandate);
  REQUIRE(evidence->payment_receipt);
  CHECK(*evidence->payment_receipt == receipt);

  auto content = ap2::payment_receipt_content(*evidence, config.map.currencies(), std::nullopt);
  REQUIRE(content.ok());
  CHECK(content->result == ap2::payment_result(*evidence).value());
  CHECK(content->status == "ok");
  CHECK(content->summary == Json{{"ap2_mandate", "ap2.mandates.PaymentMandate"}, {"ap2_payment_status", "success"}});
  // The carried member is the one attach_to_metadata writes, so read_from_metadata reads it back.
  Json metadata{{std::string(ap2::kExtensionUri), Json{{"receipt", Json{{"id", "x"}}}, {"ap2", content->carried["ap2"]}}}};
  auto back = ap2::read_from_metadata(metadata);
  REQUIRE(back.ok());
  CHECK(back->evidence.mandate == mandate);

  SECTION("no payment receipt among the artifacts: the mandate alone") {
    auto e = ap2::evidence_in_task(message, Json::array());
    REQUIRE(e.ok());
    CHECK_FALSE(e->payment_receipt);
    auto c = ap2::payment_receipt_content(*e, config.map.currencies(), std::nullopt);
    CHECK(c->summary["ap2_payment_status"] == "none");
    CHECK_FALSE(c->result.contains("payment_receipt"));
  }
  SECTION("two payment receipts: ambiguous") {
    auto e = ap2::evidence_in_task(message, Json::array({artifact_with(receipt), artifact_with(receipt)}));
    CHECK(e.error().reason == "ap2.ambiguous");
  }
  SECTION("a payment receipt for another amount is committed to, as an error") {
    auto e = ap2::evidence_in_task(message, Json::array({artifact_with(ap2_test::payment_receipt(126.0))}));
    auto c = ap2::payment_receipt_content(*e, config.map.currencies(), std::nullopt);
    REQUIRE(c.ok());
    CHECK(c->status == "error");
    CHECK(c->summary["ap2_payment_status"] == "mismatch");
    CHECK(c->result["payment_receipt"]["hash"] == ap2::commitment(ap2_test::payment_receipt(126.0)).value().to_json());
  }
  SECTION("a failed payment is an error receipt") {
    Json failed = receipt;
    failed["payment_status"] = Json{{"failure_message", "card declined"}};
    auto e = ap2::evidence_in_task(message, Json::array({artifact_with(failed)}));
    auto c = ap2::payment_receipt_content(*e, config.map.currencies(), std::nullopt);
    REQUIRE(c.ok());
    CHECK(c->status == "error");
    CHECK(c->summary["ap2_payment_status"] == "failure");
  }
  SECTION("a malformed payment receipt: no content") {
    Json bad = receipt;
    bad.erase("payment_id");
    auto e = ap2::evidence_in_task(message, Json::array({artifact_with(bad)}));
    CHECK(ap2::payment_receipt_content(*e, config.map.currencies(), std::nullopt).error().reason == "ap2.payment_receipt_invalid");
  }
  SECTION("v0.2 terms: the payment receipt is matched against the SD-JWT's amount") {
    SdJwtIssuer issuer;
    config.sd_jwt_issuer_key = issuer.public_key();
    const Json v02 = message_with({data_part(std::string(ap2::kPaymentMandateSdJwtKey), issuer.mandate(15000))});
    const auto terms = ap2::payment_in_message(v02, config, kNow).value().terms;
    auto good = ap2::evidence_in_task(v02, Json::array({artifact_with(ap2_test::payment_receipt(150.0, "EUR", "tx-1"))}));
    CHECK(ap2::payment_receipt_content(*good, config.map.currencies(), terms)->status == "ok");
    auto other = ap2::evidence_in_task(v02, Json::array({artifact_with(ap2_test::payment_receipt(15.0, "EUR", "tx-1"))}));
    CHECK(ap2::payment_receipt_content(*other, config.map.currencies(), terms)->summary["ap2_payment_status"] == "mismatch");
  }
}
