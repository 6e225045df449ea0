// The Handshake receipt of a payment (§12, §13.4): its result hash commits to the AP2 mandate
// and, when there is one, the AP2 PaymentReceipt; and the A2A metadata shape that carries receipt
// and mandate on together.
//
// The result object (what result_hash = SHA-256(JCS(result)) covers; receipt.hpp hash_result):
//   {"type": "ap2.payment.v1",
//    "mandate": {"key": "<DataPart key>", "hash": {"alg": "sha-256", "value": "<hex>"}},
//    "payment_receipt": {"key": "ap2.PaymentReceipt", "hash": {"alg": "sha-256", "value": "<hex>"}}}
// with "payment_receipt" absent when no PaymentReceipt is bound, and each hash the commitment of
// mandates.hpp: SHA-256(JCS(drop_nulls(value))), `value` being the DataPart member's value as
// carried (an object for v0.1 mandates, the compact SD-JWT string for v0.2). The result object
// holds hashes only, so the receipt carries no personal data (§18); result_summary holds only the
// mandate kind and payment status.
//
// A2A metadata (message, task or artifact `metadata`):
//   {"https://handshake.ai/ext/a2a/v1": {
//      "receipt": {<signed Receipt>},
//      "ap2": {"mandate_key": "<DataPart key>", "mandate": <value>,
//              "payment_receipt": {<PaymentReceipt>}      (when bound)
//              "result": {<the result object above>}}}}
// Other members under the extension key (e.g. the A2A adapter's) are left as they are.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "handshake/ap2/mandates.hpp"
#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/messages.hpp"
#include "handshake/receipt.hpp"
#include "handshake/resolver.hpp"
#include "handshake/result.hpp"
#include "handshake/service.hpp"

namespace handshake::ap2 {

inline constexpr std::string_view kResultType = "ap2.payment.v1";

// What a payment receipt commits to.
struct PaymentEvidence {
  std::string mandate_key;               // e.g. "ap2.mandates.PaymentMandate"
  Json mandate;                          // the DataPart member's value as carried
  std::optional<Json> payment_receipt;   // an ap2.PaymentReceipt, when bound
};

// The result object above. Errors: kInvalidArgument "ap2.evidence_invalid" (mandate_key not an
// "ap2.mandates." key, a payment receipt that is not an object), those of commitment().
[[nodiscard]] Result<Json> payment_result(const PaymentEvidence& evidence);

// Checks that a bound PaymentReceipt belongs to the mandate: same amount and currency as the
// mandate's payment terms (v0.1 PaymentMandate, CartMandate; v0.2 payment mandates given as
// `terms_amount`/`terms_currency`) and, for a v0.1 PaymentMandate, the same payment_mandate_id.
// Errors: parse errors of parse_payment_receipt / parse_payment_mandate, kInvalidArgument
// "ap2.receipt_mismatch".
[[nodiscard]] Status check_payment_receipt_matches(const PaymentEvidence& evidence, const CurrencyTable& currencies,
                                                   std::optional<std::int64_t> terms_amount = std::nullopt,
                                                   std::optional<std::string> terms_currency = std::nullopt);

// "ok" when the PaymentReceipt says success or none is bound; "error" for error and failure.
// Errors: those of parse_payment_receipt.
[[nodiscard]] Result<std::string> receipt_status(const PaymentEvidence& evidence, const CurrencyTable& currencies);

// The signed Receipt of an accepted payment: the service's receipt (receipt.hpp) with
// result = payment_result(evidence), status = receipt_status(evidence) and result_summary
// {"ap2_mandate": key, "ap2_payment_status": "success"|"error"|"failure"|"none"} unless options
// give one. The bound PaymentReceipt must match the mandate (check_payment_receipt_matches for
// v0.1 kinds). Errors: those of the functions above and of Service::issue_receipt /
// handshake::issue_receipt.
[[nodiscard]] Result<Json> issue_payment_receipt(const Service& service, const Decision& decision,
                                                 const PaymentEvidence& evidence, const CurrencyTable& currencies,
                                                 ReceiptOptions options = {});
[[nodiscard]] Result<Json> issue_payment_receipt(const Identity& service, const Acceptance& acceptance,
                                                 const PaymentEvidence& evidence, const CurrencyTable& currencies,
                                                 Timestamp now, ReceiptOptions options = {});

// verify_receipt with the result recomputed from `evidence`: signature by the receipt's iss and
// result_hash committing to exactly this mandate and payment receipt. Errors: those of
// payment_result and verify_receipt (kSignature "receipt.result_mismatch" for other evidence).
[[nodiscard]] Status verify_payment_receipt(const Json& receipt, const PaymentEvidence& evidence,
                                            const KeyResolver& keys);

// Sets metadata[kExtensionUri].receipt and .ap2 (the shape above); `metadata` null becomes an
// object. Errors: kInvalidArgument "ap2.metadata_invalid" (metadata, or the member under our key,
// not an object), those of payment_result.
[[nodiscard]] Status attach_to_metadata(Json& metadata, const Json& receipt, const PaymentEvidence& evidence);

struct AttachedPayment {
  Json receipt;
  PaymentEvidence evidence;
};
// Reads the shape above back (no signature is checked here: use verify_payment_receipt). The
// carried "result" must equal payment_result(evidence). Errors: kNotFound "ap2.metadata_missing",
// kSchema "ap2.metadata_invalid".
[[nodiscard]] Result<AttachedPayment> read_from_metadata(const Json& metadata);

}  // namespace handshake::ap2
