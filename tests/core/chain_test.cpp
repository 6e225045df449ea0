// Delegation chain validation (§11) called directly: order of checks, the step and link each
// refusal names, depth and length rules, and a property test of the attenuation algebra.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "core/fixtures.hpp"

using namespace hsk_fx;
using hs::Json;
using hs::RefusalCode;

namespace {

// The root (w.root) and agents with seeds 20, 21, ... registered with the world's resolver.
class Cast {
 public:
  Cast(World& w, std::size_t agents) : w_(w) {
    for (std::size_t i = 0; i < agents; ++i) {
      agents_.push_back(make_identity(hs::PrincipalType::kAgent, static_cast<std::uint8_t>(20 + i)));
      w.keys.add(agents_.back().did_string(), agents_.back().public_key());
    }
  }
  // Principal i: 0 is the root, then the agents.
  [[nodiscard]] const hs::Identity& p(std::size_t i) const { return i == 0 ? w_.root : agents_.at(i - 1); }

 private:
  World& w_;
  std::vector<hs::Identity> agents_;
};

struct LinkSpec {
  std::optional<std::int64_t> max;  // max_invoices, absent: inherit
  bool delegable = true;
  std::int64_t depth = 0;
};

// Link i goes from principal i to principal i + 1, signed by its issuer, with parent ids.
std::vector<hs::DelegationToken> build(World& w, const Cast& c, const std::vector<LinkSpec>& specs) {
  std::vector<hs::DelegationToken> out;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    auto t = token(c.p(i).did_string(), c.p(i + 1).did_string(), {read_cap(specs[i].max, specs[i].delegable)},
                   specs[i].depth, w.now());
    if (i > 0) t.parent_delegation_id = out.back().id;
    out.push_back(signed_token(std::move(t), c.p(i)));
  }
  return out;
}

// Re-signs link `t` (after editing) with `signer`.
hs::DelegationToken resigned(hs::DelegationToken t, const hs::Identity& signer) {
  return signed_token(std::move(t), signer);
}

// A request from `iss` presenting `chain` (validate_chain does not look at its signature).
hs::HandshakeRequest request_for(const World& w, const std::string& iss, std::vector<hs::DelegationToken> chain,
                                 hs::Capability c = read_cap(std::nullopt)) {
  hs::HandshakeRequest r;
  r.id = hs::ids::make_id(hs::ids::kRequestPrefix, w.now());
  r.iss = iss;
  r.aud = w.svc_did();
  r.iat = w.now();
  r.nonce = hs::crypto::make_nonce();
  r.agent_attestation = attestation(w.root.did_string());
  r.capability = std::move(c);
  r.delegation_chain = std::move(chain);
  return r;
}

hs::ChainVerdict run(const World& w, const hs::HandshakeRequest& r) {
  return hs::validate_chain(r, w.options.chain, w.options.capabilities, w.keys, w.revocations, w.now());
}

// A chain of n links with exact decrements: depths n-1, ..., 0; every link max 100.
std::vector<LinkSpec> straight(std::size_t n) {
  std::vector<LinkSpec> specs;
  for (std::size_t i = 0; i < n; ++i) {
    specs.push_back({100, i + 1 < n, static_cast<std::int64_t>(n - 1 - i)});
  }
  return specs;
}

void expect(const hs::ChainVerdict& v, RefusalCode code, std::string_view step,
            const std::optional<std::string>& delegation_id) {
  REQUIRE(v.refusal.has_value());
  INFO("detail: " << v.refusal->detail);
  CHECK(hs::to_string(v.refusal->code) == hs::to_string(code));
  CHECK(hs::to_string(v.refusal->step) == step);
  CHECK(v.refusal->delegation_id == delegation_id);
}

void revoke(World& w, const hs::Identity& issuer, const std::string& delegation_id) {
  must_ok(w.revocations.add_statement(
      must(hs::make_revocation(issuer, delegation_id, std::nullopt, "policy_change", w.now())), w.keys));
}

}  // namespace

