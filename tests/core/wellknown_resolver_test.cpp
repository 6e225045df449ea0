// §5.1 well-known HTTPS resolution (net/wellknown_resolver.hpp) against a listener of ours.
#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <string>

#include <catch2/catch.hpp>

#include "handshake/did_document.hpp"
#include "handshake/identity.hpp"
#include "handshake/net/wellknown_resolver.hpp"
#include "net_fixture.hpp"

namespace hs = handshake;
namespace net = handshake::net;
using hs::Json;
using hsk_net_fx::certs;
using hsk_net_fx::Listener;
using namespace std::chrono_literals;

namespace {

const hs::Timestamp kV1 = hs::time::parse_rfc3339("2026-01-01T00:00:00Z").value();
const hs::Timestamp kV2 = hs::time::parse_rfc3339("2026-06-01T00:00:00Z").value();

struct Org {
  hs::Identity v1 = hs::Identity::generate({hs::PrincipalType::kOrg, {}, std::string("acme.test"), std::vector<std::uint8_t>(32, 61)}).value();
  hs::Identity v2 = v1.rotated();
  Json doc1 = [&] {
    hs::DidDocumentOptions o;
    o.version_time = kV1;
    return hs::make_did_document(v1, o).value();
  }();
  Json doc2 = [&] {
    hs::DidDocumentOptions o;
    o.version_time = kV2;
    return hs::rotate_did_document(doc1, v1.key(), v2, o).value();
  }();
};

// A TLS listener serving `body` (or 404) at the well-known path, counting requests.
struct WellKnownServer {
  Listener listener;
  std::atomic<int> hits{0};
  std::string body;
  int status = 200;
  explicit WellKnownServer(const std::string& cert = "server") : listener(tls(cert)) {
    listener.server->Get("/.well-known/handshake/did.json", [this](const httplib::Request&, httplib::Response& res) {
      ++hits;
      res.status = status;
      res.set_content(body, "application/json");
    });
  }
  static net::TlsServerOptions tls(const std::string& name) {
    net::TlsServerOptions o;
    o.cert_file = certs() / (name + ".pem");
    o.key_file = certs() / (name + ".key");
    return o;
  }
  [[nodiscard]] std::string origin() const { return "https://localhost:" + std::to_string(listener.port); }
};

std::unique_ptr<net::WellKnownKeyResolver> resolver(const WellKnownServer& s, const hs::Clock& clock) {
  net::WellKnownResolverOptions o;
  o.client.tls.ca_file = certs() / "ca.pem";
  o.client.connect_timeout = 2s;
  o.origins["acme.test"] = s.origin();
  return net::WellKnownKeyResolver::create(o, clock).value();
}

}  // namespace

