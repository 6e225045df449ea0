// The service's verifier (§9, §11, §14, §17) through its public API: every refusal code from a
// crafted input, the signed answers, the warm path and concurrent replays.
#include <array>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <stdlib.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "core/fixtures.hpp"
#include "handshake/policy.hpp"
#include "handshake/session_ticket.hpp"
#include "test_util.hpp"

using namespace hsk_fx;
using hs::Json;
using hs::RefusalCode;

namespace {

// A resolver that cannot answer: for every DID, or only for `did`.
class UnavailableResolver final : public hs::KeyResolver {
 public:
  explicit UnavailableResolver(const hs::KeyResolver& inner, std::string did = {})
      : inner_(inner), did_(std::move(did)) {}
  [[nodiscard]] Answer key_at(const std::string& did, hs::Timestamp at) const override {
    if (did_.empty() || did == did_) return {Status::kUnavailable, {}, "resolver down"};
    return inner_.key_at(did, at);
  }

 private:
  const hs::KeyResolver& inner_;
  std::string did_;
};

// A revocation source that cannot answer.
class UnavailableRevocations final : public hs::RevocationSource {
 public:
  [[nodiscard]] Answer delegation_revoked(std::string_view, std::string_view, hs::Timestamp) const override {
    return Answer::kUnavailable;
  }
  [[nodiscard]] Answer principal_revoked(std::string_view, hs::Timestamp) const override {
    return Answer::kUnavailable;
  }
};

hs::Service make_service(World& w, const hs::KeyResolver& keys, const hs::RevocationSource& revocations) {
  return hs::Service(make_identity(hs::PrincipalType::kSvc, kServiceSeed), w.options, w.clock, keys, revocations,
                     *w.nonces, *w.limiter);
}

std::string detail_of(const hs::Decision& d) { return d.refusal ? d.refusal->detail : std::string(); }

// root -> agent (delegable, depth 1) -> sub_agent, the leaf a hand-built token signed by agent.
struct TwoLinks {
  Json l0, l1;
  hs::DelegationToken t1;
};

TwoLinks two_links(World& w, hs::Capability root_cap, std::int64_t root_depth, hs::Capability leaf_cap,
                   std::int64_t leaf_depth) {
  TwoLinks out;
  out.l0 = w.grant(w.root, w.agent, {std::move(root_cap)}, root_depth);
  out.t1 = token(w.agent.did_string(), w.sub_agent.did_string(), {std::move(leaf_cap)}, leaf_depth, w.now());
  out.t1.parent_delegation_id = id_of(out.l0);
  out.l1 = sign_token(out.t1, w.agent);
  return out;
}

// root -> agent -> sub_agent -> third_agent through hs::delegate.
std::vector<Json> three_links(World& w) {
  std::vector<Json> chain;
  chain.push_back(w.grant(w.root, w.agent, {read_cap(100, true)}, 2));
  chain.push_back(w.grant(w.agent, w.sub_agent, {read_cap(80, true)}, std::nullopt, chain));
  chain.push_back(w.grant(w.sub_agent, w.third_agent, {read_cap(60)}, std::nullopt, chain));
  return chain;
}

}  // namespace

// ---- acceptance ----------------------------------------------------------------------------------

TEST_CASE("service: a valid request is accepted with a signed, bound Acceptance", "[service]") {
  World w;
  auto a = w.default_agent();

  SECTION("effective scope is narrowed by the request (request built by Agent::request)") {
    const Json req = w.agent_request(a, read_cap(50));
    CHECK(hs::schema::validate("handshake-request.json", req).ok());
    const auto d = w.service().verify(req);
    const auto acc = w.expect_acceptance(d, req);
    CHECK(acc.effective_scope.constraints == Json{{"max_invoices", 50}});
    CHECK_FALSE(acc.session_token.has_value());
    CHECK_FALSE(acc.session_ttl_seconds.has_value());
    CHECK_FALSE(d.warm);
    REQUIRE(d.request.has_value());
    CHECK(d.request->id == id_of(req));
    REQUIRE(d.acceptance.has_value());
    CHECK(d.acceptance->source == d.response);

    // The agent's own check of the answer.
    auto answer = a.check_answer(d.response, w.svc_did(), w.svc.public_key(), id_of(req));
    INFO(why(answer));
    REQUIRE(answer.ok());
    CHECK(answer->accepted);
  }
  SECTION("a request without constraints gets the delegated scope") {
    const Json req = w.request(a, read_cap(std::nullopt));
    const auto acc = w.expect_acceptance(w.service().verify(req), req);
    CHECK(acc.effective_scope.constraints == Json{{"max_invoices", 100}});
  }
  SECTION("a request exactly at the maximum") {
    const Json req = w.request(a, read_cap(100));
    const auto acc = w.expect_acceptance(w.service().verify(req), req);
    CHECK(acc.effective_scope.constraints == Json{{"max_invoices", 100}});
  }
  SECTION("through the text entry point") {
    const Json req = w.request(a, read_cap(7));
    const auto acc = w.expect_acceptance(w.service().verify(std::string_view(req.dump())), req);
    CHECK(acc.effective_scope.constraints == Json{{"max_invoices", 7}});
  }
  SECTION("a three-link chain intersects every link") {
    auto chain = three_links(w);
    auto leaf = w.agent_for(kThirdAgentSeed, chain);
    const Json req = w.request(leaf, read_cap(std::nullopt));
    const auto acc = w.expect_acceptance(w.service().verify(req), req);
    CHECK(acc.effective_scope.constraints == Json{{"max_invoices", 60}});
  }
}

TEST_CASE("service: refusals before verification, bound or not", "[service]") {
  World w;
  auto a = w.default_agent();
  hs::RefusalInfo why_not;
  why_not.code = RefusalCode::kPolicyDenied;
  why_not.step = hs::VerificationStep::kPolicy;
  why_not.detail = "no mandate in the call";

  // Bound: the agent can match it to its request and verify it like any answer.
  const Json req = w.request(a, read_cap(5));
  const auto bound = w.service().refuse_request(req, why_not);
  CHECK_FALSE(bound.accepted);
  CHECK(bound.response["request_id"] == req["id"]);
  CHECK(bound.response["aud"] == req["iss"]);
  CHECK(hs::schema::validate("handshake-refusal.json", bound.response).ok());
  auto answer = a.check_answer(bound.response, w.svc_did(), w.svc.public_key(), id_of(req));
  REQUIRE(answer.ok());
  CHECK_FALSE(answer->accepted);
  // Refusing it spent nothing: the same request is still accepted afterwards.
  w.expect_acceptance(w.service().verify(req), req);

  // Malformed id or iss are not copied; then it is the unbound refusal.
  Json junk = req;
  junk["id"] = "not-an-id";
  junk["iss"] = "did:evil:\u0000";
  for (const Json& r : {junk, Json("text"), Json(nullptr)}) {
    const auto d = w.service().refuse_request(r, why_not);
    CHECK(d.response["request_id"] == "hs_00000000000000000000000000");
    CHECK(d.response["aud"] == w.svc_did());
  }
  CHECK(w.service().refuse_unverified(why_not).response["request_id"] == "hs_00000000000000000000000000");
}

TEST_CASE("service: Decision.request is set whenever the request parsed", "[service]") {
  World w;
  w.options.session_ttl = std::chrono::seconds(60);
  const auto a = w.default_agent();

  const Json over = w.request(a, read_cap(500));
  const auto refused = w.service().verify(over);
  w.expect_refusal(refused, RefusalCode::kScopeExceeded, over);
  REQUIRE(refused.request.has_value());
  CHECK(refused.request->id == id_of(over));
  CHECK(refused.request->capability.constraints == Json{{"max_invoices", 500}});

  const Json forged = resign(w.request(a, read_cap(10)), w.mallory);
  const auto bad_sig = w.service().verify(forged);
  REQUIRE(bad_sig.request.has_value());
  CHECK(bad_sig.request->id == id_of(forged));

  const Json warm = w.request(a, read_cap(10), std::string("bm8tc3VjaC1zZXNzaW9u"));
  const auto warm_refused = w.service().verify(warm);
  REQUIRE_FALSE(warm_refused.accepted);
  REQUIRE(warm_refused.request.has_value());
  CHECK(warm_refused.request->id == id_of(warm));

  Json newer = w.request(a, read_cap(10));
  newer["version"] = "0.3.0";
  CHECK_FALSE(w.service().verify(newer).request.has_value());
  CHECK_FALSE(w.service().verify(std::string_view("{}")).request.has_value());
}

// ---- all twelve codes, one crafted input each ------------------------------------------------------