TEST_CASE("chain: an accepted verdict", "[chain]") {
  World w;
  Cast c(w, 3);
  auto chain = build(w, c, {{100, true, 2}, {80, true, 1}, {std::nullopt, false, 0}});
  const auto r = request_for(w, c.p(3).did_string(), chain, read_cap(5));
  const auto v = run(w, r);
  INFO((v.refusal ? v.refusal->detail : std::string("accepted")));
  REQUIRE_FALSE(v.refusal.has_value());
  REQUIRE(v.delegations.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(v.delegations[i].first == chain[i].id);
    CHECK(v.delegations[i].second == c.p(i).did_string());
  }
  CHECK(v.principals ==
        std::vector<std::string>{c.p(0).did_string(), c.p(1).did_string(), c.p(2).did_string(), c.p(3).did_string()});
  CHECK(v.granted_name == "billing.invoices.read");
  CHECK(v.chain_scope.to_json() == Json{{"max_invoices", 80}});
  CHECK(v.effective_scope.to_json() == Json{{"max_invoices", 5}});
}

TEST_CASE("chain: checks run in the documented order", "[chain]") {
  World w;
  Cast c(w, 4);
  const auto& rogue = w.rogue_org;

  SECTION("bounds before structure: too long and untrusted") {
    w.options.chain.max_chain_length = 2;
    auto chain = build(w, c, straight(3));
    chain[0] = resigned([&] {
      auto t = chain[0];
      t.iss = rogue.did_string();
      return t;
    }(), rogue);
    const auto v = run(w, request_for(w, c.p(3).did_string(), chain));
    expect(v, RefusalCode::kChainBroken, "delegation_chain_walk", std::nullopt);
    CHECK_THAT(v.refusal->detail, Catch::Contains("3 links"));
  }
  SECTION("trust root before audience continuity") {
    auto chain = build(w, c, straight(2));
    auto t0link = chain[0];
    t0link.iss = rogue.did_string();
    chain[0] = resigned(t0link, rogue);
    chain[1].aud = chain[1].sub = w.mallory.did_string();  // also broken (and its signature too)
    expect(run(w, request_for(w, c.p(2).did_string(), chain)), RefusalCode::kChainBroken, "delegation_chain_walk",
           chain[0].id);
  }
  SECTION("structure before signatures: a broken aud and a bad signature on the same link") {
    auto chain = build(w, c, straight(2));
    auto bad = chain[0];
    bad.aud = bad.sub = w.mallory.did_string();  // not the next link's issuer
    chain[0] = resigned(bad, rogue);              // and not signed by its issuer
    expect(run(w, request_for(w, c.p(2).did_string(), chain)), RefusalCode::kChainBroken, "delegation_chain_walk",
           chain[0].id);
  }
  SECTION("structure of a later link before the signature of an earlier one") {
    auto chain = build(w, c, straight(3));
    chain[0] = resigned(chain[0], rogue);  // bad signature on link 0
    auto t2 = chain[2];
    t2.sub_delegation_depth_remaining = 1;  // link 2 not decremented (link 1 has depth 1)
    chain[2] = resigned(t2, c.p(2));
    expect(run(w, request_for(w, c.p(3).did_string(), chain)), RefusalCode::kChainBroken, "delegation_chain_walk",
           chain[2].id);
  }
  SECTION("a capability not granted is found before any signature") {
    auto chain = build(w, c, straight(2));
    chain[0] = resigned(chain[0], rogue);
    auto t1 = chain[1];
    t1.capabilities = {cap("billing.invoices.list")};
    chain[1] = resigned(t1, c.p(1));
    expect(run(w, request_for(w, c.p(2).did_string(), chain)), RefusalCode::kScopeExceeded, "scope_intersection",
           chain[1].id);
  }
  SECTION("signature before time on the same link") {
    auto chain = build(w, c, straight(2));
    chain[0] = resigned(chain[0], rogue);
    w.clock.advance(std::chrono::seconds(3600));  // everything expired
    expect(run(w, request_for(w, c.p(2).did_string(), chain)), RefusalCode::kSignatureInvalid,
           "delegation_chain_walk", chain[0].id);
  }
  SECTION("links are taken in order: an expired root before a bad leaf signature") {
    auto chain = build(w, c, straight(2));
    auto t0link = chain[0];
    t0link.exp = w.now() + std::chrono::seconds(10);
    chain[0] = resigned(t0link, c.p(0));
    chain[1] = resigned(chain[1], rogue);
    w.clock.advance(std::chrono::seconds(100));
    expect(run(w, request_for(w, c.p(2).did_string(), chain)), RefusalCode::kExpired, "delegation_chain_walk",
           chain[0].id);
  }
  SECTION("time before revocation on the same link") {
    auto chain = build(w, c, straight(1));
    revoke(w, c.p(0), chain[0].id);
    w.clock.advance(std::chrono::seconds(3600));
    expect(run(w, request_for(w, c.p(1).did_string(), chain)), RefusalCode::kExpired, "delegation_chain_walk",
           chain[0].id);
  }
  SECTION("per link: a revoked root before an expired leaf") {
    auto chain = build(w, c, straight(2));
    auto t1 = chain[1];
    t1.exp = w.now() + std::chrono::seconds(10);
    chain[1] = resigned(t1, c.p(1));
    revoke(w, c.p(0), chain[0].id);
    w.clock.advance(std::chrono::seconds(100));
    expect(run(w, request_for(w, c.p(2).did_string(), chain)), RefusalCode::kCredentialRevoked,
           "delegation_chain_walk", chain[0].id);
  }
  SECTION("per link: a revoked root issuer before a bad leaf signature") {
    auto chain = build(w, c, straight(2));
    chain[1] = resigned(chain[1], rogue);
    must_ok(w.revocations.add_statement(
        must(hs::make_revocation(c.p(0), std::nullopt, c.p(0).did_string(), "key_compromise", w.now())), w.keys));
    const auto v = run(w, request_for(w, c.p(2).did_string(), chain));
    REQUIRE(v.refusal.has_value());
    CHECK(hs::to_string(v.refusal->code) == "credential_revoked");
  }
  SECTION("revocation before scope") {
    auto chain = build(w, c, {{100, true, 1}, {500, false, 0}});  // link 1 widens
    revoke(w, c.p(0), chain[0].id);
    expect(run(w, request_for(w, c.p(2).did_string(), chain)), RefusalCode::kCredentialRevoked,
           "delegation_chain_walk", chain[0].id);
  }
  SECTION("signature before scope") {
    auto chain = build(w, c, {{100, true, 1}, {500, false, 0}});
    chain[1] = resigned(chain[1], rogue);
    expect(run(w, request_for(w, c.p(2).did_string(), chain)), RefusalCode::kSignatureInvalid,
           "delegation_chain_walk", chain[1].id);
  }
  SECTION("the holder's revocation is checked after the links") {
    auto chain = build(w, c, straight(2));
    must_ok(w.revocations.add_statement(
        must(hs::make_revocation(c.p(2), std::nullopt, c.p(2).did_string(), "key_compromise", w.now())), w.keys));
    const auto v = run(w, request_for(w, c.p(2).did_string(), chain));
    REQUIRE(v.refusal.has_value());
    CHECK(hs::to_string(v.refusal->code) == "credential_revoked");
    CHECK(hs::to_string(v.refusal->step) == "delegation_chain_walk");
  }
  SECTION("a widening child is refused at the scope step, naming the child") {
    auto chain = build(w, c, {{100, true, 2}, {50, true, 1}, {60, false, 0}});
    expect(run(w, request_for(w, c.p(3).did_string(), chain, read_cap(10))), RefusalCode::kScopeExceeded,
           "scope_intersection", chain[2].id);
  }
  SECTION("a request beyond the effective scope names no link") {
    auto chain = build(w, c, {{100, true, 1}, {50, false, 0}});
    expect(run(w, request_for(w, c.p(2).did_string(), chain, read_cap(51))), RefusalCode::kScopeExceeded,
           "scope_intersection", std::nullopt);
  }
}