TEST_CASE("well-known resolution: a domain org's document over TLS 1.3, cached, history checked", "[net][wellknown]") {
  Org org;
  REQUIRE(org.v1.did_string() == "did:hsk:org:acme.test");
  WellKnownServer s;
  hs::FixedClock clock(kV2 + 24h);
  auto r = resolver(s, clock);

  SECTION("one document") {
    s.body = org.doc1.dump();
    auto a = r->key_at(org.v1.did_string(), kV1 + 1h);
    INFO(a.detail);
    REQUIRE(a.status == hs::KeyResolver::Status::kFound);
    CHECK(a.key == org.v1.public_key());
    CHECK(r->key_at(org.v1.did_string(), kV1 + 2h).status == hs::KeyResolver::Status::kFound);
    CHECK(s.hits.load() == 1);  // cached
    clock.advance(301s);
    CHECK(r->key_at(org.v1.did_string(), kV1 + 2h).status == hs::KeyResolver::Status::kFound);
    CHECK(s.hits.load() == 2);  // the cache ends with its ttl
  }
  SECTION("a rotated history: each key in its window") {
    s.body = Json::array({org.doc1, org.doc2}).dump();
    CHECK(r->key_at(org.v1.did_string(), kV1 + 1h).key == org.v1.public_key());
    CHECK(r->key_at(org.v1.did_string(), kV2 + 1h).key == org.v2.public_key());
  }
  SECTION("only the newest version of a rotated history cannot be checked") {
    s.body = org.doc2.dump();
    CHECK(r->key_at(org.v1.did_string(), kV2 + 1h).status == hs::KeyResolver::Status::kUnavailable);
  }
  SECTION("a document of another DID") {
    Json other = org.doc1;
    other["id"] = "did:hsk:org:evil.test";
    s.body = other.dump();
    CHECK(r->key_at(org.v1.did_string(), kV1 + 1h).status == hs::KeyResolver::Status::kUnavailable);
  }
  SECTION("a tampered document") {
    Json tampered = org.doc1;
    tampered["verificationMethod"][0]["publicKeyJwk"]["x"] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    s.body = tampered.dump();
    CHECK(r->key_at(org.v1.did_string(), kV1 + 1h).status == hs::KeyResolver::Status::kUnavailable);
  }
  SECTION("garbage, 404, 500") {
    s.body = "not json";
    CHECK(r->key_at(org.v1.did_string(), kV1 + 1h).status == hs::KeyResolver::Status::kUnavailable);
    s.status = 404;
    CHECK(r->key_at(org.v1.did_string(), kV1 + 1h).status == hs::KeyResolver::Status::kNotFound);
    s.status = 500;
    CHECK(r->key_at(org.v1.did_string(), kV1 + 1h).status == hs::KeyResolver::Status::kUnavailable);
  }
  SECTION("DIDs that are not domain orgs are not looked up") {
    const auto keyed = hs::Identity::generate({hs::PrincipalType::kOrg, {}, {}, std::vector<std::uint8_t>(32, 62)}).value();
    CHECK(r->key_at(keyed.did_string(), kV1).status == hs::KeyResolver::Status::kNotFound);  // self-certifying
    CHECK(r->key_at("did:hsk:org:localhost", kV1).status == hs::KeyResolver::Status::kNotFound);  // not a domain
    CHECK(r->key_at("did:hsk:agent:acme.test", kV1).status == hs::KeyResolver::Status::kNotFound);
    CHECK(s.hits.load() == 0);
  }
}

TEST_CASE("well-known resolution: TLS 1.3 or later, a verified certificate, or nothing", "[net][wellknown]") {
  Org org;
  hs::FixedClock clock(kV1 + 1h);
  SECTION("a TLS 1.2-only server") {
    WellKnownServer s;
    s.body = org.doc1.dump();
    SSL_CTX_set_max_proto_version(static_cast<httplib::SSLServer&>(*s.listener.server).ssl_context(), TLS1_2_VERSION);
    auto a = resolver(s, clock)->key_at(org.v1.did_string(), kV1 + 1h);
    CHECK(a.status == hs::KeyResolver::Status::kUnavailable);
    CHECK(s.hits.load() == 0);
  }
  SECTION("a certificate for another host") {
    WellKnownServer s("otherhost");
    s.body = org.doc1.dump();
    CHECK(resolver(s, clock)->key_at(org.v1.did_string(), kV1 + 1h).status == hs::KeyResolver::Status::kUnavailable);
  }
  SECTION("an expired certificate") {
    WellKnownServer s("expired");
    s.body = org.doc1.dump();
    const auto a = resolver(s, clock)->key_at(org.v1.did_string(), kV1 + 1h);
    CHECK(a.status == hs::KeyResolver::Status::kUnavailable);
    CHECK(a.detail.find("expired") != std::string::npos);
  }
  SECTION("nothing listening") {
    net::WellKnownResolverOptions o;
    o.client.tls.ca_file = certs() / "ca.pem";
    o.origins["acme.test"] = "https://127.0.0.1:1";
    auto r = net::WellKnownKeyResolver::create(o, clock).value();
    CHECK(r->key_at(org.v1.did_string(), kV1 + 1h).status == hs::KeyResolver::Status::kUnavailable);
  }
  SECTION("an http origin is refused at creation") {
    net::WellKnownResolverOptions o;
    o.origins["acme.test"] = "http://127.0.0.1:8080";
    CHECK(net::WellKnownKeyResolver::create(o, clock).error().reason == "url.invalid");
  }
}
