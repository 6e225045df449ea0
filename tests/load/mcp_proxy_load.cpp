// Load, soak and abuse run against `hsk-mcp-proxy --role service` in Streamable HTTP mode (a real
// process, started and stopped here) in front of a small MCP server over HTTP that runs inside
// this program. Every load request is a tools/call carrying a HandshakeRequest signed by the
// agent side of the adapter (handshake::mcp::AgentGate): half the workers send cold requests
// (chain walked each time), half warm ones (session token), so the proxy does its real
// verification and signing work; the gate then checks each Acceptance and Receipt, and only a
// verified result counts as accepted. Latency is the HTTP round trip only (signing and checking
// happen outside it). Meanwhile slowloris connections stay open, and once a second oversized,
// malformed, unsigned, over-delegation and replayed requests arrive; each must be refused (4xx,
// JSON-RPC error, signed refusal) and a refused call must never reach the MCP server.
//
// The service is configured with short windows (requests valid 10 s, sessions 15 s) so that its
// replay and session stores reach their steady size within the first third of a longer run; the
// memory bound then catches growth that is not explained by them.
//
// usage: hsk_load_mcp_proxy --proxy PATH [--seconds N] [--concurrency C] [--slow S] [--rss-growth-mb M]
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "child_process.hpp"
#include "handshake/agent.hpp"
#include "handshake/did_document.hpp"
#include "handshake/identity.hpp"
#include "handshake/mcp/agent_gate.hpp"
#include "handshake/mcp/envelope.hpp"
#include "handshake/net/http_server.hpp"
#include "load/load_run.hpp"
#include "load/proxy_world.hpp"

namespace fs = std::filesystem;
namespace hs = handshake;
namespace mcp = handshake::mcp;
using hs::Json;

namespace {

constexpr std::size_t kMaxMessageBytes = 256 * 1024;  // the proxy's --max-message-bytes
constexpr int kGrantedInvoices = 100;                  // the delegation's max_invoices

// The MCP server behind the proxy: initialize, tools/list (one tool) and tools/call, JSON replies.
class Upstream {
 public:
  Upstream() {
    hs::net::apply_limits(server_, {});
    server_.Post("/mcp", [this](const httplib::Request& req, httplib::Response& res) {
      auto m = mcp::decode(req.body);
      if (!m || mcp::message_type(*m) != mcp::MessageType::kRequest) {
        res.status = m ? 202 : 400;  // notifications and responses: accepted, no body
        return;
      }
      const Json id = (*m)["id"];
      auto ok = [&](Json r) { return Json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(r)}}; };
      const auto method = mcp::method_of(*m);
      Json answer;
      if (method == "initialize") {
        answer = ok(Json{{"protocolVersion", "2025-11-25"},
                         {"capabilities", Json{{"tools", Json::object()}}},
                         {"serverInfo", Json{{"name", "load-upstream"}, {"version", "1"}}}});
      } else if (method == "tools/list") {
        answer = ok(Json{{"tools", Json::array({Json{{"name", "list-invoices"},
                                                      {"inputSchema", Json{{"type", "object"}}}}})}});
      } else if (method == "tools/call") {
        ++calls_;
        const Json args = (*m)["params"].value("arguments", Json::object());
        const int n = args.value("limit", 0);
        answer = ok(Json{{"content", Json::array({Json{{"type", "text"}, {"text", std::to_string(n) + " invoices"}}})},
                         {"structuredContent", Json{{"count", n}}}});
      } else {
        answer = mcp::error_response(id, -32601, "Method not found");
      }
      res.set_content(mcp::serialize(answer), "application/json");
    });
    port_ = hs::net::bind_server(server_, "127.0.0.1", 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Upstream() {
    server_.stop();
    thread_.join();
  }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::uint64_t calls() const { return calls_.load(); }

 private:
  httplib::Server server_;
  int port_ = -1;
  std::atomic<std::uint64_t> calls_{0};
  std::thread thread_;
};

const httplib::Headers& mcp_headers() {
  static const httplib::Headers h{{"Accept", "application/json, text/event-stream"},
                                  {"MCP-Protocol-Version", "2025-11-25"}};
  return h;
}

std::unique_ptr<httplib::Client> client_for(int port) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
  c->set_connection_timeout(5, 0);
  c->set_read_timeout(15, 0);
  c->set_keep_alive(true);
  c->set_tcp_nodelay(true);
  return c;
}