TEST_CASE("chain: rejected_at_step and the faulty link for each structural fault", "[chain]") {
  World w;
  Cast c(w, 3);
  auto chain = build(w, c, straight(3));
  const std::string holder = c.p(3).did_string();

  SECTION("untrusted root") {
    w.options.chain.trust_roots = {c.p(1).did_string()};
    expect(run(w, request_for(w, holder, chain)), RefusalCode::kChainBroken, "delegation_chain_walk", chain[0].id);
  }
  SECTION("trust_any_root accepts any root") {
    w.options.chain.trust_roots.clear();
    w.options.chain.trust_any_root = true;
    CHECK_FALSE(run(w, request_for(w, holder, chain)).refusal.has_value());
  }
  SECTION("aud differs from sub") {
    auto t = chain[1];
    t.sub = w.mallory.did_string();
    chain[1] = resigned(t, c.p(1));
    expect(run(w, request_for(w, holder, chain)), RefusalCode::kChainBroken, "delegation_chain_walk", chain[1].id);
  }
  SECTION("leaf not held by the requester") {
    expect(run(w, request_for(w, w.mallory.did_string(), chain)), RefusalCode::kChainBroken,
           "delegation_chain_walk", chain[2].id);
  }
  SECTION("middle link not delegable") {
    auto t = chain[1];
    t.capabilities[0].delegable = false;
    chain[1] = resigned(t, c.p(1));
    expect(run(w, request_for(w, holder, chain)), RefusalCode::kChainBroken, "delegation_chain_walk", chain[1].id);
  }
  SECTION("a wrong parent_delegation_id") {
    auto t = chain[2];
    t.parent_delegation_id = chain[0].id;
    chain[2] = resigned(t, c.p(2));
    expect(run(w, request_for(w, holder, chain)), RefusalCode::kChainBroken, "delegation_chain_walk", chain[2].id);
  }
  SECTION("no parent_delegation_id at all is fine") {
    auto t = chain[2];
    t.parent_delegation_id.reset();
    chain[2] = resigned(t, c.p(2));
    CHECK_FALSE(run(w, request_for(w, holder, chain)).refusal.has_value());
  }
  SECTION("capability not granted by a middle link") {
    auto t = chain[1];
    t.capabilities = {cap("billing.invoices.write", Json::object(), true)};
    chain[1] = resigned(t, c.p(1));
    expect(run(w, request_for(w, holder, chain)), RefusalCode::kScopeExceeded, "scope_intersection", chain[1].id);
  }
  SECTION("a child's resource glob wider than its parent's") {
    const std::string kName = "files.write:/projects/a/*";
    std::vector<hs::DelegationToken> files;
    auto t0link = token(c.p(0).did_string(), c.p(1).did_string(), {cap(kName, Json::object(), true)}, 1, w.now());
    files.push_back(must(hs::DelegationToken::from_json(sign_token(t0link, c.p(0)))));
    auto t1 = token(c.p(1).did_string(), c.p(2).did_string(), {cap("files.write:/projects/*")}, 0, w.now());
    files.push_back(must(hs::DelegationToken::from_json(sign_token(t1, c.p(1)))));
    expect(run(w, request_for(w, c.p(2).did_string(), files, cap("files.write:/projects/a/x.txt"))),
           RefusalCode::kScopeExceeded, "scope_intersection", files[1].id);
  }
  SECTION("a link signed by the wrong key") {
    chain[1] = resigned(chain[1], w.mallory);
    expect(run(w, request_for(w, holder, chain)), RefusalCode::kSignatureInvalid, "delegation_chain_walk",
           chain[1].id);
  }
  SECTION("a link whose issuer has no key") {
    auto stranger = make_identity(hs::PrincipalType::kAgent, 99);  // never registered
    std::vector<hs::DelegationToken> links;
    auto a = token(c.p(0).did_string(), stranger.did_string(), {read_cap(100, true)}, 1, w.now());
    links.push_back(must(hs::DelegationToken::from_json(sign_token(a, c.p(0)))));
    auto b = token(stranger.did_string(), c.p(2).did_string(), {read_cap(50)}, 0, w.now());
    b.parent_delegation_id = links[0].id;
    links.push_back(must(hs::DelegationToken::from_json(sign_token(b, stranger))));
    expect(run(w, request_for(w, c.p(2).did_string(), links)), RefusalCode::kSignatureInvalid,
           "delegation_chain_walk", links[1].id);
  }
}

