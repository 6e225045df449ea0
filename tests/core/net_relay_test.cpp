// The relay kit both proxies are built from (net/relay.hpp): an upstream exchange on its own
// thread and an SSE relay that hands each event to the transform as it arrives, through real
// listeners on loopback.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "handshake/json.hpp"
#include "handshake/net/relay.hpp"
#include "net_fixture.hpp"

namespace net = handshake::net;
using handshake::Json;
using net::RelayStep;

namespace {

// A server on a free loopback port until destroyed; routes set by the test before start().
struct Server {
  httplib::Server http;
  std::thread thread;
  int port = 0;
  void start() {
    port = net::bind_server(http, "127.0.0.1", 0);
    REQUIRE(port > 0);
    thread = std::thread([this] { http.listen_after_bind(); });
    for (int i = 0; i < 100 && !http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ~Server() {
    http.stop();
    if (thread.joinable()) thread.join();
  }
  [[nodiscard]] net::Url url() const { return net::Url::parse("http://127.0.0.1:" + std::to_string(port) + "/").value(); }
};

// Set once, waited for with a bound.
struct Latch {
  std::mutex mu;
  std::condition_variable cv;
  bool set = false;
  void open() {
    std::lock_guard lock(mu);
    set = true;
    cv.notify_all();
  }
  bool wait() {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(5), [&] { return set; });
  }
};

int n_of(const net::SseEvent& ev) {
  auto j = handshake::json::parse_strict(ev.data());
  return j.ok() && j->is_object() ? j->value("n", -1) : -1;
}

std::shared_ptr<net::Exchange> start(const net::Url& origin, const std::string& path, std::string body = "{}") {
  net::UpstreamRequest r;
  r.path = path;
  r.body = std::move(body);
  r.headers.emplace("X-End-To-End", "kept");
  r.headers.emplace("Connection", "keep-alive, x-end-to-end");  // hop-by-hop: never sent on
  return net::Exchange::start(origin, net::ClientOptions{}, std::move(r));
}

}  // namespace

TEST_CASE("relay: hop-by-hop headers are not passed on, whatever their case", "[net][relay]") {
  for (const char* h : {"Connection", "keep-alive", "Transfer-Encoding", "TE", "Upgrade", "Host", "Content-Length",
                        "REMOTE_ADDR", "Proxy-Connection", "Trailer"}) {
    CAPTURE(h);
    CHECK(net::is_hop_by_hop(h));
  }
  for (const char* h : {"Accept", "A2A-Version", "Mcp-Session-Id", "Authorization", "Connectionx", "X-Host"}) {
    CAPTURE(h);
    CHECK_FALSE(net::is_hop_by_hop(h));
  }
}

TEST_CASE("relay: CRLF-framed events relayed one by one, transformed, an unterminated last one dropped",
          "[net][relay]") {
  Latch first_seen;
  std::atomic<bool> waited{false};
  std::string seen_header, seen_connection;
  Server up;
  up.http.Post("/sse", [&](const httplib::Request& req, httplib::Response& res) {
    seen_header = req.get_header_value("X-End-To-End");
    seen_connection = req.get_header_value("Connection");
    res.set_chunked_content_provider("text/event-stream", [&](size_t, httplib::DataSink& sink) {
      const std::string one = "event: message\r\nid: 1\r\ndata: {\"n\":1}\r\n\r\n";
      sink.write(one.data(), one.size());
      // The second event waits until the client has the first: the relay holds nothing back.
      waited = first_seen.wait();
      const std::string rest = "data: {\"n\":2}\r\n\r\n: comment\r\ndata: {\"n\":4}\r\n\r\ndata: {\"n\":3}";
      sink.write(rest.data(), rest.size());
      sink.done();
      return true;
    });
  });
  up.start();

  Server relay;
  relay.http.Post("/relay", [&](const httplib::Request&, httplib::Response& res) {
    net::SseRelayHooks h;
    h.on_event = [](const net::SseEvent& ev) {
      switch (n_of(ev)) {
        case 1: return RelayStep{};
        case 2: return RelayStep{RelayStep::Kind::kReplace, R"({"n":20})"};
        case 4: return RelayStep{RelayStep::Kind::kDrop, {}};
        default: return RelayStep{RelayStep::Kind::kReplace, R"({"unexpected":true})"};
      }
    };
    net::SseRelay::attach(res, std::make_shared<net::SseRelay>(start(up.url(), "/sse"), std::move(h)));
  });
  relay.start();

  httplib::Client client("127.0.0.1", relay.port);
  std::string got;
  // A streaming read: the latch opens as soon as the first event is in.
  httplib::Request req;
  req.method = "POST";
  req.path = "/relay";
  req.body = "{}";
  req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
    got.append(d, n);
    if (got.find("\"n\":1") != std::string::npos) first_seen.open();
    return true;
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  REQUIRE(client.send(req, res, err));
  CHECK(waited.load());
  CHECK(got == "event: message\nid: 1\ndata: {\"n\":1}\n\ndata: {\"n\":20}\n\n");
  CHECK(seen_header == "kept");
  CHECK(seen_connection.find("x-end-to-end") == std::string::npos);
}

TEST_CASE("relay: a resend drops the rest of the answer; the resent request's answer ends the stream",
          "[net][relay]") {
  Server up;
  std::atomic<int> json_posts{0};
  std::string resent_body;
  up.http.Post("/sse", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("data: {\"n\":1}\n\ndata: {\"n\":2}\n\n", "text/event-stream");
  });
  up.http.Post("/json", [&](const httplib::Request& req, httplib::Response& res) {
    ++json_posts;
    resent_body = req.body;
    res.set_content(R"({"n":9})", "application/json");
  });
  up.start();