Json tools_call(std::uint64_t id, int limit) {
  return Json{{"jsonrpc", "2.0"},
              {"id", id},
              {"method", "tools/call"},
              {"params", Json{{"name", "list-invoices"}, {"arguments", Json{{"limit", limit}}}}}};
}

int error_code(const Json& response) {
  if (!response.is_object() || !response.contains("error") || !response["error"].is_object()) return 0;
  return response["error"].value("code", 0);
}

bool accepted(const Json& response) {
  if (!response.is_object() || !response.contains("result") || !response["result"].is_object()) return false;
  const Json& r = response["result"];
  return !r.value("isError", false) && r.contains("_meta") && r["_meta"].contains(std::string(mcp::kAcceptanceKey)) &&
         r["_meta"].contains(std::string(mcp::kReceiptKey));
}

// The agent side, as an MCP client in front of the proxy would run it.
struct AgentSide {
  std::unique_ptr<mcp::AgentGate> gate;

  struct Answer {
    std::optional<Json> response;  // after the gate checked it
    std::string failure;  // transport or HTTP failure, for the error tally
    double ms = 0;
    bool first_accepted = false;  // with post_twice: the first post's answer was a result
  };
  // Signs (through the gate), posts `message` and checks the answer; only the post is timed.
  // With `post_twice`, the same bytes go again after an accepted first post (a replay), and the
  // answer is the second one.
  Answer exchange(httplib::Client& c, Json message, bool post_twice = false) const {
    mcp::AgentInbound in = gate->on_client_message(std::move(message));
    const std::string body = mcp::serialize(in.message);
    Answer a;
    const auto t0 = hsk_load::Clock::now();
    httplib::Result res = c.Post("/mcp", mcp_headers(), body, "application/json");
    a.ms = hsk_load::ms_since(t0);
    if (post_twice && res && res->status == 200) {
      auto first = mcp::decode(res->body);
      a.first_accepted = first && first->contains("result");
      res = c.Post("/mcp", mcp_headers(), body, "application/json");
    }
    if (!res) {
      a.failure = "transport: " + httplib::to_string(res.error());
      return a;
    }
    auto decoded = mcp::decode(res->body);
    if (!decoded) {
      a.failure = "http " + std::to_string(res->status) + ": not JSON";
      return a;
    }
    // One service process: it always knows its sessions, so the gate never asks for a cold retry.
    mcp::AgentReply reply = gate->on_response(in.exchange, std::move(*decoded));
    if (auto* to_client = std::get_if<mcp::ToClient>(&reply)) {
      a.response = std::move(to_client->message);
    } else {
      a.failure = "the gate asked for a cold retry";
    }
    return a;
  }
};

}  // namespace