TEST_CASE("chain: depth rules for chains of length 1 to 5", "[chain]") {
  World w;
  Cast c(w, 5);
  for (std::size_t n = 1; n <= 5; ++n) {
    INFO("chain of " << n);
    const std::string holder = c.p(n).did_string();
    {
      INFO("exact decrements");
      const auto v = run(w, request_for(w, holder, build(w, c, straight(n))));
      INFO((v.refusal ? v.refusal->detail : std::string()));
      CHECK_FALSE(v.refusal.has_value());
    }
    {
      INFO("decrements of more than one are fine, and the leaf may keep depth");
      auto specs = straight(n);
      for (std::size_t i = 0; i < n; ++i) specs[i].depth = static_cast<std::int64_t>(3 * (n - i));
      CHECK_FALSE(run(w, request_for(w, holder, build(w, c, specs))).refusal.has_value());
    }
    if (n == 1) continue;
    for (std::size_t k = 1; k < n; ++k) {
      INFO("link " << k << " not decremented");
      auto specs = straight(n);
      specs[k].depth = specs[k - 1].depth;
      // Keep the links after k consistent with k's depth so that k is the only fault.
      for (std::size_t j = k + 1; j < n; ++j) specs[j].depth = specs[j - 1].depth - 1;
      const auto chain = build(w, c, specs);
      expect(run(w, request_for(w, holder, chain)), RefusalCode::kChainBroken, "delegation_chain_walk", chain[k].id);
    }
    for (std::size_t k = 0; k + 1 < n; ++k) {
      INFO("non-leaf link " << k << " with depth 0");
      auto specs = straight(n);
      specs[k].depth = 0;
      for (std::size_t j = k + 1; j < n; ++j) specs[j].depth = 0;
      const auto chain = build(w, c, specs);
      expect(run(w, request_for(w, holder, chain)), RefusalCode::kChainBroken, "delegation_chain_walk", chain[k].id);
    }
    for (std::size_t k = 0; k + 1 < n; ++k) {
      INFO("non-leaf link " << k << " not delegable");
      auto specs = straight(n);
      specs[k].delegable = false;
      const auto chain = build(w, c, specs);
      expect(run(w, request_for(w, holder, chain)), RefusalCode::kChainBroken, "delegation_chain_walk", chain[k].id);
    }
  }
}

