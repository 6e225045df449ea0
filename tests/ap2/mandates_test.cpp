// AP2 v0.1 mandates: parsing (null and absent optional fields, strict types, clear reasons),
// amounts in exact minor units, commitments, and finding mandates in A2A DataParts.

#include <catch2/catch.hpp>

#include <functional>

#include "handshake/ap2/amount.hpp"
#include "handshake/ap2/extension.hpp"
#include "handshake/ap2/mandates.hpp"
#include "samples.hpp"

namespace ap2 = handshake::ap2;
namespace hs = handshake;
using hs::Json;

namespace {

template <typename T>
std::string reason(const hs::Result<T>& r) {
  return r.ok() ? std::string("ok") : r.error().reason;
}

hs::Result<std::int64_t> minor(const Json& v, const char* currency) {
  return ap2::to_minor_units(v, currency, ap2::CurrencyTable::iso4217());
}

const ap2::CurrencyTable& iso() {
  static const auto t = ap2::CurrencyTable::iso4217();
  return t;
}

}  // namespace

TEST_CASE("amounts convert to exact minor units with the ISO 4217 exponent", "[ap2][amount]") {
  CHECK(minor(125.0, "USD").value() == 12500);
  CHECK(minor(19.99, "USD").value() == 1999);
  CHECK(minor(0.1, "EUR").value() == 10);
  CHECK(minor(200, "GBP").value() == 20000);
  CHECK(minor(1000, "JPY").value() == 1000);
  CHECK(minor(1000.0, "KRW").value() == 1000);
  CHECK(minor(1.234, "BHD").value() == 1234);
  CHECK(minor(12.5, "KWD").value() == 12500);
  CHECK(minor(-5.25, "USD").value() == -525);  // a discount line
  CHECK(minor(0, "USD").value() == 0);
  CHECK(minor(1e15, "JPY").value() == 1000000000000000LL);
}

TEST_CASE("amounts that do not convert exactly are refused", "[ap2][amount]") {
  CHECK(reason(minor(1.005, "USD")) == "ap2.amount_inexact");
  CHECK(reason(minor(1.5, "JPY")) == "ap2.amount_inexact");
  CHECK(reason(minor(1.2345, "KWD")) == "ap2.amount_inexact");
  CHECK(reason(minor(0.1 + 0.2, "USD")) == "ap2.amount_inexact");  // 0.30000000000000004
  CHECK(reason(minor(1.5e-7, "USD")) == "ap2.amount_inexact");
  CHECK(reason(minor(1e20, "USD")) == "ap2.amount_invalid");       // beyond 2^53 minor units
  CHECK(reason(minor("125.00", "USD")) == "ap2.amount_invalid");   // strings are not amounts
  CHECK(reason(minor(true, "USD")) == "ap2.amount_invalid");
  CHECK(reason(minor(Json(), "USD")) == "ap2.amount_invalid");
}

TEST_CASE("unknown currencies are refused unless configured", "[ap2][amount]") {
  CHECK(reason(minor(1.0, "XYZ")) == "ap2.currency_unknown");
  CHECK(reason(minor(1.0, "usd")) == "ap2.currency_unknown");
  auto table = ap2::CurrencyTable::iso4217();
  REQUIRE(table.add("XYZ", 3).ok());
  CHECK(ap2::to_minor_units(1.5, "XYZ", table).value() == 1500);
  CHECK(table.add("xyz", 2).error().reason == "ap2.currency_invalid");
  CHECK(table.add("ABC", 7).error().reason == "ap2.currency_invalid");
}

