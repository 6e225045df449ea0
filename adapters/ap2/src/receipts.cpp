#include "handshake/ap2/receipts.hpp"

#include "handshake/ap2/extension.hpp"
#include "handshake/ap2/payment_skill.hpp"

namespace handshake::ap2 {

namespace {

Error evidence_error(std::string m) { return make_error(ErrorCode::kInvalidArgument, "ap2.evidence_invalid", std::move(m)); }
Error metadata_error(std::string m) { return make_error(ErrorCode::kSchema, "ap2.metadata_invalid", std::move(m)); }

Result<Json> summary_for(const PaymentEvidence& evidence, const CurrencyTable& currencies) {
  std::string status = "none";
  if (evidence.payment_receipt) {
    HSK_ASSIGN_OR_RETURN(auto r, parse_payment_receipt(*evidence.payment_receipt, currencies));
    status = std::string(to_string(r.status));
  }
  return Json{{"ap2_mandate", evidence.mandate_key}, {"ap2_payment_status", status}};
}

}  // namespace

Result<Json> payment_result(const PaymentEvidence& evidence) {
  if (evidence.mandate_key.rfind("ap2.mandates.", 0) != 0) {
    return evidence_error("mandate_key must be an ap2.mandates.* DataPart key, got '" + evidence.mandate_key + "'");
  }
  if (evidence.mandate.is_null()) return evidence_error("no mandate");
  HSK_ASSIGN_OR_RETURN(auto mandate_hash, commitment(evidence.mandate));
  Json result{{"type", std::string(kResultType)},
              {"mandate", {{"key", evidence.mandate_key}, {"hash", mandate_hash.to_json()}}}};
  if (evidence.payment_receipt) {
    if (!evidence.payment_receipt->is_object()) return evidence_error("the payment receipt must be an object");
    HSK_ASSIGN_OR_RETURN(auto receipt_hash, commitment(*evidence.payment_receipt));
    result["payment_receipt"] = Json{{"key", std::string(kPaymentReceiptKey)}, {"hash", receipt_hash.to_json()}};
  }
  return result;
}

Status check_payment_receipt_matches(const PaymentEvidence& evidence, const CurrencyTable& currencies,
                                     std::optional<std::int64_t> terms_amount, std::optional<std::string> terms_currency) {
  if (!evidence.payment_receipt) return ok_status();
  HSK_ASSIGN_OR_RETURN(auto receipt, parse_payment_receipt(*evidence.payment_receipt, currencies));
  std::optional<std::string> mandate_id;
  if (evidence.mandate_key == kPaymentMandateKey) {
    HSK_ASSIGN_OR_RETURN(auto m, parse_payment_mandate(evidence.mandate, currencies));
    mandate_id = m.contents.payment_mandate_id;
    terms_amount = m.contents.payment_details_total.amount.minor;
    terms_currency = m.contents.payment_details_total.amount.currency;
  } else if (evidence.mandate_key == kCartMandateKey) {
    HSK_ASSIGN_OR_RETURN(auto m, parse_cart_mandate(evidence.mandate, currencies));
    terms_amount = m.contents.total.amount.minor;
    terms_currency = m.contents.total.amount.currency;
  }
  auto mismatch = [](std::string m) { return make_error(ErrorCode::kInvalidArgument, "ap2.receipt_mismatch", std::move(m)); };
  if (mandate_id && *mandate_id != receipt.payment_mandate_id) {
    return mismatch("the payment receipt names mandate " + receipt.payment_mandate_id + ", not " + *mandate_id);
  }
  if (terms_amount && (*terms_amount != receipt.amount.minor || terms_currency != receipt.amount.currency)) {
    return mismatch("the payment receipt's amount " + std::to_string(receipt.amount.minor) + " " + receipt.amount.currency +
                    " (minor units) differs from the mandate's " + std::to_string(*terms_amount) + " " +
                    terms_currency.value_or("?"));
  }
  return ok_status();
}

Result<std::string> receipt_status(const PaymentEvidence& evidence, const CurrencyTable& currencies) {
  if (!evidence.payment_receipt) return std::string("ok");
  HSK_ASSIGN_OR_RETURN(auto r, parse_payment_receipt(*evidence.payment_receipt, currencies));
  return std::string(r.status == PaymentReceipt::Status::kSuccess ? "ok" : "error");
}

namespace {

Result<Json> prepare(const PaymentEvidence& evidence, const CurrencyTable& currencies, ReceiptOptions& options,
                     std::string& status) {
  HSK_TRY(check_payment_receipt_matches(evidence, currencies));
  HSK_ASSIGN_OR_RETURN(auto result, payment_result(evidence));
  HSK_ASSIGN_OR_RETURN(status, receipt_status(evidence, currencies));
  if (!options.result_summary) {
    HSK_ASSIGN_OR_RETURN(auto summary, summary_for(evidence, currencies));
    options.result_summary = std::move(summary);
  }
  return result;
}

}  // namespace

Result<Json> issue_payment_receipt(const Service& service, const Decision& decision, const PaymentEvidence& evidence,
                                   const CurrencyTable& currencies, ReceiptOptions options) {
  std::string status;
  HSK_ASSIGN_OR_RETURN(auto result, prepare(evidence, currencies, options, status));
  return service.issue_receipt(decision, result, status, options);
}

Result<Json> issue_payment_receipt(const Identity& service, const Acceptance& acceptance, const PaymentEvidence& evidence,
                                   const CurrencyTable& currencies, Timestamp now, ReceiptOptions options) {
  std::string status;
  HSK_ASSIGN_OR_RETURN(auto result, prepare(evidence, currencies, options, status));
  return issue_receipt(service, acceptance, result, status, now, options);
}

Status verify_payment_receipt(const Json& receipt, const PaymentEvidence& evidence, const KeyResolver& keys) {
  HSK_ASSIGN_OR_RETURN(auto result, payment_result(evidence));
  return verify_receipt(receipt, keys, result);
}

Status attach_to_metadata(Json& metadata, const Json& receipt, const PaymentEvidence& evidence) {
  if (metadata.is_null()) metadata = Json::object();
  if (!metadata.is_object()) return make_error(ErrorCode::kInvalidArgument, "ap2.metadata_invalid", "metadata is not an object");
  const std::string key(kExtensionUri);
  Json& ours = metadata[key];
  if (ours.is_null()) ours = Json::object();
  if (!ours.is_object()) {
    return make_error(ErrorCode::kInvalidArgument, "ap2.metadata_invalid", "metadata[" + key + "] is not an object");
  }
  HSK_ASSIGN_OR_RETURN(auto ap2, carried_member(evidence));
  ours["receipt"] = receipt;
  ours["ap2"] = std::move(ap2);
  return ok_status();
}

Result<AttachedPayment> read_from_metadata(const Json& metadata) {
  const std::string key(kExtensionUri);
  if (!metadata.is_object() || !metadata.contains(key)) {
    return make_error(ErrorCode::kNotFound, "ap2.metadata_missing", "no metadata under " + key);
  }
  const Json& ours = metadata[key];
  if (!ours.is_object() || !ours.contains("receipt") || !ours["receipt"].is_object() || !ours.contains("ap2") ||
      !ours["ap2"].is_object()) {
    return metadata_error("metadata[" + key + "] needs a receipt object and an ap2 object");
  }
  const Json& ap2 = ours["ap2"];
  if (!ap2.contains("mandate_key") || !ap2["mandate_key"].is_string() || !ap2.contains("mandate") || !ap2.contains("result")) {
    return metadata_error("ap2 needs mandate_key, mandate and result");
  }
  AttachedPayment out;
  out.receipt = ours["receipt"];
  out.evidence.mandate_key = ap2["mandate_key"].get<std::string>();
  out.evidence.mandate = ap2["mandate"];
  if (ap2.contains("payment_receipt") && !ap2["payment_receipt"].is_null()) out.evidence.payment_receipt = ap2["payment_receipt"];
  auto expected = payment_result(out.evidence);
  if (!expected.ok()) return metadata_error(expected.error().message);
  if (*expected != ap2["result"]) return metadata_error("the carried result does not match the carried mandate and payment receipt");
  return out;
}

}  // namespace handshake::ap2
