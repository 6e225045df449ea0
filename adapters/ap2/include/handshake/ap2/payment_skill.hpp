// A payment skill on the A2A path: the AP2 half of what hsk-a2a-proxy composes with the A2A
// adapter's hooks (GateOptions::derive and ::evidence). The adapters stay independent; the proxy
// wires these functions into them.
//
//   a send:            payment_in_message -> the one payment mandate the message carries, its terms
//                      (a v0.2 SD-JWT mandate verified with the configured issuer key) ->
//                      MandateMap::binding -> Service::verify(request, binding)
//   the task finishes: evidence_in_task -> that mandate as sent + the merchant's ap2.PaymentReceipt
//                      artifact (when there is one) -> payment_receipt_content: the receipt's
//                      result (receipts.hpp payment_result), status, summary, and the "ap2" member
//                      carried beside the receipt (receipts.hpp metadata shape)
// The agent side needs only evidence_in_task and payment_result: the result is a pure function of
// the two documents, so the agent recomputes what the service signed without the issuer key.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "handshake/ap2/mandates.hpp"
#include "handshake/ap2/mapping.hpp"
#include "handshake/ap2/receipts.hpp"
#include "handshake/ap2/sd_jwt.hpp"
#include "handshake/json.hpp"
#include "handshake/result.hpp"
#include "handshake/service.hpp"
#include "handshake/time.hpp"

namespace handshake::ap2 {

struct PaymentSkillConfig {
  MandateMap map;
  // The issuer key of v0.2 SD-JWT payment mandates; without one they are refused
  // ("ap2.sdjwt_issuer_key_missing"). Shared: the config is copied into gate callbacks.
  std::shared_ptr<const Es256PublicKey> sd_jwt_issuer_key;
  SdJwtOptions sd_jwt;  // expected_vct defaults to {"mandate.payment.1"}
};

// The payment skill's configuration from its files: the mandate mapping (YAML, docs/ap2.md; the
// default mapping when absent) and the SD-JWT issuer key (an EC P-256 JWK, or a PEM public key).
// Errors: kIo "ap2.read" naming the file, and those of MandateMap::from_yaml and Es256PublicKey.
[[nodiscard]] Result<PaymentSkillConfig> load_payment_skill_config(const std::optional<std::string>& mapping_file,
                                                                   const std::optional<std::string>& issuer_key_file);

struct MessagePayment {
  FoundPart mandate;
  PaymentTerms terms;
};

// The payment mandate of an A2A message: exactly one ap2.mandates.* DataPart member, and it must
// be a payment mandate — v0.1 PaymentMandate, or v0.2 PaymentMandateSdJwt verified at `now`. A
// message with no mandate, two mandates, or only an intent, cart or checkout mandate is refused:
// those carry no amount a payment could be held to. Errors: kNotFound "ap2.not_found",
// kInvalidArgument "ap2.ambiguous", "ap2.mandate_unsupported", and those of the parsers and
// verify_sd_jwt.
[[nodiscard]] Result<MessagePayment> payment_in_message(const Json& message, const PaymentSkillConfig& config,
                                                        Timestamp now);

// payment_in_message, then the map's binding. Errors: those two.
[[nodiscard]] Result<ActionBinding> payment_binding(const Json& message, const PaymentSkillConfig& config, Timestamp now);

// The evidence of a finished payment task: the one ap2.mandates.* member of `message` as carried,
// and the one ap2.PaymentReceipt among `artifacts` (an array of A2A artifacts), when there is one.
// Nothing is verified here. Errors: kNotFound "ap2.not_found" (no mandate), kInvalidArgument
// "ap2.ambiguous" (two mandates, two payment receipts).
[[nodiscard]] Result<PaymentEvidence> evidence_in_task(const Json& message, const Json& artifacts);

struct PaymentReceiptContent {
  Json result;        // payment_result(evidence)
  std::string status; // "ok" when the payment receipt says success (or none is bound) and it
                      // matches the mandate; "error" otherwise
  Json summary;       // {"ap2_mandate", "ap2_payment_status": success|error|failure|none|mismatch}
  Json carried;       // {"ap2": {mandate_key, mandate, payment_receipt?, result}}
};

// What a receipt over `evidence` says. A payment receipt that does not match the mandate
// (check_payment_receipt_matches, with `terms` for v0.2 mandates) is still committed to, with
// status "error" and payment status "mismatch": the service receipts what the merchant answered.
// Errors: those of payment_result and parse_payment_receipt (a malformed payment receipt).
[[nodiscard]] Result<PaymentReceiptContent> payment_receipt_content(const PaymentEvidence& evidence,
                                                                    const CurrencyTable& currencies,
                                                                    const std::optional<PaymentTerms>& terms);

// The "ap2" member of the metadata shape in receipts.hpp. Errors: those of payment_result.
[[nodiscard]] Result<Json> carried_member(const PaymentEvidence& evidence);

}  // namespace handshake::ap2
