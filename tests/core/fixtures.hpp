// Shared fixtures for the service, chain and receipt/agent tests: deterministic identities, a
// service wired to in-memory collaborators, hand-built (possibly hostile) delegation tokens, and
// the checks every signed Refusal must pass.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "handshake/agent.hpp"
#include "handshake/capability.hpp"
#include "handshake/chain.hpp"
#include "handshake/crypto.hpp"
#include "handshake/encoding.hpp"
#include "handshake/identity.hpp"
#include "handshake/ids.hpp"
#include "handshake/json.hpp"
#include "handshake/messages.hpp"
#include "handshake/nonce_store.hpp"
#include "handshake/refusal.hpp"
#include "handshake/resolver.hpp"
#include "handshake/revocation.hpp"
#include "handshake/schema.hpp"
#include "handshake/service.hpp"
#include "handshake/time.hpp"

namespace hsk_fx {

namespace hs = handshake;
using namespace std::chrono_literals;

// The value of a Result, or an exception carrying its error (fails the enclosing test case).
template <typename T>
T must(hs::Result<T> r) {
  if (!r.ok()) throw std::runtime_error("unexpected error: " + r.error().to_string());
  return std::move(r).value();
}

inline void must_ok(const hs::Status& s) {
  if (!s.ok()) throw std::runtime_error("unexpected error: " + s.error().to_string());
}

inline std::string why(const hs::Status& s) { return s.ok() ? std::string("ok") : s.error().to_string(); }
template <typename T>
std::string why(const hs::Result<T>& r) {
  return r.ok() ? std::string("ok") : r.error().to_string();
}

// 2026-04-29T14:00:00Z.
inline hs::Timestamp t0() { return must(hs::time::parse_rfc3339("2026-04-29T14:00:00Z")); }

inline hs::Identity make_identity(hs::PrincipalType type, std::uint8_t n) {
  return must(hs::Identity::generate({type, {}, {}, std::vector<std::uint8_t>(32, n)}));
}

// Seeds of the cast.
inline constexpr std::uint8_t kRootSeed = 1;       // org, the trust root
inline constexpr std::uint8_t kAgentSeed = 2;      // agent holding the root delegation
inline constexpr std::uint8_t kSubAgentSeed = 3;   // sub-agent
inline constexpr std::uint8_t kThirdAgentSeed = 4; // a third agent (longer chains)
inline constexpr std::uint8_t kMallorySeed = 5;    // an agent with no authority
inline constexpr std::uint8_t kRogueOrgSeed = 6;   // an org that is not a trust root
inline constexpr std::uint8_t kServiceSeed = 9;
inline constexpr std::uint8_t kOtherServiceSeed = 10;

inline hs::Capability cap(std::string name, hs::Json constraints = hs::Json::object(),
                          std::optional<bool> delegable = std::nullopt) {
  hs::Capability c;
  c.name = std::move(name);
  c.constraints = std::move(constraints);
  c.delegable = delegable;
  return c;
}

inline hs::Capability read_cap(std::optional<std::int64_t> max_invoices, std::optional<bool> delegable = std::nullopt) {
  hs::Json c = hs::Json::object();
  if (max_invoices) c["max_invoices"] = *max_invoices;
  return cap("billing.invoices.read", std::move(c), delegable);
}

// An unsigned token with the given fields (iat = nbf = now, exp = now + ttl).
inline hs::DelegationToken token(const std::string& iss, const std::string& holder, std::vector<hs::Capability> caps,
                                 std::int64_t depth, hs::Timestamp now, std::chrono::seconds ttl = 600s) {
  hs::DelegationToken t;
  t.id = hs::ids::make_id(hs::ids::kDelegationPrefix, now);
  t.iss = iss;
  t.sub = t.aud = holder;
  t.iat = t.nbf = now;
  t.exp = now + std::chrono::duration_cast<std::chrono::microseconds>(ttl);
  t.capabilities = std::move(caps);
  t.sub_delegation_depth_remaining = depth;
  return t;
}

// Signs `doc` as sign_message() does (alg EdDSA, Ed25519 over JCS without "signature") but
// without parsing the result back: hostile or malformed documents can be signed, and the
// schema validation sign_message() runs (slow in a Debug build) is skipped.
inline hs::Json fast_sign(hs::Json doc, const hs::Identity& signer) {
  doc.erase("signature");
  doc["alg"] = std::string(hs::kAlgEdDSA);
  const std::string input = must(hs::signing_input(doc));
  const auto sig = signer.key().try_sign(hs::encoding::as_bytes(input)).value();
  doc["signature"] = hs::encoding::base64url_encode(sig);
  return doc;
}

// Signs `t` with `signer` (which need not be its issuer: hostile chains).
inline hs::Json sign_token(const hs::DelegationToken& t, const hs::Identity& signer) {
  return fast_sign(t.to_json(), signer);
}

// `t` signed by `signer`, as a parsed token (source and signature set) without re-parsing.
inline hs::DelegationToken signed_token(hs::DelegationToken t, const hs::Identity& signer) {
  t.signature.clear();
  t.source = sign_token(t, signer);
  t.signature = t.source.at("signature").get<std::string>();
  return t;
}

inline std::string id_of(const hs::Json& message) { return message.at("id").get<std::string>(); }

inline hs::AgentAttestation attestation(const std::string& deployer) {
  hs::AgentAttestation a;
  a.deployer = deployer;
  a.model = "claude-sonnet-4-5";
  a.instance_id = "job-7f3a";
  return a;
}

// A service at t0 with in-memory collaborators. Options may be changed until service() is first
// called.
struct World {
  hs::FixedClock clock{t0()};
  hs::StaticKeyResolver keys;
  hs::RevocationList revocations;
  std::unique_ptr<hs::NonceStore> nonces = hs::make_memory_nonce_store();
  std::unique_ptr<hs::RateLimiter> limiter = hs::make_memory_rate_limiter();
  hs::Identity root = make_identity(hs::PrincipalType::kOrg, kRootSeed);
  hs::Identity agent = make_identity(hs::PrincipalType::kAgent, kAgentSeed);
  hs::Identity sub_agent = make_identity(hs::PrincipalType::kAgent, kSubAgentSeed);
  hs::Identity third_agent = make_identity(hs::PrincipalType::kAgent, kThirdAgentSeed);
  hs::Identity mallory = make_identity(hs::PrincipalType::kAgent, kMallorySeed);
  hs::Identity rogue_org = make_identity(hs::PrincipalType::kOrg, kRogueOrgSeed);
  hs::Identity svc = make_identity(hs::PrincipalType::kSvc, kServiceSeed);
  hs::ServiceOptions options;
  std::unique_ptr<hs::Service> service_ptr;

