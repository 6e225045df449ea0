// A service that resolves keys and polls revocations from a registry (issue: registry client side):
// the verifier engine wired to net::RegistryKeyResolver and the registry-signed feed, against a
// real registry on loopback.

#include <filesystem>

#include "core/fixtures.hpp"
#include "handshake/did_document.hpp"
#include "handshake/net/registry_resolver.hpp"
#include "handshake/net/registry_server.hpp"
#include "handshake/net/revocation_feed.hpp"
#include "handshake/registry_dids.hpp"
#include "handshake/registry_log.hpp"
#include "handshake/registry_revocations.hpp"

#include <httplib.h>

namespace fs = std::filesystem;
using namespace hsk_fx;
using hs::Json;
using hs::RefusalCode;

TEST_CASE("service over a registry: keys resolved and revocations polled from it", "[registry][service][http]") {
  World w;
  std::string tmpl = (fs::temp_directory_path() / "hsk-regsvc-XXXXXX").string();
  REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  const fs::path dir = tmpl;
  const auto registry_id = make_identity(hs::PrincipalType::kSvc, 0x77);
  auto log = must(hs::registry::open_sqlite_log(dir / "log.db"));
  auto dids = must(hs::registry::DidStore::open(dir / "dids.db"));
  auto revocations = must(hs::registry::RevocationPublisher::open(dir / "rev.db"));
  hs::registry::DidStoreKeyResolver registry_keys(*dids);
  hs::net::RegistryServerOptions ro;
  ro.dids = dids.get();
  ro.revocations = revocations.get();
  auto server = std::make_unique<hs::net::RegistryServer>(registry_id, *log, registry_keys, w.clock, ro);
  const int port = must(server->start("127.0.0.1", 0));
  const std::string url = "http://127.0.0.1:" + std::to_string(port);

  // Every principal of the chain publishes its DID Document at the registry.
  for (const hs::Identity* p : {&w.root, &w.agent}) {
    const Json doc = must(hs::make_did_document(*p, {w.now() - 24h, {}, Json::array(), Json::array()}));
    (void)must(dids->publish(doc, registry_id, w.now()));
  }

  hs::net::RegistryResolverOptions o;
  o.url = url;
  o.registry_did = registry_id.did_string();
  o.registry_key = registry_id.public_key();
  auto resolver = must(hs::net::RegistryKeyResolver::create(o, w.clock));
  hs::net::FeedOptions fo;
  fo.url = url + "/v1/revocations/published";
  fo.registry = hs::net::FeedOptions::RegistryFeed{registry_id.did_string(), registry_id.public_key()};
  auto feed = must(hs::net::PolledRevocationFeed::create(fo, *resolver, w.clock));
  must_ok(feed->poll_once());
  hs::Service service(make_identity(hs::PrincipalType::kSvc, kServiceSeed), w.options, w.clock, *resolver, *feed, *w.nonces, *w.limiter);

  const auto agent = w.default_agent();
  const Json first = w.request(agent, read_cap(10));
  w.expect_acceptance(service.verify(first), first);

  // The agent's key is compromised: it revokes itself at the registry; the next poll ends it.
  const Json statement = must(hs::make_revocation(w.agent, std::nullopt, w.agent.did_string(), "key_compromise", w.now()));
  httplib::Client c("127.0.0.1", port);
  auto res = c.Post("/v1/revocations", statement.dump(), "application/json");
  REQUIRE(res);
  INFO(res->body);
  REQUIRE(res->status == 200);
  must_ok(feed->poll_once());
  const Json second = w.request(agent, read_cap(10));
  w.expect_refusal(service.verify(second), RefusalCode::kCredentialRevoked, second);

  SECTION("a principal the registry does not know") {
    const auto stranger = w.agent_for(kMallorySeed, {w.grant(w.root, w.mallory, {read_cap(100)})});
    const Json req = w.request(stranger, read_cap(10));
    const auto d = service.verify(req);
    REQUIRE_FALSE(d.accepted);
    CHECK(d.refusal->code != RefusalCode::kServiceUnavailable);
  }
  SECTION("the registry goes away: an unresolvable key fails closed, a stale feed too") {
    server->stop();
    auto cold = must(hs::net::RegistryKeyResolver::create(o, w.clock));
    hs::Service cold_service(make_identity(hs::PrincipalType::kSvc, kServiceSeed), w.options, w.clock, *cold, *feed, *w.nonces, *w.limiter);
    const Json req = w.request(agent, read_cap(10));
    w.expect_refusal(cold_service.verify(req), RefusalCode::kServiceUnavailable, req);
    // Past max_staleness with no successful poll, every revocation question is unavailable.
    CHECK_FALSE(feed->poll_once().ok());
    w.clock.advance(fo.max_staleness + 1s);
    CHECK(feed->principal_revoked(w.root.did_string(), w.now()) == hs::RevocationSource::Answer::kUnavailable);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}
