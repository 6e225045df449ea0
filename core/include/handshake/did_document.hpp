// DID Documents (§5.2), their versions and key rotation (§5.3).
//
// Document shape (W3C DID Core, validated against the reference did-document.json):
//   {"@context": ["https://www.w3.org/ns/did/v1"], "id": DID, "versionId": "N",
//    "versionTime": RFC 3339, "verificationMethod": [{"id": DID#keys-N,
//      "type": "Ed25519VerificationKey2020", "controller": DID,
//      "publicKeyJwk": {"kty": "OKP", "crv": "Ed25519", "x": base64url}}],   (RFC 8037)
//    "authentication": [DID#keys-N], "handshake:credentials": [...],
//    "handshake:revocation": {"endpoint": URI, ...},
//    "previousVersionSignature": base64url,   (N > 1 only)
//    "proof": [{"type": "HandshakeJcsEd25519", "verificationMethod": DID#keys-N,
//               "created": RFC 3339, "proofPurpose": "assertionMethod", "proofValue": base64url}]}
//
// Signatures:
//   proof[i].proofValue         Ed25519 over JCS(document without "proof"), by the key that
//                               proof names. The principal's own proof is by its authentication
//                               key; a registry may add its own entry (§5.1) without breaking it.
//   previousVersionSignature    Ed25519 over JCS(document without "proof" and without
//                               "previousVersionSignature"), by version N-1's authentication key.
// Validity window of version N: [versionTime(N), versionTime(N+1)); version 1 without a
// versionTime starts at the beginning of time; the newest version has no end.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "handshake/crypto.hpp"
#include "handshake/did.hpp"
#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake {

inline constexpr std::string_view kDidProofType = "HandshakeJcsEd25519";

struct DidDocumentOptions {
  Timestamp version_time{};                        // when this version becomes effective
  std::optional<std::string> revocation_endpoint;  // handshake:revocation.endpoint
  Json credentials = Json::array();                // handshake:credentials
  Json services = Json::array();                   // DID Core "service" entries
};

// Version 1 of the identity's DID Document, with its own proof. Errors: kInvalidArgument
// "diddoc.version" if the identity's key_version is not 1.
[[nodiscard]] Result<Json> make_did_document(const Identity& identity, const DidDocumentOptions& options);

// Version N+1 for `next` (previous.rotated()), carrying previousVersionSignature by
// `previous_key` and its own proof. `previous_document` must be version N of the same DID.
// Errors: kInvalidArgument "diddoc.version" (numbers or DIDs do not follow), those of
// parse_did_document.
[[nodiscard]] Result<Json> rotate_did_document(const Json& previous_document, const crypto::Signer& previous_key,
                                               const Identity& next, const DidDocumentOptions& options);

// Adds a proof entry by `signer` (verification method `method_id`) to `document`, e.g. a
// registry's signature alongside the principal's (§5.1).
[[nodiscard]] Result<Json> add_did_document_proof(Json document, const crypto::Signer& signer,
                                                  const std::string& method_id, Timestamp created);

// Checks that `document` carries a proof entry by `method_id` that verifies with `key` (e.g. the
// registry's signature beside the principal's, §5.1). Errors: kSignature "diddoc.proof_missing",
// "sig.invalid".
[[nodiscard]] Status verify_did_document_proof_by(const Json& document, const crypto::PublicKey& key,
                                                  const std::string& method_id);

// A parsed version.
struct DidDocument {
  Did did;
  std::uint64_t version = 1;
  std::optional<Timestamp> version_time;
  std::string key_id;         // the authentication method's id
  crypto::PublicKey key{};    // its Ed25519 key
  Json source;
};

// Schema check plus the rules above: versionId a positive decimal, the first authentication
// entry naming an Ed25519 verification method of this DID with an OKP/Ed25519 JWK, a valid point.
// Errors: kSchema "diddoc.invalid", kSchema "schema.invalid".
[[nodiscard]] Result<DidDocument> parse_did_document(const Json& document);

// Checks the principal's own proof (by its authentication key). Errors: kSignature
// "diddoc.proof_missing", "sig.*".
[[nodiscard]] Status verify_did_document_proof(const DidDocument& document);

// The verified version history of one DID.
class DidKeyHistory {
 public:
  // `versions` in any order, 1..N with no gaps. Checks every version's own proof, each
  // previousVersionSignature against the version before, strictly increasing versionTime, and
  // for a self-certifying DID that version 1's key hashes to the identifier. Documents of
  // non-self-certifying DIDs (user handles, org domains) are only as trustworthy as the source
  // they came from: pass `trusted_source` = true only for documents from such a source.
  // Errors: kInvalidArgument "diddoc.history", kSignature "diddoc.untrusted", "sig.*", parse errors.
  [[nodiscard]] static Result<DidKeyHistory> build(const std::vector<Json>& versions, bool trusted_source);

  [[nodiscard]] const Did& did() const noexcept { return versions_.front().did; }
  [[nodiscard]] const DidDocument& current() const noexcept { return versions_.back(); }
  [[nodiscard]] const std::vector<DidDocument>& versions() const noexcept { return versions_; }
  // The key whose validity window contains `t`. Errors: kNotFound "diddoc.no_key_at_time".
  [[nodiscard]] Result<crypto::PublicKey> key_at(Timestamp t) const;

 private:
  std::vector<DidDocument> versions_;
};

// A set of DID histories from documents given by the caller (files on the command line, a
// configured directory). Signing time decides which key version applies (§5.3).
class DidDirectory {
 public:
  // Collects one document version; histories are built by finish().
  void add(Json document) { pending_.push_back(std::move(document)); }
  // Groups the collected documents by DID and builds each history.
  [[nodiscard]] Status finish(bool trusted_source);
  [[nodiscard]] const DidKeyHistory* find(const std::string& did) const;

 private:
  std::vector<Json> pending_;
  std::map<std::string, DidKeyHistory> histories_;
};

// The time at which a message claims to have been signed: "iat", or "executed_at" for receipts.
[[nodiscard]] Result<Timestamp> signing_time(const Json& message);

// Verifies `message`'s signature with the key its issuer ("iss") held at signing_time(message).
// Errors: kNotFound "did.unresolved" (issuer not in the directory), those of key_at and
// verify_message_signature.
[[nodiscard]] Status verify_with_directory(const Json& message, const DidDirectory& directory);

}  // namespace handshake