TEST_CASE("the sample IntentMandate, CartMandate and PaymentMandate parse", "[ap2][mandates]") {
  auto intent_part = ap2::find_ap2_part(ap2_test::intent_message(), ap2::kIntentMandateKey);
  REQUIRE(intent_part.ok());
  CHECK(intent_part->where == "parts[1]");
  auto intent = ap2::parse_intent_mandate(intent_part->value);
  REQUIRE(intent.ok());
  CHECK_FALSE(intent->user_cart_confirmation_required);
  REQUIRE(intent->merchants.has_value());
  CHECK(intent->merchants->at(0) == "Example Shoes");
  CHECK_FALSE(intent->skus.has_value());  // null: any
  CHECK(intent->requires_refundability);

  auto cart_part = ap2::find_ap2_part(ap2_test::cart_artifact(), ap2::kCartMandateKey);
  REQUIRE(cart_part.ok());
  auto cart = ap2::parse_cart_mandate(cart_part->value, iso());
  REQUIRE(cart.ok());
  CHECK(cart->contents.total.amount.minor == 12500);
  CHECK(cart->contents.total.amount.currency == "USD");
  CHECK(cart->contents.display_items.size() == 2);
  CHECK(cart->contents.merchant_name == "Example Shoes");
  CHECK(cart->contents.supported_methods == std::vector<std::string>{"CARD"});
  CHECK(cart->merchant_authorization.has_value());

  auto payment = ap2::parse_payment_mandate(ap2_test::payment_mandate(), iso());
  REQUIRE(payment.ok());
  CHECK(payment->contents.payment_details_total.amount.minor == 12500);
  CHECK(payment->contents.merchant_agent == "Example Shoes");
  CHECK(payment->contents.method_name == "CARD");
  REQUIRE(payment->contents.timestamp.has_value());
  CHECK(hs::time::format_rfc3339(*payment->contents.timestamp) == "2026-04-29T13:59:00.123456Z");

  auto receipt = ap2::parse_payment_receipt(ap2_test::payment_receipt(), iso());
  REQUIRE(receipt.ok());
  CHECK(receipt->status == ap2::PaymentReceipt::Status::kSuccess);
  CHECK(receipt->merchant_confirmation_id == std::optional<std::string>("ord_88"));
  CHECK(receipt->amount.minor == 12500);
}

TEST_CASE("absent and null optional fields are the same, for parsing and for commitments", "[ap2][mandates]") {
  const Json with_nulls = ap2_test::cart_artifact()["parts"][0]["data"]["ap2.mandates.CartMandate"];
  const Json without = ap2::drop_nulls(with_nulls);
  CHECK(without.dump().find("null") == std::string::npos);
  REQUIRE(ap2::parse_cart_mandate(without, iso()).ok());
  CHECK(ap2::commitment(with_nulls)->value == ap2::commitment(without)->value);
  CHECK(ap2::commitment(with_nulls)->alg == "sha-256");
  // Key order and number spelling do not matter (JCS): 125.0 and 125 are the same number.
  Json reordered = Json::parse(without.dump());
  reordered["contents"]["payment_request"]["details"]["total"]["amount"]["value"] = 125;
  CHECK(ap2::commitment(reordered)->value == ap2::commitment(without)->value);
  // A changed value changes the commitment; nulls inside arrays are kept.
  Json changed = without;
  changed["contents"]["merchant_name"] = "Other Shop";
  CHECK(ap2::commitment(changed)->value != ap2::commitment(without)->value);
  CHECK(ap2::drop_nulls(Json::array({nullptr, 1})) == Json::array({nullptr, 1}));
  // Optional fields left out entirely.
  Json minimal = ap2_test::payment_mandate();
  auto& c = minimal["payment_mandate_contents"];
  c.erase("timestamp");
  c["payment_response"] = Json{{"request_id", "order_shoes_123"}, {"method_name", "CARD"}};
  c["payment_details_total"].erase("pending");
  c["payment_details_total"].erase("refund_period");
  minimal.erase("user_authorization");
  auto parsed = ap2::parse_payment_mandate(minimal, iso());
  REQUIRE(parsed.ok());
  CHECK_FALSE(parsed->contents.timestamp.has_value());
  CHECK(parsed->contents.payment_details_total.refund_period == 30);
  CHECK_FALSE(parsed->user_authorization.has_value());
}

