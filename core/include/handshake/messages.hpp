// The six signed message kinds (§8) as typed structs, their schema-checked parsing, and the
// signing rule every kind shares.
//
// Signing input (design "Signing input"): JCS(message without its "signature" member), signed
// with Ed25519; "alg" is part of what is signed. Signatures are base64url without padding.
//
// Parsing a message (Type::from_json) checks, in this order, and stops at the first failure:
//   1. "kind" names the expected kind                       -> kSchema "message.kind"
//   2. "version" is "0.2.3"                                  -> kUnsupportedVersion "message.version"
//   3. no top-level member outside the kind's closed schema  -> kUnsupportedVersion "message.unknown_field"
//      (§15: a 0.2.3 receiver cannot tell an unknown optional member from an unknown required
//      one, and the reference schemas are closed, so it refuses both; unknown members inside the
//      open extension points — agent_attestation, constraints, result_summary — are kept and
//      covered by the signature)
//   4. each field has its type, pattern and bounds           -> kSchema "message.field"
//   5. the whole document validates against the embedded reference schema -> kSchema "schema.invalid"
// Step 4 bounds every string before step 5 runs its patterns on it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "handshake/crypto.hpp"
#include "handshake/json.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake {

inline constexpr std::string_view kProtocolVersion = "0.2.3";
inline constexpr std::string_view kAlgEdDSA = "EdDSA";

enum class MessageKind {
  kDelegationToken,
  kHandshakeRequest,
  kAcceptance,
  kRefusal,
  kReceipt,
  kRevocationStatement,
};

// The wire name ("DelegationToken", ...).
[[nodiscard]] std::string_view to_string(MessageKind kind) noexcept;
// The reference schema file of a kind ("delegation-token.json", ...).
[[nodiscard]] std::string_view schema_name(MessageKind kind) noexcept;
// The kind named by doc["kind"]. Errors: kSchema "message.kind".
[[nodiscard]] Result<MessageKind> kind_of(const Json& doc);

struct Capability {
  std::string name;
  Json constraints = Json::object();
  std::optional<bool> delegable;  // absent means false (schema default)

  [[nodiscard]] bool is_delegable() const noexcept { return delegable.value_or(false); }
  [[nodiscard]] Json to_json() const;
  [[nodiscard]] static Result<Capability> from_json(const Json& j, std::string_view where);
};

struct HashValue {
  std::string alg = "sha-256";  // "sha-256" | "sha3-256"
  std::string value;            // lowercase hex
  [[nodiscard]] Json to_json() const { return Json{{"alg", alg}, {"value", value}}; }
};

// Every struct below keeps `source`: the JSON it was parsed from (or that sign() produced).
// Signatures are always checked over `source`, never over a re-serialization of the fields.

struct DelegationToken {
  std::string id;  // dt_ + ULID
  std::string iss, sub, aud;
  Timestamp iat{}, nbf{}, exp{};
  std::vector<Capability> capabilities;
  std::int64_t sub_delegation_depth_remaining = 0;
  std::optional<std::string> parent_delegation_id;
  std::string alg = std::string(kAlgEdDSA);
  std::string signature;
  Json source;

  // The message without "signature" when it is empty.
  [[nodiscard]] Json to_json() const;
  [[nodiscard]] static Result<DelegationToken> from_json(const Json& j);
};

struct AgentAttestation {
  std::string deployer;
  std::string model;
  std::optional<std::string> model_version;
  std::string instance_id;
  std::optional<HashValue> code_hash;
  Json extra = Json::object();  // members beyond the ones above (open extension point)
};

struct HandshakeRequest {
  std::string id;  // hs_ + ULID
  std::string iss, aud;
  Timestamp iat{};
  std::string nonce;
  AgentAttestation agent_attestation;
  Capability capability;
  std::vector<DelegationToken> delegation_chain;  // root -> leaf
  std::string alg = std::string(kAlgEdDSA);
  std::string signature;
  Json source;

  [[nodiscard]] Json to_json() const;
  [[nodiscard]] static Result<HandshakeRequest> from_json(const Json& j);
};

struct EffectiveScope {
  std::string capability;
  Json constraints = Json::object();
};