int main(int argc, char** argv) {
  const auto cl = hsk_load::parse_command_line(argc, argv);
  if (!cl || !cl->extra.count("proxy")) {
    std::cerr << "usage: hsk_load_mcp_proxy --proxy PATH " << hsk_load::kCommonUsage << "\n";
    return 2;
  }
  const hsk_load::RunOptions& run = cl->run;
  const std::string proxy = fs::absolute(cl->extra.at("proxy")).string();
  const fs::path dir = hsk_load::make_temp_dir("hsk-load-mcp");

  // Identities, DID Documents, the delegation and the service's configuration (proxy_world.hpp).
  const hs::SystemClock clock;
  const hsk_load::ServiceWorld world(dir, kGrantedInvoices, clock);
  std::ofstream(dir / "tools.yaml") << "unmapped: refuse\ntools:\n  list-invoices:\n"
                                    << "    capability: billing.invoices.read\n"
                                    << "    constraints:\n      max_invoices: arguments.limit\n";
  auto make_side = [&](bool cold) {
    mcp::AgentGateOptions o;
    o.service_did = world.service_did();
    // A margin longer than any session: the gate never uses one, every request is cold.
    if (cold) o.session_margin_seconds = std::int64_t{1} << 40;
    return AgentSide{std::make_unique<mcp::AgentGate>(world.agent(cold ? "cold" : "warm"), std::move(o), clock)};
  };
  const AgentSide cold = make_side(true), warm = make_side(false);

  Upstream upstream;
  const fs::path log = dir / "proxy.log";
  hsk_test::ChildProcess server({proxy, "--role", "service", "--config", (dir / "service.yaml").string(), "--tools",
                                 (dir / "tools.yaml").string(), "--max-message-bytes", std::to_string(kMaxMessageBytes),
                                 "--listen", "127.0.0.1:0", "--upstream",
                                 "http://127.0.0.1:" + std::to_string(upstream.port()) + "/mcp"},
                                dir.string(), {}, log.string());
  const auto listening = hsk_load::wait_for_line_in_file(log, "listening on http://127.0.0.1:", std::chrono::seconds(20));
  if (!listening) {
    std::cerr << "the proxy did not start:\n" << hsk_load::tail_of(log) << "\n";
    return 1;
  }
  const int port = std::stoi(*listening);

  // Both agents learn the service and its tools through the proxy, as a client session would.
  for (const AgentSide* side : {&cold, &warm}) {
    auto c = client_for(port);
    const Json init{{"jsonrpc", "2.0"}, {"id", 0}, {"method", "initialize"},
                    {"params", Json{{"protocolVersion", "2025-11-25"}, {"capabilities", Json::object()},
                                    {"clientInfo", Json{{"name", "hsk-load"}, {"version", "1"}}}}}};
    const Json list{{"jsonrpc", "2.0"}, {"id", 1}, {"method", "tools/list"}};
    auto a = side->exchange(*c, init);
    auto b = side->exchange(*c, list);
    if (!a.response || !b.response || !b.response->contains("result") || !side->gate->service_did()) {
      std::cerr << "initialize/tools/list through the proxy failed: " << a.failure << b.failure << "\n"
                << hsk_load::tail_of(log) << "\n";
      return 1;
    }
  }

  // The load: workers with an even number sign cold requests, odd ones warm.
  struct Worker {
    std::unique_ptr<httplib::Client> client;
    std::vector<double> latencies;
    std::uint64_t accepted = 0;
  };
  std::vector<Worker> workers(static_cast<std::size_t>(run.concurrency));
  for (auto& w : workers) w.client = client_for(port);
  hsk_load::ErrorTally errors;
  auto note_error = [&](const std::string& kind, const std::string& detail) { errors.note(kind, detail); };
  auto one = [&](int t, std::uint64_t n) {
    Worker& w = workers[static_cast<std::size_t>(t)];
    const AgentSide& side = t % 2 == 0 ? cold : warm;
    const int limit = 1 + static_cast<int>(n % kGrantedInvoices);
    auto a = side.exchange(*w.client, tools_call(n + 10, limit));
    hsk_load::Sample s{a.response && accepted(*a.response), a.ms};
    w.latencies.push_back(a.ms);
    if (s.ok) {
      ++w.accepted;
    } else if (!a.response) {
      note_error(a.failure.substr(0, a.failure.find(':')), a.failure);
    } else {
      note_error("jsonrpc " + std::to_string(error_code(*a.response)), a.response->dump());
    }
    return s;
  };

  // Abuse, once a second, each on a fresh connection (a refused one may be closed).
  hsk_load::AbuseTally abuse;
  std::atomic<std::uint64_t> abuse_accepted{0};  // calls the abuse legitimately got through
  auto each_second = [&] {
    auto c = client_for(port);
    auto code_of = [](const httplib::Result& r) {
      auto m = r ? mcp::decode(r->body) : std::nullopt;
      return m ? error_code(*m) : 0;
    };
    auto big = c->Post("/mcp", mcp_headers(), std::string(4 * kMaxMessageBytes, ' '), "application/json");
    abuse.expect("oversized_413", big && big->status == 413);
    c = client_for(port);
    auto junk = c->Post("/mcp", mcp_headers(), "{\"jsonrpc\":\"2.0\",", "application/json");
    abuse.expect("not_json_400_parse_error", junk && junk->status == 400 && code_of(junk) == mcp::kParseError);
    auto odd = c->Post("/mcp", mcp_headers(), "{\"hello\":\"world\"}", "application/json");
    abuse.expect("not_jsonrpc_400_invalid_request", odd && odd->status == 400 && code_of(odd) == mcp::kInvalidRequest);
    auto unsigned_call = c->Post("/mcp", mcp_headers(), mcp::serialize(tools_call(7, 1)), "application/json");
    abuse.expect("unsigned_call_refused", unsigned_call && unsigned_call->status == 200 &&
                                              code_of(unsigned_call) == mcp::kHandshakeRefused);
    // Duplicate members: strict JSON is required of a handshake; a signed refusal, not a crash.
    auto dup = c->Post("/mcp", mcp_headers(),
                       R"({"jsonrpc":"2.0","id":8,"id":9,"method":"tools/call","params":{"name":"list-invoices"}})",
                       "application/json");
    abuse.expect("duplicate_member_refused", dup && dup->status == 200 && code_of(dup) == mcp::kHandshakeRefused);
    // Signed, but for more than the delegation grants: a verified, signed refusal.
    auto over = cold.exchange(*c, tools_call(11, 10 * kGrantedInvoices));
    abuse.expect("over_delegation_refused", over.response && error_code(*over.response) == mcp::kHandshakeRefused);
    // The same signed call twice: accepted once, then refused as a replay.
    auto replay = cold.exchange(*c, tools_call(12, 1), /*post_twice=*/true);
    if (replay.first_accepted) ++abuse_accepted;
    abuse.expect("replay_refused", replay.first_accepted && replay.response &&
                                       error_code(*replay.response) == mcp::kHandshakeRefused);
  };

  const hsk_load::Outcome out =
      hsk_load::run_load(run, port, server.pid(), "POST /mcp HTTP/1.1\r\nHost: x\r\nX-Slow: ", one, each_second);

  // Still serving after all of it?
  auto after_client = client_for(port);
  auto after = cold.exchange(*after_client, tools_call(13, 1));
  const bool alive = after.response && accepted(*after.response);

  std::uint64_t accepted_total = 0;
  std::vector<double> cold_ms, warm_ms;
  for (std::size_t t = 0; t < workers.size(); ++t) {
    accepted_total += workers[t].accepted;
    auto& into = t % 2 == 0 ? cold_ms : warm_ms;
    into.insert(into.end(), workers[t].latencies.begin(), workers[t].latencies.end());
  }
  auto pct = [](std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
  };
  // Every call that reached the MCP server was one the proxy accepted: the load's, the replay
  // probes' first posts, and the check after the run.
  const std::uint64_t expected_upstream = accepted_total + abuse_accepted.load() + (alive ? 1 : 0);
  const bool refused_stayed_out = upstream.calls() == expected_upstream;

  Json report = hsk_load::report(run, out, abuse, alive);
  report["server"] = "hsk-mcp-proxy --role service (Streamable HTTP)";
  report["accepted_verified"] = accepted_total;
  report["receipts_verified_by_agent"] = cold.gate->receipts_verified() + warm.gate->receipts_verified();
  report["by_kind_ms"] = Json{{"cold", Json{{"requests", cold_ms.size()}, {"p50", pct(cold_ms, 0.5)}, {"p99", pct(cold_ms, 0.99)}}},
                              {"warm", Json{{"requests", warm_ms.size()}, {"p50", pct(warm_ms, 0.5)}, {"p99", pct(warm_ms, 0.99)}}}};
  report["error_kinds"] = errors.kinds();
  report["upstream_tools_calls"] = upstream.calls();
  report["refused_calls_never_reached_upstream"] = refused_stayed_out;
  std::cout << report.dump(2) << std::endl;
  server.stop();
  bool ok = hsk_load::passed(run, out, abuse, alive, accepted_total);
  if (!refused_stayed_out) {
    std::cerr << "load run FAILED: the MCP server saw " << upstream.calls() << " calls, " << expected_upstream
              << " were accepted\n";
    ok = false;
  }
  if (!ok) std::cerr << "proxy log (tail):\n" << hsk_load::tail_of(log) << "\n";
  std::error_code ec;
  fs::remove_all(dir, ec);
  return ok ? 0 : 1;
}
