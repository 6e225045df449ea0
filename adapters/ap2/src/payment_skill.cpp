#include "handshake/ap2/payment_skill.hpp"

#include "handshake/ap2/bundle.hpp"

#include <fstream>
#include <iterator>

namespace handshake::ap2 {
namespace {

bool is_mandate(const std::string& key) { return key.rfind("ap2.mandates.", 0) == 0; }

Error ambiguous(const std::string& what, const FoundPart& a, const FoundPart& b) {
  return make_error(ErrorCode::kInvalidArgument, "ap2.ambiguous", what + " at " + a.where + " and " + b.where);
}

// The one ap2 member of `container` whose key passes `want`, or nullopt.
Result<std::optional<FoundPart>> one_part(const Json& container, bool (*want)(const std::string&), const std::string& what) {
  std::optional<FoundPart> found;
  for (auto& p : find_ap2_parts(container)) {
    if (!want(p.key)) continue;
    if (found) return ambiguous("two " + what, *found, p);
    found = std::move(p);
  }
  return found;
}

bool is_payment_receipt(const std::string& key) { return key == kPaymentReceiptKey; }

}  // namespace

Result<MessagePayment> payment_in_message(const Json& message, const PaymentSkillConfig& config, Timestamp now) {
  HSK_ASSIGN_OR_RETURN(auto part, one_part(message, is_mandate, "mandates"));
  if (!part) return make_error(ErrorCode::kNotFound, "ap2.not_found", "the message carries no AP2 mandate");
  if (part->key != kPaymentMandateKey && part->key != kPaymentMandateSdJwtKey) {
    return make_error(ErrorCode::kInvalidArgument, "ap2.mandate_unsupported",
                      part->key + " is not a payment mandate: a payment needs " + std::string(kPaymentMandateKey) +
                          " or " + std::string(kPaymentMandateSdJwtKey));
  }
  MandateCheckOptions check;
  check.sd_jwt_issuer_key = config.sd_jwt_issuer_key.get();
  check.sd_jwt = config.sd_jwt;
  HSK_ASSIGN_OR_RETURN(auto terms, payment_terms(*part, config.map.currencies(), check, now));
  return MessagePayment{std::move(*part), std::move(terms)};
}

Result<PaymentSkillConfig> load_payment_skill_config(const std::optional<std::string>& mapping_file,
                                                     const std::optional<std::string>& issuer_key_file) {
  auto read = [](const std::string& path) -> Result<std::string> {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(ErrorCode::kIo, "ap2.read", "cannot read " + path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  PaymentSkillConfig config;
  if (mapping_file) {
    HSK_ASSIGN_OR_RETURN(auto text, read(*mapping_file));
    HSK_ASSIGN_OR_RETURN(config.map, MandateMap::from_yaml(text));
  }
  if (issuer_key_file) {
    HSK_ASSIGN_OR_RETURN(auto text, read(*issuer_key_file));
    auto key = text.find("-----BEGIN") != std::string::npos ? Es256PublicKey::from_pem(text)
                                                            : [&]() -> Result<Es256PublicKey> {
                                                                HSK_ASSIGN_OR_RETURN(auto jwk, json::parse_strict(text));
                                                                return Es256PublicKey::from_jwk(jwk);
                                                              }();
    if (!key.ok()) return key.error();
    config.sd_jwt_issuer_key = std::make_shared<const Es256PublicKey>(std::move(key).value());
  }
  return config;
}

Result<ActionBinding> payment_binding(const Json& message, const PaymentSkillConfig& config, Timestamp now) {
  HSK_ASSIGN_OR_RETURN(auto payment, payment_in_message(message, config, now));
  return config.map.binding(payment.terms);
}

Result<PaymentEvidence> evidence_in_task(const Json& message, const Json& artifacts) {
  HSK_ASSIGN_OR_RETURN(auto mandate, one_part(message, is_mandate, "mandates"));
  if (!mandate) return make_error(ErrorCode::kNotFound, "ap2.not_found", "the message carries no AP2 mandate");
  PaymentEvidence evidence{mandate->key, mandate->value, std::nullopt};
  std::optional<FoundPart> receipt;
  if (artifacts.is_array()) {
    for (std::size_t i = 0; i < artifacts.size(); ++i) {
      HSK_ASSIGN_OR_RETURN(auto r, one_part(artifacts[i], is_payment_receipt, "payment receipts"));
      if (!r) continue;
      r->where = "artifacts[" + std::to_string(i) + "]." + r->where;
      if (receipt) return ambiguous("two payment receipts", *receipt, *r);
      receipt = std::move(r);
    }
  }
  if (receipt) evidence.payment_receipt = std::move(receipt->value);
  return evidence;
}

Result<Json> carried_member(const PaymentEvidence& evidence) {
  HSK_ASSIGN_OR_RETURN(auto result, payment_result(evidence));
  Json ap2{{"mandate_key", evidence.mandate_key}, {"mandate", evidence.mandate}, {"result", std::move(result)}};
  if (evidence.payment_receipt) ap2["payment_receipt"] = *evidence.payment_receipt;
  return ap2;
}

Result<PaymentReceiptContent> payment_receipt_content(const PaymentEvidence& evidence, const CurrencyTable& currencies,
                                                      const std::optional<PaymentTerms>& terms) {
  PaymentReceiptContent out;
  HSK_ASSIGN_OR_RETURN(out.result, payment_result(evidence));
  std::string payment_status = "none";
  out.status = "ok";
  if (evidence.payment_receipt) {
    HSK_ASSIGN_OR_RETURN(auto r, parse_payment_receipt(*evidence.payment_receipt, currencies));
    payment_status = std::string(to_string(r.status));
    if (r.status != PaymentReceipt::Status::kSuccess) out.status = "error";
    auto matches = check_payment_receipt_matches(evidence, currencies, terms ? terms->amount_minor : std::nullopt,
                                                 terms ? terms->currency : std::nullopt);
    if (!matches.ok()) {
      if (matches.error().reason != "ap2.receipt_mismatch") return matches.error();
      payment_status = "mismatch";
      out.status = "error";
    }
  }
  out.summary = Json{{"ap2_mandate", evidence.mandate_key}, {"ap2_payment_status", payment_status}};
  HSK_ASSIGN_OR_RETURN(auto ap2, carried_member(evidence));
  out.carried = Json{{"ap2", std::move(ap2)}};
  return out;
}

}  // namespace handshake::ap2
