// Realistic AP2 v0.1 messages, in the shapes of the AP2 types (wire-formats §3): an IntentMandate
// message, a CartMandate artifact, a PaymentMandate message (A2A v0.3 parts) and a PaymentReceipt,
// plus builders for variations.
#pragma once

#include <string>

#include "handshake/json.hpp"

namespace ap2_test {

using handshake::Json;

inline Json intent_message() {
  return Json::parse(R"json({"messageId":"e0b84c60-3f5f-4234-adc6-91f2b73b19e5","contextId":"ctx-shoes-1","role":"user","kind":"message","parts":[{"kind":"text","text":"Buy red high-top basketball shoes, size 10, under $130"},{"kind":"data","data":{"ap2.mandates.IntentMandate":{"user_cart_confirmation_required":false,"natural_language_description":"Red high-top basketball shoes, size 10, max 130 USD, refundable","merchants":["Example Shoes"],"skus":null,"requires_refundability":true,"intent_expiry":"2026-09-01T12:00:00Z"}}},{"kind":"data","data":{"risk_data":"eyJkZXZpY2UiOiJhbmRyb2lkIn0"}}]})json");
}

inline Json cart_artifact() {
  return Json::parse(R"json({"artifactId":"artifact_cart_001","name":"cart","parts":[{"kind":"data","data":{"ap2.mandates.CartMandate":{"contents":{"id":"cart_shoes_123","user_cart_confirmation_required":true,"payment_request":{"method_data":[{"supported_methods":"CARD","data":{"network":["mastercard","amex"]}}],"details":{"id":"order_shoes_123","display_items":[{"label":"Court Classic Hi, red, US 10","amount":{"currency":"USD","value":120.0},"pending":null,"refund_period":30},{"label":"Standard shipping","amount":{"currency":"USD","value":5.0},"pending":null,"refund_period":30}],"shipping_options":[{"id":"std","label":"Standard (3-5 days)","amount":{"currency":"USD","value":5.0},"selected":true}],"modifiers":null,"total":{"label":"Total","amount":{"currency":"USD","value":125.0},"pending":null,"refund_period":30}},"options":{"request_payer_name":false,"request_payer_email":true,"request_payer_phone":false,"request_shipping":true,"shipping_type":"shipping"},"shipping_address":{"city":"Springfield","country":"US","dependent_locality":null,"organization":null,"phone_number":null,"postal_code":"62701","recipient":"Alex Doe","region":"IL","sorting_code":null,"address_line":["1 Main St"]}},"cart_expiry":"2026-08-30T10:30:00Z","merchant_name":"Example Shoes"},"merchant_authorization":"eyJhbGciOiJFUzI1NiJ9.e30.c2ln"}}},{"kind":"data","data":{"risk_data":"eyJtZXJjaGFudF9yaXNrIjoibG93In0"}}]})json");
}

// A PaymentMandate (v0.1) for `value` `currency` to `merchant` at `timestamp`.
inline Json payment_mandate(const Json& value = 125.0, const std::string& currency = "EUR",
                            const std::string& merchant = "Example Shoes",
                            const std::string& timestamp = "2026-04-29T13:59:00.123456+00:00") {
  Json m = Json::parse(R"json({"payment_mandate_contents":{"payment_mandate_id":"3f8e2b1c9d7a4e6f8a0b1c2d3e4f5a6b","payment_details_id":"order_shoes_123","payment_details_total":{"label":"Total","amount":{"currency":"USD","value":125.0},"pending":null,"refund_period":30},"payment_response":{"request_id":"order_shoes_123","method_name":"CARD","details":{"token":{"value":"tok_7Hc9","url":"http://127.0.0.1:8002/a2a/credentials_provider"}},"shipping_address":{"city":"Springfield","country":"US","postal_code":"62701","recipient":"Alex Doe","region":"IL","address_line":["1 Main St"]},"shipping_option":null,"payer_name":null,"payer_email":"alex@example.com","payer_phone":null},"merchant_agent":"Example Shoes","timestamp":"2026-08-30T10:16:02.123456+00:00"},"user_authorization":"eyJhbGciOiJFUzI1NiIsInR5cCI6InZjK3NkLWp3dCJ9.e30.c2ln~"})json");
  auto& c = m["payment_mandate_contents"];
  c["payment_details_total"]["amount"] = Json{{"currency", currency}, {"value", value}};
  c["merchant_agent"] = merchant;
  c["timestamp"] = timestamp;
  return m;
}

inline Json payment_message(const Json& mandate) {
  return Json{{"messageId", "b5951b1a-8d5b-4ad3-a06f-92bf74e76589"},
              {"contextId", "ctx-shoes-1"},
              {"taskId", "task-pay-9"},
              {"role", "user"},
              {"kind", "message"},
              {"parts", Json::array({Json{{"kind", "text"}, {"text", "This is the signed payment mandate"}},
                                     Json{{"kind", "data"}, {"data", {{"ap2.mandates.PaymentMandate", mandate}}}},
                                     Json{{"kind", "data"}, {"data", {{"risk_data", "eyJkZXZpY2UiOiJhbmRyb2lkIn0"}}}}})}};
}

inline Json payment_receipt(const Json& value = 125.0, const std::string& currency = "EUR",
                            const std::string& mandate_id = "3f8e2b1c9d7a4e6f8a0b1c2d3e4f5a6b") {
  Json r = Json::parse(R"json({"payment_mandate_id":"","timestamp":"2026-04-29T14:00:05Z","payment_id":"pay_001","amount":{"currency":"USD","value":125.0},"payment_status":{"merchant_confirmation_id":"ord_88","psp_confirmation_id":"psp_77","network_confirmation_id":null},"payment_method_details":{"network":"mastercard","last4":"4242"}})json");
  r["payment_mandate_id"] = mandate_id;
  r["amount"] = Json{{"currency", currency}, {"value", value}};
  return r;
}

}  // namespace ap2_test
