#include "handshake/ap2/bundle.hpp"

#include "handshake/ap2/receipts.hpp"
#include "handshake/chain.hpp"
#include "handshake/encoding.hpp"
#include "handshake/merkle.hpp"
#include "handshake/messages.hpp"
#include "handshake/registry_anchor.hpp"
#include "handshake/registry_log.hpp"
#include "handshake/revocation.hpp"

namespace handshake::ap2 {

namespace {

Error bundle_invalid(std::string m) { return make_error(ErrorCode::kSchema, "ap2.bundle_invalid", std::move(m)); }
Error binding_error(std::string m) { return make_error(ErrorCode::kSignature, "ap2.bundle_binding", std::move(m)); }
Error where(std::string prefix, Error e) {
  e.message = prefix + ": " + e.message;
  return e;
}

// A member that must be a string, or "" (Json::value() throws when the member has another type,
// and bundles come from files anyone can write).
std::string text_or_empty(const Json& o, const char* name) {
  if (!o.is_object()) return {};
  const auto it = o.find(name);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Json chain_array(const Json& chain) {
  if (chain.is_array()) return chain;
  return Json::array({chain});
}

// The message's signature with the key its issuer held at `at`.
Status verify_signed(const Json& doc, const std::string& iss, Timestamp at, const KeyResolver& keys) {
  const auto answer = keys.key_at(iss, at);
  if (answer.status == KeyResolver::Status::kUnavailable) {
    return make_error(ErrorCode::kUnavailable, "did.unavailable", iss + ": " + answer.detail);
  }
  if (answer.status != KeyResolver::Status::kFound) {
    return make_error(ErrorCode::kNotFound, "did.unresolved", "no key for " + iss);
  }
  return verify_message_signature(doc, answer.key);
}

Result<std::vector<merkle::Hash>> proof_hashes(const Json& list) {
  if (!list.is_array() || list.size() > merkle::kMaxProofLength) return bundle_invalid("registry.inclusion_proof must be an array of hashes");
  std::vector<merkle::Hash> out;
  for (const auto& e : list) {
    auto b = e.is_string() ? encoding::hex_decode(e.get<std::string>()) : Result<encoding::Bytes>(bundle_invalid("not hex"));
    if (!b.ok() || b->size() != 32) return bundle_invalid("registry.inclusion_proof entries must be 64 hex digits");
    merkle::Hash h{};
    std::copy(b->begin(), b->end(), h.begin());
    out.push_back(h);
  }
  return out;
}

bool is_mandate_key(const std::string& k) {
  return k == kIntentMandateKey || k == kCartMandateKey || k == kPaymentMandateKey || k == kPaymentMandateSdJwtKey ||
         k == kCheckoutMandateSdJwtKey;
}

}  // namespace

Result<FoundPart> mandate_from_document(const Json& doc) {
  auto unrecognised = [] {
    return make_error(ErrorCode::kInvalidArgument, "ap2.mandate_unrecognised",
                      "expected an A2A message/task with an ap2.mandates.* DataPart, a DataPart data object, a v0.1 "
                      "mandate or an SD-JWT string");
  };
  if (doc.is_string()) return FoundPart{std::string(kPaymentMandateSdJwtKey), doc, "$"};
  if (!doc.is_object()) return unrecognised();
  // A DataPart's data object: {"ap2.mandates.X": value} (other members such as risk_data ignored).
  std::optional<FoundPart> direct;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    if (!is_mandate_key(it.key())) continue;
    if (direct) return make_error(ErrorCode::kInvalidArgument, "ap2.ambiguous", "more than one mandate in the object");
    direct = FoundPart{it.key(), it.value(), "$"};
  }
  if (direct) return std::move(*direct);
  if (doc.contains("payment_mandate_contents")) return FoundPart{std::string(kPaymentMandateKey), doc, "$"};
  if (doc.contains("contents")) return FoundPart{std::string(kCartMandateKey), doc, "$"};
  if (doc.contains("natural_language_description")) return FoundPart{std::string(kIntentMandateKey), doc, "$"};
  std::optional<FoundPart> found;
  for (auto& p : find_ap2_parts(doc)) {
    if (!is_mandate_key(p.key)) continue;
    if (found) return make_error(ErrorCode::kInvalidArgument, "ap2.ambiguous", "mandates at " + found->where + " and " + p.where);
    found = std::move(p);
  }
  if (!found) return unrecognised();
  return std::move(*found);
}

Result<PaymentTerms> payment_terms(const FoundPart& mandate, const CurrencyTable& currencies,
                                   const MandateCheckOptions& options, Timestamp now) {
  if (mandate.key == kPaymentMandateKey) {
    HSK_ASSIGN_OR_RETURN(auto m, parse_payment_mandate(mandate.value, currencies));
    return terms_of(m);
  }
  if (mandate.key == kCartMandateKey) {
    HSK_ASSIGN_OR_RETURN(auto m, parse_cart_mandate(mandate.value, currencies));
    return terms_of(m);
  }
  if (mandate.key == kIntentMandateKey) {
    HSK_ASSIGN_OR_RETURN(auto m, parse_intent_mandate(mandate.value));
    return terms_of(m);
  }
  if (mandate.key == kPaymentMandateSdJwtKey) {
    if (!mandate.value.is_string()) {
      return make_error(ErrorCode::kSchema, "ap2.mandate_invalid", mandate.key + " must be a compact SD-JWT string");
    }
    if (options.sd_jwt_issuer_key == nullptr) {
      return make_error(ErrorCode::kKey, "ap2.sdjwt_issuer_key_missing", "an SD-JWT mandate needs the issuer's ES256 key");
    }
    SdJwtOptions o = options.sd_jwt;
    if (o.expected_vct.empty()) o.expected_vct = {std::string(kVctPaymentMandate)};
    HSK_ASSIGN_OR_RETURN(auto verified, verify_sd_jwt(mandate.value.get<std::string>(), *options.sd_jwt_issuer_key, o, now));
    HSK_ASSIGN_OR_RETURN(auto m, parse_sd_jwt_payment_mandate(verified, currencies));
    return terms_of(m);
  }
  return make_error(ErrorCode::kInvalidArgument, "ap2.mandate_unsupported",
                    mandate.key + " carries no payment terms to map");
}

Result<Json> make_dispute_bundle(const BundleInputs& in) {
  if (!in.acceptance.is_object() || !in.receipt.is_object()) return bundle_invalid("acceptance and receipt must be objects");
  const Json chain = chain_array(in.delegation_chain);
  if (chain.empty()) return bundle_invalid("the delegation chain is empty");
  if (text_or_empty(in.acceptance, "request_id") != text_or_empty(in.receipt, "handshake_id")) {
    return make_error(ErrorCode::kInvalidArgument, "ap2.bundle_binding",
                      "the receipt's handshake_id is not the acceptance's request_id");
  }
  Json bundle{{"type", std::string(kBundleType)},
              {"version", 1},
              {"mandate", {{"key", in.mandate.key}, {"value", in.mandate.value}}},
              {"delegation_chain", chain},
              {"acceptance", in.acceptance},
              {"receipt", in.receipt},
              {"mapping", in.mapping}};
  if (in.payment_receipt) bundle["payment_receipt"] = *in.payment_receipt;
  if (in.request) bundle["request"] = *in.request;
  if (in.registry_answer) {
    const Json& a = *in.registry_answer;
    if (!a.is_object() || !a.contains("leaf_index") || !a.contains("tree_head") || !a.contains("inclusion_proof")) {
      return bundle_invalid("the registry answer needs leaf_index, tree_head and inclusion_proof");
    }
    HSK_ASSIGN_OR_RETURN(auto leaf, registry::receipt_leaf(in.receipt));
    if (a.contains("leaf_hash") && a["leaf_hash"] != encoding::hex_encode(leaf)) {
      return make_error(ErrorCode::kInvalidArgument, "ap2.bundle_binding", "the registry answer is for another receipt");
    }
    bundle["registry"] = Json{{"leaf_index", a["leaf_index"]}, {"tree_head", a["tree_head"]}, {"inclusion_proof", a["inclusion_proof"]}};
  }
  return bundle;
}

Result<BundleVerdict> verify_dispute_bundle(const Json& b, const KeyResolver& keys, const BundleVerifyOptions& options) {
  // 1. shape
  if (!b.is_object() || text_or_empty(b, "type") != kBundleType) return bundle_invalid("not a dispute bundle (type)");
  if (!b.contains("version") || !b["version"].is_number_integer() || b["version"].get<std::int64_t>() != 1) {
    return bundle_invalid("unsupported bundle version");
  }
  for (const char* m : {"mandate", "acceptance", "receipt"}) {
    if (!b.contains(m) || !b[m].is_object()) return bundle_invalid(std::string(m) + " must be an object");
  }
  if (!b.contains("delegation_chain") || !b["delegation_chain"].is_array() || b["delegation_chain"].empty()) {
    return bundle_invalid("delegation_chain must be a non-empty array");
  }
  const Json& mandate_entry = b["mandate"];
  if (!mandate_entry.contains("key") || !mandate_entry["key"].is_string() || !mandate_entry.contains("value")) {
    return bundle_invalid("mandate needs key and value");
  }
  for (const char* m : {"payment_receipt", "request", "registry"}) {
    if (b.contains(m) && !b[m].is_object()) return bundle_invalid(std::string(m) + " must be an object when present");
  }
  const FoundPart mandate{mandate_entry["key"].get<std::string>(), mandate_entry["value"], "mandate"};
  const Json& acceptance_json = b["acceptance"];
  const Json& receipt_json = b["receipt"];

  // 4 (parsed first: its iat is the time everything else is judged at).
  HSK_ASSIGN_OR_RETURN(auto acceptance, Acceptance::from_json(acceptance_json));
  const Timestamp at = acceptance.iat;

  // 2. mandate -> capability and derived constraints, with the verifier's map
  HSK_ASSIGN_OR_RETURN(auto terms, payment_terms(mandate, options.map.currencies(), options.mandate, at));
  HSK_ASSIGN_OR_RETURN(auto binding, options.map.binding(terms));

  // 3. payment receipt
  PaymentEvidence evidence{mandate.key, mandate.value, std::nullopt};
  if (b.contains("payment_receipt")) evidence.payment_receipt = b["payment_receipt"];
  HSK_TRY(check_payment_receipt_matches(evidence, options.map.currencies(), terms.amount_minor, terms.currency));

  // 4. acceptance signature
  if (auto s = verify_signed(acceptance_json, acceptance.iss, at, keys); !s.ok()) return where("acceptance", s.error());

  // 5. request
  std::vector<DelegationToken> links;
  for (std::size_t i = 0; i < b["delegation_chain"].size(); ++i) {
    auto t = DelegationToken::from_json(b["delegation_chain"][i]);
    if (!t.ok()) return where("delegation_chain[" + std::to_string(i) + "]", t.error());
    links.push_back(std::move(t).value());
  }
  if (b.contains("request")) {
    HSK_ASSIGN_OR_RETURN(auto request, HandshakeRequest::from_json(b["request"]));
    if (auto s = verify_signed(b["request"], request.iss, request.iat, keys); !s.ok()) return where("request", s.error());
    if (request.id != acceptance.request_id || request.iss != acceptance.aud || request.aud != acceptance.iss) {
      return binding_error("the request is not the one the acceptance answers (id, iss, aud)");
    }
    if (b["request"]["delegation_chain"] != b["delegation_chain"]) {
      return binding_error("the request carries another delegation chain than the bundle's");
    }
  }

  // 6. the chain authorizes the mandate's derived constraints (core §11 validation)
  capability::CapabilitySchemaSet schemas;
  schemas.add(options.map.capability_schema());
  ChainOptions chain_options;
  chain_options.trust_roots = options.trust_roots.empty() ? std::vector<std::string>{links.front().iss} : options.trust_roots;
  chain_options.clock_skew = options.clock_skew;
  HandshakeRequest synthetic;
  synthetic.iss = acceptance.aud;
  synthetic.aud = acceptance.iss;
  synthetic.iat = at;
  synthetic.capability = Capability{binding.capability, binding.constraints, std::nullopt};
  synthetic.delegation_chain = links;
  const RevocationList no_revocations;  // offline: no revocation snapshot in a bundle
  const ChainVerdict verdict = validate_chain(synthetic, chain_options, schemas, keys, no_revocations, at);
  if (verdict.refusal) {
    return make_error(ErrorCode::kSignature, "ap2.bundle_chain",
                      std::string(to_string(verdict.refusal->code)) + ": " + verdict.refusal->detail);
  }
  if (!capability::name_covers(acceptance.effective_scope.capability, binding.capability)) {
    return make_error(ErrorCode::kSignature, "ap2.bundle_scope",
                      "the acceptance is for " + acceptance.effective_scope.capability + ", not " + binding.capability);
  }
  {
    auto accepted = capability::ConstraintSet::from_link(acceptance.effective_scope.constraints,
                                                         acceptance.effective_scope.capability, schemas);
    if (auto* v = std::get_if<capability::Violation>(&accepted)) {
      return make_error(ErrorCode::kSignature, "ap2.bundle_scope", "acceptance effective_scope: " + v->detail);
    }
    if (auto v = std::get<capability::ConstraintSet>(accepted).check_request(binding.constraints, at)) {
      return make_error(ErrorCode::kSignature, "ap2.bundle_scope", "the acceptance's effective scope does not admit the mandate: " + v->detail);
    }
  }

  // 7. receipt
  HSK_ASSIGN_OR_RETURN(auto receipt, Receipt::from_json(receipt_json));
  if (auto s = verify_payment_receipt(receipt_json, evidence, keys); !s.ok()) return where("receipt", s.error());
  if (receipt.handshake_id != acceptance.request_id || receipt.iss != acceptance.iss || receipt.sub != acceptance.aud ||
      receipt.action != acceptance.effective_scope.capability) {
    return binding_error("the receipt is not for the accepted request (handshake_id, iss, sub, action)");
  }

  BundleVerdict out;
  out.mandate_key = mandate.key;
  out.capability = binding.capability;
  out.derived_constraints = binding.constraints;
  out.chain_root = links.front().iss;
  out.agent = acceptance.aud;
  out.service = acceptance.iss;
  out.receipt_id = receipt.id;
  out.payment_receipt = evidence.payment_receipt.has_value();

  // 8. registry
  if (!b.contains("registry")) {
    if (options.require_registry) {
      return make_error(ErrorCode::kNotFound, "ap2.bundle_registry_missing", "the bundle holds no registry inclusion proof");
    }
    return out;
  }
  if (!options.registry_key) {
    return make_error(ErrorCode::kNotFound, "ap2.bundle_registry_missing",
                      "the bundle holds a registry proof but no registry key was given to check it");
  }
  const Json& reg = b["registry"];
  if (!reg.contains("leaf_index") || !reg["leaf_index"].is_number_integer() || reg["leaf_index"].get<std::int64_t>() < 0 ||
      !reg.contains("tree_head") || !reg.contains("inclusion_proof")) {
    return bundle_invalid("registry needs leaf_index, tree_head and inclusion_proof");
  }
  HSK_ASSIGN_OR_RETURN(auto head, registry::verify_tree_head(reg["tree_head"], *options.registry_key));
  if (options.registry_did && head.log_id != *options.registry_did) {
    return make_error(ErrorCode::kSignature, "ap2.bundle_binding", "the tree head's log_id is not the registry's DID");
  }
  HSK_ASSIGN_OR_RETURN(auto proof, proof_hashes(reg["inclusion_proof"]));
  HSK_ASSIGN_OR_RETURN(auto leaf, registry::receipt_leaf(receipt_json));
  const auto index = static_cast<std::uint64_t>(reg["leaf_index"].get<std::int64_t>());
  if (auto s = merkle::verify_inclusion(index, head.tree_size, leaf, proof, head.root_hash); !s.ok()) {
    return where("registry", s.error());
  }
  if (receipt_json.contains("registry_anchor")) {
    HSK_ASSIGN_OR_RETURN(auto anchor, registry::verify_registry_anchor(receipt_json["registry_anchor"], *options.registry_key));
    if (anchor.tree_size == head.tree_size) {
      if (auto s = registry::verify_anchored_receipt(receipt_json, *options.registry_key, index, proof); !s.ok()) {
        return where("receipt registry_anchor", s.error());
      }
    }
  }
  out.leaf_index = index;
  out.tree_size = head.tree_size;
  return out;
}

}  // namespace handshake::ap2