  Server relay;
  relay.http.Post("/relay", [&](const httplib::Request&, httplib::Response& res) {
    net::SseRelayHooks h;
    h.event_name = "message";
    h.on_event = [](const net::SseEvent& ev) {
      return n_of(ev) == 1 ? RelayStep{RelayStep::Kind::kResend, R"({"again":true})"} : RelayStep{};
    };
    h.on_body = [](int status, const std::string& body) {
      return RelayStep{RelayStep::Kind::kReplace, R"({"status":)" + std::to_string(status) + R"(,"body":)" + body + "}"};
    };
    h.restart = [&](std::string body) { return start(up.url(), "/json", std::move(body)); };
    net::SseRelay::attach(res, std::make_shared<net::SseRelay>(start(up.url(), "/sse"), std::move(h)));
  });
  relay.start();

  httplib::Client client("127.0.0.1", relay.port);
  auto r = client.Post("/relay", std::string("{}"), "application/json");
  REQUIRE(r);
  CHECK(r->body == "event: message\ndata: {\"status\":200,\"body\":{\"n\":9}}\n\n");
  CHECK(json_posts.load() == 1);
  CHECK(resent_body == R"({"again":true})");
}

TEST_CASE("relay: no upstream at all ends the stream with the failure event, saying why", "[net][relay]") {
  int closed_port = 0;
  {
    Server gone;
    gone.start();
    closed_port = gone.port;
  }
  const auto origin = net::Url::parse("http://127.0.0.1:" + std::to_string(closed_port) + "/").value();
  auto ex = start(origin, "/x");
  REQUIRE(ex->wait_headers(std::chrono::seconds(10)));
  CHECK(ex->failed());
  CHECK_THAT(ex->error(), Catch::Contains("refused") || Catch::Contains("onnect"));

  Server relay;
  relay.http.Post("/relay", [&](const httplib::Request&, httplib::Response& res) {
    net::SseRelayHooks h;
    h.on_failure = [](const std::string& why) { return Json{{"error", why}}.dump(); };
    net::SseRelay::attach(res, std::make_shared<net::SseRelay>(start(origin, "/x"), std::move(h)));
  });
  relay.start();
  httplib::Client client("127.0.0.1", relay.port);
  auto r = client.Post("/relay", std::string("{}"), "application/json");
  REQUIRE(r);
  CHECK_THAT(r->body, Catch::StartsWith("data: {\"error\":"));
  CHECK_THAT(r->body, Catch::EndsWith("\n\n"));
}

TEST_CASE("servers: what the library answers by itself says why, in JSON; a body over the limit is logged",
          "[net][limits]") {
  Server s;
  std::vector<std::string> logged;
  std::mutex mu;
  net::HttpServerLimits limits;
  limits.max_body_bytes = 1024;
  limits.log = [&](const std::string& line) {
    std::lock_guard lock(mu);
    logged.push_back(line);
  };
  net::apply_limits(s.http, limits);
  s.http.Post("/x", [](const httplib::Request&, httplib::Response& res) { res.set_content("{}", "application/json"); });
  s.start();
  httplib::Client c("127.0.0.1", s.port);
  auto big = c.Post("/x", std::string(5000, 'a'), "application/json");
  REQUIRE(big);
  CHECK(big->status == 413);
  auto body = handshake::json::parse_strict(big->body);
  REQUIRE(body.ok());
  CHECK((*body)["error"] == "request_too_large");
  CHECK_THAT((*body)["error_description"].get<std::string>(), Catch::Contains("1024 bytes"));
  {
    std::lock_guard lock(mu);
    REQUIRE(logged.size() == 1);
    CHECK_THAT(logged[0], Catch::Contains("/x") && Catch::Contains("413"));
  }
  auto missing = c.Get("/nothing?q=\"");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  auto nf = handshake::json::parse_strict(missing->body);
  REQUIRE(nf.ok());
  CHECK((*nf)["error"] == "not_found");
  auto fine = c.Post("/x", std::string("{}"), "application/json");
  REQUIRE(fine);
  CHECK(fine->body == "{}");  // a handler's own answer is left alone
}
