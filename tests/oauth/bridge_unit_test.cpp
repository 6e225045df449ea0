// The OAuth bridge's parts on their own: the introspection answer parser, the scope map, the
// resource-server helpers, and the introspection client against a scripted local server
// (garbage, slow, refusing, caching).

#include <catch2/catch.hpp>
#include <httplib.h>

#include <atomic>
#include <thread>

#include "handshake/oauth/bridge.hpp"
#include "handshake/oauth/introspection.hpp"
#include "handshake/oauth/resource_server.hpp"
#include "handshake/oauth/scope_map.hpp"

namespace ho = handshake::oauth;
namespace hs = handshake;
using hs::Json;

namespace {

// A scripted introspection endpoint on loopback.
struct FakeAs {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  std::atomic<int> calls{0};
  std::string body = R"({"active":true,"scope":"invoices:read","exp":4102444800})";
  int status = 200;
  int delay_ms = 0;
  std::string last_auth, last_form;
  FakeAs() {
    server.Post("/introspect", [this](const httplib::Request& req, httplib::Response& res) {
      ++calls;
      last_auth = req.get_header_value("Authorization");
      last_form = req.body;
      if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
      res.status = status;
      res.set_content(body, "application/json");
    });
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeAs() {
    server.stop();
    thread.join();
  }
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/introspect"; }
};

std::unique_ptr<ho::IntrospectionClient> client_for(const FakeAs& as, const hs::Clock& clock,
                                                    ho::IntrospectionOptions::Auth auth = ho::IntrospectionOptions::Auth::kClientSecretBasic) {
  ho::IntrospectionOptions o;
  o.endpoint = as.url();
  o.client_id = "bridge";
  o.client_secret = "s3cret:with&odd=chars";
  o.auth = auth;
  o.timeout = std::chrono::milliseconds(300);
  return ho::IntrospectionClient::create(o, clock).value();
}

}  // namespace

TEST_CASE("introspection answers: RFC 7662 types enforced, inactive wins", "[oauth]") {
  auto ok = ho::parse_introspection_response(
      R"({"active":true,"scope":"a b  c","client_id":"x","sub":"s","aud":["r1","r2"],"exp":1800000000,"nbf":1700000000,"act":{"sub":"y"},"extra":1})");
  REQUIRE(ok.ok());
  CHECK(ok->scopes == std::vector<std::string>{"a", "b", "c"});
  CHECK(ok->aud == std::vector<std::string>{"r1", "r2"});
  CHECK(ok->exp == hs::Timestamp(std::chrono::seconds(1800000000)));
  CHECK(ok->act->at("sub") == "y");
  CHECK(ok->claims["extra"] == 1);
  CHECK(ho::parse_introspection_response(R"({"active":true,"aud":"r"})")->aud == std::vector<std::string>{"r"});
  auto inactive = ho::parse_introspection_response(R"({"active":false,"scope":7})");
  REQUIRE(inactive.ok());
  CHECK_FALSE(inactive->active);

  for (const char* bad : {R"({"active":"true"})", R"({})", R"([])", R"({"active":true,"scope":["a"]})",
                          R"({"active":true,"exp":"1800000000"})", R"({"active":true,"exp":1.5})",
                          R"({"active":true,"exp":-1})", R"({"active":true,"aud":[1]})", R"({"active":true,"aud":{}})",
                          R"({"active":true,"sub":5})", R"({"active":true,"act":"x"})"}) {
    INFO(bad);
    auto r = ho::parse_introspection_response(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "oauth.introspection_invalid");
  }
  CHECK(ho::parse_introspection_response(R"({"active":true,"active":false})").error().code == hs::ErrorCode::kParse);
  CHECK_FALSE(ho::parse_introspection_response("not json").ok());
}

TEST_CASE("scope map: exact and wildcard scopes, unmapped ignored or refused", "[oauth]") {
  auto map = ho::ScopeMap::from_yaml(R"(
unmapped_scopes: ignore
scopes:
  - scope: "invoices:read"
    capability: billing.invoices.read
    constraints: {max_invoices: 100}
  - scope: "files:*"
    capability: files.read
    constraints: {resource_path: "/shared/**"}
    delegable: true
  - scope: "files:write"
    capability: files.write
)");
  REQUIRE(map.ok());
  auto caps = map->capabilities_for({"invoices:read", "files:write", "openid"});
  REQUIRE(caps.ok());
  REQUIRE(caps->size() == 3);
  CHECK((*caps)[0].name == "billing.invoices.read");
  CHECK((*caps)[0].constraints["max_invoices"] == 100);
  CHECK((*caps)[1].name == "files.read");
  CHECK((*caps)[1].is_delegable());
  CHECK((*caps)[2].name == "files.write");
  auto none = map->capabilities_for({"openid"});
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().reason == "oauth.no_capability");