TEST_CASE("chain: length bounds", "[chain]") {
  World w;
  Cast c(w, 9);

  SECTION("the default maximum is 8") {
    CHECK(w.options.chain.max_chain_length == 8);
    CHECK_FALSE(run(w, request_for(w, c.p(8).did_string(), build(w, c, straight(8)))).refusal.has_value());
    const auto v = run(w, request_for(w, c.p(9).did_string(), build(w, c, straight(9))));
    expect(v, RefusalCode::kChainBroken, "delegation_chain_walk", std::nullopt);
  }
  SECTION("a configured maximum, and one over it") {
    w.options.chain.max_chain_length = 4;
    CHECK_FALSE(run(w, request_for(w, c.p(4).did_string(), build(w, c, straight(4)))).refusal.has_value());
    const auto v = run(w, request_for(w, c.p(5).did_string(), build(w, c, straight(5))));
    expect(v, RefusalCode::kChainBroken, "delegation_chain_walk", std::nullopt);
    CHECK_THAT(v.refusal->detail, Catch::Contains("5 links"));
  }
  SECTION("an empty chain") {
    expect(run(w, request_for(w, c.p(1).did_string(), {})), RefusalCode::kChainBroken, "delegation_chain_walk",
           std::nullopt);
  }
}

TEST_CASE("chain: check_revocations on its own", "[chain]") {
  World w;
  const std::vector<std::pair<std::string, std::string>> links{{"dt_01HK4ZQ7M3X9R5N2P8V0YJF7B3", w.root.did_string()}};
  const std::vector<std::string> principals{w.root.did_string(), w.agent.did_string()};
  CHECK_FALSE(hs::check_revocations(links, principals, w.revocations, w.now()).has_value());

  SECTION("a revoked link") {
    w.revocations.add_delegation(links[0].first, w.root.did_string());
    auto r = hs::check_revocations(links, principals, w.revocations, w.now());
    REQUIRE(r.has_value());
    CHECK(r->code == RefusalCode::kCredentialRevoked);
    CHECK(r->delegation_id == std::optional<std::string>(links[0].first));
  }
  SECTION("a link id revoked by another issuer does not match") {
    w.revocations.add_delegation(links[0].first, w.mallory.did_string());
    CHECK_FALSE(hs::check_revocations(links, principals, w.revocations, w.now()).has_value());
  }
  SECTION("a revoked principal") {
    w.revocations.add_principal(w.agent.did_string());
    auto r = hs::check_revocations(links, principals, w.revocations, w.now());
    REQUIRE(r.has_value());
    CHECK(r->code == RefusalCode::kCredentialRevoked);
  }
  SECTION("a principal revoked only from a later time") {
    w.revocations.add_principal(w.agent.did_string(), w.now() + std::chrono::seconds(1));
    CHECK_FALSE(hs::check_revocations(links, principals, w.revocations, w.now()).has_value());
    CHECK(hs::check_revocations(links, principals, w.revocations, w.now() + std::chrono::seconds(1)).has_value());
  }
}