TEST_CASE("service: each of the twelve §14 codes comes out of a crafted input", "[service]") {
  std::set<std::string> seen;
  for (const RefusalCode code : hs::kAllRefusalCodes) {
    INFO("scenario for " << hs::to_string(code));
    World w;
    Json req;
    hs::Decision d;
    switch (code) {
      case RefusalCode::kSignatureInvalid: {
        req = resign(w.request(w.default_agent(), read_cap(10)), w.mallory);
        d = w.service().verify(req);
        break;
      }
      case RefusalCode::kChainBroken: {
        auto a = w.agent_for(kAgentSeed, {w.grant(w.rogue_org, w.agent, {read_cap(100)})});
        req = w.request(a, read_cap(10));
        d = w.service().verify(req);
        break;
      }
      case RefusalCode::kScopeExceeded: {
        req = w.request(w.default_agent(), read_cap(500));
        d = w.service().verify(req);
        break;
      }
      case RefusalCode::kCredentialRevoked: {
        auto chain = std::vector<Json>{w.grant(w.root, w.agent, {read_cap(100)})};
        must_ok(w.revocations.add_statement(
            must(hs::make_revocation(w.root, id_of(chain[0]), std::nullopt, "policy_change", w.now())), w.keys));
        req = w.request(w.agent_for(kAgentSeed, chain), read_cap(10));
        d = w.service().verify(req);
        break;
      }
      case RefusalCode::kExpired: {
        auto a = w.default_agent();
        w.clock.advance(std::chrono::seconds(700));
        req = w.request(a, read_cap(10));
        d = w.service().verify(req);
        break;
      }
      case RefusalCode::kNotYetValid: {
        req = must(w.default_agent().request(w.svc_did(), read_cap(10), w.now() + std::chrono::seconds(600)));
        d = w.service().verify(req);
        break;
      }
      case RefusalCode::kReplayDetected: {
        req = w.request(w.default_agent(), read_cap(10));
        REQUIRE(w.service().verify(req).accepted);
        d = w.service().verify(req);
        break;
      }
      case RefusalCode::kAudMismatch: {
        auto other = make_identity(hs::PrincipalType::kSvc, kOtherServiceSeed);
        req = must(w.default_agent().request(other.did_string(), read_cap(10), w.now()));
        d = w.service().verify(req);
        break;
      }
      case RefusalCode::kPolicyDenied: {
        w.options.policy = must(hs::Policy::from_json(Json::parse(R"({"default": "deny"})")));
        req = w.request(w.default_agent(), read_cap(10));
        d = w.service().verify(req);
        break;
      }
      case RefusalCode::kServiceUnavailable: {
        UnavailableRevocations down;
        auto s = make_service(w, w.keys, down);
        req = w.request(w.default_agent(), read_cap(10));
        d = s.verify(req);
        break;
      }
      case RefusalCode::kRateLimited: {
        w.options.rate_limits.push_back({"**", 1, 60, hs::RateLimitRule::Per::kAgent});
        auto a = w.default_agent();
        REQUIRE(w.service().verify(w.request(a, read_cap(10))).accepted);
        req = w.request(a, read_cap(10));
        d = w.service().verify(req);
        break;
      }
      case RefusalCode::kProtocolVersionUnsupported: {
        req = w.request(w.default_agent(), read_cap(10));
        req["version"] = "0.3.0";
        d = w.service().verify(req);
        break;
      }
    }
    w.expect_refusal(d, code, req);
    seen.insert(std::string(hs::to_string(code)));
  }
  CHECK(seen.size() == 12);
}

// ---- signature_invalid ---------------------------------------------------------------------------

TEST_CASE("service: signature_invalid", "[service]") {
  World w;

  SECTION("request signed by another key") {
    const Json req = resign(w.request(w.default_agent(), read_cap(10)), w.mallory);
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kSignatureInvalid, req);
    CHECK(hs::to_string(d.refusal->step) == "request_signature");
  }
  SECTION("request edited after signing") {
    Json req = w.request(w.default_agent(), read_cap(10));
    req["capability"]["constraints"]["max_invoices"] = 11;
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kSignatureInvalid, req);
  }
  SECTION("request from an agent whose key nobody knows") {
    auto stranger = make_identity(hs::PrincipalType::kAgent, 77);
    auto a = w.agent_for(77, {w.grant(w.root, stranger, {read_cap(100)})});
    const Json req = w.request(a, read_cap(10));
    w.expect_refusal(w.service().verify(req), RefusalCode::kSignatureInvalid, req);
  }
  SECTION("a link signed by a key that is not its issuer's") {
    auto t = token(w.root.did_string(), w.agent.did_string(), {read_cap(100)}, 0, w.now());
    auto a = w.agent_for(kAgentSeed, {sign_token(t, w.rogue_org)});
    const Json req = w.request(a, read_cap(10));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kSignatureInvalid, req);
    CHECK(hs::to_string(d.refusal->step) == "delegation_chain_walk");
    CHECK(d.refusal->delegation_id == t.id);
  }
  SECTION("a middle link signed by the leaf's holder") {
    auto l0 = w.grant(w.root, w.agent, {read_cap(100, true)}, 2);
    auto t1 = token(w.agent.did_string(), w.sub_agent.did_string(), {read_cap(100, true)}, 1, w.now());
    auto l1 = sign_token(t1, w.sub_agent);  // sub_agent forges agent's grant to itself
    auto l2 = w.grant(w.sub_agent, w.third_agent, {read_cap(10)}, 0);
    const Json req = w.request(w.agent_for(kThirdAgentSeed, {l0, l1, l2}), read_cap(10));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kSignatureInvalid, req);
    CHECK(d.refusal->delegation_id == t1.id);
  }
  SECTION("a constraint tampered after signing") {
    Json link = w.grant(w.root, w.agent, {read_cap(100)});
    link["capabilities"][0]["constraints"]["max_invoices"] = 1000;
    const Json req = w.request(w.agent_for(kAgentSeed, {link}), read_cap(500));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kSignatureInvalid, req);
    CHECK(d.refusal->delegation_id == id_of(link));
  }
  SECTION("a delegable flag switched on after signing") {
    Json l0 = w.grant(w.root, w.agent, {read_cap(100, false)}, 1);
    l0["capabilities"][0]["delegable"] = true;
    auto l1 = w.grant(w.agent, w.sub_agent, {read_cap(50)}, 0);
    const Json req = w.request(w.agent_for(kSubAgentSeed, {l0, l1}), read_cap(10));
    w.expect_refusal(w.service().verify(req), RefusalCode::kSignatureInvalid, req);
  }
}

// ---- chain_broken --------------------------------------------------------------------------------

