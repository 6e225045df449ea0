#include "handshake/registry_anchor.hpp"

#include "handshake/did.hpp"
#include "handshake/encoding.hpp"
#include "handshake/messages.hpp"

namespace handshake::registry {
namespace {

Error anchor_error(const std::string& message) { return make_error(ErrorCode::kSchema, "anchor.invalid", message); }

Result<std::string> anchor_signing_input(const std::string& registry_did, std::uint64_t tree_size,
                                         const std::string& tree_root_hex) {
  return json::canonicalize(Json{{"registry_did", registry_did}, {"tree_root", tree_root_hex}, {"tree_size", tree_size}});
}

}  // namespace

Result<crypto::Digest> receipt_commitment(const Json& receipt) {
  if (!receipt.is_object()) return make_error(ErrorCode::kInvalidArgument, "receipt.not_object", "a receipt is an object");
  Json body = receipt;
  body.erase("signature");
  body.erase("registry_anchor");
  HSK_ASSIGN_OR_RETURN(auto canon, json::canonicalize(body));
  return crypto::sha256(encoding::as_bytes(canon));
}

Result<merkle::Hash> receipt_leaf(const Json& receipt) {
  HSK_ASSIGN_OR_RETURN(auto commitment, receipt_commitment(receipt));
  return merkle::leaf_hash(commitment);
}

Result<Json> sign_registry_anchor(const Identity& registry, std::uint64_t tree_size, const merkle::Hash& tree_root) {
  const std::string root = encoding::hex_encode(tree_root);
  // The three members are a DID, an integer and hex: canonicalization cannot fail.
  const std::string input = anchor_signing_input(registry.did_string(), tree_size, root).value();
  HSK_ASSIGN_OR_RETURN(const auto sig, registry.key().try_sign(encoding::as_bytes(input)));
  return Json{{"registry_did", registry.did_string()},
              {"tree_size", tree_size},
              {"tree_root", root},
              {"tree_root_signature", encoding::base64url_encode(sig)}};
}

Result<VerifiedAnchor> verify_registry_anchor(const Json& anchor, const crypto::PublicKey& registry_key) {
  if (!anchor.is_object()) return anchor_error("registry_anchor must be an object");
  for (const auto& [k, v] : anchor.items()) {
    if (k != "registry_did" && k != "tree_size" && k != "tree_root" && k != "tree_root_signature") {
      return anchor_error("unknown member \"" + k.substr(0, 40) + "\"");
    }
  }
  VerifiedAnchor out;
  if (!anchor.contains("registry_did") || !anchor["registry_did"].is_string()) return anchor_error("registry_did missing");
  out.registry_did = anchor["registry_did"].get<std::string>();
  auto did = parse_did(out.registry_did);
  if (!did.ok()) return anchor_error("registry_did: " + did.error().message);
  if (!anchor.contains("tree_size") || !anchor["tree_size"].is_number_integer() || anchor["tree_size"].get<std::int64_t>() < 1) {
    return anchor_error("tree_size must be an integer >= 1");
  }
  out.tree_size = static_cast<std::uint64_t>(anchor["tree_size"].get<std::int64_t>());
  if (!anchor.contains("tree_root") || !anchor["tree_root"].is_string()) return anchor_error("tree_root missing");
  const auto& root_hex = anchor["tree_root"].get_ref<const std::string&>();
  auto root = encoding::hex_decode(root_hex);
  if (!root.ok() || root->size() != 32 || encoding::hex_encode(*root) != root_hex) {
    return anchor_error("tree_root must be 64 lowercase hex digits");
  }
  std::copy(root->begin(), root->end(), out.tree_root.begin());
  if (!anchor.contains("tree_root_signature") || !anchor["tree_root_signature"].is_string()) {
    return anchor_error("tree_root_signature missing");
  }
  if (is_key_hash_id(did->id) && !did_binds_key(*did, registry_key)) {
    return make_error(ErrorCode::kSignature, "anchor.key_mismatch", "the key given is not " + out.registry_did + "'s");
  }
  auto sig = encoding::base64url_decode(anchor["tree_root_signature"].get<std::string>());
  if (!sig.ok() || sig->size() != crypto::kSignatureBytes) {
    return make_error(ErrorCode::kSignature, "sig.malformed", "tree_root_signature is not 64 bytes of base64url");
  }
  HSK_ASSIGN_OR_RETURN(auto input, anchor_signing_input(out.registry_did, out.tree_size, root_hex));
  if (!crypto::verify(registry_key, encoding::as_bytes(input), *sig)) {
    return make_error(ErrorCode::kSignature, "sig.invalid", "tree_root_signature does not verify");
  }
  return out;
}

Result<Json> attach_registry_anchor(const Json& receipt, const Json& anchor, const Identity& service) {
  HSK_ASSIGN_OR_RETURN(auto parsed, Receipt::from_json(receipt));
  if (parsed.iss != service.did_string()) {
    return make_error(ErrorCode::kInvalidArgument, "receipt.issuer", "only the receipt's issuer can re-sign it");
  }
  HSK_TRY(verify_message_signature(receipt, service.public_key()));
  if (!anchor.is_object()) return anchor_error("registry_anchor must be an object");
  Json next = receipt;
  next["registry_anchor"] = anchor;
  return sign_message(std::move(next), service.key());
}

Result<VerifiedAnchor> verify_anchored_receipt(const Json& receipt, const crypto::PublicKey& registry_key,
                                               std::uint64_t leaf_index, std::span<const merkle::Hash> proof) {
  if (!receipt.is_object() || !receipt.contains("registry_anchor")) {
    return make_error(ErrorCode::kNotFound, "anchor.missing", "the receipt carries no registry_anchor");
  }
  HSK_ASSIGN_OR_RETURN(auto anchor, verify_registry_anchor(receipt["registry_anchor"], registry_key));
  HSK_ASSIGN_OR_RETURN(auto leaf, receipt_leaf(receipt));
  HSK_TRY(merkle::verify_inclusion(leaf_index, anchor.tree_size, leaf, proof, anchor.tree_root));
  return anchor;
}

}  // namespace handshake::registry
