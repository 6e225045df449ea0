// End to end against a real authorization server (oidc-provider from npm, started here on
// loopback): a client-credentials token -> RFC 7662 introspection -> a DelegationToken signed by
// the bridge -> a handshake a service verifies -> a receipt; and every way a token can be wrong.

#include <catch2/catch.hpp>
#include <httplib.h>

#include "child_process.hpp"
#include "handshake/agent.hpp"
#include "handshake/nonce_store.hpp"
#include "handshake/oauth/bridge.hpp"
#include "handshake/oauth/bridge_server.hpp"
#include "handshake/receipt.hpp"
#include "handshake/service.hpp"

namespace ho = handshake::oauth;
namespace hs = handshake;
using hs::Json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kResource = "http://127.0.0.1:8080/mcp";
constexpr const char* kAgentClaim = "https://handshake.dev/agent_did";

hs::Identity identity(hs::PrincipalType t, std::uint8_t b) {
  return hs::Identity::generate({t, {}, {}, std::vector<std::uint8_t>(32, b)}).value();
}

struct AuthorizationServer {
  hsk_test::ChildProcess process;
  std::string url;
  explicit AuthorizationServer(const std::string& agent_did)
      : process({HSK_NODE, "as.mjs"}, HSK_OAUTH_AS_DIR, {{"AGENT_DID", agent_did}}) {
    auto line = process.wait_for("AS_URL ", 30s);
    if (!line) throw std::runtime_error("the authorization server did not start");
    url = *line;
  }
  // A client_credentials access token.
  [[nodiscard]] std::string token(const std::string& client, const std::string& scope,
                                  const std::string& resource = kResource) const {
    httplib::Client c(url);
    c.set_basic_auth(client, client + "-secret");
    httplib::Params p{{"grant_type", "client_credentials"}, {"scope", scope}};
    if (!resource.empty()) p.emplace("resource", resource);
    auto res = c.Post("/token", p);
    if (!res || res->status != 200) throw std::runtime_error("token request failed: " + (res ? res->body : std::string("-")));
    return Json::parse(res->body).at("access_token").get<std::string>();
  }
  void revoke(const std::string& token) const {
    httplib::Client c(url);
    c.set_basic_auth("agent-a", "agent-a-secret");
    auto res = c.Post("/token/revocation", httplib::Params{{"token", token}});
    if (!res || res->status != 200) throw std::runtime_error("revocation failed");
  }
};

ho::ScopeMap scope_map(const char* unmapped = "ignore") {
  return ho::ScopeMap::from_yaml(std::string("unmapped_scopes: ") + unmapped + R"(
scopes:
  - scope: "invoices:read"
    capability: billing.invoices.read
    constraints: {max_invoices: 100}
  - scope: "files:*"
    capability: files.read
    constraints: {resource_path: "/shared/**"}
)")
      .value();
}

}  // namespace

