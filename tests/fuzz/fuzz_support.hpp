// What the fuzz harnesses and their seed generator share: a fixed world (deterministic keys, a
// fixed clock, one service configuration), the Merkle tree the proof verifiers are checked
// against and the byte layouts of the structured harness inputs.
//
// Nothing here may depend on a test framework: the harnesses link into libFuzzer (clang) or into
// replay_main.cpp (any compiler).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handshake/agent.hpp"
#include "handshake/capability.hpp"
#include "handshake/crypto.hpp"
#include "handshake/did_document.hpp"
#include "handshake/encoding.hpp"
#include "handshake/identity.hpp"
#include "handshake/ids.hpp"
#include "handshake/json.hpp"
#include "handshake/merkle.hpp"
#include "handshake/messages.hpp"
#include "handshake/policy.hpp"
#include "handshake/receipt.hpp"
#include "handshake/resolver.hpp"
#include "handshake/revocation.hpp"
#include "handshake/service.hpp"
#include "handshake/time.hpp"

namespace hsk_fuzz {

namespace hs = handshake;
using hs::Json;

// A violated property: report and abort, so that libFuzzer saves the input as a crash.
[[noreturn]] inline void violated(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "PROPERTY VIOLATED: %s\n%.*s\n", what, static_cast<int>(std::min<std::size_t>(detail.size(), 2000)),
               detail.data());
  std::abort();
}

template <typename T>
T must(hs::Result<T> r) {
  if (!r.ok()) violated("fixture setup failed", r.error().to_string());
  return std::move(r).value();
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

inline hs::Identity fixed_identity(hs::PrincipalType type, std::uint8_t seed) {
  return must(hs::Identity::generate({type, {}, {}, std::vector<std::uint8_t>(32, seed)}));
}

inline hs::Identity clone(const hs::Identity& id) {
  return must(hs::Identity::from_key(id.did(), must(hs::crypto::SigningKey::from_seed(dynamic_cast<const handshake::crypto::SigningKey&>(id.key()).seed_bytes())),
                                     id.key_version()));
}

// ---- the fixed service world -------------------------------------------------------------------------

inline constexpr const char* kCapabilities = R"({"capabilities": [
  {"name": "billing.invoices.read", "constraints": {
     "max_invoices": {"type": "numeric_max"}, "min_amount": {"type": "numeric_min"},
     "currency": {"type": "enum"}, "customer": {"type": "string_pattern"},
     "period": {"type": "time_window"}, "rate": {"type": "rate_limit"}}},
  {"name": "files.read", "constraints": {"path": {"type": "resource_path"}}}]})";

inline constexpr const char* kPolicy =
    R"({"default": "allow", "rules": [{"effect": "deny", "capability": "billing.invoices.delete", "detail": "never"}]})";

// Fixed keys, a fixed clock, one trust root, typed capabilities, a policy, a revoked principal.
// Verification is deterministic: a harness builds a fresh nonce store and rate limiter per input.
struct FuzzWorld {
  hs::Timestamp now = must(hs::time::parse_rfc3339("2026-05-01T12:00:00Z"));
  hs::Identity root = fixed_identity(hs::PrincipalType::kOrg, 101);
  hs::Identity agent = fixed_identity(hs::PrincipalType::kAgent, 102);
  hs::Identity sub_agent = fixed_identity(hs::PrincipalType::kAgent, 103);
  hs::Identity third_agent = fixed_identity(hs::PrincipalType::kAgent, 104);
  hs::Identity revoked_agent = fixed_identity(hs::PrincipalType::kAgent, 105);
  hs::Identity rogue_org = fixed_identity(hs::PrincipalType::kOrg, 106);
  hs::Identity svc = fixed_identity(hs::PrincipalType::kSvc, 109);
  hs::StaticKeyResolver keys;
  hs::RevocationList revocations;
  hs::ServiceOptions options;
  hs::FixedClock clock{now};

  FuzzWorld() {
    for (const hs::Identity* i : principals()) keys.add(i->did_string(), i->public_key());
    revocations.add_principal(revoked_agent.did_string());
    options.chain.trust_roots = {root.did_string()};
    options.chain.max_chain_length = 8;
    options.session_ttl = std::chrono::seconds(300);
    options.capabilities = must(hs::capability::CapabilitySchemaSet::from_json(must(hs::json::parse_strict(kCapabilities))));
    options.policy = must(hs::Policy::from_json(must(hs::json::parse_strict(kPolicy))));
    options.rate_limits.push_back({"billing.**", 1000, 60, hs::RateLimitRule::Per::kAgent});
  }
  FuzzWorld(const FuzzWorld&) = delete;
  FuzzWorld& operator=(const FuzzWorld&) = delete;

