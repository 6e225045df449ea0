// Delegation chain validation (§11), root -> leaf.
//
// Order of checks; the first failure is the refusal:
//   1. bounds, before any signature: 1 <= length <= max_chain_length
//        -> chain_broken (a chain too long or empty)
//   2. structure, before any signature:
//        the requested capability name is well-formed and not reserved   -> scope_exceeded
//        no principal issues two links (a cycle)                          -> chain_broken
//      then link by link:
//        the root's issuer is a configured trust root                    -> chain_broken
//        aud = sub for every link; aud = the next link's iss, and the
//        leaf's aud = the request's iss                                   -> chain_broken
//        parent_delegation_id, when present, names the previous link     -> chain_broken
//        the capability being exercised is granted by every link         -> scope_exceeded
//        a link's granted name is covered by its parent's                 -> scope_exceeded
//        every non-leaf link grants that capability with delegable=true
//        and sub_delegation_depth_remaining > 0; each child's depth is at
//        most its parent's minus one                                      -> chain_broken
//   3. per link: the issuer's signature (key held at the link's iat)     -> signature_invalid
//                (resolver unavailable                                    -> service_unavailable)
//                nbf - skew <= now, iat - skew <= now                     -> not_yet_valid
//                now <= exp + skew                                        -> expired
//                the link, or its issuer, revoked                         -> credential_revoked
//                (revocation source unavailable                           -> service_unavailable)
//   4. scope: the intersection of every link's constraints, where a child
//      that widens its parent is refused (never silently narrowed)       -> scope_exceeded
//      and the request's constraints within it                           -> scope_exceeded
// The leaf's holder (the request's iss) is also checked for revocation.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "handshake/capability.hpp"
#include "handshake/messages.hpp"
#include "handshake/refusal.hpp"
#include "handshake/resolver.hpp"
#include "handshake/revocation.hpp"
#include "handshake/time.hpp"

namespace handshake {

struct ChainOptions {
  std::vector<std::string> trust_roots;  // DIDs a chain may start at
  bool trust_any_root = false;           // only for replaying vectors that configure no roots
  std::chrono::seconds clock_skew{60};
  std::size_t max_chain_length = 8;
  // The longest a delegation may live (exp minus the later of iat and nbf), §17 "short-lived
  // credentials": a longer link is refused policy_denied. 0: no ceiling (the library's default;
  // a configured service's is 600 s, max_delegation_ttl_seconds).
  std::chrono::seconds max_delegation_ttl{0};
  capability::NameOptions names;  // reserved handshake.* / x.* names are refused unless allowed here
};

struct ChainVerdict {
  std::optional<RefusalInfo> refusal;          // empty when the chain holds
  capability::ConstraintSet chain_scope;       // intersection of the links (before the request)
  capability::ConstraintSet effective_scope;   // chain_scope narrowed by the request's own limits
  std::string granted_name;                    // the leaf's capability name that covers the request
  std::vector<std::pair<std::string, std::string>> delegations;  // (id, issuer), root first
  std::vector<std::string> principals;         // every issuer, then the request's iss
};

// Validates `request.delegation_chain` for `request` at `now`. `schemas` types the constraints
// and must outlive the verdict.
[[nodiscard]] ChainVerdict validate_chain(const HandshakeRequest& request, const ChainOptions& options,
                                          const capability::CapabilitySchemaSet& schemas,
                                          const KeyResolver& keys, const RevocationSource& revocations,
                                          Timestamp now);

// What an agent checks of its own chain before using it (hsk request, the agent proxies' --check):
// the leaf is held by `holder` and every link is valid at `now`, within options.clock_skew, as a
// service will check it (step 3). Signatures and scope stay the service's business. Errors:
// kInvalidArgument "chain.empty", "chain.not_holder", "chain.not_yet_valid", "chain.expired",
// each naming the link as `source`[i] (its id).
[[nodiscard]] Status check_held_chain(const std::vector<DelegationToken>& chain, const std::string& holder,
                                      Timestamp now, const ChainOptions& options = {},
                                      const std::string& source = "delegation_chain");

// Revocation check alone, for warm sessions: every (id, issuer) and principal again at `now`.
[[nodiscard]] std::optional<RefusalInfo> check_revocations(
    const std::vector<std::pair<std::string, std::string>>& delegations, const std::vector<std::string>& principals,
    const RevocationSource& revocations, Timestamp now);

}  // namespace handshake