TEST_CASE("service: chain_broken", "[service]") {
  World w;

  SECTION("root not a trust root") {
    auto link = w.grant(w.rogue_org, w.agent, {read_cap(100)});
    const Json req = w.request(w.agent_for(kAgentSeed, {link}), read_cap(10));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kChainBroken, req);
    CHECK(hs::to_string(d.refusal->step) == "delegation_chain_walk");
    CHECK(d.refusal->delegation_id == id_of(link));
  }
  SECTION("a link's aud is not the next link's iss (splice)") {
    auto l0 = w.grant(w.root, w.agent, {read_cap(100, true)}, 1);
    auto l1 = w.grant(w.sub_agent, w.third_agent, {read_cap(50)}, 0);  // sub_agent holds nothing
    const Json req = w.request(w.agent_for(kThirdAgentSeed, {l0, l1}), read_cap(10));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kChainBroken, req);
    CHECK(d.refusal->delegation_id == id_of(l0));
  }
  SECTION("the leaf is not held by the requester") {
    auto link = w.grant(w.root, w.agent, {read_cap(100)});
    const Json req = w.request(w.agent_for(kMallorySeed, {link}), read_cap(10));
    w.expect_refusal(w.service().verify(req), RefusalCode::kChainBroken, req);
  }
  SECTION("reordered chain") {
    auto l0 = w.grant(w.root, w.agent, {read_cap(100, true)}, 1);
    auto l1 = w.grant(w.agent, w.sub_agent, {read_cap(50)}, std::nullopt, {l0});
    {
      const Json ok = w.request(w.agent_for(kSubAgentSeed, {l0, l1}), read_cap(10));
      w.expect_acceptance(w.service().verify(ok), ok);
    }
    const Json req = w.request(w.agent_for(kSubAgentSeed, {l1, l0}), read_cap(10));
    w.expect_refusal(w.service().verify(req), RefusalCode::kChainBroken, req);
  }
  SECTION("reordered chain, both issuers trusted roots") {
    w.options.chain.trust_roots.push_back(w.agent.did_string());
    auto l0 = w.grant(w.root, w.agent, {read_cap(100, true)}, 1);
    auto l1 = w.grant(w.agent, w.sub_agent, {read_cap(50)}, std::nullopt, {l0});
    const Json req = w.request(w.agent_for(kSubAgentSeed, {l1, l0}), read_cap(10));
    w.expect_refusal(w.service().verify(req), RefusalCode::kChainBroken, req);
  }
  SECTION("delegable=false on a middle link") {
    auto links = two_links(w, read_cap(100, false), 1, read_cap(50), 0);
    const Json req = w.request(w.agent_for(kSubAgentSeed, {links.l0, links.l1}), read_cap(10));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kChainBroken, req);
    CHECK(d.refusal->delegation_id == id_of(links.l0));
  }
  SECTION("delegable absent (false by default) on a middle link") {
    auto links = two_links(w, read_cap(100), 1, read_cap(50), 0);
    const Json req = w.request(w.agent_for(kSubAgentSeed, {links.l0, links.l1}), read_cap(10));
    w.expect_refusal(w.service().verify(req), RefusalCode::kChainBroken, req);
  }
  SECTION("depth 0 on a middle link") {
    auto links = two_links(w, read_cap(100, true), 0, read_cap(50), 0);
    const Json req = w.request(w.agent_for(kSubAgentSeed, {links.l0, links.l1}), read_cap(10));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kChainBroken, req);
    CHECK(d.refusal->delegation_id == id_of(links.l0));
  }
  SECTION("depth not decremented") {
    auto links = two_links(w, read_cap(100, true), 1, read_cap(50), 1);
    const Json req = w.request(w.agent_for(kSubAgentSeed, {links.l0, links.l1}), read_cap(10));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kChainBroken, req);
    CHECK(d.refusal->delegation_id == links.t1.id);
  }
  SECTION("parent_delegation_id naming another delegation") {
    auto links = two_links(w, read_cap(100, true), 1, read_cap(50), 0);
    links.t1.parent_delegation_id = hs::ids::make_id(hs::ids::kDelegationPrefix, w.now());
    links.l1 = sign_token(links.t1, w.agent);
    const Json req = w.request(w.agent_for(kSubAgentSeed, {links.l0, links.l1}), read_cap(10));
    w.expect_refusal(w.service().verify(req), RefusalCode::kChainBroken, req);
  }
  SECTION("chain longer than max_chain_length") {
    w.options.chain.max_chain_length = 2;
    const Json req = w.request(w.agent_for(kThirdAgentSeed, three_links(w)), read_cap(10));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kChainBroken, req);
    CHECK_THAT(detail_of(d), Catch::Contains("3 links"));
  }
  SECTION("chain exactly max_chain_length") {
    w.options.chain.max_chain_length = 3;
    const Json req = w.request(w.agent_for(kThirdAgentSeed, three_links(w)), read_cap(10));
    w.expect_acceptance(w.service().verify(req), req);
  }
  SECTION("a cycle A->B->A->B replaying a link") {
    // root -> A (depth 3) -> B (depth 2) -> A (depth 1), then A's first grant to B again.
    const auto& A = w.agent;
    const auto& B = w.sub_agent;
    std::vector<Json> chain{w.grant(w.root, A, {read_cap(100, true)}, 3)};
    chain.push_back(w.grant(A, B, {read_cap(100, true)}, std::nullopt, chain));
    chain.push_back(w.grant(B, A, {read_cap(100, true)}, std::nullopt, chain));
    std::vector<Json> cyclic = chain;
    cyclic.push_back(chain[1]);
    const Json req = w.request(w.agent_for(kSubAgentSeed, cyclic), read_cap(10));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kChainBroken, req);
    CHECK(d.refusal->delegation_id == id_of(chain[1]));
  }
  SECTION("a cycle A->B->A->B->A->B of two replayed links") {
    const auto& A = w.agent;
    const auto& B = w.sub_agent;
    // Hand-built, without parent ids, so that only the depth rule stands in the way.
    auto ta = token(A.did_string(), B.did_string(), {read_cap(100, true)}, 3, w.now());
    auto tb = token(B.did_string(), A.did_string(), {read_cap(100, true)}, 2, w.now());
    const Json la = sign_token(ta, A), lb = sign_token(tb, B);
    const Json l0 = w.grant(w.root, A, {read_cap(100, true)}, 5);
    const Json req = w.request(w.agent_for(kSubAgentSeed, {l0, la, lb, la, lb, la}), read_cap(10));
    w.expect_refusal(w.service().verify(req), RefusalCode::kChainBroken, req);
  }
}

// ---- scope_exceeded ------------------------------------------------------------------------------

TEST_CASE("service: scope_exceeded", "[service]") {
  World w;

  SECTION("request 500 over a delegated max of 100") {
    const Json req = w.request(w.default_agent(), read_cap(500));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kScopeExceeded, req);
    CHECK(hs::to_string(d.refusal->step) == "scope_intersection");
    CHECK_THAT(detail_of(d), Catch::Contains("max_invoices"));
    const auto refusal = must(hs::Refusal::from_json(d.response));
    REQUIRE(refusal.reason.detail.has_value());
    CHECK_THAT(*refusal.reason.detail, Catch::Contains("max_invoices"));
  }
  SECTION("request 101, one over") {
    const Json req = w.request(w.default_agent(), read_cap(101));
    w.expect_refusal(w.service().verify(req), RefusalCode::kScopeExceeded, req);
  }
  SECTION("a child widening its parent's max") {
    auto links = two_links(w, read_cap(100, true), 1, read_cap(200), 0);
    const Json req = w.request(w.agent_for(kSubAgentSeed, {links.l0, links.l1}), read_cap(50));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kScopeExceeded, req);
    CHECK(d.refusal->delegation_id == links.t1.id);
    CHECK_THAT(detail_of(d), Catch::Contains("max_invoices"));
  }
  SECTION("a grandchild widening the intersection, not its direct parent's value") {
    // root 100 -> agent omits the constraint (inherits 100) -> sub_agent 150.
    auto l0 = w.grant(w.root, w.agent, {read_cap(100, true)}, 2);
    auto t1 = token(w.agent.did_string(), w.sub_agent.did_string(), {read_cap(std::nullopt, true)}, 1, w.now());
    auto l1 = sign_token(t1, w.agent);
    auto t2 = token(w.sub_agent.did_string(), w.third_agent.did_string(), {read_cap(150)}, 0, w.now());
    auto l2 = sign_token(t2, w.sub_agent);
    const Json req = w.request(w.agent_for(kThirdAgentSeed, {l0, l1, l2}), read_cap(10));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kScopeExceeded, req);
    CHECK(d.refusal->delegation_id == t2.id);
  }
  SECTION("a capability the chain does not grant") {
    const Json req = w.request(w.default_agent(), cap("billing.invoices.write"));
    w.expect_refusal(w.service().verify(req), RefusalCode::kScopeExceeded, req);
  }
  SECTION("a child granting a capability its parent lacks") {
    auto links = two_links(w, read_cap(100, true), 1, cap("billing.invoices.write"), 0);
    const Json req = w.request(w.agent_for(kSubAgentSeed, {links.l0, links.l1}), cap("billing.invoices.write"));
    w.expect_refusal(w.service().verify(req), RefusalCode::kScopeExceeded, req);
  }
}

// ---- credential_revoked --------------------------------------------------------------------------

