// Dispute bundles: everything a third party needs to check, offline, that a payment was
// authorized by a delegation, accepted by the service and receipted, with the receipt anchored
// in a registry.
//
// Bundle (JSON object, docs/ap2.md shows a full one):
//   {"type": "handshake.ap2.dispute_bundle", "version": 1,
//    "mandate": {"key": "<DataPart key>", "value": <mandate as carried>},
//    "payment_receipt": {<ap2.PaymentReceipt>},             optional
//    "delegation_chain": [<DelegationToken>, ...],           root first
//    "request": {<HandshakeRequest>},                        optional
//    "acceptance": {<Acceptance>},
//    "receipt": {<Receipt>},
//    "registry": {"leaf_index": N, "tree_head": {<signed tree head>},
//                 "inclusion_proof": ["<hex>", ...]},        optional
//    "mapping": {<MandateMap::to_json()>}}                   informational only
//
// verify_dispute_bundle checks, in order (the first failure is the error; nothing is accepted on
// any failure):
//   1. shape: type, version 1, members of their types           -> kSchema "ap2.bundle_invalid"
//   2. the mandate: parsed (v0.1) or SD-JWT-verified at the acceptance's iat (v0.2; needs the
//      issuer key), mapped with the *verifier's* map (never the bundle's "mapping") to the
//      capability and derived constraints                      -> the mandate's errors, "ap2.mapping_incomplete"
//   3. the payment receipt, when present, parses and matches the mandate -> "ap2.receipt_mismatch"
//   4. the acceptance: schema, signature by its iss at its iat  -> parse errors, "sig.*", "did.*"
//   5. the request, when present: schema, the agent's signature, and bound to the acceptance
//      (id = request_id, iss = acceptance aud, aud = acceptance iss, same chain)
//                                                              -> "sig.*", kSignature "ap2.bundle_binding"
//   6. the chain, with core's §11 validation (handshake::validate_chain) at the acceptance's iat,
//      for a request by the acceptance's aud for the mapped capability with the derived
//      constraints: signatures, trust root, audience continuity, delegability, validity,
//      attenuation, and the derived values within the intersected scope
//                                                              -> kSignature "ap2.bundle_chain"
//                                                                 ("<§14 code>: <detail>")
//      and the acceptance's capability covers the mapped one and its effective scope admits the
//      derived values                                          -> kSignature "ap2.bundle_scope"
//   7. the receipt: signature by its iss, result_hash = SHA-256(JCS(payment_result(mandate,
//      payment receipt))), bound to the acceptance (handshake_id, iss, sub, action)
//                                                              -> "sig.*", "receipt.result_mismatch",
//                                                                 "ap2.bundle_binding"
//   8. the registry proof, when present (required when options say so): the tree head's
//      signature with the registry key, its log_id = the registry DID, the receipt's leaf at
//      leaf_index (RFC 9162), and the receipt's own registry_anchor when it has one
//                                                              -> "registry.tree_head", "sig.*",
//                                                                 "merkle.*", "anchor.*",
//                                                                 kNotFound "ap2.bundle_registry_missing"
// Revocation is not checked offline (a bundle holds no revocation snapshot): docs/ap2.md.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "handshake/ap2/mandates.hpp"
#include "handshake/ap2/mapping.hpp"
#include "handshake/ap2/sd_jwt.hpp"
#include "handshake/crypto.hpp"
#include "handshake/json.hpp"
#include "handshake/resolver.hpp"
#include "handshake/result.hpp"

namespace handshake::ap2 {

inline constexpr std::string_view kBundleType = "handshake.ap2.dispute_bundle";

// A mandate given as a file: an A2A message/task/artifact holding exactly one ap2.mandates.*
// DataPart, a DataPart `data` object {"ap2.mandates.X": ...}, a bare v0.1 mandate object
// (recognised by payment_mandate_contents / contents / natural_language_description), or a JSON
// string holding a compact SD-JWT (a v0.2 payment mandate). Errors: kInvalidArgument
// "ap2.mandate_unrecognised", "ap2.ambiguous".
[[nodiscard]] Result<FoundPart> mandate_from_document(const Json& doc);

struct MandateCheckOptions {
  const Es256PublicKey* sd_jwt_issuer_key = nullptr;  // required for v0.2 mandates
  SdJwtOptions sd_jwt;  // expected_vct is set from the DataPart key when empty
};

// The payment terms of a mandate (parsed, or SD-JWT-verified at `now`). v0.2 checkout mandates
// carry no payment terms and are refused here. Errors: those of the parsers and verify_sd_jwt,
// kKey "ap2.sdjwt_issuer_key_missing", kInvalidArgument "ap2.mandate_unsupported".
[[nodiscard]] Result<PaymentTerms> payment_terms(const FoundPart& mandate, const CurrencyTable& currencies,
                                                 const MandateCheckOptions& options, Timestamp now);

struct BundleInputs {
  FoundPart mandate;
  std::optional<Json> payment_receipt;
  Json delegation_chain;  // array of tokens (or one token)
  std::optional<Json> request;
  Json acceptance;
  Json receipt;
  std::optional<Json> registry_answer;  // `hsk registry anchor` output (leaf_index, tree_head, inclusion_proof)
  Json mapping;
};

// Assembles a bundle. Checks only what catches a wrong file early: the acceptance is bound to the
// receipt (request_id = handshake_id) and, with a registry answer, that it names this receipt's
// leaf (leaf_hash) and holds leaf_index, tree_head and inclusion_proof. Errors: kSchema
// "ap2.bundle_invalid", kInvalidArgument "ap2.bundle_binding".
[[nodiscard]] Result<Json> make_dispute_bundle(const BundleInputs& inputs);

struct BundleVerifyOptions {
  MandateMap map;                             // the verifier's own mapping
  std::vector<std::string> trust_roots;       // empty: the chain's root issuer is taken as the root
  std::chrono::seconds clock_skew{60};
  std::optional<crypto::PublicKey> registry_key;
  std::optional<std::string> registry_did;    // the tree head's log_id must equal it when set
  bool require_registry = false;
  MandateCheckOptions mandate;
};

struct BundleVerdict {
  std::string mandate_key;
  std::string capability;
  Json derived_constraints;
  std::string chain_root;       // the root delegation's issuer
  std::string agent, service;   // acceptance aud / iss
  std::string receipt_id;
  bool payment_receipt = false;
  std::optional<std::uint64_t> leaf_index, tree_size;
};

// See the header comment. `keys` resolves every DID's key at signing time (DID Documents).
[[nodiscard]] Result<BundleVerdict> verify_dispute_bundle(const Json& bundle, const KeyResolver& keys,
                                                          const BundleVerifyOptions& options);

}  // namespace handshake::ap2