  auto strict = ho::ScopeMap::from_yaml("unmapped_scopes: refuse\nscopes:\n  - {scope: a, capability: files.list}\n");
  REQUIRE(strict.ok());
  CHECK(strict->capabilities_for({"a"}).ok());
  auto refused = strict->capabilities_for({"a", "b"});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().reason == "oauth.unmapped_scope");

  for (const char* bad : {"scopes: {}", "unmapped_scopes: maybe\nscopes: []", "scopes:\n  - {capability: files.list}",
                          "scopes:\n  - {scope: a}", "scopes:\n  - {scope: a, capability: 'Not A Name'}",
                          "scopes:\n  - {scope: 'a*b', capability: files.list}", "scopes:\n  - {scope: a, capability: files.list, extra: 1}",
                          "scopes:\n  - {scope: a, capability: files.list, constraints: [1]}",
                          "scopes:\n  - {scope: a, capability: files.list, delegable: 'yes'}", "other: 1\nscopes: []"}) {
    INFO(bad);
    auto r = ho::ScopeMap::from_yaml(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "oauth.scope_map");
  }
}

TEST_CASE("resource server: bearer tokens, RFC 9728 metadata, challenges", "[oauth]") {
  CHECK(ho::bearer_token("Bearer abc.DEF-_~+/=") == std::optional<std::string>("abc.DEF-_~+/="));
  CHECK(ho::bearer_token("bearer abc") == std::optional<std::string>("abc"));
  CHECK_FALSE(ho::bearer_token("Bearer "));
  CHECK_FALSE(ho::bearer_token("Basic abc"));
  CHECK_FALSE(ho::bearer_token("Bearer a b"));
  CHECK_FALSE(ho::bearer_token("Bearer a\"b"));
  CHECK_FALSE(ho::bearer_token("Bearer =abc"));
  CHECK_FALSE(ho::bearer_token(""));

  CHECK(ho::metadata_url("http://127.0.0.1:8080/mcp") == "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp");
  CHECK(ho::metadata_url("https://rs.example") == "https://rs.example/.well-known/oauth-protected-resource");
  CHECK(ho::metadata_path("https://rs.example/") == "/.well-known/oauth-protected-resource");
  const Json prm = ho::protected_resource_metadata({"http://127.0.0.1:8080/mcp", {"http://as"}, {"tools:call"}, "gw"});
  CHECK(prm["resource"] == "http://127.0.0.1:8080/mcp");
  CHECK(prm["authorization_servers"] == Json::array({"http://as"}));
  CHECK(prm["bearer_methods_supported"] == Json::array({"header"}));
  CHECK(ho::www_authenticate("http://x/.well-known/oauth-protected-resource", "insufficient_scope", "a b") ==
        R"(Bearer resource_metadata="http://x/.well-known/oauth-protected-resource", error="insufficient_scope", scope="a b")");
  CHECK(ho::www_authenticate("http://x/\"evil") == R"(Bearer resource_metadata="http://x/evil")");
}

TEST_CASE("introspection client: authentication, fail closed, cache never outlives exp", "[oauth]") {
  FakeAs as;
  hs::FixedClock clock(hs::Timestamp(std::chrono::seconds(1800000000)));

  SECTION("client_secret_basic, form-encoded credentials") {
    auto c = client_for(as, clock);
    REQUIRE(c->introspect("tok-1").ok());
    CHECK(as.last_auth.rfind("Basic ", 0) == 0);
    CHECK(as.last_form.find("token=tok-1") != std::string::npos);
    CHECK(as.last_form.find("client_secret") == std::string::npos);
  }
  SECTION("client_secret_post") {
    auto c = client_for(as, clock, ho::IntrospectionOptions::Auth::kClientSecretPost);
    REQUIRE(c->introspect("tok-1").ok());
    CHECK(as.last_auth.empty());
    CHECK(as.last_form.find("client_id=bridge") != std::string::npos);
    CHECK(as.last_form.find("client_secret=s3cret%3Awith%26odd%3Dchars") != std::string::npos);
  }
  SECTION("inactive") {
    as.body = R"({"active":false})";
    auto r = client_for(as, clock)->introspect("t");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "oauth.inactive");
  }
  SECTION("our own authentication refused (401), a 500, garbage, a slow server: unavailable") {
    for (int status : {401, 500}) {
      as.status = status;
      auto r = client_for(as, clock)->introspect("t");
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().reason == "oauth.unavailable");
    }
    as.status = 200;
    as.body = "<html>";
    auto garbage = client_for(as, clock)->introspect("t");
    REQUIRE_FALSE(garbage.ok());
    CHECK(garbage.error().code == hs::ErrorCode::kUnavailable);
    as.body = R"({"active":true,"exp":"soon"})";
    CHECK(client_for(as, clock)->introspect("t").error().code == hs::ErrorCode::kUnavailable);
    as.body = R"({"active":true})";
    as.delay_ms = 1000;
    auto slow = client_for(as, clock)->introspect("t");
    REQUIRE_FALSE(slow.ok());
    CHECK(slow.error().reason == "oauth.unavailable");
  }
  SECTION("nobody listening") {
    ho::IntrospectionOptions o;
    o.endpoint = "http://127.0.0.1:1/introspect";
    o.client_id = "x";
    auto r = ho::IntrospectionClient::create(o, clock).value()->introspect("t");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().reason == "oauth.unavailable");
  }
  SECTION("the cache: reused within its ttl, never past exp, keyed by the token") {
    const auto exp = 1800000000 + 10;
    as.body = R"({"active":true,"scope":"s","exp":)" + std::to_string(exp) + "}";
    auto c = client_for(as, clock);
    REQUIRE(c->introspect("t").ok());
    REQUIRE(c->introspect("t").ok());
    CHECK(as.calls == 1);
    REQUIRE(c->introspect("other").ok());
    CHECK(as.calls == 2);
    clock.advance(std::chrono::seconds(11));  // past exp, well within the 30 s cache ttl
    as.body = R"({"active":false})";
    auto after = c->introspect("t");
    REQUIRE_FALSE(after.ok());
    CHECK(after.error().reason == "oauth.inactive");
    CHECK(as.calls == 3);
  }
  SECTION("bad configuration") {
    ho::IntrospectionOptions o;
    o.client_id = "x";
    for (const char* url : {"ftp://h/x", "http://h", "h/x", "http:///x"}) {
      o.endpoint = url;
      INFO(url);
      CHECK_FALSE(ho::IntrospectionClient::create(o, clock).ok());
    }
  }
}