TEST_CASE("service: credential_revoked", "[service]") {
  World w;
  const auto chain = three_links(w);
  const auto leaf = w.agent_for(kThirdAgentSeed, chain);

  SECTION("control: accepted before any revocation") {
    const Json ok = w.request(leaf, read_cap(10));
    w.expect_acceptance(w.service().verify(ok), ok);
  }
  SECTION("a middle link revoked by its own issuer") {
    auto statement = must(hs::make_revocation(w.agent, id_of(chain[1]), std::nullopt, "policy_change", w.now()));
    must_ok(w.revocations.add_statement(statement, w.keys));
    const Json req = w.request(leaf, read_cap(10));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kCredentialRevoked, req);
    CHECK(d.refusal->delegation_id == id_of(chain[1]));
  }
  SECTION("a principal revoking itself") {
    auto statement = must(hs::make_revocation(w.sub_agent, std::nullopt, w.sub_agent.did_string(), "key_compromise",
                                              w.now()));
    must_ok(w.revocations.add_statement(statement, w.keys));
    const Json req = w.request(leaf, read_cap(10));
    w.expect_refusal(w.service().verify(req), RefusalCode::kCredentialRevoked, req);
  }
  SECTION("the requesting agent revoked by a revocation authority") {
    w.revocations.add_authority(w.root.did_string());
    auto statement = must(hs::make_revocation(w.root, std::nullopt, w.third_agent.did_string(),
                                              "principal_terminated", w.now()));
    must_ok(w.revocations.add_statement(statement, w.keys));
    const Json req = w.request(leaf, read_cap(10));
    w.expect_refusal(w.service().verify(req), RefusalCode::kCredentialRevoked, req);
  }
  SECTION("a revocation of a link signed by someone other than its issuer does not revoke it") {
    // mallory's statement verifies (it is signed by mallory) but has no authority over agent's link.
    auto statement = must(hs::make_revocation(w.mallory, id_of(chain[1]), std::nullopt, "policy_change", w.now()));
    CHECK(w.revocations.add_statement(statement, w.keys).ok());
    // The root (who issued chain[0], not chain[1]) has no say over chain[1] either.
    auto by_root = must(hs::make_revocation(w.root, id_of(chain[1]), std::nullopt, "policy_change", w.now()));
    CHECK(w.revocations.add_statement(by_root, w.keys).ok());
    const Json req = w.request(leaf, read_cap(10));
    w.expect_acceptance(w.service().verify(req), req);
  }
  SECTION("a principal revocation by a non-authority is not accepted") {
    auto statement = must(hs::make_revocation(w.mallory, std::nullopt, w.agent.did_string(), "unspecified", w.now()));
    const auto st = w.revocations.add_statement(statement, w.keys);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().reason == "revocation.authority");
    const Json req = w.request(leaf, read_cap(10));
    w.expect_acceptance(w.service().verify(req), req);
  }
  SECTION("a forged statement (signed with a key not its issuer's) is not accepted") {
    auto statement = must(hs::make_revocation(w.agent, id_of(chain[1]), std::nullopt, "policy_change", w.now()));
    const Json forged = resign(statement, w.mallory);
    CHECK_FALSE(w.revocations.add_statement(forged, w.keys).ok());
    const Json req = w.request(leaf, read_cap(10));
    w.expect_acceptance(w.service().verify(req), req);
  }
  SECTION("a revocation effective later takes effect only then") {
    auto statement = must(hs::make_revocation(w.root, id_of(chain[0]), std::nullopt, "rotation", w.now(),
                                              w.now() + std::chrono::seconds(100)));
    must_ok(w.revocations.add_statement(statement, w.keys));
    const Json before = w.request(leaf, read_cap(10));
    w.expect_acceptance(w.service().verify(before), before);
    w.clock.advance(std::chrono::seconds(100));
    const Json after = w.request(leaf, read_cap(10));
    w.expect_refusal(w.service().verify(after), RefusalCode::kCredentialRevoked, after);
  }
}

// ---- expired and not_yet_valid, clock skew -------------------------------------------------------

TEST_CASE("service: expired, not_yet_valid and the clock skew boundaries", "[service]") {
  World w;
  const auto a = w.default_agent();  // delegation iat = nbf = t0, exp = t0 + 600 s
  const hs::Timestamp exp = t0() + std::chrono::seconds(600);

  SECTION("exp + 59 s is accepted (default 60 s skew)") {
    w.clock.set(exp + std::chrono::seconds(59));
    const Json req = w.request(a, read_cap(10));
    w.expect_acceptance(w.service().verify(req), req);
  }
  SECTION("exp + 60 s is accepted") {
    w.clock.set(exp + std::chrono::seconds(60));
    const Json req = w.request(a, read_cap(10));
    w.expect_acceptance(w.service().verify(req), req);
  }
  SECTION("exp + 61 s is expired") {
    w.clock.set(exp + std::chrono::seconds(61));
    const Json req = w.request(a, read_cap(10));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kExpired, req);
    CHECK(d.refusal->delegation_id == id_of(a.chain()[0]));
    CHECK(hs::to_string(d.refusal->step) == "delegation_chain_walk");
  }
  SECTION("a smaller configured skew moves the boundary") {
    w.options.chain.clock_skew = std::chrono::seconds(5);
    w.clock.set(exp + std::chrono::seconds(6));
    const Json req = w.request(a, read_cap(10));
    w.expect_refusal(w.service().verify(req), RefusalCode::kExpired, req);
  }
  SECTION("an expired middle link") {
    auto l0 = w.grant(w.root, w.agent, {read_cap(100, true)}, 1, {}, std::chrono::seconds(100));
    // The leaf is signed by hand so that its exp is not capped at the parent's.
    auto t1 = token(w.agent.did_string(), w.sub_agent.did_string(), {read_cap(50)}, 0, w.now());
    t1.parent_delegation_id = id_of(l0);
    auto l1 = sign_token(t1, w.agent);
    w.clock.advance(std::chrono::seconds(200));
    const Json req = w.request(w.agent_for(kSubAgentSeed, {l0, l1}), read_cap(10));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kExpired, req);
    CHECK(d.refusal->delegation_id == id_of(l0));
  }
  SECTION("a request whose iat is older than max_request_age (+ skew) is expired") {
    const Json req = w.request(a, read_cap(10));  // iat = t0
    w.clock.set(t0() + std::chrono::seconds(300 + 60 + 1));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kExpired, req);
    CHECK(hs::to_string(d.refusal->step) == "request_signature");
  }
  SECTION("a request exactly max_request_age + skew old is accepted") {
    const Json req = w.request(a, read_cap(10));
    w.clock.set(t0() + std::chrono::seconds(300 + 60));
    w.expect_acceptance(w.service().verify(req), req);
  }
  SECTION("a link whose nbf is beyond the skew is not yet valid") {
    auto t = token(w.root.did_string(), w.agent.did_string(), {read_cap(100)}, 0, w.now());
    t.nbf = w.now() + std::chrono::seconds(61);
    const Json link = sign_token(t, w.root);
    const Json req = w.request(w.agent_for(kAgentSeed, {link}), read_cap(10));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kNotYetValid, req);
    CHECK(d.refusal->delegation_id == t.id);
  }
  SECTION("a link whose nbf is within the skew is accepted") {
    auto t = token(w.root.did_string(), w.agent.did_string(), {read_cap(100)}, 0, w.now());
    t.nbf = w.now() + std::chrono::seconds(59);
    const Json link = sign_token(t, w.root);
    const Json req = w.request(w.agent_for(kAgentSeed, {link}), read_cap(10));
    w.expect_acceptance(w.service().verify(req), req);
  }
  SECTION("a link issued in the future beyond the skew is not yet valid") {
    auto t = token(w.root.did_string(), w.agent.did_string(), {read_cap(100)}, 0,
                   w.now() + std::chrono::seconds(120));
    const Json req = w.request(w.agent_for(kAgentSeed, {sign_token(t, w.root)}), read_cap(10));
    w.expect_refusal(w.service().verify(req), RefusalCode::kNotYetValid, req);
  }
  SECTION("a request from the future beyond the skew is not yet valid") {
    const Json req = must(a.request(w.svc_did(), read_cap(10), w.now() + std::chrono::seconds(61)));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kNotYetValid, req);
    CHECK(hs::to_string(d.refusal->step) == "request_signature");
  }
  SECTION("a request from the future within the skew is accepted") {
    const Json req = must(a.request(w.svc_did(), read_cap(10), w.now() + std::chrono::seconds(60)));
    w.expect_acceptance(w.service().verify(req), req);
  }
}

// ---- replay_detected, aud_mismatch, policy_denied ------------------------------------------------

TEST_CASE("service: replay_detected", "[service]") {
  World w;
  const auto a = w.default_agent();
  const Json req = w.request(a, read_cap(10));
  w.expect_acceptance(w.service().verify(req), req);

  SECTION("the same request twice") {
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kReplayDetected, req);
    CHECK(hs::to_string(d.refusal->step) == "replay");
    w.expect_refusal(w.service().verify(req), RefusalCode::kReplayDetected, req);
  }
  SECTION("the same request as text") {
    w.expect_refusal(w.service().verify(std::string_view(req.dump(2))), RefusalCode::kReplayDetected, req);
  }
  SECTION("a new request id reusing the nonce") {
    Json again = req;
    again["id"] = hs::ids::make_id(hs::ids::kRequestPrefix, w.now());
    again = resign(again, w.agent);
    w.expect_refusal(w.service().verify(again), RefusalCode::kReplayDetected, again);
  }
  SECTION("still replayed later in the window") {
    w.clock.advance(std::chrono::seconds(300));
    w.expect_refusal(w.service().verify(req), RefusalCode::kReplayDetected, req);
  }
  SECTION("a fresh request is accepted") {
    const Json next = w.request(a, read_cap(10));
    w.expect_acceptance(w.service().verify(next), next);
  }
}

TEST_CASE("service: aud_mismatch", "[service]") {
  World w;
  const auto a = w.default_agent();
  const auto other = make_identity(hs::PrincipalType::kSvc, kOtherServiceSeed);

  SECTION("a request for another service") {
    const Json req = must(a.request(other.did_string(), read_cap(10), w.now()));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kAudMismatch, req);
    CHECK(hs::to_string(d.refusal->step) == "audience_check");
  }
  SECTION("audience is checked before the signature") {
    const Json req = resign(must(a.request(other.did_string(), read_cap(10), w.now())), w.mallory);
    w.expect_refusal(w.service().verify(req), RefusalCode::kAudMismatch, req);
  }
  SECTION("a refused aud_mismatch does not burn the nonce") {
    Json req = must(a.request(other.did_string(), read_cap(10), w.now()));
    w.expect_refusal(w.service().verify(req), RefusalCode::kAudMismatch, req);
    req["aud"] = w.svc_did();
    req = resign(req, w.agent);
    w.expect_acceptance(w.service().verify(req), req);
  }
}