TEST_CASE("wrong types and missing fields are refused with the field's path", "[ap2][mandates]") {
  auto payment_with = [](const std::function<void(Json&)>& edit) {
    Json m = ap2_test::payment_mandate();
    edit(m);
    return ap2::parse_payment_mandate(m, iso());
  };
  auto r = payment_with([](Json& m) { m["payment_mandate_contents"].erase("merchant_agent"); });
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().reason == "ap2.mandate_invalid");
  CHECK(r.error().message.find("payment_mandate_contents.merchant_agent") != std::string::npos);
  CHECK(reason(payment_with([](Json& m) { m["payment_mandate_contents"]["merchant_agent"] = 7; })) == "ap2.mandate_invalid");
  CHECK(reason(payment_with([](Json& m) { m["payment_mandate_contents"]["payment_details_total"]["refund_period"] = "30"; })) ==
        "ap2.mandate_invalid");
  CHECK(reason(payment_with([](Json& m) { m["payment_mandate_contents"]["payment_details_total"]["refund_period"] = 30.5; })) ==
        "ap2.mandate_invalid");
  CHECK(reason(payment_with([](Json& m) { m["payment_mandate_contents"]["payment_details_total"]["pending"] = "no"; })) ==
        "ap2.mandate_invalid");
  CHECK(reason(payment_with([](Json& m) { m["payment_mandate_contents"]["timestamp"] = "2026-08-30T10:16:02"; })) ==
        "ap2.mandate_invalid");  // no offset
  CHECK(reason(payment_with([](Json& m) { m["payment_mandate_contents"]["payment_response"]["payer_email"] = 1; })) ==
        "ap2.mandate_invalid");
  CHECK(reason(payment_with([](Json& m) { m["payment_mandate_contents"]["payment_response"] = nullptr; })) ==
        "ap2.mandate_invalid");
  CHECK(reason(payment_with([](Json& m) { m["user_authorization"] = Json::object(); })) == "ap2.mandate_invalid");
  CHECK(reason(payment_with([](Json& m) { m["payment_mandate_contents"]["payment_details_total"]["amount"]["value"] = -1.0; })) ==
        "ap2.mandate_invalid");  // a negative total
  CHECK(reason(payment_with([](Json& m) { m["payment_mandate_contents"]["payment_details_total"]["amount"]["value"] = "125"; })) ==
        "ap2.amount_invalid");
  CHECK(reason(payment_with([](Json& m) { m["payment_mandate_contents"]["payment_details_total"]["amount"]["value"] = 125.001; })) ==
        "ap2.amount_inexact");
  CHECK(reason(payment_with([](Json& m) { m["payment_mandate_contents"]["payment_details_total"]["amount"]["currency"] = "ZZZ"; })) ==
        "ap2.currency_unknown");
  CHECK(reason(ap2::parse_payment_mandate(Json::array(), iso())) == "ap2.mandate_invalid");

  const Json intent = ap2_test::intent_message()["parts"][1]["data"]["ap2.mandates.IntentMandate"];
  auto intent_with = [&](const std::function<void(Json&)>& edit) {
    Json m = intent;
    edit(m);
    return ap2::parse_intent_mandate(m);
  };
  CHECK(reason(intent_with([](Json& m) { m["merchants"] = "Example Shoes"; })) == "ap2.mandate_invalid");
  CHECK(reason(intent_with([](Json& m) { m["merchants"] = Json::array({1}); })) == "ap2.mandate_invalid");
  CHECK(reason(intent_with([](Json& m) { m.erase("intent_expiry"); })) == "ap2.mandate_invalid");
  CHECK(reason(intent_with([](Json& m) { m.erase("natural_language_description"); })) == "ap2.mandate_invalid");
  CHECK(reason(intent_with([](Json& m) { m["user_cart_confirmation_required"] = "false"; })) == "ap2.mandate_invalid");
  auto defaults = intent_with([](Json& m) {
    m.erase("user_cart_confirmation_required");
    m.erase("requires_refundability");
  });
  REQUIRE(defaults.ok());
  CHECK(defaults->user_cart_confirmation_required);  // default true
  CHECK_FALSE(defaults->requires_refundability);

  const Json cart = ap2_test::cart_artifact()["parts"][0]["data"]["ap2.mandates.CartMandate"];
  auto cart_with = [&](const std::function<void(Json&)>& edit) {
    Json m = cart;
    edit(m);
    return ap2::parse_cart_mandate(m, iso());
  };
  CHECK(reason(cart_with([](Json& m) { m["contents"].erase("user_cart_confirmation_required"); })) == "ap2.mandate_invalid");
  CHECK(reason(cart_with([](Json& m) { m["contents"]["payment_request"]["method_data"] = nullptr; })) == "ap2.mandate_invalid");
  CHECK(reason(cart_with([](Json& m) { m["contents"]["payment_request"]["details"]["display_items"][0]["amount"]["value"] = 1.001; })) ==
        "ap2.amount_inexact");
  CHECK(reason(cart_with([](Json& m) { m["contents"]["payment_request"]["options"]["shipping_type"] = "teleport"; })) ==
        "ap2.mandate_invalid");
  CHECK(reason(cart_with([](Json& m) { m["contents"]["payment_request"]["shipping_address"]["address_line"] = "1 Main St"; })) ==
        "ap2.mandate_invalid");
  CHECK(reason(cart_with([](Json& m) { m["contents"]["payment_request"]["details"]["shipping_options"][0]["selected"] = 1; })) ==
        "ap2.mandate_invalid");
  CHECK(reason(cart_with([](Json& m) { m["contents"]["payment_request"]["details"]["modifiers"] = Json::array({Json::object()}); })) ==
        "ap2.mandate_invalid");
  CHECK(reason(cart_with([](Json& m) { m["contents"]["cart_expiry"] = 1788084700; })) == "ap2.mandate_invalid");
  // Unknown members are tolerated (AP2 adds fields) and stay covered by the commitment.
  auto extra = cart_with([](Json& m) { m["contents"]["x_future_field"] = {{"a", 1}}; });
  REQUIRE(extra.ok());
  CHECK(extra->contents.source.contains("x_future_field"));
}

