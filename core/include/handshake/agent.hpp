// The agent's side: delegate (§9.3), build and sign requests (§9.1), check what services answer.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "handshake/capability.hpp"
#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/messages.hpp"
#include "handshake/refusal.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake {

struct DelegationSpec {
  std::string holder;                        // the DID receiving authority (sub = aud)
  std::vector<Capability> capabilities;
  std::chrono::seconds ttl{600};             // §17 recommends <= 600 s
  std::optional<std::int64_t> depth;         // sub_delegation_depth_remaining; default: parent's - 1, root 0
};

// Signs a DelegationToken from `issuer`. With an empty `parent_chain` it is a root delegation.
// Otherwise it extends the chain (§9.3) and is refused unless it attenuates: the issuer must hold
// the parent leaf (its aud), every capability must be covered by a delegable capability of the
// parent leaf and must not widen its constraints (checked with `schemas`), the parent's depth
// must be > 0 and the child's below it; exp is capped at the parent's exp.
// Errors: kInvalidArgument "delegation.not_holder", "delegation.not_delegable",
// "delegation.depth", "delegation.widen", "delegation.invalid"; those of sign_message.
[[nodiscard]] Result<Json> delegate(const Identity& issuer, const std::vector<Json>& parent_chain,
                                    const DelegationSpec& spec, Timestamp now,
                                    const capability::CapabilitySchemaSet& schemas = {});

// A service's answer, checked.
struct ServiceAnswer {
  bool accepted = false;
  std::optional<Acceptance> acceptance;
  std::optional<Refusal> refusal;
};

// Whether a refusal of a warm request (§9.2) says that its session cannot be used here, so that a
// cold handshake (full chain, fresh nonce, no session token) may succeed where the warm one did
// not: the service answers `expired` (token unknown or expired, or sealed with a key this
// instance does not hold) or `signature_invalid` (the session belongs to another agent) at the
// session step. The service's view (RefusalInfo) names the step. The wire Refusal does not (the
// reference schema closes `reason`), so for a Refusal this is true for those two codes; a warm
// request draws them from the request_signature step only when its iat is out of the window or
// its signature does not verify under the session's cached key, where one cold attempt is at
// worst refused again. The caller must know that the request was warm and must have verified the
// refusal (Agent::check_answer); an agent then forgets the session and retries once, cold, and
// never retries a cold request.
[[nodiscard]] bool refusal_ends_session(const RefusalInfo& refusal) noexcept;
[[nodiscard]] bool refusal_ends_session(const Refusal& refusal) noexcept;

class Agent {
 public:
  // `chain`: signed DelegationTokens root -> leaf, the leaf held by `identity`.
  Agent(Identity identity, std::vector<Json> chain, AgentAttestation attestation);

  // A signed HandshakeRequest for `capability` at `service_did`, with a fresh 128-bit nonce. With
  // `session_token`, a warm request (the token rides in agent_attestation, and only the leaf link
  // is sent). Errors: kInvalidArgument "agent.no_chain", those of sign_message.
  [[nodiscard]] Result<Json> request(const std::string& service_did, const Capability& capability, Timestamp now,
                                     const std::optional<std::string>& session_token = std::nullopt) const;

  // Checks a service's response to `request_id`: an Acceptance or a Refusal, signed by
  // `service_key`, issued by `service_did`, addressed to this agent, bound to the request.
  // Errors: parse errors, "sig.*", kSignature "answer.binding" (iss, aud or request_id wrong).
  [[nodiscard]] Result<ServiceAnswer> check_answer(const Json& response, const std::string& service_did,
                                                   const crypto::PublicKey& service_key,
                                                   const std::string& request_id) const;

  [[nodiscard]] const Identity& identity() const noexcept { return identity_; }
  [[nodiscard]] const std::vector<Json>& chain() const noexcept { return chain_; }

 private:
  Identity identity_;
  std::vector<Json> chain_;
  AgentAttestation attestation_;
};

}  // namespace handshake