TEST_CASE("service: policy_denied", "[service]") {
  World w;

  SECTION("a deny rule for the capability") {
    w.options.policy = must(hs::Policy::from_json(Json::parse(
        R"({"rules": [{"effect": "deny", "capability": "billing.invoices.*", "detail": "invoices are frozen"}]})")));
    const Json req = w.request(w.default_agent(), read_cap(10));
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kPolicyDenied, req);
    CHECK(hs::to_string(d.refusal->step) == "policy");
    const auto refusal = must(hs::Refusal::from_json(d.response));
    CHECK(refusal.reason.detail == std::optional<std::string>("invoices are frozen"));
  }
  SECTION("a deny rule for one agent only") {
    hs::Json policy = Json::parse(R"({"rules": [{"effect": "deny"}]})");
    policy["rules"][0]["agents"] = Json::array({w.sub_agent.did_string()});
    w.options.policy = must(hs::Policy::from_json(policy));
    const Json ok = w.request(w.default_agent(), read_cap(10));
    w.expect_acceptance(w.service().verify(ok), ok);
    const auto a2 = w.agent_for(kSubAgentSeed, {w.grant(w.root, w.sub_agent, {read_cap(100)})});
    const Json req = w.request(a2, read_cap(10));
    w.expect_refusal(w.service().verify(req), RefusalCode::kPolicyDenied, req);
  }
  SECTION("default deny with an allow rule for a model glob") {
    w.options.policy = must(hs::Policy::from_json(Json::parse(
        R"({"default": "deny", "rules": [{"effect": "allow", "models": ["claude-*"]}]})")));
    const Json ok = w.request(w.default_agent(), read_cap(10));
    w.expect_acceptance(w.service().verify(ok), ok);
  }
  SECTION("a deny rule for another capability does not apply") {
    w.options.policy = must(hs::Policy::from_json(
        Json::parse(R"({"rules": [{"effect": "deny", "capability": "billing.invoices.write"}]})")));
    const Json ok = w.request(w.default_agent(), read_cap(10));
    w.expect_acceptance(w.service().verify(ok), ok);
  }
  SECTION("a malformed policy is refused when loaded") {
    auto p = hs::Policy::from_json(Json::parse(R"({"rules": [{"effect": "maybe"}]})"));
    REQUIRE_FALSE(p.ok());
    CHECK(p.error().reason == "policy.invalid");
  }
}

// ---- service_unavailable -------------------------------------------------------------------------

TEST_CASE("service: service_unavailable", "[service]") {
  World w;
  const auto a = w.default_agent();

  SECTION("the key resolver cannot answer") {
    UnavailableResolver down(w.keys);
    auto s = make_service(w, down, w.revocations);
    const Json req = w.request(a, read_cap(10));
    const auto d = s.verify(req);
    w.expect_refusal(d, RefusalCode::kServiceUnavailable, req);
    const auto refusal = must(hs::Refusal::from_json(d.response));
    REQUIRE(refusal.reason.retry_after_seconds.has_value());
    CHECK(*refusal.reason.retry_after_seconds >= 1);
  }
  SECTION("the key resolver cannot answer for a link's issuer") {
    UnavailableResolver down(w.keys, w.root.did_string());
    auto s = make_service(w, down, w.revocations);
    const Json req = w.request(a, read_cap(10));
    const auto d = s.verify(req);
    w.expect_refusal(d, RefusalCode::kServiceUnavailable, req);
    CHECK(d.refusal->delegation_id == id_of(a.chain()[0]));
  }
  SECTION("the revocation source cannot answer") {
    UnavailableRevocations down;
    auto s = make_service(w, w.keys, down);
    const Json req = w.request(a, read_cap(10));
    w.expect_refusal(s.verify(req), RefusalCode::kServiceUnavailable, req);
  }
  SECTION("the nonce store is full") {
    w.nonces = hs::make_memory_nonce_store(1);
    const Json first = w.request(a, read_cap(10));
    w.expect_acceptance(w.service().verify(first), first);
    const Json second = w.request(a, read_cap(10));
    const auto d = w.service().verify(second);
    w.expect_refusal(d, RefusalCode::kServiceUnavailable, second);
    CHECK(hs::to_string(d.refusal->step) == "replay");
    // The replay of the first is still recognized (a full store never forgets).
    w.expect_refusal(w.service().verify(first), RefusalCode::kReplayDetected, first);
  }
}

// ---- rate_limited --------------------------------------------------------------------------------

TEST_CASE("service: rate_limited", "[service]") {
  World w;
  const auto a = w.default_agent();

  SECTION("a service rule of 1 per 60 s") {
    w.options.rate_limits.push_back({"billing.invoices.*", 1, 60, hs::RateLimitRule::Per::kAgent});
    const Json first = w.request(a, read_cap(10));
    w.expect_acceptance(w.service().verify(first), first);
    const Json second = w.request(a, read_cap(10));
    const auto d = w.service().verify(second);
    w.expect_refusal(d, RefusalCode::kRateLimited, second);
    CHECK(hs::to_string(d.refusal->step) == "rate_limit");
    const auto refusal = must(hs::Refusal::from_json(d.response));
    REQUIRE(refusal.reason.retry_after_seconds.has_value());
    CHECK(*refusal.reason.retry_after_seconds >= 1);
    CHECK(*refusal.reason.retry_after_seconds <= 60);
    // Another agent has its own budget.
    const auto other = w.agent_for(kSubAgentSeed, {w.grant(w.root, w.sub_agent, {read_cap(100)})});
    const Json theirs = w.request(other, read_cap(10));
    w.expect_acceptance(w.service().verify(theirs), theirs);
    // After the window, the agent may go again.
    w.clock.advance(std::chrono::seconds(61));
    const Json later = w.request(a, read_cap(10));
    w.expect_acceptance(w.service().verify(later), later);
  }
  SECTION("a rule for another capability does not apply") {
    w.options.rate_limits.push_back({"billing.payments.*", 1, 60, hs::RateLimitRule::Per::kAgent});
    for (int i = 0; i < 3; ++i) {
      const Json req = w.request(a, read_cap(10));
      w.expect_acceptance(w.service().verify(req), req);
    }
  }
  SECTION("a replayed request does not spend the budget") {
    w.options.rate_limits.push_back({"**", 2, 60, hs::RateLimitRule::Per::kAgent});
    const Json first = w.request(a, read_cap(10));
    w.expect_acceptance(w.service().verify(first), first);
    for (int i = 0; i < 3; ++i) {
      w.expect_refusal(w.service().verify(first), RefusalCode::kReplayDetected, first);
    }
    const Json second = w.request(a, read_cap(10));
    w.expect_acceptance(w.service().verify(second), second);
    const Json third = w.request(a, read_cap(10));
    w.expect_refusal(w.service().verify(third), RefusalCode::kRateLimited, third);
  }
  SECTION("a rate_limit constraint in the delegation, typed by the capability schema") {
    w.options.capabilities = must(hs::capability::CapabilitySchemaSet::from_json(Json::parse(R"({"capabilities": [
        {"name": "billing.invoices.read", "description": "Read invoices",
         "constraints": {"rate": {"type": "rate_limit", "description": "calls per window"},
                         "max_invoices": {"type": "numeric_max"}}}]})")));
    auto link = w.grant(w.root, w.agent, {cap("billing.invoices.read", Json::parse(
                                                 R"({"max_invoices": 100, "rate": {"count": 1, "per_seconds": 60}})"))});
    const auto limited = w.agent_for(kAgentSeed, {link});
    const Json first = w.request(limited, read_cap(10));
    const auto acc = w.expect_acceptance(w.service().verify(first), first);
    CHECK(acc.effective_scope.constraints.at("rate") == Json::parse(R"({"count": 1, "per_seconds": 60})"));
    const Json second = w.request(limited, read_cap(10));
    const auto d = w.service().verify(second);
    w.expect_refusal(d, RefusalCode::kRateLimited, second);
    const auto refusal = must(hs::Refusal::from_json(d.response));
    REQUIRE(refusal.reason.retry_after_seconds.has_value());
    CHECK(*refusal.reason.retry_after_seconds >= 1);
  }
}

// ---- protocol_version_unsupported ----------------------------------------------------------------