TEST_CASE("resource server: what each failure of a token answers (RFC 6750 §3.1)", "[oauth]") {
  const std::string md = "http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp";
  const auto none = ho::token_challenge(std::nullopt, md);
  CHECK(none.status == 401);
  CHECK(none.www_authenticate.find(md) != std::string::npos);
  CHECK(none.body["error"] == "invalid_token");
  const auto down = ho::token_challenge(hs::make_error(hs::ErrorCode::kUnavailable, "oauth.introspection", "AS down"), md);
  CHECK(down.status == 503);  // nothing said about the token, never an accept
  CHECK(down.www_authenticate.empty());
  CHECK(down.body["error"] == "temporarily_unavailable");
  for (const char* reason : {"oauth.unmapped_scope", "oauth.no_capability"}) {
    const auto scope = ho::token_challenge(hs::make_error(hs::ErrorCode::kPermission, reason, "no capability"), md);
    CHECK(scope.status == 403);
    CHECK(scope.www_authenticate.find("insufficient_scope") != std::string::npos);
  }
  const auto inactive = ho::token_challenge(hs::make_error(hs::ErrorCode::kPermission, "oauth.inactive", "inactive"), md);
  CHECK(inactive.status == 401);
  CHECK(inactive.www_authenticate.find("invalid_token") != std::string::npos);
  CHECK(inactive.body["error_description"] == "oauth.inactive");
}
