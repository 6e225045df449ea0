#include "handshake/oauth/bridge.hpp"

#include <algorithm>

#include "handshake/agent.hpp"
#include "handshake/did.hpp"
#include "handshake/encoding.hpp"

namespace handshake::oauth {

Bridge::Bridge(Identity org, ScopeMap map, IntrospectionClient& introspection, const Clock& clock, BridgeOptions options,
               capability::CapabilitySchemaSet schemas)
    : org_(std::move(org)),
      map_(std::move(map)),
      introspection_(introspection),
      clock_(clock),
      options_(std::move(options)),
      schemas_(std::move(schemas)) {
  options_.max_ttl = std::clamp(options_.max_ttl, std::chrono::seconds(1), std::chrono::seconds(600));
}

Result<Issued> Bridge::delegation_for(std::string_view access_token, const std::optional<std::string>& agent_hint) const {
  HSK_ASSIGN_OR_RETURN(auto info, introspection_.introspect(access_token));
  const Timestamp now = std::chrono::floor<std::chrono::seconds>(clock_.now());
  // The authorization server said "active"; its clock and ours may still disagree.
  if (info.exp && *info.exp <= now - options_.clock_skew) {
    return make_error(ErrorCode::kPermission, "oauth.expired", "the access token has expired");
  }
  if (info.nbf && *info.nbf > now + options_.clock_skew) {
    return make_error(ErrorCode::kPermission, "oauth.not_yet_valid", "the access token is not valid yet");
  }
  if (!options_.expected_audience.empty() &&
      std::find(info.aud.begin(), info.aud.end(), options_.expected_audience) == info.aud.end()) {
    return make_error(ErrorCode::kPermission, "oauth.audience",
                      "the access token was not issued for " + options_.expected_audience);
  }
  HSK_ASSIGN_OR_RETURN(auto capabilities, map_.capabilities_for(info.scopes));

  std::optional<std::string> agent;
  if (!options_.agent_claim.empty() && info.claims.contains(options_.agent_claim)) {
    const auto& c = info.claims[options_.agent_claim];
    if (!c.is_string()) return make_error(ErrorCode::kInvalidArgument, "oauth.agent_did", options_.agent_claim + " is not a string");
    agent = c.get<std::string>();
  } else if (options_.accept_agent_hint && agent_hint) {
    agent = *agent_hint;
  } else if (options_.fixed_agent) {
    agent = *options_.fixed_agent;
  }
  if (!agent) return make_error(ErrorCode::kInvalidArgument, "oauth.agent_did", "no agent DID for this token");
  if (auto d = parse_did(*agent); !d.ok()) {
    return make_error(ErrorCode::kInvalidArgument, "oauth.agent_did", "the agent is not a did:hsk DID: " + d.error().message);
  }

  // exp = min(token exp, now + max_ttl); a token with no exp gets max_ttl.
  auto ttl = options_.max_ttl;
  if (info.exp) ttl = std::min(ttl, std::chrono::duration_cast<std::chrono::seconds>(*info.exp - now));
  if (ttl <= std::chrono::seconds(0)) return make_error(ErrorCode::kPermission, "oauth.expired", "the access token has expired");
  DelegationSpec spec;
  spec.holder = *agent;
  spec.capabilities = std::move(capabilities);
  spec.ttl = ttl;
  spec.depth = options_.depth;
  HSK_ASSIGN_OR_RETURN(auto delegation, delegate(org_, {}, spec, now, schemas_));
  return Issued{std::move(delegation), std::move(info)};
}

Result<Json> Bridge::token_exchange(const std::map<std::string, std::string>& form,
                                    const std::optional<std::string>& agent_hint) const {
  auto param = [&](const char* name) -> std::optional<std::string> {
    auto it = form.find(name);
    return it == form.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  auto oauth_error = [](ErrorCode code, const char* error, const std::string& description) {
    return make_error(code, error, description);
  };
  const auto grant = param("grant_type");
  if (!grant) return oauth_error(ErrorCode::kInvalidArgument, "invalid_request", "grant_type is required");
  if (*grant != kTokenExchangeGrant) {
    return oauth_error(ErrorCode::kInvalidArgument, "unsupported_grant_type", "only token exchange is offered here");
  }
  const auto subject = param("subject_token");
  const auto subject_type = param("subject_token_type");
  if (!subject || subject->empty() || !subject_type) {
    return oauth_error(ErrorCode::kInvalidArgument, "invalid_request", "subject_token and subject_token_type are required");
  }
  if (*subject_type != kAccessTokenType) {
    return oauth_error(ErrorCode::kInvalidArgument, "invalid_request", "subject_token_type must be an access token");
  }
  if (auto requested = param("requested_token_type"); requested && *requested != kDelegationTokenType) {
    return oauth_error(ErrorCode::kInvalidArgument, "invalid_request",
                       "requested_token_type must be " + std::string(kDelegationTokenType));
  }
  if (param("actor_token")) {
    return oauth_error(ErrorCode::kInvalidArgument, "invalid_request", "actor tokens are not supported by this bridge");
  }
  auto issued = delegation_for(*subject, agent_hint);
  if (!issued.ok()) {
    const auto& e = issued.error();
    if (e.code == ErrorCode::kUnavailable) return oauth_error(ErrorCode::kUnavailable, "temporarily_unavailable", e.message);
    if (e.reason == "oauth.unmapped_scope" || e.reason == "oauth.no_capability") {
      return oauth_error(ErrorCode::kPermission, "invalid_scope", e.message);
    }
    if (e.reason == "oauth.agent_did") return oauth_error(ErrorCode::kInvalidArgument, "invalid_request", e.message);
    return oauth_error(ErrorCode::kPermission, "invalid_grant", e.reason + ": " + e.message);
  }
  HSK_ASSIGN_OR_RETURN(auto canon, json::canonicalize(issued->delegation));
  const auto exp = time::parse_rfc3339(issued->delegation["exp"].get<std::string>());
  const auto now = clock_.now();
  std::int64_t expires_in = 0;
  if (exp.ok() && *exp > now) expires_in = std::chrono::duration_cast<std::chrono::seconds>(*exp - now).count();
  return Json{{"access_token", encoding::base64url_encode(encoding::as_bytes(canon))},
              {"issued_token_type", kDelegationTokenType},
              {"token_type", "N_A"},
              {"expires_in", expires_in}};
}

Result<Json> decode_exchanged_delegation(std::string_view access_token) {
  HSK_ASSIGN_OR_RETURN(auto bytes, encoding::base64url_decode(access_token));
  return json::parse_strict(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace handshake::oauth
