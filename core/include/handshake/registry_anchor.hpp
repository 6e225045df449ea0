// Anchoring receipts to a registry (§12, §18): the commitment a receipt contributes to the log,
// the registry's signature over a tree root, and the `registry_anchor` member of an anchored
// Receipt.
//
// The commitment covers the receipt without "signature" and "registry_anchor", so it is the same
// before and after anchoring: the service re-signs the receipt with the anchor inside (the anchor
// sits in the signed body, receipt.json), and the anchored receipt still names its leaf.
//
// tree_root_signature = Ed25519 by the registry's key over
//   JCS({"registry_did", "tree_root" (hex), "tree_size"})
// so the anchor verifies with nothing but the registry's public key (and, for a self-certifying
// registry DID, binds that key to the DID).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "handshake/crypto.hpp"
#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/merkle.hpp"
#include "handshake/result.hpp"

namespace handshake::registry {

// SHA-256(JCS(receipt minus "signature" and "registry_anchor")). Errors: kInvalidArgument
// "receipt.not_object", JCS errors.
[[nodiscard]] Result<crypto::Digest> receipt_commitment(const Json& receipt);
// merkle::leaf_hash(receipt_commitment(receipt)): the receipt's leaf in the log.
[[nodiscard]] Result<merkle::Hash> receipt_leaf(const Json& receipt);

// The registry's anchor object for a tree of `tree_size` leaves with root `tree_root`.
// Errors: those of the registry's signer (signer.unavailable).
[[nodiscard]] Result<Json> sign_registry_anchor(const Identity& registry, std::uint64_t tree_size, const merkle::Hash& tree_root);

struct VerifiedAnchor {
  std::string registry_did;
  std::uint64_t tree_size = 0;
  merkle::Hash tree_root{};
};

// Checks an anchor object: exactly the four members, tree_size >= 1, tree_root 64 lowercase hex,
// the signature with `registry_key`, and, when registry_did is self-certifying, that the key is
// that DID's. Errors: kSchema "anchor.invalid", kSignature "anchor.key_mismatch", "sig.malformed",
// "sig.invalid".
[[nodiscard]] Result<VerifiedAnchor> verify_registry_anchor(const Json& anchor, const crypto::PublicKey& registry_key);

// The receipt with `anchor` as its registry_anchor, re-signed by `service` (which must be the
// receipt's iss and must have signed it: the receipt is verified with the service's own key
// first). The commitment, and so the leaf, does not change. Errors: kInvalidArgument
// "receipt.issuer", those of verify_message_signature, parse errors, "anchor.*".
[[nodiscard]] Result<Json> attach_registry_anchor(const Json& receipt, const Json& anchor, const Identity& service);

// Checks that an anchored receipt's leaf is at `leaf_index` of the tree its registry_anchor
// names, with `proof` (RFC 9162 inclusion path), and the anchor's signature with `registry_key`.
// The receipt's own signature is verify_receipt's business. Errors: kNotFound "anchor.missing",
// those of verify_registry_anchor and merkle::verify_inclusion.
[[nodiscard]] Result<VerifiedAnchor> verify_anchored_receipt(const Json& receipt, const crypto::PublicKey& registry_key,
                                                             std::uint64_t leaf_index, std::span<const merkle::Hash> proof);

}  // namespace handshake::registry
