#include "handshake/chain.hpp"

#include <algorithm>

#include "handshake/encoding.hpp"

namespace handshake {
namespace {

RefusalInfo refuse(RefusalCode code, VerificationStep step, std::string detail,
                   std::optional<std::string> delegation_id = std::nullopt) {
  RefusalInfo r;
  r.code = code;
  r.step = step;
  r.detail = std::move(detail);
  r.delegation_id = std::move(delegation_id);
  return r;
}

constexpr auto kWalk = VerificationStep::kDelegationChainWalk;
constexpr auto kScope = VerificationStep::kScopeIntersection;

std::string link_name(std::size_t i, const DelegationToken& t) {
  return "delegation_chain[" + std::to_string(i) + "] (" + t.id + ")";
}

// The first capability of `link` whose name covers `requested`.
const Capability* granted(const DelegationToken& link, const std::string& requested) {
  for (const auto& c : link.capabilities) {
    if (capability::name_covers(c.name, requested)) return &c;
  }
  return nullptr;
}

}  // namespace

std::optional<RefusalInfo> check_revocations(const std::vector<std::pair<std::string, std::string>>& delegations,
                                             const std::vector<std::string>& principals,
                                             const RevocationSource& revocations, Timestamp now) {
  for (const auto& [id, issuer] : delegations) {
    switch (revocations.delegation_revoked(id, issuer, now)) {
      case RevocationSource::Answer::kNotRevoked: break;
      case RevocationSource::Answer::kRevoked:
        return refuse(RefusalCode::kCredentialRevoked, kWalk, "delegation " + id + " has been revoked", id);
      case RevocationSource::Answer::kUnavailable:
        return refuse(RefusalCode::kServiceUnavailable, kWalk, "revocation status unavailable", id);
    }
  }
  for (const auto& did : principals) {
    switch (revocations.principal_revoked(did, now)) {
      case RevocationSource::Answer::kNotRevoked: break;
      case RevocationSource::Answer::kRevoked:
        return refuse(RefusalCode::kCredentialRevoked, kWalk, "principal " + did + " has been revoked");
      case RevocationSource::Answer::kUnavailable:
        return refuse(RefusalCode::kServiceUnavailable, kWalk, "revocation status unavailable");
    }
  }
  return std::nullopt;
}

ChainVerdict validate_chain(const HandshakeRequest& request, const ChainOptions& options,
                            const capability::CapabilitySchemaSet& schemas, const KeyResolver& keys,
                            const RevocationSource& revocations, Timestamp now) {
  ChainVerdict v;
  const auto& chain = request.delegation_chain;
  const std::string& requested = request.capability.name;

  // 1. Bounds.
  if (chain.empty() || chain.size() > options.max_chain_length) {
    v.refusal = refuse(RefusalCode::kChainBroken, kWalk,
                       "delegation chain of " + std::to_string(chain.size()) + " links (allowed 1.." +
                           std::to_string(options.max_chain_length) + ")");
    return v;
  }

  // 2. Structure, before any signature work.
  if (!options.trust_any_root &&
      std::find(options.trust_roots.begin(), options.trust_roots.end(), chain.front().iss) == options.trust_roots.end()) {
    v.refusal = refuse(RefusalCode::kChainBroken, kWalk,
                       "chain starts at " + chain.front().iss + ", which is not a trusted root", chain.front().id);
    return v;
  }
  // §10: handshake.* and x.* name no production capability, and a malformed name grants nothing.
  if (auto s = capability::validate_name(requested, options.names); !s.ok()) {
    v.refusal = refuse(RefusalCode::kScopeExceeded, kScope, "requested capability: " + s.error().message);
    return v;
  }
  // A principal may appear only once as an issuer: a cycle (A -> B -> A) adds no authority and
  // only makes the walk longer.
  for (std::size_t i = 0; i < chain.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (chain[i].iss == chain[j].iss) {
        v.refusal = refuse(RefusalCode::kChainBroken, kWalk,
                           link_name(i, chain[i]) + ": " + chain[i].iss + " already issued an earlier link (cycle)",
                           chain[i].id);
        return v;
      }
    }
  }
  std::vector<const Capability*> grants(chain.size(), nullptr);
  for (std::size_t i = 0; i < chain.size(); ++i) {
    const auto& link = chain[i];
    const std::string& holder = i + 1 < chain.size() ? chain[i + 1].iss : request.iss;
    if (link.aud != link.sub) {
      v.refusal = refuse(RefusalCode::kChainBroken, kWalk, link_name(i, link) + ": aud differs from sub", link.id);
      return v;
    }
    if (link.aud != holder) {
      v.refusal = refuse(RefusalCode::kChainBroken, kWalk,
                         link_name(i, link) + ": aud " + link.aud + " is not the next holder " + holder, link.id);
      return v;
    }
    if (i > 0 && link.parent_delegation_id && *link.parent_delegation_id != chain[i - 1].id) {
      v.refusal = refuse(RefusalCode::kChainBroken, kWalk,
                         link_name(i, link) + ": parent_delegation_id does not name the previous link", link.id);
      return v;
    }
    grants[i] = granted(link, requested);
    if (grants[i] != nullptr) {
      if (auto s = capability::validate_name(grants[i]->name, options.names); !s.ok()) {
        v.refusal = refuse(RefusalCode::kScopeExceeded, kScope, link_name(i, link) + ": " + s.error().message, link.id);
        return v;
      }
    }
    if (grants[i] == nullptr) {
      v.refusal = refuse(RefusalCode::kScopeExceeded, kScope,
                         link_name(i, link) + " does not grant " + requested, link.id);
      return v;
    }
    if (i > 0 && !capability::name_covers(grants[i - 1]->name, grants[i]->name)) {
      v.refusal = refuse(RefusalCode::kScopeExceeded, kScope,
                         link_name(i, link) + ": " + grants[i]->name + " widens its parent's " + grants[i - 1]->name,
                         link.id);
      return v;
    }
    if (i + 1 < chain.size()) {
      if (!grants[i]->is_delegable()) {
        v.refusal = refuse(RefusalCode::kChainBroken, kWalk,
                           link_name(i, link) + ": " + grants[i]->name + " is not delegable", link.id);
        return v;
      }
      if (link.sub_delegation_depth_remaining <= 0) {
        v.refusal = refuse(RefusalCode::kChainBroken, kWalk,
                           link_name(i, link) + ": sub-delegation depth exhausted", link.id);
        return v;
      }
      if (chain[i + 1].sub_delegation_depth_remaining > link.sub_delegation_depth_remaining - 1) {
        v.refusal = refuse(RefusalCode::kChainBroken, kWalk,
                           link_name(i + 1, chain[i + 1]) + ": sub_delegation_depth_remaining not decremented",
                           chain[i + 1].id);
        return v;
      }
    }
  }