  [[nodiscard]] std::vector<const hs::Identity*> principals() const {
    return {&root, &agent, &sub_agent, &third_agent, &revoked_agent, &rogue_org, &svc};
  }

  [[nodiscard]] std::optional<hs::crypto::PublicKey> key_of(const std::string& did) const {
    const auto a = keys.key_at(did, now);
    if (a.status != hs::KeyResolver::Status::kFound) return std::nullopt;
    return a.key;
  }

  [[nodiscard]] static hs::Capability cap(std::string name, Json constraints = Json::object(),
                                          std::optional<bool> delegable = std::nullopt) {
    hs::Capability c;
    c.name = std::move(name);
    c.constraints = std::move(constraints);
    c.delegable = delegable;
    return c;
  }

  // A delegation from `issuer` to `holder`, child of `parent` when given.
  [[nodiscard]] Json link(const hs::Identity& issuer, const hs::Identity& holder, std::vector<hs::Capability> caps,
                          std::int64_t depth, const Json* parent = nullptr) const {
    hs::DelegationToken t;
    t.id = hs::ids::make_id(hs::ids::kDelegationPrefix, now);
    t.iss = issuer.did_string();
    t.sub = t.aud = holder.did_string();
    t.iat = t.nbf = now;
    t.exp = now + std::chrono::minutes(10);
    t.capabilities = std::move(caps);
    t.sub_delegation_depth_remaining = depth;
    if (parent != nullptr) t.parent_delegation_id = parent->at("id").get<std::string>();
    return must(hs::sign_message(t.to_json(), issuer.key()));
  }

  // A request by `who` holding `chain`, for `c`, addressed to this world's service.
  [[nodiscard]] Json request(const hs::Identity& who, std::vector<Json> chain, const hs::Capability& c) const {
    hs::AgentAttestation att;
    att.deployer = root.did_string();
    att.model = "claude-sonnet-4-5";
    att.instance_id = "job-7f3a";
    const hs::Agent a(clone(who), std::move(chain), att);
    return must(a.request(svc.did_string(), c, now));
  }

  // Requests the seed corpus starts from: accepted ones (one to three links, typed constraints),
  // and refused ones reaching most refusal codes.
  [[nodiscard]] std::vector<Json> seed_requests() const {
    std::vector<Json> out;
    const Json one = link(root, agent, {cap("billing.invoices.read", {{"max_invoices", 100}, {"currency", {"EUR", "USD"}}}, true),
                                        cap("files.read", {{"path", "/data/**"}})},
                          2);
    out.push_back(request(agent, {one}, cap("billing.invoices.read", {{"max_invoices", 50}, {"currency", {"EUR"}}})));
    out.push_back(request(agent, {one}, cap("files.read", {{"path", "/data/a/b.txt"}})));
    const Json two = link(agent, sub_agent,
                          {cap("billing.invoices.read", {{"max_invoices", 80}, {"rate", {{"count", 10}, {"per_seconds", 60}}}}, true)},
                          1, &one);
    out.push_back(request(sub_agent, {one, two}, cap("billing.invoices.read", {{"max_invoices", 10}})));
    const Json three = link(sub_agent, third_agent, {cap("billing.invoices.read", {{"max_invoices", 60}})}, 0, &two);
    out.push_back(request(third_agent, {one, two, three}, cap("billing.invoices.read")));
    // Refused: over scope, not granted, untrusted root, revoked holder, policy.
    out.push_back(request(agent, {one}, cap("billing.invoices.read", {{"max_invoices", 500}})));
    out.push_back(request(agent, {one}, cap("billing.invoices.delete")));
    out.push_back(request(agent, {link(rogue_org, agent, {cap("billing.invoices.read")}, 0)}, cap("billing.invoices.read")));
    out.push_back(request(revoked_agent, {link(root, revoked_agent, {cap("billing.invoices.read")}, 0)},
                          cap("billing.invoices.read")));
    out.push_back(request(agent, {link(root, agent, {cap("billing.invoices.delete")}, 0)}, cap("billing.invoices.delete")));
    out.push_back(request(agent, {link(root, agent, {cap("files.read:/data/*")}, 0)}, cap("files.read:/data/a.txt")));
    return out;
  }