TEST_CASE("service: protocol_version_unsupported", "[service]") {
  World w;
  const auto a = w.default_agent();
  const std::string kUnknownId = "hs_00000000000000000000000000";

  SECTION("version 0.3.0") {
    Json req = w.request(a, read_cap(10));
    req["version"] = "0.3.0";
    const auto d = w.service().verify(req);
    w.expect_refusal(d, RefusalCode::kProtocolVersionUnsupported, req);
    CHECK(hs::to_string(d.refusal->step) == "schema_validation");
  }
  SECTION("an unknown top-level member") {
    Json req = w.request(a, read_cap(10));
    req["x_priority"] = "high";
    w.expect_refusal(w.service().verify(req), RefusalCode::kProtocolVersionUnsupported, req);
  }
  SECTION("a link of another version") {
    Json link = a.chain()[0];
    link["version"] = "0.2.4";
    const Json req = w.request(w.agent_for(kAgentSeed, {link}), read_cap(10));
    w.expect_refusal(w.service().verify(req), RefusalCode::kProtocolVersionUnsupported, req);
  }
  SECTION("a required member missing") {
    Json req = w.request(a, read_cap(10));
    req.erase("nonce");
    w.expect_refusal(w.service().verify(req), RefusalCode::kProtocolVersionUnsupported, req);
  }
  SECTION("garbage text") {
    const auto d = w.service().verify(std::string_view("this is not {json"));
    w.expect_refusal(d, RefusalCode::kProtocolVersionUnsupported, kUnknownId, w.svc_did());
  }
  SECTION("a JSON value that is not an object") {
    const auto d = w.service().verify(std::string_view("[1, 2, 3]"));
    w.expect_refusal(d, RefusalCode::kProtocolVersionUnsupported, kUnknownId, w.svc_did());
  }
  SECTION("duplicate keys in the text") {
    const Json req = w.request(a, read_cap(10));
    std::string text = req.dump();
    text.insert(1, R"("kind":"HandshakeRequest",)");
    w.expect_refusal(w.service().verify(std::string_view(text)), RefusalCode::kProtocolVersionUnsupported, kUnknownId,
                     w.svc_did());
  }
  SECTION("text over max_request_bytes") {
    w.options.max_request_bytes = 8 * 1024;
    const Json req = w.request(a, read_cap(10));
    std::string text = req.dump();
    REQUIRE(text.size() < w.options.max_request_bytes);
    text.append(w.options.max_request_bytes - text.size() + 1, ' ');  // one byte over
    const auto d = w.service().verify(std::string_view(text));
    w.expect_refusal(d, RefusalCode::kProtocolVersionUnsupported, kUnknownId, w.svc_did());
    // The same request within the limit is fine (and was not consumed by the refusal).
    w.expect_acceptance(w.service().verify(std::string_view(req.dump())), req);
  }
}

// ---- concurrency ---------------------------------------------------------------------------------

TEST_CASE("service: concurrent presentations of one request are accepted exactly once", "[service]") {
  constexpr int kThreads = 8;
  // HSK_RACE_ROUNDS overrides the number of rounds (a longer soak, or fewer on a slow machine).
  int kRounds = 100;
  if (const char* env = std::getenv("HSK_RACE_ROUNDS"); env != nullptr && std::atoi(env) > 0) kRounds = std::atoi(env);
  World w;
  const auto a = w.default_agent();
  auto& service = w.service();

  // Everything is prepared before the threads start, so nothing can throw while they wait.
  std::vector<Json> requests;
  std::vector<std::string> texts;
  for (int r = 0; r < kRounds; ++r) {
    requests.push_back(w.request(a, read_cap(r % 100 + 1)));
    texts.push_back(requests.back().dump());
  }
  std::vector<std::array<hs::Decision, kThreads>> decisions(static_cast<std::size_t>(kRounds));

  std::barrier sync(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        sync.arrive_and_wait();  // all threads present round r's request together
        decisions[r][t] = (t % 2 == 0) ? service.verify(requests[r]) : service.verify(std::string_view(texts[r]));
      }
    });
  }
  for (auto& th : threads) th.join();

  int bad_rounds = 0;
  for (int r = 0; r < kRounds; ++r) {
    int accepted = 0, replayed = 0;
    std::string codes;
    for (const auto& d : decisions[r]) {
      if (d.accepted) ++accepted;
      if (!d.accepted && d.refusal && d.refusal->code == RefusalCode::kReplayDetected) ++replayed;
      codes += d.accepted ? std::string(" accepted") : " " + std::string(d.refusal ? hs::to_string(d.refusal->code) : "?");
    }
    if ((accepted != 1 || replayed != kThreads - 1) && ++bad_rounds <= 3) {  // report the first few
      INFO("round " << r << ":" << codes);
      CHECK(accepted == 1);
      CHECK(replayed == kThreads - 1);
    }
  }
  CHECK(bad_rounds == 0);
  // Spot-check that the concurrent answers are well-formed and bound.
  for (const auto& d : decisions[kRounds - 1]) {
    if (d.accepted) {
      w.expect_acceptance(d, requests[kRounds - 1]);
    } else {
      w.expect_refusal(d, RefusalCode::kReplayDetected, requests[kRounds - 1]);
    }
  }
}

TEST_CASE("service: concurrent presentations of one warm request are accepted exactly once", "[service]") {
  constexpr int kThreads = 8;
  constexpr int kRounds = 50;
  World w;
  w.options.session_ttl = std::chrono::seconds(300);
  const auto a = w.default_agent();
  const Json cold = w.request(a, read_cap(10));
  const auto acc = w.expect_acceptance(w.service().verify(cold), cold);
  REQUIRE(acc.session_token.has_value());
  auto& service = w.service();

  std::vector<Json> requests;
  for (int r = 0; r < kRounds; ++r) requests.push_back(w.request(a, read_cap(r % 100 + 1), acc.session_token));
  std::vector<std::array<hs::Decision, kThreads>> decisions(kRounds);
  std::barrier sync(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        sync.arrive_and_wait();
        decisions[r][t] = service.verify(requests[r]);
      }
    });
  }
  for (auto& th : threads) th.join();

  int bad_rounds = 0;
  for (int r = 0; r < kRounds; ++r) {
    int warm_accepted = 0, replayed = 0;
    for (const auto& d : decisions[r]) {
      if (d.accepted && d.warm) ++warm_accepted;
      if (!d.accepted && d.refusal && d.refusal->code == RefusalCode::kReplayDetected) ++replayed;
    }
    if (warm_accepted != 1 || replayed != kThreads - 1) ++bad_rounds;
  }
  CHECK(bad_rounds == 0);
}

// ---- warm path -----------------------------------------------------------------------------------