  // 3. Per link: signature, time, revocation.
  const auto skew = std::chrono::duration_cast<std::chrono::microseconds>(options.clock_skew);
  for (std::size_t i = 0; i < chain.size(); ++i) {
    const auto& link = chain[i];
    const auto answer = keys.key_at(link.iss, link.iat);
    if (answer.status == KeyResolver::Status::kUnavailable) {
      v.refusal = refuse(RefusalCode::kServiceUnavailable, kWalk, "cannot resolve " + link.iss + ": " + answer.detail,
                         link.id);
      v.refusal->retry_after_seconds = 5;
      return v;
    }
    if (answer.status == KeyResolver::Status::kNotFound) {
      v.refusal = refuse(RefusalCode::kSignatureInvalid, kWalk,
                         link_name(i, link) + ": no key known for " + link.iss +
                             " (the service needs its DID Document: did_documents, public_keys or a resolver)",
                         link.id);
      return v;
    }
    if (auto s = verify_message_signature(link.source, answer.key); !s.ok()) {
      v.refusal = refuse(RefusalCode::kSignatureInvalid, kWalk, link_name(i, link) + ": " + s.error().message, link.id);
      return v;
    }
    if (now + skew < link.nbf || now + skew < link.iat) {
      v.refusal = refuse(RefusalCode::kNotYetValid, kWalk,
                         link_name(i, link) + " is not valid before " + time::format_rfc3339(link.nbf), link.id);
      return v;
    }
    if (now - skew > link.exp) {
      v.refusal = refuse(RefusalCode::kExpired, kWalk,
                         link_name(i, link) + " expired at " + time::format_rfc3339(link.exp), link.id);
      return v;
    }
    if (options.max_delegation_ttl.count() > 0) {
      const auto lifetime = std::chrono::duration_cast<std::chrono::seconds>(link.exp - std::max(link.iat, link.nbf));
      if (lifetime > options.max_delegation_ttl) {
        v.refusal = refuse(RefusalCode::kPolicyDenied, kWalk,
                           link_name(i, link) + " lives " + std::to_string(lifetime.count()) +
                               " s, longer than this service accepts (max_delegation_ttl_seconds " +
                               std::to_string(options.max_delegation_ttl.count()) + ", §17 short-lived credentials)",
                           link.id);
        return v;
      }
    }
    v.delegations.emplace_back(link.id, link.iss);
    v.principals.push_back(link.iss);
    // Revocation is part of each link's checks (chain.hpp step 3): a revoked link is reported
    // before a later link's signature or time failure.
    if (auto r = check_revocations({v.delegations.back()}, {link.iss}, revocations, now)) {
      v.refusal = std::move(r);
      return v;
    }
  }
  v.principals.push_back(request.iss);
  if (auto r = check_revocations({}, {request.iss}, revocations, now)) {
    v.refusal = std::move(r);
    return v;
  }

