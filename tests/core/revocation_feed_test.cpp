// PolledRevocationFeed against a real HTTP server on loopback, started and stopped by the test.

#include <catch2/catch.hpp>
#include <httplib.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "handshake/identity.hpp"
#include "handshake/net/revocation_feed.hpp"
#include "handshake/revocation.hpp"

using handshake::Json;
using handshake::RevocationSource;
namespace hn = handshake::net;

namespace {

handshake::Identity seeded(handshake::PrincipalType t, std::uint8_t n) {
  return handshake::Identity::generate({t, {}, {}, std::vector<std::uint8_t>(32, n)}).value();
}

// A loopback server whose answer the test sets.
class FeedServer {
 public:
  FeedServer() {
    server_.Get("/revocations", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mu_);
      res.status = status_;
      res.set_content(body_, "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 200 && !server_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~FeedServer() { stop(); }
  void stop() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  void answer(int status, std::string body) {
    std::lock_guard lock(mu_);
    status_ = status;
    body_ = std::move(body);
  }
  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/revocations"; }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  int status_ = 200;
  std::string body_ = "[]";
};

}  // namespace

TEST_CASE("revocation feed: polls, verifies, fails closed", "[revocation][feed]") {
  const auto org = seeded(handshake::PrincipalType::kOrg, 41);
  const auto other = seeded(handshake::PrincipalType::kOrg, 42);
  handshake::StaticKeyResolver keys;
  keys.add(org.did_string(), org.public_key());
  keys.add(other.did_string(), other.public_key());
  const auto t0 = handshake::time::parse_rfc3339("2026-05-01T12:00:00Z").value();
  handshake::FixedClock clock(t0);
  const std::string dt1 = "dt_01HZZ000000000000000000001", dt2 = "dt_01HZZ000000000000000000002";
  const Json rv1 = handshake::make_revocation(org, dt1, std::nullopt, "policy_change", t0).value();
  const Json rv2 = handshake::make_revocation(org, dt2, std::nullopt, "policy_change", t0).value();

  FeedServer server;
  hn::FeedOptions options;
  options.url = server.url();
  options.max_staleness = std::chrono::seconds(120);
  auto feed = hn::PolledRevocationFeed::create(options, keys, clock);
  REQUIRE(feed.ok());
  auto& f = **feed;

  SECTION("before a first successful poll it cannot tell") {
    CHECK(f.delegation_revoked(dt1, org.did_string(), t0) == RevocationSource::Answer::kUnavailable);
    CHECK(f.principal_revoked(org.did_string(), t0) == RevocationSource::Answer::kUnavailable);
  }

  SECTION("a verified statement revokes what its issuer issued") {
    server.answer(200, Json::array({rv1}).dump());
    REQUIRE(f.poll_once().ok());
    CHECK(f.delegation_revoked(dt1, org.did_string(), t0) == RevocationSource::Answer::kRevoked);
    CHECK(f.delegation_revoked(dt1, other.did_string(), t0) == RevocationSource::Answer::kNotRevoked);
    CHECK(f.delegation_revoked(dt2, org.did_string(), t0) == RevocationSource::Answer::kNotRevoked);

    SECTION("a later response cannot undo it") {
      server.answer(200, "[]");
      REQUIRE(f.poll_once().ok());
      CHECK(f.delegation_revoked(dt1, org.did_string(), t0) == RevocationSource::Answer::kRevoked);
    }
    SECTION("stale: answers turn unavailable") {
      clock.advance(std::chrono::seconds(121));
      CHECK(f.delegation_revoked(dt1, org.did_string(), clock.now()) == RevocationSource::Answer::kUnavailable);
      CHECK(f.delegation_revoked(dt2, org.did_string(), clock.now()) == RevocationSource::Answer::kUnavailable);
      server.answer(200, Json::array({rv1}).dump());
      REQUIRE(f.poll_once().ok());
      CHECK(f.delegation_revoked(dt2, org.did_string(), clock.now()) == RevocationSource::Answer::kNotRevoked);
    }
  }

  SECTION("one statement that does not verify refuses the whole response") {
    Json forged = rv2;
    forged["reason"] = "key_compromise";  // changed after signing
    server.answer(200, Json::array({rv1, forged}).dump());
    auto s = f.poll_once();
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().reason == "sig.invalid");
    CHECK(f.delegation_revoked(dt1, org.did_string(), t0) == RevocationSource::Answer::kUnavailable);
  }

  SECTION("a principal revocation by someone else is refused (authority)") {
    const Json rogue = handshake::make_revocation(other, std::nullopt, org.did_string(), "key_compromise", t0).value();
    server.answer(200, Json::array({rogue}).dump());
    auto s = f.poll_once();
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().reason == "revocation.authority");
    f.add_authority(other.did_string());
    REQUIRE(f.poll_once().ok());
    CHECK(f.principal_revoked(org.did_string(), t0) == RevocationSource::Answer::kRevoked);
  }

  SECTION("transport and format failures") {
    server.answer(500, "oops");
    CHECK(f.poll_once().error().reason == "feed.unreachable");
    server.answer(200, "{\"not\":\"an array\"}");
    CHECK(f.poll_once().error().reason == "feed.format");
    server.answer(200, "[1,2,");
    CHECK(f.poll_once().error().code == handshake::ErrorCode::kParse);
    server.answer(200, "[{\"a\":1,\"a\":2}]");
    CHECK(f.poll_once().error().reason == "json.duplicate_key");
    server.stop();
    CHECK(f.poll_once().error().reason == "feed.unreachable");
    CHECK(f.delegation_revoked(dt1, org.did_string(), t0) == RevocationSource::Answer::kUnavailable);
  }

  SECTION("oversized responses are cut off") {
    hn::FeedOptions small = options;
    small.client.max_response_bytes = 64;
    auto tiny = hn::PolledRevocationFeed::create(small, keys, clock);
    REQUIRE(tiny.ok());
    server.answer(200, Json::array({rv1}).dump());
    CHECK((*tiny)->poll_once().error().reason == "feed.unreachable");
  }

  SECTION("background polling") {
    server.answer(200, Json::array({rv1}).dump());
    f.start();
    RevocationSource::Answer a = RevocationSource::Answer::kUnavailable;
    for (int i = 0; i < 400 && a == RevocationSource::Answer::kUnavailable; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      a = f.delegation_revoked(dt1, org.did_string(), t0);
    }
    f.stop();
    CHECK(a == RevocationSource::Answer::kRevoked);
  }
}

TEST_CASE("revocation feed: URLs it cannot poll are refused", "[revocation][feed]") {
  handshake::StaticKeyResolver keys;
  handshake::FixedClock clock(handshake::Timestamp{});
  for (const char* bad : {"", "ftp://x/y", "127.0.0.1/r", "http://", "https:///path"}) {
    INFO(bad);
    auto f = hn::PolledRevocationFeed::create({bad}, keys, clock);
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().reason == "url.invalid");
  }
}