TEST_CASE("service: warm handshakes through a session token", "[service]") {
  World w;
  w.options.session_ttl = std::chrono::seconds(120);
  const auto a = w.default_agent();
  const Json cold = w.request(a, read_cap(50));  // (Agent::request's cold form: first test case)
  const auto cold_d = w.service().verify(cold);
  const auto cold_acc = w.expect_acceptance(cold_d, cold);
  CHECK_FALSE(cold_d.warm);
  REQUIRE(cold_acc.session_token.has_value());
  REQUIRE(cold_acc.session_ttl_seconds.has_value());
  CHECK(*cold_acc.session_ttl_seconds == 120);
  const std::string token = *cold_acc.session_token;

  SECTION("a warm request (built by Agent::request) is accepted, warm, and schema-valid") {
    const Json warm = w.agent_request(a, read_cap(80), token);
    CHECK(hs::schema::validate("handshake-request.json", warm).ok());
    CHECK(warm.at("agent_attestation").at(std::string(hs::kSessionTokenMember)) == token);
    CHECK(warm.at("delegation_chain").size() == 1);
    const auto d = w.service().verify(warm);
    const auto acc = w.expect_acceptance(d, warm);
    CHECK(d.warm);
    // The session keeps the chain's scope (100), not the cold request's 50.
    CHECK(acc.effective_scope.constraints == Json{{"max_invoices", 80}});
    CHECK(acc.session_token == std::optional<std::string>(token));
    REQUIRE(acc.session_ttl_seconds.has_value());
    CHECK(*acc.session_ttl_seconds <= 120);
    auto answer = a.check_answer(d.response, w.svc_did(), w.svc.public_key(), id_of(warm));
    CHECK(answer.ok());
  }
  SECTION("a revocation ends the session at once") {
    const Json warm1 = w.request(a, read_cap(10), token);
    REQUIRE(w.service().verify(warm1).accepted);
    must_ok(w.revocations.add_statement(
        must(hs::make_revocation(w.root, id_of(a.chain()[0]), std::nullopt, "policy_change", w.now())), w.keys));
    const Json warm2 = w.request(a, read_cap(10), token);
    const auto d = w.service().verify(warm2);
    w.expect_refusal(d, RefusalCode::kCredentialRevoked, warm2);
    const Json warm3 = w.request(a, read_cap(10), token);
    const auto d3 = w.service().verify(warm3);
    REQUIRE_FALSE(d3.accepted);
    CHECK(d3.refusal->code == RefusalCode::kCredentialRevoked);
    w.expect_refusal(d3, d3.refusal->code, warm3);
    // And the cold path agrees.
    const Json cold2 = w.request(a, read_cap(10));
    w.expect_refusal(w.service().verify(cold2), RefusalCode::kCredentialRevoked, cold2);
  }
  SECTION("a revocation of the agent principal ends the session") {
    must_ok(w.revocations.add_statement(
        must(hs::make_revocation(w.agent, std::nullopt, w.agent.did_string(), "key_compromise", w.now())), w.keys));
    const Json warm = w.request(a, read_cap(10), token);
    w.expect_refusal(w.service().verify(warm), RefusalCode::kCredentialRevoked, warm);
  }
  SECTION("an unknown token is refused") {
    const Json warm = w.request(a, read_cap(10), std::string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    w.expect_refusal(w.service().verify(warm), RefusalCode::kExpired, warm);
  }
  SECTION("the session expires with its ttl") {
    w.clock.advance(std::chrono::seconds(121));
    const Json warm = w.request(a, read_cap(10), token);
    w.expect_refusal(w.service().verify(warm), RefusalCode::kExpired, warm);
  }
  SECTION("a stolen token presented by another agent") {
    const auto thief = w.agent_for(kMallorySeed, a.chain());
    const Json warm = w.request(thief, read_cap(10), token);
    w.expect_refusal(w.service().verify(warm), RefusalCode::kSignatureInvalid, warm);
  }
  SECTION("a stolen token with the victim's iss, signed by the thief") {
    const Json genuine = w.request(a, read_cap(10), token);
    const Json forged = resign(genuine, w.mallory);
    w.expect_refusal(w.service().verify(forged), RefusalCode::kSignatureInvalid, forged);
    // The genuine request was not consumed by the forgery.
    w.expect_acceptance(w.service().verify(genuine), genuine);
  }
  SECTION("a warm request edited after signing") {
    Json warm = w.request(a, read_cap(10), token);
    warm["capability"]["constraints"]["max_invoices"] = 90;
    w.expect_refusal(w.service().verify(warm), RefusalCode::kSignatureInvalid, warm);
  }
  SECTION("a warm request beyond the session's scope") {
    const Json warm = w.request(a, read_cap(500), token);
    const auto d = w.service().verify(warm);
    w.expect_refusal(d, RefusalCode::kScopeExceeded, warm);
    CHECK_THAT(detail_of(d), Catch::Contains("max_invoices"));
  }
  SECTION("a warm request for another capability") {
    const Json warm = w.request(a, cap("billing.invoices.write"), token);
    w.expect_refusal(w.service().verify(warm), RefusalCode::kScopeExceeded, warm);
  }
  SECTION("a warm request is still protected against replay") {
    const Json warm = w.request(a, read_cap(10), token);
    w.expect_acceptance(w.service().verify(warm), warm);
    w.expect_refusal(w.service().verify(warm), RefusalCode::kReplayDetected, warm);
    // The cold request cannot be replayed either.
    w.expect_refusal(w.service().verify(cold), RefusalCode::kReplayDetected, cold);
  }
  SECTION("a warm request to another service") {
    const auto other = make_identity(hs::PrincipalType::kSvc, kOtherServiceSeed);
    const Json warm = must(a.request(other.did_string(), read_cap(10), w.now(), token));
    w.expect_refusal(w.service().verify(warm), RefusalCode::kAudMismatch, warm);
  }
  SECTION("a stale warm request is expired") {
    const Json warm = w.request(a, read_cap(10), token);
    w.clock.advance(std::chrono::seconds(300 + 60 + 1));
    w.expect_refusal(w.service().verify(warm), RefusalCode::kExpired, warm);
  }
  SECTION("the session ttl is capped by the delegation's exp") {
    w.clock.advance(std::chrono::seconds(550));  // the delegation expires 50 s from now
    const Json cold2 = w.request(a, read_cap(10));
    const auto acc = w.expect_acceptance(w.service().verify(cold2), cold2);
    REQUIRE(acc.session_ttl_seconds.has_value());
    CHECK(*acc.session_ttl_seconds == 50);
  }
}

TEST_CASE("service: warm path rate limits and policy still apply", "[service]") {
  World w;
  w.options.session_ttl = std::chrono::seconds(120);
  w.options.rate_limits.push_back({"**", 2, 60, hs::RateLimitRule::Per::kAgent});
  const auto a = w.default_agent();
  const Json cold = w.agent_request(a, read_cap(10));
  const auto acc = w.expect_acceptance(w.service().verify(cold), cold);
  REQUIRE(acc.session_token.has_value());
  const Json warm1 = w.agent_request(a, read_cap(10), acc.session_token);
  CHECK(w.service().verify(warm1).accepted);
  const Json warm2 = w.agent_request(a, read_cap(10), acc.session_token);
  w.expect_refusal(w.service().verify(warm2), RefusalCode::kRateLimited, warm2);
}

TEST_CASE("service: without sessions a token is refused", "[service]") {
  World w;  // session_ttl 0
  const auto a = w.default_agent();
  const Json cold = w.agent_request(a, read_cap(10));
  const auto acc = w.expect_acceptance(w.service().verify(cold), cold);
  CHECK_FALSE(acc.session_token.has_value());
  const Json warm = w.agent_request(a, read_cap(10), std::string("c2Vzc2lvbi10b2tlbi10aGF0LWRvZXMtbm90LWV4aXN0"));
  const auto d = w.service().verify(warm);
  REQUIRE_FALSE(d.accepted);
  w.expect_refusal(d, d.refusal->code, warm);
}

// ---- warm sessions as sealed tickets, across instances ---------------------------------------------

namespace {

// A directory of ticket key files, removed afterwards.
class KeyDir {
 public:
  // A new key file `name`.
  std::filesystem::path make(const std::string& name) const {
    const auto p = dir_ / name;
    auto id = hs::write_session_key_file(p);
    INFO(why(id));
    REQUIRE(id.ok());
    return p;
  }
  // The keys of `files` as one process loads them (every call loads them afresh).
  static std::shared_ptr<const hs::SessionTicketKeys> load(const std::vector<std::filesystem::path>& files) {
    auto k = hs::SessionTicketKeys::from_files(files);
    INFO(why(k));
    REQUIRE(k.ok());
    return *k;
  }

 private:
  hsk_test::TempDir dir_{"hsk-service-keys"};
};

// Another instance of the world's service, as a second process behind a load balancer is: the
// same identity (unless `seed` says otherwise), options, clock, key resolver and revocation
// source, its own nonce store and rate limiter, and the ticket keys given (null: its own).
struct Instance {
  std::unique_ptr<hs::NonceStore> nonces = hs::make_memory_nonce_store();
  std::unique_ptr<hs::RateLimiter> limiter = hs::make_memory_rate_limiter();
  std::unique_ptr<hs::Service> service;
  Instance(World& w, std::shared_ptr<const hs::SessionTicketKeys> keys, std::uint8_t seed = kServiceSeed,
           std::optional<std::chrono::seconds> ttl = std::nullopt) {
    hs::ServiceOptions o = w.options;
    o.ticket_keys = std::move(keys);
    if (ttl) o.session_ttl = *ttl;
    service = std::make_unique<hs::Service>(make_identity(hs::PrincipalType::kSvc, seed), o, w.clock, w.keys,
                                            w.revocations, *nonces, *limiter);
  }
  hs::Decision verify(const Json& request) const { return service->verify(request); }
};

// A cold handshake at `at`; returns its session token.
std::string cold_session(World& w, const Instance& at, const hs::Agent& a) {
  const Json cold = w.request(a, read_cap(50));
  const auto d = at.verify(cold);
  const auto acc = w.expect_acceptance(d, cold);
  CHECK_FALSE(d.warm);
  REQUIRE(acc.session_token.has_value());
  return *acc.session_token;
}

// A warm request with `token` at `at` is accepted on the warm path, and hands the token back.
void expect_warm(World& w, const Instance& at, const hs::Agent& a, const std::string& token,
                 std::int64_t max_invoices = 80) {
  const Json warm = w.request(a, read_cap(max_invoices), token);
  const auto d = at.verify(warm);
  const auto acc = w.expect_acceptance(d, warm);
  CHECK(d.warm);
  CHECK(acc.effective_scope.constraints == Json{{"max_invoices", max_invoices}});
  CHECK(acc.session_token == std::optional<std::string>(token));
}

// A warm request with `token` at `at` is refused expired at step session.
void expect_unknown_session(World& w, const Instance& at, const hs::Agent& a, const std::string& token) {
  const Json warm = w.request(a, read_cap(10), token);
  const auto d = at.verify(warm);
  w.expect_refusal(d, RefusalCode::kExpired, warm);
  REQUIRE(d.refusal.has_value());
  CHECK(d.refusal->step == hs::VerificationStep::kSession);
  CHECK_THAT(detail_of(d), Catch::Contains("send a cold handshake"));
}

}  // namespace

TEST_CASE("service: instances sharing a ticket key file accept each other's sessions", "[service][warm][ticket]") {
  KeyDir dir;
  const auto shared = dir.make("shared.key");
  World w;
  w.options.session_ttl = std::chrono::seconds(120);
  const auto a = w.default_agent();
  // Two processes load the same file; nothing else is shared between them.
  const Instance one(w, KeyDir::load({shared}));
  const Instance two(w, KeyDir::load({shared}));

  const std::string from_one = cold_session(w, one, a);
  expect_warm(w, two, a, from_one);
  expect_warm(w, one, a, from_one, 30);
  const std::string from_two = cold_session(w, two, a);
  CHECK(from_two != from_one);
  expect_warm(w, one, a, from_two);

  SECTION("an instance with another key refuses them") {
    const Instance other(w, KeyDir::load({dir.make("other.key")}));
    expect_unknown_session(w, other, a, from_one);
    expect_unknown_session(w, other, a, from_two);
  }
  SECTION("an instance with a key of its own refuses them") {
    const Instance own(w, nullptr);
    expect_unknown_session(w, own, a, from_one);
    // ... while its own sessions work (the single-instance default).
    expect_warm(w, own, a, cold_session(w, own, a));
  }
  SECTION("an instance without sessions refuses them, even with the key") {
    const Instance cold_only(w, KeyDir::load({shared}), kServiceSeed, std::chrono::seconds(0));
    expect_unknown_session(w, cold_only, a, from_one);
  }
  SECTION("a service of another DID sharing the key refuses them (the audience is bound)") {
    const Instance elsewhere(w, KeyDir::load({shared}), kOtherServiceSeed);
    const auto other_did = make_identity(hs::PrincipalType::kSvc, kOtherServiceSeed).did_string();
    const Json warm = w.request(a, read_cap(10), from_one, other_did);
    const auto d = elsewhere.verify(warm);
    REQUIRE_FALSE(d.accepted);
    REQUIRE(d.refusal.has_value());
    CHECK(d.refusal->code == RefusalCode::kExpired);
    CHECK(d.refusal->step == hs::VerificationStep::kSession);
    // And the other way round: its tickets do not open here.
    const Json cold = w.request(a, read_cap(10), std::nullopt, other_did);
    const auto acc = elsewhere.verify(cold);
    REQUIRE(acc.accepted);
    REQUIRE(acc.acceptance->session_token.has_value());
    expect_unknown_session(w, one, a, *acc.acceptance->session_token);
  }
  SECTION("another agent presenting the ticket at the other instance") {
    const auto thief = w.agent_for(kMallorySeed, a.chain());
    const Json warm = w.request(thief, read_cap(10), from_one);
    const auto d = two.verify(warm);
    w.expect_refusal(d, RefusalCode::kSignatureInvalid, warm);
    CHECK(d.refusal->step == hs::VerificationStep::kSession);
    // The victim's iss, the thief's signature: the key in the ticket refuses it.
    const Json forged = resign(w.request(a, read_cap(10), from_one), w.mallory);
    w.expect_refusal(two.verify(forged), RefusalCode::kSignatureInvalid, forged);
  }
  SECTION("a revocation ends the session at once on every instance") {
    must_ok(w.revocations.add_statement(
        must(hs::make_revocation(w.root, id_of(a.chain()[0]), std::nullopt, "policy_change", w.now())), w.keys));
    for (const Instance* at : {&one, &two}) {
      for (const std::string* token : {&from_one, &from_two}) {
        const Json warm = w.request(a, read_cap(10), *token);
        const auto d = at->verify(warm);
        w.expect_refusal(d, RefusalCode::kCredentialRevoked, warm);
        CHECK(d.refusal->step == hs::VerificationStep::kSession);
      }
    }
  }
  SECTION("the expiry holds on every instance (injectable clock)") {
    w.clock.advance(std::chrono::seconds(119));
    const Json warm = w.request(a, read_cap(10), from_one);
    const auto d = two.verify(warm);
    const auto acc = w.expect_acceptance(d, warm);
    CHECK(d.warm);
    REQUIRE(acc.session_ttl_seconds.has_value());
    CHECK(*acc.session_ttl_seconds == 1);
    w.clock.advance(std::chrono::seconds(1));  // exactly the expiry
    expect_unknown_session(w, one, a, from_one);
    expect_unknown_session(w, two, a, from_one);
  }
}

TEST_CASE("service: ticket key rotation, the new key first and the old one second", "[service][warm][ticket]") {
  KeyDir dir;
  const auto old_key = dir.make("old.key");
  const auto new_key = dir.make("new.key");
  World w;
  w.options.session_ttl = std::chrono::seconds(300);
  const auto a = w.default_agent();
  const Instance old_only(w, KeyDir::load({old_key}));
  const Instance rotated(w, KeyDir::load({new_key, old_key}));
  const Instance new_only(w, KeyDir::load({new_key}));

  const std::string old_ticket = cold_session(w, old_only, a);
  // The rotated instance opens the old tickets (and hands them back as they are)...
  expect_warm(w, rotated, a, old_ticket);
  // ... an instance with only the new key does not.
  expect_unknown_session(w, new_only, a, old_ticket);
  // New sessions are sealed under the new key: the new-key instance opens them, the old does not.
  const std::string new_ticket = cold_session(w, rotated, a);
  expect_warm(w, new_only, a, new_ticket);
  expect_warm(w, rotated, a, new_ticket);
  expect_unknown_session(w, old_only, a, new_ticket);
}

TEST_CASE("service: a changed, cut or made-up session token is refused expired, never accepted", "[service][warm][ticket]") {
  KeyDir dir;
  World w;
  w.options.session_ttl = std::chrono::seconds(120);
  w.options.ticket_keys = KeyDir::load({dir.make("k.key")});
  const auto a = w.default_agent();
  const Instance here(w, w.options.ticket_keys);
  const std::string token = cold_session(w, here, a);
  REQUIRE(token.size() <= hs::kMaxSessionTicketChars);

  std::vector<std::string> wrong;
  for (std::size_t i : {std::size_t{0}, std::size_t{3}, std::size_t{10}, token.size() / 2, token.size() - 2}) {
    std::string t = token;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    wrong.push_back(t);
  }
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{40}, token.size() / 2, token.size() - 1}) {
    wrong.push_back(token.substr(0, n));
  }
  wrong.push_back(token + "AAAA");
  wrong.push_back(token.substr(4) + token.substr(0, 4));
  wrong.push_back(std::string(token.size(), 'A'));
  wrong.push_back("not a ticket at all");
  wrong.push_back(std::string(hs::kMaxSessionTicketChars + 1, 'A'));
  for (std::size_t i = 0; i < wrong.size(); ++i) {
    INFO("case " << i << ": " << wrong[i].substr(0, 80));
    expect_unknown_session(w, here, a, wrong[i]);
  }
  // The genuine token still works afterwards.
  expect_warm(w, here, a, token);
}