struct Acceptance {
  std::string request_id;
  std::string iss, aud;
  Timestamp iat{};
  EffectiveScope effective_scope;
  std::optional<std::string> session_token;
  std::optional<std::int64_t> session_ttl_seconds;
  std::string alg = std::string(kAlgEdDSA);
  std::string signature;
  Json source;

  [[nodiscard]] Json to_json() const;
  [[nodiscard]] static Result<Acceptance> from_json(const Json& j);
};

struct RefusalReason {
  std::string code;  // a §14 code
  std::optional<std::string> detail;
  std::optional<std::int64_t> retry_after_seconds;
};

struct Refusal {
  std::string request_id;
  std::string iss, aud;
  Timestamp iat{};
  RefusalReason reason;
  std::string alg = std::string(kAlgEdDSA);
  std::string signature;
  Json source;

  [[nodiscard]] Json to_json() const;
  [[nodiscard]] static Result<Refusal> from_json(const Json& j);
};

struct RegistryAnchor {
  std::optional<std::string> registry_did;
  std::optional<std::int64_t> tree_size;
  std::optional<std::string> tree_root;
  std::optional<std::string> tree_root_signature;
};

struct Receipt {
  std::string id;  // rc_ + ULID
  std::string handshake_id;
  std::string iss, sub;
  std::string action;
  Timestamp executed_at{};
  std::string result;  // ok | error | partial
  HashValue result_hash;
  std::optional<Json> result_summary;
  std::optional<std::vector<std::string>> upstream_receipts;
  std::optional<RegistryAnchor> registry_anchor;
  std::string alg = std::string(kAlgEdDSA);
  std::string signature;
  Json source;

  [[nodiscard]] Json to_json() const;
  [[nodiscard]] static Result<Receipt> from_json(const Json& j);
};

struct RevocationStatement {
  std::string id;  // rv_ + ULID
  std::string iss;
  Timestamp iat{};
  std::optional<std::string> revoked_delegation_id;  // exactly one of these two
  std::optional<std::string> revoked_principal;
  std::string reason;  // key_compromise | policy_change | principal_terminated | rotation | unspecified
  std::optional<Timestamp> effective_at;
  std::string alg = std::string(kAlgEdDSA);
  std::string signature;
  Json source;

  [[nodiscard]] Json to_json() const;
  [[nodiscard]] static Result<RevocationStatement> from_json(const Json& j);
};

using Message = std::variant<DelegationToken, HandshakeRequest, Acceptance, Refusal, Receipt, RevocationStatement>;

// Parses any of the six kinds, dispatching on "kind".
[[nodiscard]] Result<Message> parse_message(const Json& doc);
// Strict JSON text (json::parse_strict with `limits`) then parse_message.
[[nodiscard]] Result<Message> parse_message_text(std::string_view text, const json::ParseLimits& limits = {});

[[nodiscard]] MessageKind kind_of(const Message& m) noexcept;
[[nodiscard]] const Json& source_of(const Message& m) noexcept;
// The principal whose key signs a message of this kind: "iss" for every kind.
[[nodiscard]] const std::string& signer_of(const Message& m) noexcept;

// ---- signing -----------------------------------------------------------------------------------

// The bytes that are signed: JCS(doc without "signature"). Errors: those of json::canonicalize;
// kInvalidArgument "message.not_object".
[[nodiscard]] Result<std::string> signing_input(const Json& doc);

// Sets "alg" to "EdDSA" and "signature" to the Ed25519 signature of signing_input(doc), then
// checks the result against its kind's parse rules (so nothing that this library would refuse is
// ever signed). Errors: those of signing_input and of parse_message.
[[nodiscard]] Result<Json> sign_message(Json doc, const crypto::Signer& key);

// Checks doc["signature"] over signing_input(doc) with `key`. Errors (kSignature):
//   sig.missing           no "signature" string
//   sig.alg_unsupported   "alg" is not "EdDSA" (ML-DSA-65 and the hybrid are v0.3 work)
//   sig.malformed         not strict base64url of exactly 64 bytes
//   sig.invalid           the signature does not verify
[[nodiscard]] Status verify_message_signature(const Json& doc, const crypto::PublicKey& key);

}  // namespace handshake