  World() {
    for (const hs::Identity* i : {&root, &agent, &sub_agent, &third_agent, &mallory, &rogue_org, &svc}) {
      keys.add(i->did_string(), i->public_key());
    }
    options.chain.trust_roots = {root.did_string()};
  }
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  hs::Service& service() {
    if (!service_ptr) {
      service_ptr = std::make_unique<hs::Service>(make_identity(hs::PrincipalType::kSvc, kServiceSeed), options, clock,
                                                  keys, revocations, *nonces, *limiter);
    }
    return *service_ptr;
  }
  [[nodiscard]] std::string svc_did() const { return svc.did_string(); }
  [[nodiscard]] hs::Timestamp now() const { return clock.now(); }

  // An honest delegation: a root one signed directly, a sub-delegation through hs::delegate.
  hs::Json grant(const hs::Identity& issuer, const hs::Identity& holder, std::vector<hs::Capability> caps,
                 std::optional<std::int64_t> depth = std::nullopt, const std::vector<hs::Json>& parent = {},
                 std::chrono::seconds ttl = 600s) {
    if (parent.empty()) {
      return sign_token(token(issuer.did_string(), holder.did_string(), std::move(caps), depth.value_or(0),
                              clock.now(), ttl),
                        issuer);
    }
    hs::DelegationSpec spec;
    spec.holder = holder.did_string();
    spec.capabilities = std::move(caps);
    spec.ttl = ttl;
    spec.depth = depth;
    return must(hs::delegate(issuer, parent, spec, clock.now(), options.capabilities));
  }

  // An Agent for the identity with seed `seed` holding `chain`.
  [[nodiscard]] hs::Agent agent_for(std::uint8_t seed, std::vector<hs::Json> chain) const {
    return hs::Agent(make_identity(hs::PrincipalType::kAgent, seed), std::move(chain), attestation(root.did_string()));
  }
  // The usual agent with a root delegation of billing.invoices.read, max_invoices 100.
  hs::Agent default_agent() { return agent_for(kAgentSeed, {grant(root, agent, {read_cap(100)})}); }