// Property: random chains of 2..5 links with random max_invoices, where children sometimes
// widen. Whenever the chain is accepted, the effective maximum is at most every link's; whenever
// a child is wider than its parent's effective maximum, the chain is refused scope_exceeded at
// that child.
TEST_CASE("chain: property - attenuation of numeric_max over random chains", "[chain]") {
  World w;
  Cast c(w, 5);
  std::mt19937 rng(20260429);  // fixed: reproducible
  auto uniform = [&](std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); };

  int accepted = 0, widened = 0, request_over = 0;
  for (int iter = 0; iter < 250; ++iter) {
    const auto n = static_cast<std::size_t>(uniform(2, 5));
    std::vector<LinkSpec> specs = straight(n);
    std::int64_t effective = uniform(10, 1000);
    specs[0].max = effective;
    std::optional<std::size_t> first_widening;
    for (std::size_t i = 1; i < n; ++i) {
      const auto roll = uniform(0, 9);
      if (roll < 2) {
        specs[i].max.reset();  // inherits
      } else if (roll < 5) {
        specs[i].max = effective + uniform(1, 100);  // wider than the effective max so far
        if (!first_widening) first_widening = i;
      } else {
        specs[i].max = uniform(1, effective);  // narrower or equal
        if (!first_widening) effective = *specs[i].max;
      }
    }
    std::optional<std::int64_t> requested;
    if (uniform(0, 2) > 0) requested = uniform(1, effective + 20);

    const auto chain = build(w, c, specs);
    const auto v = run(w, request_for(w, c.p(n).did_string(), chain, read_cap(requested)));
    INFO("iteration " << iter << ", " << n << " links, effective " << effective);

    if (v.refusal) {
      INFO("refused: " << v.refusal->detail);
      CHECK(v.refusal->code == RefusalCode::kScopeExceeded);
      if (first_widening) {
        ++widened;
        CHECK(v.refusal->delegation_id == std::optional<std::string>(chain[*first_widening].id));
      } else {
        ++request_over;
        REQUIRE(requested.has_value());
        CHECK(*requested > effective);
      }
      continue;
    }
    ++accepted;
    CHECK_FALSE(first_widening.has_value());
    const Json chain_scope = v.chain_scope.to_json();
    REQUIRE(chain_scope.contains("max_invoices"));
    const auto chain_max = chain_scope.at("max_invoices").get<std::int64_t>();
    CHECK(chain_max == effective);
    const Json eff = v.effective_scope.to_json();
    const auto eff_max = eff.at("max_invoices").get<std::int64_t>();
    for (const auto& s : specs) {
      if (s.max) {
        CHECK(chain_max <= *s.max);
        CHECK(eff_max <= *s.max);
      }
    }
    if (requested) {
      CHECK(*requested <= effective);
      CHECK(eff_max == *requested);
    } else {
      CHECK(eff_max == effective);
    }
  }
  // The generator exercised every outcome.
  CHECK(accepted > 20);
  CHECK(widened > 20);
  CHECK(request_over > 5);
}
