#include "handshake/agent.hpp"

#include <algorithm>

#include "handshake/crypto.hpp"
#include "handshake/ids.hpp"
#include "handshake/service.hpp"

namespace handshake {
namespace {

Error refused(const char* reason, const std::string& why) {
  return make_error(ErrorCode::kInvalidArgument, reason, why);
}

}  // namespace

Result<Json> delegate(const Identity& issuer, const std::vector<Json>& parent_chain, const DelegationSpec& spec,
                      Timestamp now, const capability::CapabilitySchemaSet& schemas) {
  if (spec.capabilities.empty()) return refused("delegation.invalid", "a delegation grants at least one capability");
  for (const auto& cap : spec.capabilities) {
    if (auto s = capability::validate_name(cap.name); !s.ok()) return refused("delegation.invalid", s.error().message);
  }
  DelegationToken t;
  t.id = ids::make_id(ids::kDelegationPrefix, now);
  t.iss = issuer.did_string();
  t.sub = t.aud = spec.holder;
  t.iat = t.nbf = now;
  t.exp = now + std::chrono::duration_cast<std::chrono::microseconds>(spec.ttl);
  t.capabilities = spec.capabilities;
  t.sub_delegation_depth_remaining = spec.depth.value_or(0);

  if (!parent_chain.empty()) {
    HSK_ASSIGN_OR_RETURN(auto parent, DelegationToken::from_json(parent_chain.back()));
    if (parent.aud != issuer.did_string()) {
      return refused("delegation.not_holder", issuer.did_string() + " does not hold delegation " + parent.id);
    }
    if (parent.sub_delegation_depth_remaining <= 0) {
      return refused("delegation.depth", "delegation " + parent.id + " may not be sub-delegated (depth 0)");
    }
    t.sub_delegation_depth_remaining = spec.depth.value_or(parent.sub_delegation_depth_remaining - 1);
    if (t.sub_delegation_depth_remaining > parent.sub_delegation_depth_remaining - 1 ||
        t.sub_delegation_depth_remaining < 0) {
      return refused("delegation.depth", "depth must be below the parent's " +
                                             std::to_string(parent.sub_delegation_depth_remaining));
    }
    for (const auto& cap : t.capabilities) {
      const Capability* from = nullptr;
      for (const auto& p : parent.capabilities) {
        if (p.is_delegable() && capability::name_covers(p.name, cap.name)) {
          from = &p;
          break;
        }
      }
      if (from == nullptr) {
        return refused("delegation.not_delegable", cap.name + " is not delegable under " + parent.id);
      }
      auto scope = capability::ConstraintSet::from_link(from->constraints, cap.name, schemas);
      if (auto* v = std::get_if<capability::Violation>(&scope)) return refused("delegation.invalid", v->detail);
      if (auto v = std::get<capability::ConstraintSet>(scope).narrow(cap.constraints)) {
        return refused("delegation.widen", cap.name + ": " + v->detail);
      }
    }
    t.exp = std::min(t.exp, parent.exp);
    t.parent_delegation_id = parent.id;
  }
  return sign_message(t.to_json(), issuer.key());
}

bool refusal_ends_session(const RefusalInfo& refusal) noexcept {
  return refusal.step == VerificationStep::kSession &&
         (refusal.code == RefusalCode::kExpired || refusal.code == RefusalCode::kSignatureInvalid);
}

bool refusal_ends_session(const Refusal& refusal) noexcept {
  return refusal.reason.code == to_string(RefusalCode::kExpired) ||
         refusal.reason.code == to_string(RefusalCode::kSignatureInvalid);
}

Agent::Agent(Identity identity, std::vector<Json> chain, AgentAttestation attestation)
    : identity_(std::move(identity)), chain_(std::move(chain)), attestation_(std::move(attestation)) {}

Result<Json> Agent::request(const std::string& service_did, const Capability& capability, Timestamp now,
                            const std::optional<std::string>& session_token) const {
  if (chain_.empty()) return refused("agent.no_chain", "the agent holds no delegation");
  HandshakeRequest r;
  r.id = ids::make_id(ids::kRequestPrefix, now);
  r.iss = identity_.did_string();
  r.aud = service_did;
  r.iat = std::chrono::floor<std::chrono::seconds>(now);
  r.nonce = crypto::make_nonce();
  r.agent_attestation = attestation_;
  r.capability = capability;
  if (session_token) r.agent_attestation.extra[std::string(kSessionTokenMember)] = *session_token;
  Json doc = r.to_json();
  Json links = Json::array();
  if (session_token) {
    links.push_back(chain_.back());
  } else {
    for (const auto& l : chain_) links.push_back(l);
  }
  doc["delegation_chain"] = std::move(links);
  return sign_message(std::move(doc), identity_.key());
}

Result<ServiceAnswer> Agent::check_answer(const Json& response, const std::string& service_did,
                                          const crypto::PublicKey& service_key, const std::string& request_id) const {
  HSK_ASSIGN_OR_RETURN(auto kind, kind_of(response));
  ServiceAnswer answer;
  std::string iss, aud, rid;
  if (kind == MessageKind::kAcceptance) {
    HSK_ASSIGN_OR_RETURN(auto a, Acceptance::from_json(response));
    iss = a.iss, aud = a.aud, rid = a.request_id;
    answer.accepted = true;
    answer.acceptance = std::move(a);
  } else if (kind == MessageKind::kRefusal) {
    HSK_ASSIGN_OR_RETURN(auto r, Refusal::from_json(response));
    iss = r.iss, aud = r.aud, rid = r.request_id;
    answer.refusal = std::move(r);
  } else {
    return make_error(ErrorCode::kSchema, "message.kind", "a service answers with an Acceptance or a Refusal");
  }
  HSK_TRY(verify_message_signature(response, service_key));
  if (iss != service_did || aud != identity_.did_string() || rid != request_id) {
    return make_error(ErrorCode::kSignature, "answer.binding",
                      "the answer is not from this service, for this agent, about this request");
  }
  return answer;
}

}  // namespace handshake
