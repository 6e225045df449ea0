// The OAuth bridge (§13.3): an access token, after introspection, becomes a DelegationToken
// signed by the bridge's org identity (a trust root of the services):
//
//   iss  = the bridge's DID             sub = aud = the agent's DID
//   capabilities = ScopeMap(token scopes)          iat = nbf = now
//   exp  = min(token exp, now + max_ttl), max_ttl <= 600 s (§17)
//   sub_delegation_depth_remaining = options.depth (0 by default: no further delegation)
//
// The agent's DID comes from, in order: a token claim (options.agent_claim, e.g. the
// authorization server's extra claim naming the client's DID), the caller's hint (e.g. the
// Handshake-Agent-DID header) when options.accept_agent_hint, options.fixed_agent. The token is a
// bearer credential: whoever holds it may have a delegation made out to their own DID; that is
// no more than the token already allows, and the delegation is useless without that DID's key.
//
// Outcomes (errors; the bridge never issues a delegation it could not check):
//   kPermission  oauth.inactive, oauth.expired, oauth.not_yet_valid, oauth.audience
//                (RFC 8707: options.expected_audience not in the token's aud),
//                oauth.unmapped_scope, oauth.no_capability
//   kInvalidArgument oauth.agent_did (no agent DID, or not a did:hsk DID)
//   kUnavailable oauth.unavailable (introspection could not be done)
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "handshake/capability.hpp"
#include "handshake/identity.hpp"
#include "handshake/json.hpp"
#include "handshake/oauth/introspection.hpp"
#include "handshake/oauth/scope_map.hpp"
#include "handshake/result.hpp"
#include "handshake/time.hpp"

namespace handshake::oauth {

// RFC 8693 issued_token_type of a Handshake DelegationToken (ours; the token itself is
// base64url(JCS(delegation)) in the response's access_token).
inline constexpr std::string_view kDelegationTokenType = "urn:handshake:params:oauth:token-type:delegation-token";
inline constexpr std::string_view kAccessTokenType = "urn:ietf:params:oauth:token-type:access_token";
inline constexpr std::string_view kTokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange";

struct BridgeOptions {
  std::chrono::seconds max_ttl{600};    // clamped to 1..600
  std::chrono::seconds clock_skew{60};  // for the token's exp / nbf
  std::string expected_audience;        // RFC 8707 resource the tokens must be for; empty: not checked
  std::string agent_claim;              // introspection member holding the agent's DID; empty: none
  bool accept_agent_hint = false;       // take the caller's hint (header) when the claim is absent
  std::optional<std::string> fixed_agent;
  std::int64_t depth = 0;               // sub_delegation_depth_remaining of issued delegations
};

struct Issued {
  Json delegation;  // signed DelegationToken
  TokenInfo token;  // what introspection said
};

class Bridge {
 public:
  // `introspection` is borrowed and must outlive the bridge.
  Bridge(Identity org, ScopeMap map, IntrospectionClient& introspection, const Clock& clock, BridgeOptions options = {},
         capability::CapabilitySchemaSet schemas = {});

  // Introspects `access_token` and issues the delegation. Thread-safe.
  [[nodiscard]] Result<Issued> delegation_for(std::string_view access_token,
                                              const std::optional<std::string>& agent_hint = std::nullopt) const;

  // RFC 8693 token exchange (form parameters already decoded): grant_type must be the
  // token-exchange grant, subject_token_type an access token, requested_token_type absent or
  // kDelegationTokenType; actor tokens are not supported (refused). Returns the RFC 8693 answer
  // {"access_token", "issued_token_type", "token_type": "N_A", "expires_in"}. Errors carry
  // RFC 6749 codes as their reason: "invalid_request", "unsupported_grant_type", "invalid_grant"
  // (inactive / expired / audience / agent DID), "invalid_scope" (unmapped), and
  // "temporarily_unavailable" (kUnavailable).
  [[nodiscard]] Result<Json> token_exchange(const std::map<std::string, std::string>& form,
                                            const std::optional<std::string>& agent_hint = std::nullopt) const;

  [[nodiscard]] const Identity& identity() const noexcept { return org_; }

 private:
  Identity org_;
  ScopeMap map_;
  IntrospectionClient& introspection_;
  const Clock& clock_;
  BridgeOptions options_;
  capability::CapabilitySchemaSet schemas_;
};

// The delegation in an RFC 8693 answer's access_token. Errors: kParse.
[[nodiscard]] Result<Json> decode_exchanged_delegation(std::string_view access_token);

}  // namespace handshake::oauth