TEST_CASE("service: the checked factory names what is missing or wrong", "[service][create]") {
  auto svc = hs::Identity::generate({hs::PrincipalType::kSvc, {}, {}, std::vector<std::uint8_t>(32, 3)}).value();
  hs::FixedClock clock{std::chrono::floor<std::chrono::seconds>(hs::SystemClock().now())};
  hs::StaticKeyResolver keys;
  hs::RevocationList revocations;
  auto nonces = hs::make_memory_nonce_store(1000);
  auto limiter = hs::make_memory_rate_limiter();
  auto config = [&] {
    hs::ServiceConfig c;
    c.identity = svc;
    c.options.chain.trust_roots = {svc.did_string()};
    c.clock = &clock;
    c.keys = &keys;
    c.revocations = &revocations;
    c.nonces = nonces.get();
    c.limiter = limiter.get();
    return c;
  };
  REQUIRE(hs::Service::create(config()).ok());
  auto refused = [](hs::ServiceConfig c) {
    auto r = hs::Service::create(std::move(c));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "service.config");
    return r.error().message;
  };
  auto c = config();
  c.identity.reset();
  CHECK(refused(std::move(c)) == "no identity");
  c = config();
  c.nonces = nullptr;
  CHECK_THAT(refused(std::move(c)), Catch::Contains("nonces"));
  c = config();
  c.options.chain.trust_roots.clear();
  CHECK(refused(std::move(c)) == "no trust root");
  c = config();
  c.options.max_request_bytes = 10;
  CHECK_THAT(refused(std::move(c)), Catch::Contains("max_request_bytes"));
  c = config();
  c.options.session_ttl = std::chrono::seconds(-1);
  CHECK_THAT(refused(std::move(c)), Catch::Contains("negative"));
}