TEST_CASE("payment receipts: the three status shapes, and nothing else", "[ap2][mandates]") {
  Json error = ap2_test::payment_receipt();
  error["payment_status"] = {{"error_message", "card declined"}};
  CHECK(ap2::parse_payment_receipt(error, iso())->status == ap2::PaymentReceipt::Status::kError);
  Json failure = ap2_test::payment_receipt();
  failure["payment_status"] = {{"failure_message", "network"}};
  CHECK(ap2::parse_payment_receipt(failure, iso())->status == ap2::PaymentReceipt::Status::kFailure);
  Json both = ap2_test::payment_receipt();
  both["payment_status"]["error_message"] = "also";
  CHECK(reason(ap2::parse_payment_receipt(both, iso())) == "ap2.payment_receipt_invalid");
  Json none = ap2_test::payment_receipt();
  none["payment_status"] = Json::object();
  CHECK(reason(ap2::parse_payment_receipt(none, iso())) == "ap2.payment_receipt_invalid");
  Json no_id = ap2_test::payment_receipt();
  no_id.erase("payment_id");
  CHECK(reason(ap2::parse_payment_receipt(no_id, iso())) == "ap2.payment_receipt_invalid");
  Json bad_amount = ap2_test::payment_receipt(125.001);
  CHECK(reason(ap2::parse_payment_receipt(bad_amount, iso())) == "ap2.amount_inexact");
}

TEST_CASE("mandates are found in A2A v0.3 and v1.0 DataParts, messages, tasks and artifacts", "[ap2][a2a]") {
  // v1.0 parts have no "kind": the data member marks a DataPart.
  const Json v1_message = Json::parse(R"({"messageId":"m1","role":"ROLE_USER","parts":[{"text":"pay"},{"data":{"ap2.mandates.PaymentMandate":{"x":1}},"mediaType":"application/json"}]})");
  auto found = ap2::find_ap2_part(v1_message, ap2::kPaymentMandateKey);
  REQUIRE(found.ok());
  CHECK(found->value == Json{{"x", 1}});
  // A task: status message, artifacts and history.
  Json task = {{"kind", "task"}, {"id", "t"}, {"contextId", "c"},
               {"status", {{"state", "completed"}, {"message", ap2_test::payment_message(Json{{"y", 2}})}}},
               {"artifacts", Json::array({ap2_test::cart_artifact()})},
               {"history", Json::array({ap2_test::intent_message()})}};
  const auto all = ap2::find_ap2_parts(task);
  REQUIRE(all.size() == 3);
  CHECK(all[0].where == "status.message.parts[1]");
  CHECK(all[1].where == "artifacts[0].parts[0]");
  CHECK(all[1].key == ap2::kCartMandateKey);
  CHECK(all[2].key == ap2::kIntentMandateKey);
  // risk_data parts and non-data parts are not AP2 mandates; a "file" part with data is skipped.
  Json odd = {{"parts", Json::array({Json{{"kind", "file"}, {"data", {{"ap2.mandates.PaymentMandate", 1}}}},
                                     Json{{"kind", "data"}, {"data", "not an object"}}, Json(7)})}};
  CHECK(ap2::find_ap2_parts(odd).empty());
  CHECK(ap2::find_ap2_parts(Json::array()).empty());
  CHECK(reason(ap2::find_ap2_part(odd, ap2::kPaymentMandateKey)) == "ap2.not_found");
  // Two PaymentMandates: a verifier must not choose.
  Json two = ap2_test::payment_message(Json{{"a", 1}});
  two["parts"].push_back(Json{{"kind", "data"}, {"data", {{"ap2.mandates.PaymentMandate", {{"b", 2}}}}}});
  CHECK(reason(ap2::find_ap2_part(two, ap2::kPaymentMandateKey)) == "ap2.ambiguous");
}

TEST_CASE("the extension URI is the one the A2A adapter uses", "[ap2][a2a]") {
  CHECK(ap2::kExtensionUri == "https://handshake.ai/ext/a2a/v1");
}