  // A request through Agent::request (the real agent code path).
  hs::Json agent_request(const hs::Agent& a, const hs::Capability& c,
                         const std::optional<std::string>& session = std::nullopt) const {
    return must(a.request(svc.did_string(), c, clock.now(), session));
  }
  // The same request built and signed here (cheaper: no schema validation on signing), from
  // `a`'s identity and chain, to `aud` (default: this service), issued at `at` (default: now).
  hs::Json request(const hs::Agent& a, const hs::Capability& c,
                   const std::optional<std::string>& session = std::nullopt, std::optional<std::string> aud = {},
                   std::optional<hs::Timestamp> at = {}) const {
    hs::HandshakeRequest r;
    const hs::Timestamp when = at.value_or(clock.now());
    r.id = hs::ids::make_id(hs::ids::kRequestPrefix, when);
    r.iss = a.identity().did_string();
    r.aud = aud.value_or(svc.did_string());
    r.iat = std::chrono::floor<std::chrono::seconds>(when);
    r.nonce = hs::crypto::make_nonce();
    r.agent_attestation = attestation(root.did_string());
    r.capability = c;
    if (session) r.agent_attestation.extra[std::string(hs::kSessionTokenMember)] = *session;
    hs::Json doc = r.to_json();
    hs::Json links = hs::Json::array();
    if (session) {
      links.push_back(a.chain().back());
    } else {
      for (const auto& l : a.chain()) links.push_back(l);
    }
    doc["delegation_chain"] = std::move(links);
    return fast_sign(std::move(doc), a.identity());
  }

  // The checks every Refusal must pass: signed by this service, schema-valid, bound to
  // `request_id` and addressed to `aud`, with the expected code.
  void expect_refusal(const hs::Decision& d, hs::RefusalCode code, const std::string& request_id,
                      const std::string& aud) const {
    INFO("expected " << hs::to_string(code) << "; response " << d.response.dump());
    REQUIRE_FALSE(d.accepted);
    REQUIRE(d.refusal.has_value());
    CHECK(hs::to_string(d.refusal->code) == hs::to_string(code));
    auto parsed = hs::Refusal::from_json(d.response);
    REQUIRE(parsed.ok());
    const auto schema_ok = hs::schema::validate("handshake-refusal.json", d.response);
    INFO(why(schema_ok));
    CHECK(schema_ok.ok());
    CHECK(hs::verify_message_signature(d.response, svc.public_key()).ok());
    CHECK(parsed->reason.code == hs::to_string(code));
    CHECK(parsed->request_id == request_id);
    CHECK(parsed->aud == aud);
    CHECK(parsed->iss == svc.did_string());
    CHECK_FALSE(d.acceptance.has_value());
    CHECK_FALSE(d.warm);
  }
  // The same, for a refusal of `request` (a HandshakeRequest JSON): its id and its iss.
  void expect_refusal(const hs::Decision& d, hs::RefusalCode code, const hs::Json& request) const {
    expect_refusal(d, code, request.at("id").get<std::string>(), request.at("iss").get<std::string>());
  }

  // The checks every Acceptance must pass; returns it parsed.
  hs::Acceptance expect_acceptance(const hs::Decision& d, const hs::Json& request) const {
    INFO("response " << d.response.dump());
    INFO("refusal detail: " << (d.refusal ? d.refusal->detail : std::string("-")));
    REQUIRE(d.accepted);
    REQUIRE_FALSE(d.refusal.has_value());
    auto parsed = hs::Acceptance::from_json(d.response);
    REQUIRE(parsed.ok());
    const auto schema_ok = hs::schema::validate("handshake-acceptance.json", d.response);
    INFO(why(schema_ok));
    CHECK(schema_ok.ok());
    CHECK(hs::verify_message_signature(d.response, svc.public_key()).ok());
    CHECK(parsed->request_id == request.at("id").get<std::string>());
    CHECK(parsed->aud == request.at("iss").get<std::string>());
    CHECK(parsed->iss == svc.did_string());
    CHECK(parsed->effective_scope.capability == request.at("capability").at("name").get<std::string>());
    return std::move(parsed).value();
  }
};

// Re-signs a message (after editing it) with `signer`.
inline hs::Json resign(hs::Json doc, const hs::Identity& signer) { return fast_sign(std::move(doc), signer); }

}  // namespace hsk_fx
