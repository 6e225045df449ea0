// AP2 v0.1 mandates (IntentMandate, CartMandate, PaymentMandate) and PaymentReceipt, as the AP2
// types serialize them (snake_case JSON, Pydantic model_dump / Go omitempty), and where they ride
// in A2A: DataParts whose `data` object has the key "ap2.mandates.<Type>" (or "ap2.PaymentReceipt").
//
// Parsing rules, for every type here:
//   - an optional field may be absent or null (Python writes null, Go omits): both mean "not set";
//   - a present, non-null field must have its type exactly (no string for a number, no number for
//     a boolean); required fields must be present and non-null;
//   - members this version does not know are ignored (AP2 adds fields), but they stay in the JSON
//     kept in `source`, so every commitment covers them;
//   - every amount is converted to integer minor units (amount.hpp) and refused unless exact.
// Errors: kSchema "ap2.mandate_invalid" (or "ap2.payment_receipt_invalid" for a PaymentReceipt)
// with the JSON path of the first bad field, and the amount errors of to_minor_units.
//
// Commitments (document choice, docs/ap2.md): commitment(v) = SHA-256(JCS(drop_nulls(v))), where
// drop_nulls removes every object member whose value is null, at any depth (array elements are
// kept, nulls included). So a Python sender (nulls) and a Go sender (omitted) of the same mandate
// commit to the same bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/ap2/amount.hpp"
#include "handshake/json.hpp"
#include "handshake/messages.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake::ap2 {

// DataPart keys (wire-formats §3.1).
inline constexpr std::string_view kIntentMandateKey = "ap2.mandates.IntentMandate";
inline constexpr std::string_view kCartMandateKey = "ap2.mandates.CartMandate";
inline constexpr std::string_view kPaymentMandateKey = "ap2.mandates.PaymentMandate";
inline constexpr std::string_view kPaymentReceiptKey = "ap2.PaymentReceipt";
inline constexpr std::string_view kCheckoutMandateSdJwtKey = "ap2.mandates.CheckoutMandateSdJwt";
inline constexpr std::string_view kPaymentMandateSdJwtKey = "ap2.mandates.PaymentMandateSdJwt";

// PaymentCurrencyAmount, with the value also in minor units.
struct Amount {
  std::string currency;
  Json value;                 // as sent (major units)
  std::int64_t minor = 0;     // exact minor units
};

struct PaymentItem {
  std::string label;
  Amount amount;
  std::optional<bool> pending;
  std::int64_t refund_period = 30;
};

struct IntentMandate {
  bool user_cart_confirmation_required = true;
  std::string natural_language_description;
  std::optional<std::vector<std::string>> merchants;  // null: any
  std::optional<std::vector<std::string>> skus;       // null: any
  bool requires_refundability = false;
  Timestamp intent_expiry{};
  Json source;
};

struct CartContents {
  std::string id;
  bool user_cart_confirmation_required = true;
  std::string payment_details_id;              // payment_request.details.id
  std::vector<PaymentItem> display_items;      // payment_request.details.display_items
  PaymentItem total;                           // payment_request.details.total
  std::vector<std::string> supported_methods;  // payment_request.method_data[].supported_methods
  Timestamp cart_expiry{};
  std::string merchant_name;
  Json source;  // the CartContents object
};

struct CartMandate {
  CartContents contents;
  std::optional<std::string> merchant_authorization;  // compact JWS (not verified here)
  Json source;
};

struct PaymentMandateContents {
  std::string payment_mandate_id;
  std::string payment_details_id;
  PaymentItem payment_details_total;
  std::string method_name;  // payment_response.method_name
  std::string request_id;   // payment_response.request_id
  std::string merchant_agent;
  std::optional<Timestamp> timestamp;  // absent: "now" at the sender (the type's default)
  Json source;
};

struct PaymentMandate {
  PaymentMandateContents contents;
  std::optional<std::string> user_authorization;  // verifiable presentation (not verified here)
  Json source;
};

struct PaymentReceipt {
  enum class Status { kSuccess, kError, kFailure };
  std::string payment_mandate_id;
  Timestamp timestamp{};
  std::string payment_id;
  Amount amount;
  Status status = Status::kSuccess;
  std::optional<std::string> merchant_confirmation_id;  // Success only
  Json source;
};

[[nodiscard]] std::string_view to_string(PaymentReceipt::Status s) noexcept;  // "success" | "error" | "failure"

// Parsers (see the header comment). `currencies` converts every amount.
[[nodiscard]] Result<IntentMandate> parse_intent_mandate(const Json& j);
[[nodiscard]] Result<CartMandate> parse_cart_mandate(const Json& j, const CurrencyTable& currencies);
[[nodiscard]] Result<PaymentMandate> parse_payment_mandate(const Json& j, const CurrencyTable& currencies);
[[nodiscard]] Result<PaymentReceipt> parse_payment_receipt(const Json& j, const CurrencyTable& currencies);

// `v` with every null object member removed, at any depth.
[[nodiscard]] Json drop_nulls(const Json& v);
// {"alg": "sha-256", "value": hex(SHA-256(JCS(drop_nulls(v))))}. Errors: those of
// json::canonicalize (e.g. a non-finite number).
[[nodiscard]] Result<HashValue> commitment(const Json& v);

// One AP2 DataPart found in an A2A message, task or artifact.
struct FoundPart {
  std::string key;    // "ap2.mandates.PaymentMandate", ...
  Json value;         // data[key]
  std::string where;  // JSON path of the part, e.g. "artifacts[0].parts[1]"
};

// Every member of every DataPart's `data` whose key starts with "ap2." in `container`: an A2A
// Message (`parts`), a Task (`status.message.parts`, `artifacts[].parts`, `history[].parts`) or an
// Artifact (`parts`). Both A2A shapes are read: v0.3 parts ({"kind":"data","data":{...}}) and
// v1.0 parts (no "kind"; the `data` member marks a DataPart). A part whose "kind" is not "data"
// is skipped. Never fails: a malformed container yields nothing.
[[nodiscard]] std::vector<FoundPart> find_ap2_parts(const Json& container);
// The one part with `key`. Errors: kNotFound "ap2.not_found", kInvalidArgument "ap2.ambiguous"
// (two parts with that key, which a verifier must not choose between).
[[nodiscard]] Result<FoundPart> find_ap2_part(const Json& container, std::string_view key);

}  // namespace handshake::ap2
