// The registry anchoring client (net/registry_client.hpp) against a TLS listener of ours that
// requires client certificates: mTLS served, no certificate / another CA refused, the registry's
// error code passed on, malformed URLs refused at open.
#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "handshake/net/http.hpp"
#include "handshake/net/http_server.hpp"
#include "handshake/net/registry_client.hpp"
#include "handshake/net/registry_resolver.hpp"
#include "handshake/net/revocation_feed.hpp"
#include "handshake/resolver.hpp"
#include "net_fixture.hpp"

namespace net = handshake::net;
using handshake::Json;
using hsk_net_fx::certs;
using hsk_net_fx::why;
using namespace std::chrono_literals;

namespace {

// A stand-in registry: POST /v1/receipts answers {"leaf_index": N} or, for a receipt with
// "bad": true, 400 with the error code "receipt.invalid".
struct FakeRegistry {
  std::unique_ptr<httplib::Server> server;
  std::thread thread;
  int port = 0;
  std::mutex mu;
  std::string last_body;

  FakeRegistry() {
    net::TlsServerOptions tls;
    tls.cert_file = certs() / "server.pem";
    tls.key_file = certs() / "server.key";
    tls.client_ca_file = certs() / "ca.pem";
    auto made = net::make_server(tls);
    INFO(why(made));
    REQUIRE(made.ok());
    server = std::move(made).value();
    server->Post("/v1/receipts", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      last_body = req.body;
      if (req.body.find("\"bad\":true") != std::string::npos) {
        res.status = 400;
        res.set_content(R"({"error":{"code":"receipt.invalid","message":"no"}})", "application/json");
        return;
      }
      res.set_content(R"({"leaf_index":7})", "application/json");
    });
    port = net::bind_server(*server, "127.0.0.1", 0);
    REQUIRE(port > 0);
    thread = std::thread([this] { server->listen_after_bind(); });
    for (int i = 0; i < 100 && !server->is_running(); ++i) std::this_thread::sleep_for(10ms);
  }
  ~FakeRegistry() {
    server->stop();
    thread.join();
  }
  [[nodiscard]] std::string url() const { return "https://127.0.0.1:" + std::to_string(port); }
};

net::ClientOptions options(const char* ca, bool client_cert) {
  net::ClientOptions o;
  o.tls.ca_file = certs() / ca;
  if (client_cert) {
    o.tls.client_cert = certs() / "client.pem";
    o.tls.client_key = certs() / "client.key";
  }
  o.connect_timeout = 2s;
  o.read_timeout = 2s;
  return o;
}

}  // namespace

TEST_CASE("registry client: posts receipts over mutual TLS", "[net][registry]") {
  FakeRegistry registry;
  const Json receipt = {{"z", 1}, {"a", "x"}};

  SECTION("the test CA and a client certificate: anchored, canonical JSON sent") {
    auto client = net::RegistryClient::open(registry.url(), options("ca.pem", true));
    INFO(why(client));
    REQUIRE(client.ok());
    auto answer = (*client)->post_receipt(receipt);
    INFO(why(answer));
    REQUIRE(answer.ok());
    CHECK((*answer)["leaf_index"] == 7);
    std::lock_guard lock(registry.mu);
    CHECK(registry.last_body == R"({"a":"x","z":1})");
  }
  SECTION("the registry's refusal keeps its error code") {
    auto client = net::RegistryClient::open(registry.url(), options("ca.pem", true));
    REQUIRE(client.ok());
    auto answer = (*client)->post_receipt(Json{{"bad", true}});
    REQUIRE_FALSE(answer.ok());
    CHECK(answer.error().reason == "receipt.invalid");
    CHECK(answer.error().message.find("HTTP 400") != std::string::npos);
  }
  SECTION("no client certificate: refused in the handshake, unreachable") {
    auto client = net::RegistryClient::open(registry.url(), options("ca.pem", false));
    REQUIRE(client.ok());
    auto answer = (*client)->post_receipt(receipt);
    REQUIRE_FALSE(answer.ok());
    CHECK(answer.error().reason == "registry.unreachable");
  }
  SECTION("another CA: the registry's certificate is not accepted") {
    auto client = net::RegistryClient::open(registry.url(), options("other-ca.pem", true));
    REQUIRE(client.ok());
    auto answer = (*client)->post_receipt(receipt);
    REQUIRE_FALSE(answer.ok());
    CHECK(answer.error().reason == "registry.unreachable");
    CHECK(answer.error().message.find("certificate") != std::string::npos);
  }
}

TEST_CASE("registry client: bad configuration is refused at open", "[net][registry]") {
  for (const char* bad : {"", "registry.example", "ftp://h", "https://u:p@h", "https://h:99999", "https://h /"}) {
    INFO(bad);
    auto client = net::RegistryClient::open(bad);
    REQUIRE_FALSE(client.ok());
    CHECK(client.error().reason == "url.invalid");
  }
  auto plain_with_ca = net::RegistryClient::open("http://127.0.0.1:1", options("ca.pem", false));
  REQUIRE_FALSE(plain_with_ca.ok());
  CHECK(plain_with_ca.error().reason == "tls.config");
  auto missing_ca = net::RegistryClient::open("https://127.0.0.1:1", options("nope.pem", false));
  REQUIRE_FALSE(missing_ca.ok());
}

TEST_CASE("registry resolver and revocation feed: TLS through net::Client", "[net][registry]") {
  FakeRegistry registry;  // serves no /v1/dids nor feed: a 404 proves the TLS exchange worked
  handshake::FixedClock clock(handshake::Timestamp{});
  handshake::StaticKeyResolver keys;

  net::RegistryResolverOptions ro;
  ro.url = registry.url();
  ro.registry_did = "did:hsk:org:registry.example";
  ro.client = options("other-ca.pem", true);
  auto wrong_ca = net::RegistryKeyResolver::create(ro, clock);
  INFO(why(wrong_ca));
  REQUIRE(wrong_ca.ok());
  auto refused = (*wrong_ca)->key_at("did:hsk:agent:x", handshake::Timestamp{});
  CHECK(refused.status == handshake::KeyResolver::Status::kUnavailable);
  CHECK(refused.detail.find("certificate") != std::string::npos);
  ro.client = options("ca.pem", true);
  auto trusted = net::RegistryKeyResolver::create(ro, clock);
  REQUIRE(trusted.ok());
  CHECK((*trusted)->key_at("did:hsk:agent:x", handshake::Timestamp{}).status == handshake::KeyResolver::Status::kNotFound);
  ro.url = "https://127.0.0.1:99999";
  CHECK(net::RegistryKeyResolver::create(ro, clock).error().reason == "url.invalid");

  net::FeedOptions fo;
  fo.url = registry.url() + "/v1/revocations/statements";
  fo.client = options("other-ca.pem", true);
  auto feed = net::PolledRevocationFeed::create(fo, keys, clock);
  REQUIRE(feed.ok());
  auto polled = (*feed)->poll_once();
  REQUIRE_FALSE(polled.ok());
  CHECK(polled.error().reason == "feed.unreachable");
  CHECK(polled.error().message.find("certificate") != std::string::npos);
  fo.client = options("ca.pem", true);
  auto good = net::PolledRevocationFeed::create(fo, keys, clock);
  REQUIRE(good.ok());
  auto not_found = (*good)->poll_once();
  REQUIRE_FALSE(not_found.ok());
  CHECK(not_found.error().message.find("HTTP 404") != std::string::npos);
}