  // One message of each signed kind from this world, and a DID Document history.
  [[nodiscard]] std::vector<Json> seed_messages() const {
    std::vector<Json> out = seed_requests();
    const auto requests = seed_requests();
    for (const auto& r : requests) {
      for (const auto& l : r.at("delegation_chain")) out.push_back(l);
    }
    auto nonces = hs::make_memory_nonce_store();
    auto limiter = hs::make_memory_rate_limiter();
    hs::Service service(clone(svc), options, clock, keys, revocations, *nonces, *limiter);
    for (const auto& r : requests) {
      const auto d = service.verify(r);
      out.push_back(d.response);
      if (d.accepted) {
        hs::ReceiptOptions ro;
        ro.result_summary = Json{{"count", 2}};
        ro.upstream_receipts = {hs::ids::make_id(hs::ids::kReceiptPrefix, now)};
        out.push_back(must(service.issue_receipt(d, Json{{"count", 2}}, "ok", ro)));
      }
    }
    out.push_back(must(hs::make_revocation(root, requests[0].at("delegation_chain")[0].at("id").get<std::string>(),
                                           std::nullopt, "policy_change", now, now)));
    out.push_back(must(hs::make_revocation(agent, std::nullopt, agent.did_string(), "key_compromise", now)));
    hs::DidDocumentOptions o;
    o.version_time = now - std::chrono::hours(24 * 30);
    o.revocation_endpoint = "https://acme.example/handshake/revocations";
    const Json v1 = must(hs::make_did_document(agent, o));
    out.push_back(v1);
    const hs::Identity next = agent.rotated();
    o.version_time = now - std::chrono::hours(24);
    out.push_back(must(hs::rotate_did_document(v1, agent.key(), next, o)));
    return out;
  }
};

// Built once per process (harnesses run millions of inputs).
inline const FuzzWorld& world() {
  static const FuzzWorld* w = new FuzzWorld();
  return *w;
}

// What every accepted request must be, whichever front end (core Service, an adapter's gate)
// accepted it: addressed to the world's service, signed by its issuer, with a chain that starts
// at the trust root and whose every link verifies with its issuer's key. So a mutated request is
// accepted only if it is a validly signed request.
inline void check_accepted_request(const hs::HandshakeRequest& req, const FuzzWorld& w) {
  const std::string text = req.source.dump();
  if (req.aud != w.svc.did_string()) violated("accepted a request addressed to another service", text);
  const auto key = w.key_of(req.iss);
  if (!key || !hs::verify_message_signature(req.source, *key).ok()) {
    violated("accepted a request whose signature does not verify", text);
  }
  if (req.delegation_chain.empty() || req.delegation_chain.front().iss != w.root.did_string()) {
    violated("accepted a chain that does not start at the trust root", text);
  }
  for (const auto& link : req.delegation_chain) {
    const auto k = w.key_of(link.iss);
    if (!k || !hs::verify_message_signature(link.source, *k).ok()) {
      violated("accepted a chain link whose signature does not verify", text);
    }
  }
}

// A decision's answer is a signed Acceptance or Refusal that parses, by the world's service, and
// a refusal names the same code in the Decision and in the signed Refusal.
inline void check_decision(const hs::Decision& d, const FuzzWorld& w) {
  if (!hs::verify_message_signature(d.response, w.svc.public_key()).ok()) {
    violated("the service's answer is not signed by the service", d.response.dump());
  }
  if (d.accepted) {
    if (d.refusal || !d.acceptance || !d.request) violated("an accepted decision is incomplete");
    if (!hs::Acceptance::from_json(d.response).ok()) violated("an Acceptance does not parse", d.response.dump());
    return;
  }
  if (!d.refusal) violated("a refused decision has no refusal");
  auto r = hs::Refusal::from_json(d.response);
  if (!r.ok()) violated("a Refusal does not parse", d.response.dump());
  if (r->reason.code != hs::to_string(d.refusal->code)) violated("the signed refusal code differs", d.response.dump());
}

// A signed Refusal carried by an adapter's answer: signed by the world's service and parses.
inline void check_signed_refusal(const Json& refusal) {
  if (!hs::verify_message_signature(refusal, world().svc.public_key()).ok()) {
    violated("a carried refusal is not signed by the service", refusal.dump());
  }
  if (!hs::Refusal::from_json(refusal).ok()) violated("a carried refusal does not parse", refusal.dump());
}

// ---- Merkle: the fixed tree and the harness input layout --------------------------------------------------