TEST_CASE("OAuth bridge end to end with oidc-provider", "[e2e][oauth]") {
  const auto org = identity(hs::PrincipalType::kOrg, 0xB1);
  const auto agent = identity(hs::PrincipalType::kAgent, 0xB2);
  const auto svc = identity(hs::PrincipalType::kSvc, 0xB3);
  AuthorizationServer as(agent.did_string());
  hs::SystemClock clock;

  ho::IntrospectionOptions io;
  io.endpoint = as.url + "/token/introspection";
  io.client_id = "bridge-basic";
  io.client_secret = "bridge-basic-secret";
  auto introspection = ho::IntrospectionClient::create(io, clock).value();
  ho::BridgeOptions bo;
  bo.expected_audience = kResource;
  bo.agent_claim = kAgentClaim;
  bo.max_ttl = 300s;
  ho::Bridge bridge(hs::Identity::generate({hs::PrincipalType::kOrg, {}, {}, std::vector<std::uint8_t>(32, 0xB1)}).value(),
                    scope_map(), *introspection, clock, bo);

  SECTION("token -> introspection -> delegation -> accepted handshake -> receipt") {
    const auto token = as.token("agent-a", "invoices:read files:read");
    auto issued = bridge.delegation_for(token);
    INFO((issued.ok() ? std::string() : issued.error().to_string()));
    REQUIRE(issued.ok());
    const Json& dt = issued->delegation;
    CHECK(dt["iss"] == org.did_string());
    CHECK(dt["sub"] == agent.did_string());
    CHECK(dt["aud"] == agent.did_string());
    REQUIRE(dt["capabilities"].size() == 2);
    CHECK(dt["capabilities"][0]["name"] == "billing.invoices.read");
    CHECK(dt["capabilities"][0]["constraints"]["max_invoices"] == 100);
    // exp = min(token exp, now + max_ttl): the token lives 600 s, the bridge caps at 300 s.
    const auto iat = hs::time::parse_rfc3339(dt["iat"].get<std::string>()).value();
    const auto exp = hs::time::parse_rfc3339(dt["exp"].get<std::string>()).value();
    CHECK(exp - iat == 300s);
    REQUIRE(issued->token.exp.has_value());
    CHECK(exp <= *issued->token.exp);

    // The service trusts the bridge's org as a chain root; the agent presents the delegation.
    hs::StaticKeyResolver keys;
    keys.add(org.did_string(), org.public_key());
    keys.add(agent.did_string(), agent.public_key());
    hs::RevocationList revocations;
    auto nonces = hs::make_memory_nonce_store();
    auto limiter = hs::make_memory_rate_limiter();
    hs::ServiceOptions so;
    so.chain.trust_roots = {org.did_string()};
    hs::Service service(identity(hs::PrincipalType::kSvc, 0xB3), so, clock, keys, revocations, *nonces, *limiter);
    hs::AgentAttestation att;
    att.deployer = org.did_string();
    att.model = "e2e";
    att.instance_id = "oauth-1";
    hs::Agent agent_side(identity(hs::PrincipalType::kAgent, 0xB2), {dt}, att);
    auto request = agent_side.request(svc.did_string(), {"billing.invoices.read", Json{{"max_invoices", 20}}, std::nullopt},
                                      clock.now());
    REQUIRE(request.ok());
    const auto decision = service.verify(*request);
    INFO(decision.response.dump());
    REQUIRE(decision.accepted);
    const Json result{{"invoices", 3}};
    auto receipt = service.issue_receipt(decision, result, "ok");
    REQUIRE(receipt.ok());
    hs::StaticKeyResolver offline;
    offline.add(svc.did_string(), svc.public_key());
    CHECK(hs::verify_receipt(*receipt, offline, result).ok());

    // More than the scope map granted: refused by the service, not narrowed.
    auto greedy = agent_side.request(svc.did_string(), {"billing.invoices.read", Json{{"max_invoices", 500}}, std::nullopt},
                                     clock.now());
    REQUIRE(greedy.ok());
    const auto refused = service.verify(*greedy);
    REQUIRE_FALSE(refused.accepted);
    CHECK(refused.refusal->code == hs::RefusalCode::kScopeExceeded);
  }

  SECTION("client_secret_post works the same") {
    ho::IntrospectionOptions post = io;
    post.client_id = "bridge-post";
    post.client_secret = "bridge-post-secret";
    post.auth = ho::IntrospectionOptions::Auth::kClientSecretPost;
    auto c = ho::IntrospectionClient::create(post, clock).value();
    auto info = c->introspect(as.token("agent-a", "invoices:read"));
    REQUIRE(info.ok());
    CHECK(info->client_id == std::optional<std::string>("agent-a"));
    CHECK(info->aud == std::vector<std::string>{kResource});
  }

  SECTION("a revoked token is inactive") {
    const auto token = as.token("agent-a", "invoices:read");
    as.revoke(token);
    auto r = bridge.delegation_for(token);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "oauth.inactive");
  }
  SECTION("an unknown token is inactive") {
    auto r = bridge.delegation_for("this-token-was-never-issued");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "oauth.inactive");
  }
  SECTION("a token past its exp by our clock, whatever the server says") {
    const auto token = as.token("agent-a", "invoices:read");
    hs::FixedClock later(clock.now() + 700s);
    auto c = ho::IntrospectionClient::create(io, later).value();
    ho::Bridge late(identity(hs::PrincipalType::kOrg, 0xB1), scope_map(), *c, later, bo);
    auto r = late.delegation_for(token);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "oauth.expired");
  }
  SECTION("a token for another resource (RFC 8707 audience)") {
    auto r = bridge.delegation_for(as.token("agent-a", "invoices:read", "http://other.example/api"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "oauth.audience");
    auto none = bridge.delegation_for(as.token("agent-a", "invoices:read", ""));
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().reason == "oauth.audience");
  }
  SECTION("unmapped scopes: ignored, refused, or nothing left") {
    auto mixed = bridge.delegation_for(as.token("agent-a", "invoices:read unmapped:thing"));
    REQUIRE(mixed.ok());
    CHECK(mixed->delegation["capabilities"].size() == 1);
    auto only = bridge.delegation_for(as.token("agent-a", "unmapped:thing"));
    REQUIRE_FALSE(only.ok());
    CHECK(only.error().reason == "oauth.no_capability");
    ho::Bridge strict(identity(hs::PrincipalType::kOrg, 0xB1), scope_map("refuse"), *introspection, clock, bo);
    auto r = strict.delegation_for(as.token("agent-a", "invoices:read unmapped:thing"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "oauth.unmapped_scope");
  }
  SECTION("no agent DID in the token: the hint only when allowed") {
    const auto token = as.token("agent-noclaim", "invoices:read");
    auto r = bridge.delegation_for(token, agent.did_string());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "oauth.agent_did");
    ho::BridgeOptions hinted = bo;
    hinted.accept_agent_hint = true;
    ho::Bridge b2(identity(hs::PrincipalType::kOrg, 0xB1), scope_map(), *introspection, clock, hinted);
    auto ok = b2.delegation_for(token, agent.did_string());
    REQUIRE(ok.ok());
    CHECK(ok->delegation["sub"] == agent.did_string());
    auto junk = b2.delegation_for(token, std::string("not-a-did"));
    REQUIRE_FALSE(junk.ok());
    CHECK(junk.error().reason == "oauth.agent_did");
  }
  SECTION("introspection with wrong credentials or at an unreachable endpoint: unavailable") {
    ho::IntrospectionOptions wrong = io;
    wrong.client_secret = "nope";
    auto c = ho::IntrospectionClient::create(wrong, clock).value();
    ho::Bridge b(identity(hs::PrincipalType::kOrg, 0xB1), scope_map(), *c, clock, bo);
    auto r = b.delegation_for(as.token("agent-a", "invoices:read"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "oauth.unavailable");
    ho::IntrospectionOptions gone = io;
    gone.endpoint = "http://127.0.0.1:1/token/introspection";
    auto c2 = ho::IntrospectionClient::create(gone, clock).value();
    ho::Bridge b2(identity(hs::PrincipalType::kOrg, 0xB1), scope_map(), *c2, clock, bo);
    CHECK(b2.delegation_for(as.token("agent-a", "invoices:read")).error().reason == "oauth.unavailable");
  }
  SECTION("over HTTP: /v1/delegations and RFC 8693 token exchange") {
    ho::BridgeServer server(bridge);
    const int port = server.start("127.0.0.1", 0).value();
    httplib::Client c("127.0.0.1", port);
    const auto token = as.token("agent-a", "invoices:read");

    auto missing = c.Post("/v1/delegations", "", "application/json");
    REQUIRE(missing);
    CHECK(missing->status == 401);
    CHECK(missing->get_header_value("WWW-Authenticate").rfind("Bearer", 0) == 0);
    auto ok = c.Post("/v1/delegations", {{"Authorization", "Bearer " + token}}, "", "application/json");
    REQUIRE(ok);
    REQUIRE(ok->status == 200);
    CHECK(ok->get_header_value("Cache-Control") == "no-store");
    const Json dt = Json::parse(ok->body)["delegation"];
    CHECK(dt["sub"] == agent.did_string());
    auto bad = c.Post("/v1/delegations", {{"Authorization", "Bearer never-issued"}}, "", "application/json");
    REQUIRE(bad);
    CHECK(bad->status == 401);
    CHECK(Json::parse(bad->body)["error"] == "invalid_token");
    auto unmapped = c.Post("/v1/delegations", {{"Authorization", "Bearer " + as.token("agent-a", "unmapped:thing")}}, "",
                           "application/json");
    REQUIRE(unmapped);
    CHECK(unmapped->status == 403);

    httplib::Params exchange{{"grant_type", std::string(ho::kTokenExchangeGrant)},
                             {"subject_token", token},
                             {"subject_token_type", std::string(ho::kAccessTokenType)},
                             {"requested_token_type", std::string(ho::kDelegationTokenType)}};
    auto ex = c.Post("/token", exchange);
    REQUIRE(ex);
    INFO(ex->body);
    REQUIRE(ex->status == 200);
    const Json answer = Json::parse(ex->body);
    CHECK(answer["issued_token_type"] == ho::kDelegationTokenType);
    CHECK(answer["token_type"] == "N_A");
    CHECK(answer["expires_in"].get<int>() > 0);
    auto exchanged = ho::decode_exchanged_delegation(answer["access_token"].get<std::string>());
    REQUIRE(exchanged.ok());
    CHECK((*exchanged)["iss"] == org.did_string());
    CHECK(hs::verify_message_signature(*exchanged, org.public_key()).ok());

    httplib::Params wrong_grant = exchange;
    wrong_grant.erase("grant_type");
    wrong_grant.emplace("grant_type", "client_credentials");
    auto e1 = c.Post("/token", wrong_grant);
    REQUIRE(e1);
    CHECK(e1->status == 400);
    CHECK(Json::parse(e1->body)["error"] == "unsupported_grant_type");
    httplib::Params revoked = exchange;
    revoked.erase("subject_token");
    revoked.emplace("subject_token", "never-issued");
    auto e2 = c.Post("/token", revoked);
    REQUIRE(e2);
    CHECK(Json::parse(e2->body)["error"] == "invalid_grant");
    httplib::Params actor = exchange;
    actor.emplace("actor_token", token);
    auto e3 = c.Post("/token", actor);
    REQUIRE(e3);
    CHECK(Json::parse(e3->body)["error"] == "invalid_request");
    server.stop();
  }
}