  // 4. Scope.
  auto root = capability::ConstraintSet::from_link(grants[0]->constraints, requested, schemas);
  if (auto* violation = std::get_if<capability::Violation>(&root)) {
    v.refusal = refuse(RefusalCode::kScopeExceeded, kScope, link_name(0, chain[0]) + ": " + violation->detail,
                       chain[0].id);
    return v;
  }
  capability::ConstraintSet scope = std::get<capability::ConstraintSet>(std::move(root));
  for (std::size_t i = 1; i < chain.size(); ++i) {
    if (auto violation = scope.narrow(grants[i]->constraints)) {
      v.refusal = refuse(RefusalCode::kScopeExceeded, kScope, link_name(i, chain[i]) + ": " + violation->detail,
                         chain[i].id);
      return v;
    }
  }
  if (auto violation = scope.check_request(request.capability.constraints, now)) {
    v.refusal = refuse(RefusalCode::kScopeExceeded, kScope, violation->detail);
    return v;
  }
  v.granted_name = grants.back()->name;
  v.effective_scope = scope.narrowed_by_request(request.capability.constraints);
  v.chain_scope = std::move(scope);
  return v;
}

Status check_held_chain(const std::vector<DelegationToken>& chain, const std::string& holder, Timestamp now,
                        const ChainOptions& options, const std::string& source) {
  if (chain.empty()) return make_error(ErrorCode::kInvalidArgument, "chain.empty", source + " holds no delegation");
  const auto skew = std::chrono::duration_cast<std::chrono::microseconds>(options.clock_skew);
  auto name = [&](std::size_t i) { return source + "[" + std::to_string(i) + "] (" + chain[i].id + ")"; };
  const std::size_t leaf = chain.size() - 1;
  if (chain[leaf].sub != holder) {
    return make_error(ErrorCode::kInvalidArgument, "chain.not_holder",
                      name(leaf) + ": the chain's leaf is held by " + chain[leaf].sub + ", not by " + holder);
  }
  const std::string at = " (now " + time::format_rfc3339(now) + ")";
  for (std::size_t i = 0; i < chain.size(); ++i) {
    const auto& link = chain[i];
    if (now + skew < link.nbf || now + skew < link.iat) {
      return make_error(ErrorCode::kInvalidArgument, "chain.not_yet_valid",
                        name(i) + " is not valid before " + time::format_rfc3339(std::max(link.nbf, link.iat)) + at);
    }
    if (now - skew > link.exp) {
      return make_error(ErrorCode::kInvalidArgument, "chain.expired",
                        name(i) + " expired at " + time::format_rfc3339(link.exp) + at);
    }
  }
  return {};
}

}  // namespace handshake