// Leaves 0..7 are the RFC 6962 test leaves (tests/vectors/public/merkle_rfc6962.json), so that
// the vectors' proofs are valid seeds; the rest extend the tree to sizes that are not powers of 2.
inline constexpr std::size_t kTreeSize = 70;
inline constexpr const char* kRfc6962Leaves[] = {
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"};

struct FixedTree {
  hs::merkle::MemoryTree tree;
  std::vector<hs::merkle::Hash> leaves;
  std::vector<hs::merkle::Hash> roots;  // roots[s]: root of the first s leaves (roots[0] = empty root)

  FixedTree() {
    for (std::size_t i = 0; i < kTreeSize; ++i) {
      const auto input = i < 8 ? must(hs::encoding::hex_decode(kRfc6962Leaves[i]))
                               : hs::encoding::Bytes(64, static_cast<std::uint8_t>(i));
      leaves.push_back(hs::merkle::leaf_hash(input));
      tree.append(leaves.back());
    }
    roots.push_back(hs::merkle::empty_root());
    for (std::size_t s = 1; s <= kTreeSize; ++s) roots.push_back(must(hs::merkle::root(s, tree)));
  }
};

inline const FixedTree& fixed_tree() {
  static const FixedTree* t = new FixedTree();
  return *t;
}

// Harness input:
//   byte 0     flags: bit 0 = consistency (else inclusion); bit 1 = 64-bit little-endian numbers
//              (else one byte each, taken modulo kTreeSize + 1)
//   a, b       inclusion: index, size; consistency: size1, size2
//   inclusion only: one byte s; s < kTreeSize picks leaves[s], else 32 raw bytes follow
//   the rest   proof hashes, 32 bytes each (a shorter tail is ignored)
struct MerkleInput {
  bool consistency = false;
  bool wide = false;
  std::uint64_t a = 0, b = 0;
  std::optional<std::uint8_t> leaf_pick;
  hs::merkle::Hash leaf{};
  std::vector<hs::merkle::Hash> proof;
};

inline std::optional<MerkleInput> decode_merkle_input(const std::uint8_t* data, std::size_t size) {
  std::size_t at = 0;
  auto take = [&](std::size_t n) -> const std::uint8_t* {
    if (size - at < n) return nullptr;
    const std::uint8_t* p = data + at;
    at += n;
    return p;
  };
  MerkleInput in;
  const auto* flags = take(1);
  if (flags == nullptr) return std::nullopt;
  in.consistency = (*flags & 1u) != 0;
  in.wide = (*flags & 2u) != 0;
  auto number = [&](std::uint64_t& out) {
    if (in.wide) {
      const auto* p = take(8);
      if (p == nullptr) return false;
      out = 0;
      for (int i = 7; i >= 0; --i) out = (out << 8) | p[i];
    } else {
      const auto* p = take(1);
      if (p == nullptr) return false;
      out = *p % (kTreeSize + 1);
    }
    return true;
  };
  if (!number(in.a) || !number(in.b)) return std::nullopt;
  if (!in.consistency) {
    const auto* s = take(1);
    if (s == nullptr) return std::nullopt;
    if (*s < kTreeSize) {
      in.leaf_pick = *s;
      in.leaf = fixed_tree().leaves[*s];
    } else {
      const auto* raw = take(32);
      if (raw == nullptr) return std::nullopt;
      std::copy(raw, raw + 32, in.leaf.begin());
    }
  }
  while (const auto* h = take(32)) {
    hs::merkle::Hash x;
    std::copy(h, h + 32, x.begin());
    in.proof.push_back(x);
    if (in.proof.size() > hs::merkle::kMaxProofLength + 2) break;
  }
  return in;
}

inline std::string encode_merkle_input(bool consistency, std::uint64_t a, std::uint64_t b,
                                       std::optional<std::uint8_t> leaf_pick, const hs::merkle::Hash& leaf,
                                       const std::vector<hs::merkle::Hash>& proof, bool wide = false) {
  std::string out;
  out.push_back(static_cast<char>((consistency ? 1 : 0) | (wide ? 2 : 0)));
  for (const std::uint64_t n : {a, b}) {
    if (wide) {
      for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
    } else {
      out.push_back(static_cast<char>(n));
    }
  }
  if (!consistency) {
    if (leaf_pick) {
      out.push_back(static_cast<char>(*leaf_pick));
    } else {
      out.push_back(static_cast<char>(0xFF));
      out.append(reinterpret_cast<const char*>(leaf.data()), leaf.size());
    }
  }
  for (const auto& h : proof) out.append(reinterpret_cast<const char*>(h.data()), h.size());
  return out;
}

// ---- encodings: the harness input layout ------------------------------------------------------------------

// Byte 0 picks the decoder (modulo 4), the rest is the text.
enum class Codec : std::uint8_t { kBase64url = 0, kBase58btc = 1, kMultibase = 2, kHex = 3 };

}  // namespace hsk_fuzz
